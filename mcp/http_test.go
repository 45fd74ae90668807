package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/storage"
)

// publicEnv is the dashboard's /mcp over a real public API and identity
// service, with a fake engine: team alpha holds the app "blog", team beta
// the app "other".
type publicEnv struct {
	url    string
	apiURL string
	svc    *auth.Service
	engine *fakeEngine
	tokens map[auth.Scope]string
	// betaToken is an admin token of another user, in team beta.
	betaToken string
}

func newPublicEnv(t *testing.T) *publicEnv {
	t.Helper()
	db, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := storage.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(db, sealer, auth.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := &publicEnv{svc: svc, tokens: map[auth.Scope]string{},
		engine: &fakeEngine{apps: map[string]string{"blog": "alpha", "other": "beta"}, log: "step 1\nstep 2\n"}}
	owner := func(email, team string) *auth.Principal {
		u, err := svc.CreateUser(ctx, auth.UserInput{Email: email, Password: "correct horse battery staple"})
		if err != nil {
			t.Fatal(err)
		}
		user := u.User
		p := &auth.Principal{Kind: auth.KindSession, User: &user, Teams: map[string]auth.Role{team: auth.RoleOwner}}
		if _, err := svc.CreateTeam(ctx, p, team); err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice := owner("alice@example.com", "alpha")
	for _, scope := range []auth.Scope{auth.ScopeRead, auth.ScopeDeploy, auth.ScopeAdmin} {
		tok, err := svc.CreateToken(ctx, alice, auth.TokenInput{Name: "agent " + string(scope), Team: "alpha", Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		env.tokens[scope] = tok.Secret
	}
	bob := owner("bob@example.com", "beta")
	tok, err := svc.CreateToken(ctx, bob, auth.TokenInput{Name: "bob's agent", Team: "beta", Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	env.betaToken = tok.Secret

	backend := &admin.Backend{Engine: env.engine, Auth: svc}
	api := admin.New("/api/v1", admin.SurfacePublic, func() (*admin.Backend, error) { return backend, nil })
	srv := httptest.NewServer(NewHTTPHandler(svc, api, "/api/v1"))
	t.Cleanup(srv.Close)
	env.url = srv.URL + "/mcp"
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	env.apiURL = apiSrv.URL
	return env
}

func (e *publicEnv) connect(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(e.url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(ctx, mcpgo.InitializeRequest{Params: mcpgo.InitializeParams{ClientInfo: mcpgo.Implementation{Name: "test", Version: "1"}}}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return c
}

func toolNames(t *testing.T, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// call calls a tool and answers its text and whether it is an error.
func call(t *testing.T, c *client.Client, tool string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := c.CallTool(context.Background(), mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: tool, Arguments: args}})
	if err != nil {
		// A protocol error (such as an unknown or hidden tool).
		return err.Error(), true
	}
	var text strings.Builder
	for _, content := range res.Content {
		if tc, ok := content.(mcpgo.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	return text.String(), res.IsError
}

func TestHTTPNeedsAToken(t *testing.T) {
	env := newPublicEnv(t)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	for name, header := range map[string]http.Header{
		"nothing":         {},
		"session cookie":  {"Cookie": {auth.SessionCookie + "=abc"}},
		"basic":           {"Authorization": {"Basic YTpi"}},
		"empty bearer":    {"Authorization": {"Bearer "}},
		"forged token":    {"Authorization": {"Bearer cpaas_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		"not a token":     {"Authorization": {"Bearer hello"}},
		"token in cookie": {"Cookie": {auth.SessionCookie + "=" + env.tokens[auth.ScopeAdmin]}},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.url, strings.NewReader(initialize))
			req.Header = header.Clone()
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body admin.ErrorAnswer
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized || body.Error == "" {
				t.Fatalf("status %d %+v, want 401 with an error", resp.StatusCode, body)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
		})
	}
	// The client library sees the refusal too.
	c, err := client.NewStreamableHttpClient(env.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(context.Background(), mcpgo.InitializeRequest{}); err == nil {
		t.Fatal("initialize without a token succeeded")
	}
}

func TestHTTPReadTokenSeesReadToolsOnly(t *testing.T) {
	env := newPublicEnv(t)
	c := env.connect(t, env.tokens[auth.ScopeRead])
	names := toolNames(t, c)
	for _, want := range []string{"apps_list", "apps_get", "deploys_list", "deploys_logs", "status", "teams_list"} {
		if !slices.Contains(names, want) {
			t.Errorf("read token does not see %s", want)
		}
	}
	for _, tool := range Tools() {
		r := tool.Route
		readOnly := r.Scope == admin.ScopeUser || ((r.Scope == admin.ScopeApp || r.Scope == admin.ScopeTeam || r.Scope == admin.ScopeTeamInBody) && r.Perm == auth.PermRead)
		if slices.Contains(names, tool.Name) != readOnly {
			t.Errorf("read token sees %s: %v, want %v", tool.Name, !readOnly, readOnly)
		}
	}
	for _, hidden := range []string{"deploys_create", "apps_delete", "apps_create", "users_list", "audit_list"} {
		if slices.Contains(names, hidden) {
			t.Errorf("read token sees %s", hidden)
		}
	}
	text, isErr := call(t, c, "deploys_create", map[string]any{"name": "blog", "image": "img:2"})
	if !isErr {
		t.Fatalf("read token deployed: %s", text)
	}
	text, isErr = call(t, c, "apps_delete", map[string]any{"name": "blog"})
	if !isErr || codeRe.MatchString(text) {
		t.Fatalf("read token got a confirmation code for apps_delete: %s", text)
	}
	if n := env.engine.called("Deploy blog img:2") + env.engine.called("DeleteApp blog"); n != 0 {
		t.Fatalf("the engine was called %d times", n)
	}
	// What it may do works.
	text, isErr = call(t, c, "apps_get", map[string]any{"name": "blog"})
	if isErr || !strings.Contains(text, `"name": "blog"`) {
		t.Fatalf("apps_get: %v %s", isErr, text)
	}
	text, isErr = call(t, c, "deploys_logs", map[string]any{"name": "blog", "id": "d1"})
	if isErr || text != "step 1\nstep 2\n" {
		t.Fatalf("deploys_logs: %v %q", isErr, text)
	}
}

func TestHTTPDeployToken(t *testing.T) {
	env := newPublicEnv(t)
	c := env.connect(t, env.tokens[auth.ScopeDeploy])
	names := toolNames(t, c)
	if !slices.Contains(names, "deploys_create") || slices.Contains(names, "apps_delete") {
		t.Fatalf("deploy token tools: %v", names)
	}
	text, isErr := call(t, c, "deploys_create", map[string]any{"name": "blog", "image": "img:2"})
	if isErr || env.engine.called("Deploy blog img:2") != 1 {
		t.Fatalf("deploys_create: %v %s", isErr, text)
	}
	var d struct {
		ID, App, Image string
	}
	if err := json.Unmarshal([]byte(text), &d); err != nil || d.ID != "d1" || d.App != "blog" {
		t.Fatalf("answer %q: %v", text, err)
	}
	text, isErr = call(t, c, "apps_list", nil)
	if isErr || !strings.Contains(text, `"blog"`) || strings.Contains(text, `"other"`) {
		t.Fatalf("apps_list shows %s", text)
	}
	// Another team's app answers as if it did not exist, and is untouched.
	text, isErr = call(t, c, "deploys_create", map[string]any{"name": "other", "image": "img:2"})
	if !isErr || !strings.Contains(text, "404") || env.engine.called("Deploy other img:2") != 0 {
		t.Fatalf("deploy of another team's app: %v %s", isErr, text)
	}
	// An API error comes back as an error result with the API's message.
	text, isErr = call(t, c, "apps_get", map[string]any{"name": "nope"})
	if !isErr || !strings.Contains(text, `app "nope" not found`) {
		t.Fatalf("apps_get nope: %v %s", isErr, text)
	}
	// Unknown arguments are refused before the API.
	text, isErr = call(t, c, "apps_get", map[string]any{"name": "blog", "admin": true})
	if !isErr {
		t.Fatalf("an unknown argument was accepted: %s", text)
	}
}

var codeRe = regexp.MustCompile(`"confirm": "([A-Za-z0-9]{8,})"`)

func TestHTTPDestructiveToolNeedsConfirmation(t *testing.T) {
	env := newPublicEnv(t)
	c := env.connect(t, env.tokens[auth.ScopeAdmin])
	if !slices.Contains(toolNames(t, c), "apps_delete") {
		t.Fatal("admin token does not see apps_delete")
	}
	args := map[string]any{"name": "blog"}
	text, isErr := call(t, c, "apps_delete", args)
	m := codeRe.FindStringSubmatch(text)
	if isErr || m == nil {
		t.Fatalf("first call: %v %s", isErr, text)
	}
	code := m[1]
	if c2, ok := ConfirmationCode(text); !ok || c2 != code {
		t.Fatalf("ConfirmationCode(%q) = %q", text, c2)
	}
	if env.engine.called("DeleteApp blog") != 0 {
		t.Fatal("the first call deleted the app")
	}
	// The code approves only this call: not other arguments, not another
	// caller.
	text, isErr = call(t, c, "apps_delete", map[string]any{"name": "other", "confirm": code})
	if !isErr || env.engine.called("DeleteApp other") != 0 {
		t.Fatalf("the code approved another app: %s", text)
	}
	other := env.connect(t, env.betaToken)
	text, isErr = call(t, other, "apps_delete", map[string]any{"name": "blog", "confirm": code})
	if !isErr || env.engine.called("DeleteApp blog") != 0 {
		t.Fatalf("the code approved another caller: %s", text)
	}

	text, isErr = call(t, c, "apps_delete", map[string]any{"name": "blog", "confirm": code})
	if isErr || env.engine.called("DeleteApp blog") != 1 || !strings.Contains(text, `"deleted": "blog"`) {
		t.Fatalf("confirmed call: %v %s", isErr, text)
	}
	text, isErr = call(t, c, "apps_delete", map[string]any{"name": "blog", "confirm": code})
	if !isErr || env.engine.called("DeleteApp blog") != 1 {
		t.Fatalf("the code worked twice: %s", text)
	}

	// A wrong code is refused, and ends the pending one.
	text, _ = call(t, c, "apps_delete", args)
	code = codeRe.FindStringSubmatch(text)[1]
	text, isErr = call(t, c, "apps_delete", map[string]any{"name": "blog", "confirm": "WRONGCODE123"})
	if !isErr || !strings.Contains(text, "confirmation refused") {
		t.Fatalf("wrong code: %v %s", isErr, text)
	}
	text, isErr = call(t, c, "apps_delete", map[string]any{"name": "blog", "confirm": code})
	if !isErr || env.engine.called("DeleteApp blog") != 1 {
		t.Fatalf("the code still worked after a wrong guess: %s", text)
	}

	// The steps that never reach the API are in the audit log.
	entries, err := env.svc.Audit(auth.AuditFilter{Team: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "mcp.") {
			actions = append(actions, e.Action)
			if e.ActorKind != auth.KindToken || e.TokenID == "" || !strings.Contains(e.Target, "apps.delete") {
				t.Errorf("audit entry %+v", e)
			}
		}
	}
	if !slices.Contains(actions, "mcp.confirmation_issued") || !slices.Contains(actions, "mcp.confirmation_refused") {
		t.Errorf("audit actions: %v", actions)
	}
}

func TestHTTPResources(t *testing.T) {
	env := newPublicEnv(t)
	c := env.connect(t, env.tokens[auth.ScopeRead])
	ctx := context.Background()
	read := func(uri string) (string, string, error) {
		res, err := c.ReadResource(ctx, mcpgo.ReadResourceRequest{Params: mcpgo.ReadResourceParams{URI: uri}})
		if err != nil {
			return "", "", err
		}
		if len(res.Contents) != 1 {
			t.Fatalf("%s: %d contents", uri, len(res.Contents))
		}
		tc, ok := res.Contents[0].(mcpgo.TextResourceContents)
		if !ok {
			t.Fatalf("%s: %T", uri, res.Contents[0])
		}
		return tc.Text, tc.MIMEType, nil
	}
	text, mime, err := read("paas://apps/blog")
	if err != nil {
		t.Fatal(err)
	}
	var app struct{ Name, Team string }
	if err := json.Unmarshal([]byte(text), &app); err != nil || app.Name != "blog" || app.Team != "alpha" || mime != "application/json" {
		t.Fatalf("paas://apps/blog: %s %s %v", mime, text, err)
	}
	text, mime, err = read("paas://apps/blog/deploys/d1/logs")
	if err != nil || text != "step 1\nstep 2\n" || !strings.HasPrefix(mime, "text/plain") {
		t.Fatalf("log resource: %q %s %v", text, mime, err)
	}
	text, _, err = read("paas://apps")
	if err != nil || !strings.Contains(text, `"blog"`) || strings.Contains(text, `"other"`) {
		t.Fatalf("paas://apps: %s %v", text, err)
	}
	if _, _, err := read("paas://apps/other"); err == nil {
		t.Fatal("another team's app was readable")
	}
	templates, err := c.ListResourceTemplates(ctx, mcpgo.ListResourceTemplatesRequest{})
	if err != nil || len(templates.ResourceTemplates) != 2 {
		t.Fatalf("templates: %+v %v", templates, err)
	}
}

func TestVisible(t *testing.T) {
	user := &auth.User{ID: "u1"}
	adminUser := &auth.User{ID: "u2", Admin: true}
	token := func(scope auth.Scope) *auth.Principal {
		return &auth.Principal{Kind: auth.KindToken, User: user, Teams: map[string]auth.Role{"alpha": auth.RoleOwner},
			Token: &auth.Token{ID: "t", Team: "alpha", Scope: scope}}
	}
	viewer := &auth.Principal{Kind: auth.KindSession, User: user, Teams: map[string]auth.Role{"alpha": auth.RoleViewer, "beta": auth.RoleDeveloper}}
	platformAdmin := &auth.Principal{Kind: auth.KindSession, User: adminUser}
	adminToken := &auth.Principal{Kind: auth.KindToken, User: adminUser, Token: &auth.Token{ID: "t2", Team: "alpha", Scope: auth.ScopeAdmin}}
	route := func(scope admin.Scope, perm auth.Permission, sessionOnly bool) admin.Route {
		return admin.Route{Scope: scope, Perm: perm, SessionOnly: sessionOnly}
	}
	for _, c := range []struct {
		name string
		p    *auth.Principal
		r    admin.Route
		want bool
	}{
		{"user route", token(auth.ScopeRead), route(admin.ScopeUser, "", false), true},
		{"anonymous route", token(auth.ScopeAdmin), route(admin.ScopeAnonymous, "", false), false},
		{"platform route, token", adminToken, route(admin.ScopePlatform, "", false), false},
		{"platform route, admin", platformAdmin, route(admin.ScopePlatform, "", false), true},
		{"platform route, member", viewer, route(admin.ScopePlatform, "", false), false},
		{"session only, token", token(auth.ScopeAdmin), route(admin.ScopeUser, "", true), false},
		{"session only, session", viewer, route(admin.ScopeUser, "", true), true},
		{"read token, read", token(auth.ScopeRead), route(admin.ScopeApp, auth.PermRead, false), true},
		{"read token, deploy", token(auth.ScopeRead), route(admin.ScopeApp, auth.PermDeploy, false), false},
		{"deploy token, configure", token(auth.ScopeDeploy), route(admin.ScopeApp, auth.PermConfigure, false), true},
		{"deploy token, manage", token(auth.ScopeDeploy), route(admin.ScopeTeamInBody, auth.PermManage, false), false},
		{"admin token, own", token(auth.ScopeAdmin), route(admin.ScopeTeam, auth.PermOwn, false), true},
		{"viewer and developer, deploy", viewer, route(admin.ScopeApp, auth.PermDeploy, false), true},
		{"viewer and developer, manage", viewer, route(admin.ScopeApp, auth.PermManage, false), false},
		{"platform admin, own", platformAdmin, route(admin.ScopeTeam, auth.PermOwn, false), true},
		{"nobody", nil, route(admin.ScopeUser, "", false), false},
	} {
		if got := Visible(c.p, c.r); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCallerFilter: over a server's public API (`caddy paas mcp` logged in),
// the tools are the token's; over the local endpoint, all of them.
func TestCallerFilter(t *testing.T) {
	env := newPublicEnv(t)
	ctx := context.Background()
	inv := &ClientInvoker{BaseURL: env.apiURL, Prefix: "/api/v1", Token: env.tokens[auth.ScopeRead]}
	filter, err := CallerFilter(ctx, inv)
	if err != nil || filter == nil {
		t.Fatalf("filter %v, %v", filter != nil, err)
	}
	for _, tool := range Tools() {
		want := Visible(&auth.Principal{Kind: auth.KindToken, User: &auth.User{}, Teams: map[string]auth.Role{"alpha": auth.RoleOwner},
			Token: &auth.Token{Team: "alpha", Scope: auth.ScopeRead}}, tool.Route)
		if filter(ctx, tool.Route) != want {
			t.Errorf("%s: %v, want %v", tool.Name, !want, want)
		}
	}
	for _, tool := range Tools() {
		if tool.Name == "deploys_create" && filter(ctx, tool.Route) {
			t.Error("a read token sees deploys_create")
		}
	}
	inv.Token = "cpaas_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if _, err := CallerFilter(ctx, inv); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token: %v", err)
	}
	local := httptest.NewServer(admin.New("/paas", admin.SurfaceAdmin, func() (*admin.Backend, error) {
		return &admin.Backend{Engine: env.engine, Auth: env.svc}, nil
	}))
	defer local.Close()
	filter, err = CallerFilter(ctx, &ClientInvoker{BaseURL: local.URL, Prefix: "/paas"})
	if err != nil || filter != nil {
		t.Fatalf("local endpoint: filter %v, %v", filter != nil, err)
	}
}
