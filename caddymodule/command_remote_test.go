package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/storage"
)

// runCLI runs `caddy paas ARGS` with stdin, as the caddy command does
// (no --address is added: the target is chosen as a user's would be).
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := &cobra.Command{Use: "paas", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	buildCommands(root)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// The secrets of the fake server, which must never be printed.
const (
	fakePassword = "correct horse battery"
	fakeTOTP     = "123456"
	fakeSession  = "session-0123456789"
	fakeCSRF     = "csrf-0123456789"
	fakeToken    = "cpaas_0123456789ab_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
	fakeOldToken = "cpaas_00000000000f_b2xkLW9sZC1vbGQtb2xkLW9sZC1vbGQtb2xkLW9sZC1vbGQ"
)

// fakeRequest is a request the fake server got.
type fakeRequest struct {
	Method, Path, Query string
	Auth, CSRF, Cookie  string
	Accept              string
	Body                string
}

// fakeServer is a tiny fake of the public API (/api/v1/) and of the admin
// endpoint (/paas/), recording every request.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []fakeRequest
	totp     bool
	teams    map[string]auth.Role
	// tokens are the valid API tokens and their ids.
	tokens map[string]string
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{teams: map[string]auth.Role{"backend": auth.RoleOwner}, tokens: map[string]string{fakeToken: "0123456789ab"}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// set changes the fake's behaviour.
func (f *fakeServer) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

func (f *fakeServer) got() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// find returns the requests to method path.
func (f *fakeServer) find(method, path string) []fakeRequest {
	var out []fakeRequest
	for _, r := range f.got() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fakeError(w http.ResponseWriter, status int, code, msg string) {
	fakeJSON(w, status, admin.ErrorAnswer{Error: msg, Code: code})
}

var fakeUser = &auth.User{ID: "u_alice", Email: "alice@example.com", Name: "Alice"}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	cookie := ""
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		cookie = c.Value
	}
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		CSRF: r.Header.Get(auth.CSRFHeader), Cookie: cookie, Accept: r.Header.Get("Accept"), Body: string(body)})
	totpOn, teams := f.totp, f.teams
	f.mu.Unlock()

	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	tokenID, tokenOK := f.tokens[bearer]
	f.mu.Unlock()
	session := cookie == fakeSession
	if session && r.Method != http.MethodGet && r.Header.Get(auth.CSRFHeader) != fakeCSRF {
		fakeError(w, 403, "", "missing or wrong X-CSRF-Token header")
		return
	}
	api, isAPI := strings.CutPrefix(r.URL.Path, "/api/v1")
	local, isLocal := strings.CutPrefix(r.URL.Path, "/paas")
	if isAPI && api != "/auth/login" && api != "/auth/status" && !session && !tokenOK {
		fakeError(w, 401, "bad_token", "authentication required: log in, or send \"Authorization: Bearer <token>\"")
		return
	}
	path := api
	if isLocal {
		path = local
	}
	switch {
	case isAPI && r.Method == http.MethodDelete && path == "/me/token" && tokenOK:
		// A token revokes itself, as the real server allows.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"deleted":"0123456789ab"}`)
	case (isAPI || isLocal) && r.Method == http.MethodGet && path == "/apps":
		fakeJSON(w, 200, []platform.AppView{{Name: "blog", Status: "running"}, {Name: "shop", Status: "stopped"}})
	case (isAPI || isLocal) && r.Method == http.MethodGet && path == "/apps/ghost":
		// A server that echoes what it got, as a careless proxy might.
		fakeError(w, 404, "", `app "ghost" not found (request had `+r.Header.Get("Authorization")+`)`)
	case (isAPI || isLocal) && r.Method == http.MethodGet && path == "/apps/blog/logs":
		if r.URL.Query().Get("follow") != "1" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "[abc] one\n[abc] two\n")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, line := range []string{"[abc] first", "[def] second"} {
			fmt.Fprintf(w, "data: %s\n\n", line)
			fl.Flush()
			time.Sleep(10 * time.Millisecond)
		}
		io.WriteString(w, "event: end\ndata: \n\n")
	case (isAPI || isLocal) && r.Method == http.MethodPatch && path == "/apps/blog/env":
		var in struct {
			Deploy bool `json:"deploy"`
		}
		_ = json.Unmarshal(body, &in)
		v := platform.AppView{Name: "blog"}
		if in.Deploy {
			v.Deployment = "d_0000000000000001"
		}
		fakeJSON(w, 200, v)
	case isAPI && api == "/auth/status":
		fakeJSON(w, 200, admin.AuthStatus{})
	case isAPI && api == "/auth/login" && r.Method == http.MethodPost:
		var in auth.LoginInput
		if err := json.Unmarshal(body, &in); err != nil {
			fakeError(w, 400, "", "bad body")
			return
		}
		if in.Email != fakeUser.Email || in.Password != fakePassword {
			fakeError(w, 401, "bad_credentials", "wrong email or password")
			return
		}
		if totpOn && in.TOTPCode == "" && in.RecoveryCode == "" {
			fakeError(w, 401, "totp_required", "two-factor code required")
			return
		}
		if totpOn && in.TOTPCode != fakeTOTP {
			fakeError(w, 401, "bad_totp", "wrong two-factor code")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: fakeSession, Path: "/", HttpOnly: true})
		fakeJSON(w, 200, admin.LoginAnswer{User: fakeUser, CSRFToken: fakeCSRF})
	case isAPI && api == "/auth/logout":
		if !session {
			fakeError(w, 403, "", "API tokens cannot do this: log in to the dashboard")
			return
		}
		fakeJSON(w, 200, admin.LoggedOut{LoggedOut: true})
	case isAPI && api == "/me":
		me := admin.Me{User: fakeUser, Teams: teams, Kind: auth.KindSession}
		if !session {
			me.Kind = auth.KindToken
			me.Token = &auth.Token{ID: tokenID, Name: "ci", Team: "backend", Scope: auth.ScopeDeploy, ExpiresAt: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
		}
		fakeJSON(w, 200, me)
	case isAPI && strings.HasPrefix(api, "/tokens"):
		if !session {
			fakeError(w, 403, "", "API tokens cannot do this: log in to the dashboard")
			return
		}
		switch {
		case r.Method == http.MethodPost:
			var in auth.TokenInput
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil || in.Name == "" || in.Team == "" || in.Scope == "" {
				fakeError(w, 400, "", fmt.Sprintf("bad token input: %v %+v", err, in))
				return
			}
			fakeJSON(w, 201, auth.CreatedToken{Token: auth.Token{ID: "0123456789ab", Name: in.Name, Team: in.Team, Scope: in.Scope,
				ExpiresAt: time.Now().AddDate(0, 0, in.ExpiresInDays)}, Secret: fakeToken})
		case r.Method == http.MethodGet:
			fakeJSON(w, 200, []auth.Token{{ID: "0123456789ab", Name: "cli laptop", Team: "backend", Scope: auth.ScopeAdmin}})
		case r.Method == http.MethodDelete:
			fakeJSON(w, 200, admin.Deleted{Deleted: strings.TrimPrefix(api, "/tokens/")})
		}
	default:
		fakeError(w, 404, "", "no such endpoint: "+r.URL.Path)
	}
}

// checkNoSecret fails when a secret of the fake server was printed.
func checkNoSecret(t *testing.T, where, s string) {
	t.Helper()
	for _, secret := range []string{fakeToken, fakeOldToken, fakePassword, fakeSession, fakeCSRF, "c2VjcmV0"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the secret %q:\n%s", where, secret, s)
		}
	}
}

// storedCredential is the stored credential of a server.
func storedCredential(t *testing.T, server string) (*credentials, *serverCredential) {
	t.Helper()
	cr, _, err := loadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	return cr, cr.Servers[server]
}

func TestCLILoginTokenStdin(t *testing.T) {
	path := isolateConfig(t)
	f := newFakeServer(t)

	// A token the server refuses is not stored.
	_, _, err := runCLI(t, "cpaas_000000000000_bad\n", "login", f.URL, "--token-stdin")
	if err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("login with a refused token = %v, want the server's message", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused token was stored: %v", err)
	}

	out, stderr, err := runCLI(t, fakeToken+"\n", "login", f.URL+"/", "--token-stdin")
	if err != nil {
		t.Fatalf("login --token-stdin: %v\n%s\n%s", err, out, stderr)
	}
	checkNoSecret(t, "login's stdout", out)
	checkNoSecret(t, "login's stderr", stderr)
	if !strings.Contains(out, "Logged in to "+f.URL+" as alice@example.com") || !strings.Contains(out, "0123456789ab") {
		t.Errorf("login said:\n%s", out)
	}
	me := f.find(http.MethodGet, "/api/v1/me")
	if len(me) != 2 || me[1].Auth != "Bearer "+fakeToken {
		t.Errorf("GET /api/v1/me requests = %+v, want the bearer token", me)
	}
	cr, sc := storedCredential(t, f.URL)
	if cr.Current != f.URL || sc == nil || sc.Token != fakeToken || sc.TokenID != "0123456789ab" || sc.Email != "alice@example.com" || sc.Team != "backend" || sc.Scope != "deploy" {
		t.Fatalf("stored credentials = %+v %v", cr, sc)
	}
	if st, err := os.Stat(path); err != nil || (st.Mode().Perm() != 0o600 && os.PathSeparator == '/') {
		t.Errorf("credentials file: %v %v", st.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), fakeToken) {
		t.Errorf("the token is not in the credentials file")
	}

	// whoami uses the stored token.
	out, stderr, err = runCLI(t, "", "whoami")
	if err != nil {
		t.Fatalf("whoami: %v %s", err, stderr)
	}
	for _, want := range []string{f.URL + " (from login)", "alice@example.com (Alice)", "0123456789ab", "backend (owner)"} {
		if !strings.Contains(out, want) {
			t.Errorf("whoami does not say %q:\n%s", want, out)
		}
	}
	checkNoSecret(t, "whoami", out+stderr)
	out, _, err = runCLI(t, "", "whoami", "--json")
	var who struct {
		Target, Server string
		Me             admin.Me
	}
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || who.Target != "remote" || who.Server != f.URL || who.Me.User.Email != "alice@example.com" {
		t.Errorf("whoami --json = %v\n%s", err, out)
	}
	checkNoSecret(t, "whoami --json", out)
	if me := f.find(http.MethodGet, "/api/v1/me"); me[len(me)-1].Auth != "Bearer "+fakeToken {
		t.Errorf("whoami sent %q", me[len(me)-1].Auth)
	}

	// --local: the admin endpoint, whatever the login says.
	out, _, err = runCLI(t, "", "whoami", "--local", "--address", "localhost:2999")
	if err != nil || !strings.Contains(out, "local admin endpoint (localhost:2999)") {
		t.Errorf("whoami --local = %v\n%s", err, out)
	}
}

func TestCLILoginPasswordWithTOTP(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	f.set(func() { f.totp = true })

	// A wrong password: the server's message, nothing stored.
	_, stderr, err := runCLI(t, "wrong password\n", "login", f.URL, "--email", "alice@example.com")
	if err == nil || !strings.Contains(err.Error(), "wrong email or password") {
		t.Errorf("login with a wrong password = %v", err)
	}
	if _, sc := storedCredential(t, f.URL); sc != nil {
		t.Errorf("a failed login stored %v", sc)
	}
	checkNoSecret(t, "failed login", stderr)

	// Without --email and with no terminal, it says what to do.
	if _, _, err := runCLI(t, fakePassword+"\n", "login", f.URL); err == nil || !strings.Contains(err.Error(), "--email") {
		t.Errorf("login without --email from a pipe = %v", err)
	}

	// Password on the first line of stdin, the TOTP code on the next.
	out, stderr, err := runCLI(t, fakePassword+"\n"+fakeTOTP+"\n", "login", f.URL, "--email", "alice@example.com")
	if err != nil {
		t.Fatalf("login: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	checkNoSecret(t, "login's stdout", out)
	checkNoSecret(t, "login's stderr", stderr)
	if !strings.Contains(out, "Logged in to "+f.URL+" as alice@example.com") {
		t.Errorf("login said:\n%s", out)
	}

	logins := f.find(http.MethodPost, "/api/v1/auth/login")
	if len(logins) != 3 {
		t.Fatalf("%d login requests, want 3 (wrong password, no code, code)", len(logins))
	}
	var first, second auth.LoginInput
	_ = json.Unmarshal([]byte(logins[1].Body), &first)
	_ = json.Unmarshal([]byte(logins[2].Body), &second)
	if first.TOTPCode != "" || second.TOTPCode != fakeTOTP || second.Password != fakePassword || second.Email != "alice@example.com" {
		t.Errorf("login bodies = %+v then %+v, want a retry with the TOTP code", first, second)
	}

	created := f.find(http.MethodPost, "/api/v1/tokens")
	if len(created) != 1 {
		t.Fatalf("%d token creations, want 1", len(created))
	}
	if created[0].Cookie != fakeSession || created[0].CSRF != fakeCSRF || created[0].Auth != "" {
		t.Errorf("token creation sent cookie %q, CSRF %q, auth %q", created[0].Cookie, created[0].CSRF, created[0].Auth)
	}
	var in auth.TokenInput
	if err := json.Unmarshal([]byte(created[0].Body), &in); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	// The only team; an owner's token gets the admin scope; 90 days.
	if in.Name != strings.TrimSpace("cli "+host) || in.Team != "backend" || in.Scope != auth.ScopeAdmin || in.ExpiresInDays != 90 {
		t.Errorf("token input = %+v", in)
	}
	if lo := f.find(http.MethodPost, "/api/v1/auth/logout"); len(lo) != 1 || lo[0].Cookie != fakeSession || lo[0].CSRF != fakeCSRF {
		t.Errorf("logout requests = %+v, want one with the session", lo)
	}
	cr, sc := storedCredential(t, f.URL)
	if cr.Current != f.URL || sc == nil || sc.Token != fakeToken || sc.TokenID != "0123456789ab" || sc.Email != "alice@example.com" || sc.Team != "backend" {
		t.Fatalf("stored = %+v %v", cr, sc)
	}

	// The flags choose the token's team, scope and lifetime; a second login
	// revokes the token it replaces; --json says the same, without the token.
	f.set(func() { f.totp = false })
	cr.Servers[f.URL].TokenID = "00000000000f"
	cr.Servers[f.URL].Token = fakeOldToken
	if err := cr.save(mustPath(t)); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runCLI(t, fakePassword+"\n", "login", f.URL, "--email", "alice@example.com", "--team", "ops", "--scope", "read", "--expires-in-days", "7", "--json")
	if err != nil {
		t.Fatalf("second login: %v %s", err, stderr)
	}
	checkNoSecret(t, "login --json", out+stderr)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["token_id"] != "0123456789ab" || res["server"] != f.URL {
		t.Errorf("login --json = %v %s", err, out)
	}
	created = f.find(http.MethodPost, "/api/v1/tokens")
	_ = json.Unmarshal([]byte(created[len(created)-1].Body), &in)
	if in.Team != "ops" || in.Scope != auth.ScopeRead || in.ExpiresInDays != 7 {
		t.Errorf("token input with flags = %+v", in)
	}
	if del := f.find(http.MethodDelete, "/api/v1/tokens/00000000000f"); len(del) != 1 || del[0].Cookie != fakeSession {
		t.Errorf("the replaced token was not revoked: %+v", del)
	}
}

func mustPath(t *testing.T) string {
	t.Helper()
	p, err := credentialsPath()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// loginTo stores a credential for server, as login does.
func loginTo(t *testing.T, server, token string) {
	t.Helper()
	cr, path, err := loadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	cr.Servers[server] = &serverCredential{Token: token, TokenID: "0123456789ab", Email: fakeUser.Email, ExpiresAt: time.Now().AddDate(0, 0, 30)}
	cr.Current = server
	if err := cr.save(path); err != nil {
		t.Fatal(err)
	}
}

func TestCLIRemoteAndLocalTargets(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	addr := strings.TrimPrefix(f.URL, "http://")
	last := func() fakeRequest { r := f.got(); return r[len(r)-1] }

	// Not logged in: the admin endpoint ($CADDY_ADMIN here), no token.
	t.Setenv("CADDY_ADMIN", addr)
	if out, _, err := runCLI(t, "", "apps", "list"); err != nil || !strings.Contains(out, "blog") {
		t.Fatalf("apps list (local): %v\n%s", err, out)
	}
	if r := last(); r.Path != "/paas/apps" || r.Auth != "" {
		t.Errorf("local apps list went to %s with auth %q", r.Path, r.Auth)
	}

	// Logged in: the server's /api/v1 with the bearer token.
	loginTo(t, f.URL, fakeToken)
	if out, _, err := runCLI(t, "", "apps", "list"); err != nil || !strings.Contains(out, "shop") {
		t.Fatalf("apps list (remote): %v\n%s", err, out)
	}
	if r := last(); r.Path != "/api/v1/apps" || r.Auth != "Bearer "+fakeToken {
		t.Errorf("remote apps list went to %s with auth %q", r.Path, r.Auth)
	}

	// --local and --address force the admin endpoint.
	for _, args := range [][]string{{"apps", "list", "--local"}, {"apps", "list", "--address", addr}} {
		if _, _, err := runCLI(t, "", args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if r := last(); r.Path != "/paas/apps" || r.Auth != "" {
			t.Errorf("%v went to %s with auth %q", args, r.Path, r.Auth)
		}
	}
	if _, _, err := runCLI(t, "", "apps", "list", "--local", "--server", f.URL); err == nil {
		t.Error("--local with --server was accepted")
	}

	// The environment (CI) overrides the stored login.
	other := newFakeServer(t)
	const ciToken = "cpaas_cccccccccccc_Y2ktY2ktY2ktY2ktY2ktY2ktY2ktY2ktY2ktY2ktY2ktY2k"
	other.set(func() { other.tokens = map[string]string{ciToken: "cccccccccccc"} })
	t.Setenv(envServer, other.URL)
	t.Setenv(envToken, ciToken)
	if _, _, err := runCLI(t, "", "apps", "list"); err != nil {
		t.Fatalf("apps list with the env: %v", err)
	}
	if r := other.got(); len(r) != 1 || r[0].Path != "/api/v1/apps" || r[0].Auth != "Bearer "+ciToken {
		t.Errorf("apps list with $%s went: %+v", envServer, r)
	}
	// --server beats the environment, and $CADDY_PAAS_TOKEN, which belongs
	// to $CADDY_PAAS_SERVER, is not sent to another server: its stored
	// token is.
	if _, _, err := runCLI(t, "", "apps", "list", "--server", f.URL); err != nil {
		t.Fatal(err)
	}
	if r := last(); r.Path != "/api/v1/apps" || r.Auth != "Bearer "+fakeToken {
		t.Errorf("--server with another $%s sent %q", envServer, r.Auth)
	}
	// With no $CADDY_PAAS_SERVER, $CADDY_PAAS_TOKEN goes with --server.
	t.Setenv(envServer, "")
	if _, _, err := runCLI(t, "", "apps", "list", "--server", other.URL); err != nil {
		t.Fatal(err)
	}
	if r := other.got(); len(r) != 2 || r[1].Auth != "Bearer "+ciToken {
		t.Errorf("--server with $%s: %+v", envToken, r)
	}
	// A token with no server is an error, not a silent local call.
	if err := os.Remove(mustPath(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "", "apps", "list"); err == nil || !strings.Contains(err.Error(), envServer) {
		t.Errorf("a token without a server = %v", err)
	}
	// A server without a token says how to log in.
	t.Setenv(envToken, "")
	if _, _, err := runCLI(t, "", "apps", "list", "--server", f.URL); err == nil || !strings.Contains(err.Error(), "caddy paas login "+f.URL) {
		t.Errorf("a server without a token = %v", err)
	}
}

func TestCLIRemoteErrorsNeverShowTheToken(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	loginTo(t, f.URL, fakeToken)
	// The fake echoes the Authorization header into its error message.
	out, stderr, err := runCLI(t, "", "apps", "show", "ghost")
	if err == nil || !strings.Contains(err.Error(), `app "ghost" not found`) {
		t.Fatalf("apps show ghost = %v", err)
	}
	checkNoSecret(t, "the error", err.Error()+out+stderr)

	// A stale token: the server's message and how to log in again.
	loginTo(t, f.URL, fakeOldToken)
	_, _, err = runCLI(t, "", "apps", "list")
	if err == nil || !strings.Contains(err.Error(), "authentication required") || !strings.Contains(err.Error(), "caddy paas login "+f.URL) {
		t.Errorf("apps list with a refused token = %v", err)
	}
	checkNoSecret(t, "the error", fmt.Sprint(err))
}

// TestCLIRemoteExitCode runs the real caddy command in a child process:
// a refused remote request exits with code 1 with the server's message.
func TestCLIRemoteExitCode(t *testing.T) {
	if args := os.Getenv("PAAS_REMOTE_CLI_TEST_ARGS"); args != "" {
		os.Args = append([]string{"caddy"}, strings.Split(args, "\x1f")...)
		caddycmd.Main()
		os.Exit(0)
	}
	dir := t.TempDir()
	f := newFakeServer(t)
	for _, tc := range []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"paas", "apps", "show", "ghost"}, 1, "", `app "ghost" not found`},
		{[]string{"paas", "apps", "list"}, 0, "blog", ""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCLIRemoteExitCode$")
		cmd.Env = append(os.Environ(), "PAAS_REMOTE_CLI_TEST_ARGS="+strings.Join(tc.args, "\x1f"),
			"XDG_CONFIG_HOME="+dir, "HOME="+dir, "AppData="+dir, envServer+"="+f.URL, envToken+"="+fakeToken)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(out.String(), tc.inStdout) || !strings.Contains(errOut.String(), tc.inStderr) {
			t.Errorf("caddy %s: exit code %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out.String(), errOut.String())
		}
		checkNoSecret(t, "caddy "+strings.Join(tc.args, " "), out.String()+errOut.String())
	}
}

func TestCLIRedirectIsNotFollowed(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	var gotAuth []string
	var mu sync.Mutex
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Redirect(w, r, f.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(redirector.Close)
	loginTo(t, redirector.URL, fakeToken)
	_, _, err := runCLI(t, "", "apps", "list")
	if err == nil || !strings.Contains(err.Error(), "redirects to "+f.URL) {
		t.Errorf("apps list through a redirect = %v", err)
	}
	if len(f.got()) != 0 {
		t.Errorf("the redirect was followed: %+v", f.got())
	}
	checkNoSecret(t, "the error", fmt.Sprint(err))
}

func TestCLILogout(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	loginTo(t, f.URL, fakeToken)
	loginTo(t, "https://other.example.com", fakeOldToken)
	// No token id: logout does not try to revoke it (nothing is sent to
	// other.example.com).
	cr, path, err := loadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	cr.Servers["https://other.example.com"].TokenID = ""
	if err := cr.save(path); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "", "logout", f.URL)
	if err != nil {
		t.Fatalf("logout: %v %s", err, stderr)
	}
	// The token revokes itself.
	if del := f.find(http.MethodDelete, "/api/v1/me/token"); len(del) != 1 || del[0].Auth != "Bearer "+fakeToken {
		t.Errorf("logout's revocation attempts: %+v", del)
	}
	if !strings.Contains(out, "Logged out of "+f.URL) || !strings.Contains(out, "was revoked") {
		t.Errorf("logout said:\n%s", out)
	}
	checkNoSecret(t, "logout", out+stderr)
	cr, sc := storedCredential(t, f.URL)
	if sc != nil || cr.Current != "https://other.example.com" || cr.Servers["https://other.example.com"] == nil {
		t.Errorf("after logout: %+v", cr)
	}
	// The current server, by default.
	if _, _, err := runCLI(t, "", "logout"); err != nil {
		t.Fatal(err)
	}
	if cr, _ := storedCredential(t, ""); cr.Current != "" || len(cr.Servers) != 0 {
		t.Errorf("after the second logout: %+v", cr)
	}
	if _, _, err := runCLI(t, "", "logout"); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Errorf("logout when logged out = %v", err)
	}
}

func TestCLILogsFollow(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	addr := strings.TrimPrefix(f.URL, "http://")

	out, _, err := runCLI(t, "", "logs", "blog", "--follow", "--tail", "5", "--address", addr)
	if err != nil {
		t.Fatal(err)
	}
	if out != "[abc] first\n[def] second\n" {
		t.Errorf("logs --follow printed %q", out)
	}
	r := f.find(http.MethodGet, "/paas/apps/blog/logs")
	if len(r) != 1 || r[0].Query != "follow=1&tail=5" || r[0].Accept != "text/event-stream" {
		t.Errorf("logs --follow request = %+v", r)
	}

	out, _, err = runCLI(t, "", "logs", "blog", "--address", addr)
	if err != nil || out != "[abc] one\n[abc] two\n" {
		t.Errorf("logs = %v %q", err, out)
	}
	if r := f.find(http.MethodGet, "/paas/apps/blog/logs"); r[1].Query != "tail=100" {
		t.Errorf("logs request query = %q", r[1].Query)
	}

	// Remote, with the token.
	loginTo(t, f.URL, fakeToken)
	out, _, err = runCLI(t, "", "logs", "blog", "-f")
	if err != nil || out != "[abc] first\n[def] second\n" {
		t.Errorf("remote logs -f = %v %q", err, out)
	}
	if r := f.find(http.MethodGet, "/api/v1/apps/blog/logs"); len(r) != 1 || r[0].Auth != "Bearer "+fakeToken {
		t.Errorf("remote logs request = %+v", r)
	}
	if _, _, err := runCLI(t, "", "logs", "ghost", "--local", "--address", addr); err == nil || !strings.Contains(err.Error(), "no such endpoint") {
		t.Errorf("logs of an unknown app = %v", err)
	}
}

func TestCLIEnvSetUnset(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	addr := strings.TrimPrefix(f.URL, "http://")
	const secret = "postgres://app:S3cr3t@db/app"

	out, _, err := runCLI(t, "", "env", "set", "blog", "DATABASE_URL="+secret, "MODE=a=b", "--address", addr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, secret) || !strings.Contains(out, "set DATABASE_URL, MODE on app blog") || !strings.Contains(out, "d_0000000000000001") {
		t.Errorf("env set said:\n%s", out)
	}
	out, _, err = runCLI(t, "", "env", "unset", "blog", "MODE", "OLD", "--no-deploy", "--address", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "removed MODE, OLD on app blog") || !strings.Contains(out, "next deploy") {
		t.Errorf("env unset said:\n%s", out)
	}
	patches := f.find(http.MethodPatch, "/paas/apps/blog/env")
	if len(patches) != 2 {
		t.Fatalf("%d PATCH requests, want 2", len(patches))
	}
	for i, want := range []string{
		`{"deploy":true,"env":{"DATABASE_URL":"postgres://app:S3cr3t@db/app","MODE":"a=b"}}`,
		`{"deploy":false,"env":{"MODE":null,"OLD":null}}`,
	} {
		if got := strings.TrimSpace(patches[i].Body); got != want {
			t.Errorf("PATCH body %d = %s\nwant %s", i, got, want)
		}
		// The real server's decoder refuses unknown fields: the body is an EnvPatch.
		dec := json.NewDecoder(strings.NewReader(patches[i].Body))
		dec.DisallowUnknownFields()
		var p admin.EnvPatch
		if err := dec.Decode(&p); err != nil {
			t.Errorf("PATCH body %d is not an admin.EnvPatch: %v", i, err)
		}
	}
	// A malformed pair is refused without echoing it (it may be a value).
	_, _, err = runCLI(t, "", "env", "set", "blog", "s3cr3t-value", "--address", addr)
	if err == nil || strings.Contains(err.Error(), "s3cr3t-value") || !strings.Contains(err.Error(), "KEY=VALUE") {
		t.Errorf("env set with no '=' = %v", err)
	}
	if len(f.find(http.MethodPatch, "/paas/apps/blog/env")) != 2 {
		t.Error("a malformed env set was sent")
	}
}

func TestCLITokensCreatePrintsOnce(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)

	// The local endpoint has no users' tokens.
	if _, _, err := runCLI(t, "", "tokens", "list", "--local"); err == nil || !strings.Contains(err.Error(), "caddy paas login") {
		t.Errorf("tokens list --local = %v", err)
	}

	loginTo(t, f.URL, fakeOldToken)
	out, stderr, err := runCLI(t, fakePassword+"\n", "tokens", "create", "--team", "backend", "--scope", "deploy", "--name", "github actions", "--expires-in-days", "30")
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	if n := strings.Count(out+stderr, fakeToken); n != 1 {
		t.Errorf("the new token is printed %d times, want once:\n%s\n%s", n, out, stderr)
	}
	if !strings.Contains(out, "token (shown only this once): "+fakeToken) || !strings.Contains(stderr, "only time the token is shown") {
		t.Errorf("tokens create said:\nstdout: %s\nstderr: %s", out, stderr)
	}
	if strings.Contains(out+stderr, fakePassword) || strings.Contains(out+stderr, fakeOldToken) {
		t.Errorf("tokens create shows the password or the stored token")
	}
	created := f.find(http.MethodPost, "/api/v1/tokens")
	if len(created) != 1 || created[0].Cookie != fakeSession || created[0].CSRF != fakeCSRF || created[0].Auth != "" {
		t.Fatalf("token creation requests = %+v", created)
	}
	var in auth.TokenInput
	if err := json.Unmarshal([]byte(created[0].Body), &in); err != nil || in != (auth.TokenInput{Name: "github actions", Team: "backend", Scope: auth.ScopeDeploy, ExpiresInDays: 30}) {
		t.Errorf("token input = %+v %v", in, err)
	}
	// The session logs in as the stored user and ends with the command.
	var login auth.LoginInput
	if l := f.find(http.MethodPost, "/api/v1/auth/login"); len(l) != 1 || json.Unmarshal([]byte(l[0].Body), &login) != nil || login.Email != fakeUser.Email {
		t.Errorf("login requests = %+v", l)
	}
	if len(f.find(http.MethodPost, "/api/v1/auth/logout")) != 1 {
		t.Error("the session was not logged out")
	}

	out, _, err = runCLI(t, fakePassword+"\n", "tokens", "create", "--team", "backend", "--scope", "read", "--json")
	var ct auth.CreatedToken
	if err != nil || json.Unmarshal([]byte(out), &ct) != nil || ct.Secret != fakeToken || strings.Count(out, fakeToken) != 1 {
		t.Errorf("tokens create --json = %v\n%s", err, out)
	}

	out, _, err = runCLI(t, fakePassword+"\n", "tokens", "list")
	if err != nil || !strings.Contains(out, "0123456789ab *") || !strings.Contains(out, "cli laptop") {
		t.Errorf("tokens list = %v\n%s", err, out)
	}
	out, _, err = runCLI(t, fakePassword+"\n", "tokens", "delete", "abcdefabcdef")
	if err != nil || !strings.Contains(out, "revoked token abcdefabcdef") || len(f.find(http.MethodDelete, "/api/v1/tokens/abcdefabcdef")) != 1 {
		t.Errorf("tokens delete = %v\n%s", err, out)
	}
	// A wrong password: the server's message.
	if _, _, err := runCLI(t, "nope nope nope\n", "tokens", "list"); err == nil || !strings.Contains(err.Error(), "wrong email or password") {
		t.Errorf("tokens list with a wrong password = %v", err)
	}
}

func TestCLICompletesAppNames(t *testing.T) {
	isolateConfig(t)
	f := newFakeServer(t)
	addr := strings.TrimPrefix(f.URL, "http://")
	for _, args := range [][]string{{"logs", "b"}, {"apps", "show", "b"}, {"deploy", "b"}, {"env", "set", "b"}, {"scale", "b"}} {
		var out bytes.Buffer
		root := &cobra.Command{Use: "paas"}
		root.SetOut(&out)
		root.SetErr(io.Discard)
		buildCommands(root)
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd, "--address", addr}, args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); !strings.HasPrefix(got, "blog\n:4\n") {
			t.Errorf("completion of %v = %q, want blog", args, got)
		}
	}
	// No app name for a new app, nor for a second argument.
	for _, args := range [][]string{{"apps", "create", ""}, {"logs", "blog", ""}} {
		var out bytes.Buffer
		root := &cobra.Command{Use: "paas"}
		root.SetOut(&out)
		root.SetErr(io.Discard)
		buildCommands(root)
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd, "--address", addr}, args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "blog") || strings.Contains(out.String(), "shop") {
			t.Errorf("completion of %v = %q, want no app", args, out.String())
		}
	}
	// Best effort: nothing reachable, no completion and no error.
	var out bytes.Buffer
	root := &cobra.Command{Use: "paas"}
	root.SetOut(&out)
	buildCommands(root)
	root.SetArgs([]string{cobra.ShellCompRequestCmd, "--address", "127.0.0.1:1", "logs", ""})
	if err := root.Execute(); err != nil || strings.Contains(out.String(), "blog") {
		t.Errorf("completion with nothing reachable = %v %q", err, out.String())
	}
}

// TestCLIHelpEveryCommand walks the whole paas command tree: every command
// has a short help, and every runnable one an example.
func TestCLIHelpEveryCommand(t *testing.T) {
	root := &cobra.Command{Use: "paas"}
	buildCommands(root)
	n := 0
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if c.Runnable() {
			n++
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s has no example", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 60 {
		t.Errorf("only %d runnable commands found: is the tree built?", n)
	}
}

// cliCommandFor maps every operation of the API to the command that calls it.
var cliCommandFor = map[string]string{
	"status": "status", "openapi": "openapi",
	"apps.list": "apps list", "apps.create": "apps create", "apps.get": "apps show", "apps.update": "apps maintenance",
	"apps.delete": "apps delete", "apps.stop": "apps stop", "apps.start": "apps start",
	"apps.logs": "logs", "apps.restart": "restart", "apps.scale": "scale",
	"env.list": "env list", "env.set": "env set", "env.reveal": "env reveal",
	"deploys.list": "deploys list", "deploys.create": "deploy", "deploys.get": "deploys show", "deploys.logs": "deploys logs",
	"deploys.cancel": "deploys cancel", "apps.rollback": "rollback", "apps.deploy_key": "apps deploy-key",
	"redirects.list": "redirects list", "redirects.add": "redirects add", "redirects.remove": "redirects remove",
	"domains.list": "domains list", "domains.add": "domains add", "domains.remove": "domains remove",
	"certs.list": "certs list", "certs.upload": "certs upload", "certs.remove": "certs remove",
	"webhook.get": "webhook show", "webhook.rotate": "webhook rotate-secret",
	"auth.status": "setup", "auth.setup": "setup", "auth.login": "login", "auth.logout": "login", "me.token.revoke": "logout", "apps.terminal": "exec",
	"auth.accept_invite": "accept-invite", "me.get": "whoami", "me.password": "account password",
	"me.totp.begin": "account totp enable", "me.totp.confirm": "account totp enable", "me.totp.disable": "account totp disable",
	"tokens.list": "tokens list", "tokens.create": "tokens create", "tokens.delete": "tokens delete",
	"users.list": "users list", "users.create": "users create", "users.get": "users show", "users.update": "users update", "users.delete": "users delete",
	"teams.list": "teams list", "teams.create": "teams create", "teams.get": "teams show", "teams.delete": "teams delete",
	"members.add": "members add", "members.update": "members set", "members.remove": "members remove",
	"audit.team": "audit", "audit.list": "audit", "secrets.rotate_key": "secrets rotate-key",
}

// TestCLIEveryOperationHasACommand fails when an operation of the API
// has no CLI command.
func TestCLIEveryOperationHasACommand(t *testing.T) {
	root := &cobra.Command{Use: "paas"}
	buildCommands(root)
	for _, rt := range admin.Routes {
		path, ok := cliCommandFor[rt.ID]
		if !ok {
			t.Errorf("operation %s (%s %s) has no CLI command: add one, and map it in cliCommandFor", rt.ID, rt.Method, rt.Path)
			continue
		}
		cmd, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) > 0 || !cmd.Runnable() {
			t.Errorf("operation %s: no runnable command %q (%v)", rt.ID, path, err)
		}
	}
}

// remoteEnv is the real admin API and public API of one data directory,
// served by one server: /paas/ and /api/v1/.
type remoteEnv struct {
	url    string
	auth   *auth.Service
	engine *platform.Engine
}

func newRemoteEnv(t *testing.T) *remoteEnv {
	t.Helper()
	t.Setenv(storage.MasterKeyEnv, "")
	dir := t.TempDir()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := storage.OpenSealer(dir, db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(db, sealer, auth.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	docker, err := containers.NewDocker("unix://" + filepath.Join(t.TempDir(), "no-docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.Close() })
	engine := platform.NewEngine(platform.Config{BaseDomain: "cli.test", LogDir: filepath.Join(dir, "logs"), WorkDir: filepath.Join(dir, "work")},
		platform.NewStore(db, sealer), docker, zap.NewNop())
	t.Cleanup(engine.Close)
	backend := &admin.Backend{Engine: engine, Auth: svc}
	get := func() (*admin.Backend, error) { return backend, nil }
	mux := http.NewServeMux()
	mux.Handle("/paas/", admin.New("/paas", admin.SurfaceAdmin, get))
	mux.Handle("/api/v1/", admin.New("/api/v1", admin.SurfacePublic, get))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &remoteEnv{url: srv.URL, auth: svc, engine: engine}
}

// TestCLIRemoteEndToEnd runs the CLI against the real public API: login
// with a password, the stored token's commands, an operation that needs a
// logged-in user, the tokens and logout.
func TestCLIRemoteEndToEnd(t *testing.T) {
	path := isolateConfig(t)
	e := newRemoteEnv(t)
	ctx := context.Background()
	if _, err := e.auth.CreateUser(ctx, auth.UserInput{Email: "root@example.com", Password: fakePassword, Admin: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.CreateApp(ctx, platform.AppInput{Name: "blog", Env: map[string]string{"MODE": "prod"}}); err != nil {
		t.Fatal(err)
	}

	out, stderr, err := runCLI(t, fakePassword+"\n", "login", e.url, "--email", "root@example.com")
	if err != nil {
		t.Fatalf("login: %v\n%s\n%s", err, out, stderr)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cr credentials
	if err := json.Unmarshal(raw, &cr); err != nil {
		t.Fatal(err)
	}
	sc := cr.Servers[e.url]
	if sc == nil || !strings.HasPrefix(sc.Token, "cpaas_") || sc.Scope != "admin" || cr.Current != e.url {
		t.Fatalf("stored after login: %s", raw)
	}
	if strings.Contains(out+stderr, sc.Token) || strings.Contains(out+stderr, fakePassword) {
		t.Errorf("login printed the token or the password:\n%s\n%s", out, stderr)
	}

	// The stored token reaches the apps.
	if out, _, err := runCLI(t, "", "apps", "list"); err != nil || !strings.Contains(out, "blog") {
		t.Errorf("remote apps list = %v\n%s", err, out)
	}
	if out, _, err := runCLI(t, "", "whoami"); err != nil || !strings.Contains(out, "root@example.com") || !strings.Contains(out, "platform admin") {
		t.Errorf("whoami = %v\n%s", err, out)
	}
	// Env changes through the public API (its decoder refuses unknown fields).
	if out, _, err := runCLI(t, "", "env", "set", "blog", "LOG_LEVEL=debug", "--no-deploy"); err != nil || !strings.Contains(out, "set LOG_LEVEL on app blog") {
		t.Errorf("env set = %v\n%s", err, out)
	}
	if out, _, err := runCLI(t, "", "env", "unset", "blog", "MODE", "--no-deploy"); err != nil {
		t.Errorf("env unset = %v\n%s", err, out)
	}
	keys, err := e.engine.EnvKeys("blog")
	if err != nil || len(keys) != 1 || keys["LOG_LEVEL"] == "" {
		t.Errorf("env after set and unset = %v %v", keys, err)
	}
	if out, _, err := runCLI(t, "", "scale", "blog", "3", "--json"); err != nil || !strings.Contains(out, `"replicas": 3`) {
		t.Errorf("scale = %v\n%s", err, out)
	}
	if out, _, err := runCLI(t, "", "openapi"); err != nil || !strings.Contains(out, `"openapi"`) {
		t.Errorf("openapi = %v\n%.200s", err, out)
	}
	// A platform admin's operation refuses tokens: the CLI logs in as the
	// stored user with the password from stdin.
	out, stderr, err = runCLI(t, fakePassword+"\n", "users", "list")
	if err != nil || !strings.Contains(out, "root@example.com") {
		t.Errorf("remote users list = %v\n%s\n%s", err, out, stderr)
	}
	// A team's audit log takes the token (no password on stdin).
	if out, stderr, err := runCLI(t, "", "audit", "--team", sc.Team, "--limit", "5"); err != nil || !strings.Contains(out, "env.set") {
		t.Errorf("remote audit --team = %v\n%s\n%s", err, out, stderr)
	}
	// The token this CLI uses is marked in the token list.
	out, _, err = runCLI(t, fakePassword+"\n", "tokens", "list")
	if err != nil || !strings.Contains(out, sc.TokenID+" *") {
		t.Errorf("tokens list = %v\n%s", err, out)
	}
	// --local goes to the admin endpoint (of the same server here).
	if out, _, err := runCLI(t, "", "apps", "list", "--local", "--address", strings.TrimPrefix(e.url, "http://")); err != nil || !strings.Contains(out, "blog") {
		t.Errorf("apps list --local = %v\n%s", err, out)
	}

	out, _, err = runCLI(t, "", "logout")
	if err != nil || !strings.Contains(out, "Logged out of "+e.url) {
		t.Errorf("logout = %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "", "whoami", "--server", e.url); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Errorf("whoami after logout = %v", err)
	}
}
