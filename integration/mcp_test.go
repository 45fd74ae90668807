package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/mcp"
	"github.com/caddy-paas/caddy-paas/platform"
)

type mcpSession struct {
	t *testing.T
	c *client.Client
}

func (p *platformEnv) mcpConnect(t *testing.T, token string) *mcpSession {
	t.Helper()
	c, err := client.NewStreamableHttpClient("http://"+dashboardHost+"/mcp",
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}),
		transport.WithHTTPBasicClient(&http.Client{Transport: p.apps.Transport, Timeout: 2 * time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(ctx, mcpgo.InitializeRequest{Params: mcpgo.InitializeParams{ClientInfo: mcpgo.Implementation{Name: "integration", Version: "1"}}}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return &mcpSession{t: t, c: c}
}

func (s *mcpSession) tools() []string {
	s.t.Helper()
	res, err := s.c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	slices.Sort(out)
	return out
}

// call answers a tool's text and whether it is an error.
func (s *mcpSession) call(tool string, args map[string]any) (string, bool) {
	s.t.Helper()
	res, err := s.c.CallTool(context.Background(), mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: tool, Arguments: args}})
	if err != nil {
		return err.Error(), true
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcpgo.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

func (s *mcpSession) must(tool string, args map[string]any, out any) string {
	s.t.Helper()
	text, isErr := s.call(tool, args)
	if isErr {
		s.t.Fatalf("%s: %s", tool, text)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			s.t.Fatalf("%s: decoding %q: %v", tool, text, err)
		}
	}
	return text
}

// TestMCPAgentEndToEnd drives the platform as an AI agent would, through
// mcp-go's client on /mcp with API tokens: the tool list is the operation
// list for the token, an app is deployed and goes live, its logs are read,
// a read-only token is refused a write, and a delete needs the
// confirmation code that the first call returns.
func TestMCPAgentEndToEnd(t *testing.T) {
	p := startInProcess(t, envOptions{})
	ctx := context.Background()
	if err := p.api.Do(ctx, http.MethodPost, "/users", map[string]any{"email": "agent-owner@example.com", "password": "a long password 2"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.api.Do(ctx, http.MethodPost, "/teams", map[string]any{"name": "agents"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.api.Do(ctx, http.MethodPost, "/teams/agents/members", map[string]any{"email": "agent-owner@example.com", "role": "owner"}, nil); err != nil {
		t.Fatal(err)
	}
	owner := p.publicClient()
	owner.login("/api/v1/auth/login", map[string]string{"email": "agent-owner@example.com", "password": "a long password 2"})
	tokens := map[auth.Scope]string{}
	for _, scope := range []auth.Scope{auth.ScopeRead, auth.ScopeAdmin} {
		var tok auth.CreatedToken
		owner.must("POST", "/api/v1/tokens", map[string]any{"name": "agent " + string(scope), "team": "agents", "scope": scope}, &tok)
		tokens[scope] = tok.Secret
	}

	// The tool list is the operation list, as the token's scope allows.
	wantTools := func(scope auth.Scope) []string {
		var out []string
		for _, r := range admin.Routes {
			if !mcp.Exposed(r) || r.Scope == admin.ScopePlatform {
				continue
			}
			if r.Perm != "" && !scope.Can(r.Perm) {
				continue
			}
			out = append(out, mcp.ToolName(r.ID))
		}
		slices.Sort(out)
		return out
	}
	agent := p.mcpConnect(t, tokens[auth.ScopeAdmin])
	if got, want := agent.tools(), wantTools(auth.ScopeAdmin); !slices.Equal(got, want) {
		t.Errorf("admin token's tools:\n got %v\nwant %v", got, want)
	}
	reader := p.mcpConnect(t, tokens[auth.ScopeRead])
	if got, want := reader.tools(), wantTools(auth.ScopeRead); !slices.Equal(got, want) {
		t.Errorf("read token's tools:\n got %v\nwant %v", got, want)
	}

	// Deploy an app end to end.
	app := p.appName("agent")
	var v platform.AppView
	agent.must("apps_create", map[string]any{"name": app, "team": "agents", "image": imageV1, "env": map[string]string{"VERSION": "from-agent"}}, &v)
	if v.Deployment == "" {
		t.Fatalf("apps_create started no deployment: %+v", v)
	}
	eventually(t, 90*time.Second, "the agent's deployment is live", func() (bool, string) {
		var d platform.Deployment
		agent.must("deploys_get", map[string]any{"name": app, "id": v.Deployment}, &d)
		if d.Status == platform.StatusFailed {
			t.Fatalf("deploy failed: %s", d.Reason)
		}
		return d.Status == platform.StatusLive, string(d.Status)
	})
	if code, body := p.mustGet(app, "/"); code != 200 || !strings.Contains(body, "from-agent") {
		t.Fatalf("the agent's app: %d %q", code, body)
	}
	logs := agent.must("deploys_logs", map[string]any{"name": app, "id": v.Deployment}, nil)
	if !strings.Contains(logs, "live") {
		t.Errorf("deploy log has no live line: %q", logs)
	}
	eventually(t, 10*time.Second, "app logs show the replica's output", func() (bool, string) {
		out, isErr := agent.call("apps_logs", map[string]any{"name": app, "tail": 20})
		return !isErr && strings.Contains(out, "testapp listening"), out
	})
	var env map[string]string
	agent.must("env_list", map[string]any{"name": app}, &env)
	if env["VERSION"] != platform.MaskedValue {
		t.Errorf("env_list shows %q", env["VERSION"])
	}

	// A read-only token reads, and is refused every write.
	var list []platform.AppView
	reader.must("apps_list", nil, &list)
	if len(list) != 1 || list[0].Name != app {
		t.Errorf("read token lists %+v", list)
	}
	for _, tool := range []string{"deploys_create", "apps_delete", "env_set"} {
		if out, isErr := reader.call(tool, map[string]any{"name": app}); !isErr {
			t.Errorf("read token called %s: %s", tool, out)
		}
	}

	// A delete needs the confirmation code of a first call.
	first, isErr := agent.call("apps_delete", map[string]any{"name": app})
	code, ok := mcp.ConfirmationCode(first)
	if isErr || !ok {
		t.Fatalf("apps_delete without confirm: %q (error %v)", first, isErr)
	}
	if status, _ := p.mustGet(app, "/"); status != 200 {
		t.Fatalf("the app is gone before the confirmation: %d", status)
	}
	if out, isErr := agent.call("apps_delete", map[string]any{"name": app, "confirm": "wrong-code"}); !isErr {
		t.Errorf("a wrong code deleted: %s", out)
	}
	// The wrong guess voided the code: ask again.
	first, _ = agent.call("apps_delete", map[string]any{"name": app})
	code, _ = mcp.ConfirmationCode(first)
	agent.must("apps_delete", map[string]any{"name": app, "confirm": code}, nil)
	eventually(t, 10*time.Second, "the app's host answers 404", func() (bool, string) {
		status, _, err := p.get(app, "/")
		return err == nil && status == 404, ""
	})

	// Every call is in the audit log, marked as an agent's.
	var entries []auth.AuditEntry
	owner.must("GET", "/api/v1/teams/agents/audit?limit=1000", nil, &entries)
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Via == "mcp" {
			seen[e.Action] = true
		}
	}
	for _, want := range []string{"apps.create", "deploys.get", "apps.logs", "env.list", "apps.delete"} {
		if !seen[want] {
			t.Errorf("audit log lacks the agent's %s", want)
		}
	}
}
