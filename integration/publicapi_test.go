package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// publicClient talks to /api/v1 on the dashboard site, like a browser
// (session cookie and CSRF token) or like CI (bearer token).
type publicClient struct {
	t      testing.TB
	http   *http.Client
	csrf   string
	bearer string
	header http.Header
}

func (p *platformEnv) publicClient() *publicClient {
	jar, _ := cookiejar.New(nil)
	tr := &specChecker{t: p.t, next: p.apps.Transport, docURL: "http://" + dashboardHost + "/api/v1/openapi.json"}
	return &publicClient{t: p.t, http: &http.Client{Transport: tr, Jar: jar, Timeout: 60 * time.Second}}
}

// call sends a JSON request and decodes the answer into out; it returns
// the status and the error message of a failed answer.
func (c *publicClient) call(method, path string, in, out any) (int, string) {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+dashboardHost+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
			c.t.Errorf("%s %s: error answer %q is not JSON {\"error\"}", method, path, data)
		}
		return resp.StatusCode, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, ""
}

func (c *publicClient) must(method, path string, in, out any) {
	c.t.Helper()
	if status, msg := c.call(method, path, in, out); status >= 400 {
		c.t.Fatalf("%s %s: %d %s", method, path, status, msg)
	}
}

func (c *publicClient) login(path string, in any) {
	c.t.Helper()
	var ans struct {
		CSRFToken string `json:"csrf_token"`
	}
	c.must(http.MethodPost, path, in, &ans)
	if ans.CSRFToken == "" {
		c.t.Fatalf("%s: no csrf token", path)
	}
	c.csrf = ans.CSRFToken
}

var setupTokenRE = regexp.MustCompile(`"setup_token":"([A-Za-z0-9_-]+)"`)

// TestPublicAPIEndToEnd runs the built binary and drives /api/v1 as its
// users would: first-run setup with the token from the log, teams, an app
// deployed from a session, a CI token deploying, another team's user who
// sees nothing, path tricks, login throttling through Caddy's real client
// address, the audit log, logout, and a master key rotation after which
// every secret still opens.
func TestPublicAPIEndToEnd(t *testing.T) {
	p := startProcess(t, envOptions{})
	ctx := context.Background()

	// 1. The setup token is in the log of the first start.
	var token string
	eventually(t, 10*time.Second, "setup token logged", func() (bool, string) {
		data, _ := os.ReadFile(p.logPath)
		if m := setupTokenRE.FindSubmatch(data); m != nil {
			token = string(m[1])
			return true, ""
		}
		return false, string(data)
	})
	admin := p.publicClient()
	var st struct {
		SetupRequired bool `json:"setup_required"`
	}
	admin.must("GET", "/api/v1/auth/status", nil, &st)
	if !st.SetupRequired {
		t.Fatal("setup not required on a fresh data dir")
	}
	if status, _ := admin.call("POST", "/api/v1/auth/setup", map[string]string{"token": "wrong", "email": "root@example.com", "password": "a long password 1"}, nil); status != http.StatusUnauthorized {
		t.Fatalf("setup with a wrong token: %d", status)
	}
	admin.login("/api/v1/auth/setup", map[string]string{"token": token, "email": "root@example.com", "password": "a long password 1"})
	if status, _ := p.publicClient().call("POST", "/api/v1/auth/setup", map[string]string{"token": token, "email": "x@example.com", "password": "a long password 1"}, nil); status != http.StatusConflict && status != http.StatusUnauthorized {
		t.Fatalf("second setup: %d", status)
	}

	// 2. A team and an app deployed from the session.
	admin.must("POST", "/api/v1/teams", map[string]string{"name": "web"}, nil)
	app := p.appName("pub")
	var v platform.AppView
	admin.must("POST", "/api/v1/apps", map[string]any{"name": app, "team": "web", "image": imageV1, "env": map[string]string{"VERSION": "one", "SECRET": "CANARY-S3cr3t"}}, &v)
	if v.Team != "web" {
		t.Fatalf("app team %q", v.Team)
	}
	p.waitLive(app, v.Deployment)
	if code, body := p.mustGet(app, "/env/SECRET"); code != 200 || !strings.Contains(body, "CANARY-S3cr3t") {
		t.Fatalf("app env: %d %q", code, body)
	}
	var got platform.AppView
	admin.must("GET", "/api/v1/apps/"+app, nil, &got)
	if got.Env["SECRET"] != platform.MaskedValue {
		t.Errorf("env value not masked: %q", got.Env["SECRET"])
	}

	// 3. A CI token of the team deploys; it cannot manage.
	var tok auth.CreatedToken
	admin.must("POST", "/api/v1/tokens", map[string]any{"name": "ci", "team": "web", "scope": "deploy", "expires_in_days": 7}, &tok)
	ci := p.publicClient()
	ci.bearer = tok.Secret
	var d platform.Deployment
	ci.must("POST", "/api/v1/apps/"+app+"/deploys", map[string]any{"image": imageV2, "env": map[string]string{"VERSION": "two"}}, &d)
	p.waitLive(app, d.ID)
	if code, body := p.mustGet(app, "/"); code != 200 || !strings.Contains(body, "two") {
		t.Fatalf("after the CI deploy: %d %q", code, body)
	}
	var byCI platform.Deployment
	admin.must("GET", "/api/v1/apps/"+app+"/deploys/"+d.ID, nil, &byCI)
	if byCI.TriggeredBy != "root@example.com (token ci)" {
		t.Errorf("the CI deploy's triggered_by: %q", byCI.TriggeredBy)
	}
	if status, _ := ci.call("DELETE", "/api/v1/apps/"+app, nil, nil); status != http.StatusForbidden {
		t.Errorf("deploy token deleting the app: %d, want 403", status)
	}
	if status, _ := ci.call("POST", "/api/v1/apps/"+app+"/env/SECRET/reveal", nil, nil); status != http.StatusForbidden {
		t.Errorf("deploy token revealing a secret: %d, want 403", status)
	}

	// 4. A user of another team sees nothing of it.
	var created auth.CreatedUser
	if err := p.api.Do(ctx, http.MethodPost, "/users", map[string]any{"email": "other@example.com", "password": "another long password"}, &created); err != nil {
		t.Fatal(err)
	}
	if err := p.api.Do(ctx, http.MethodPost, "/teams", map[string]any{"name": "other"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.api.Do(ctx, http.MethodPost, "/teams/other/members", map[string]any{"email": "other@example.com", "role": "owner"}, nil); err != nil {
		t.Fatal(err)
	}
	other := p.publicClient()
	other.login("/api/v1/auth/login", map[string]string{"email": "other@example.com", "password": "another long password"})
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/apps/" + app},
		{"GET", "/api/v1/apps/" + app + "/deploys"},
		{"GET", "/api/v1/apps/" + app + "/deploys/" + d.ID + "/logs"},
		{"GET", "/api/v1/apps/" + app + "/env"},
		{"POST", "/api/v1/apps/" + app + "/deploys"},
		{"DELETE", "/api/v1/apps/" + app},
		{"GET", "/api/v1/teams/web"},
	} {
		if status, _ := other.call(r.method, r.path, map[string]any{}, nil); status != http.StatusNotFound {
			t.Errorf("other team's %s %s: %d, want 404", r.method, r.path, status)
		}
	}
	var list []platform.AppView
	other.must("GET", "/api/v1/apps", nil, &list)
	if len(list) != 0 {
		t.Errorf("other team lists %d apps", len(list))
	}
	if code, body := p.mustGet(app, "/"); code != 200 || !strings.Contains(body, "two") {
		t.Fatalf("app after the other team's attempts: %d %q", code, body)
	}

	// 5. Path tricks on the dashboard host never reach the admin API (sent
	// without the OpenAPI check: they are no routes).
	raw := &http.Client{Transport: p.apps.Transport, Jar: other.http.Jar}
	for _, path := range []string{"/api/v1/..%2fpaas/apps", "/api/v1/%2e%2e/paas/apps", "/paas/apps", "/api/v1/apps/..%2f..%2fpaas%2fapps", "/api/v1%5Capps", "/api/v1/apps%00", "/api/v1/apps;x"} {
		req, _ := http.NewRequest("GET", "http://"+dashboardHost+path, nil)
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%s -> %d %.80s", path, resp.StatusCode, data)
		if resp.StatusCode == 200 && bytes.Contains(data, []byte(app)) {
			t.Errorf("%s: %d lists another team's app: %s", path, resp.StatusCode, data)
		}
	}

	// 6. Brute force while rotating X-Forwarded-For: Caddy trusts no proxy
	// here, so every attempt comes from 127.0.0.1 and the limit holds.
	attacker := p.publicClient()
	last := 0
	for i := 0; i < 25; i++ {
		attacker.header = http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", i)}}
		last, _ = attacker.call("POST", "/api/v1/auth/login", map[string]string{"email": fmt.Sprintf("u%d@example.com", i), "password": "not the password"}, nil)
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("25 failed logins from one address with rotating X-Forwarded-For: last %d, want 429", last)
	}

	// 7. The audit log shows who did what.
	var entries []auth.AuditEntry
	admin.must("GET", "/api/v1/audit?limit=1000", nil, &entries)
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Action+" "+e.Actor] = true
		if strings.Contains(fmt.Sprint(e), "CANARY-S3cr3t") {
			t.Errorf("audit entry holds a secret: %+v", e)
		}
	}
	for _, want := range []string{"auth.setup root@example.com", "apps.create root@example.com", "deploys.create root@example.com", "auth.login other@example.com", "apps.delete other@example.com"} {
		if !seen[want] {
			t.Errorf("audit log lacks %q", want)
		}
	}

	// 8. The master key rotates; every secret still opens: the app's env
	// in a new deploy, the API token, the login.
	var rot map[string]string
	if err := p.api.Do(ctx, http.MethodPost, "/secrets/rotate-key", nil, &rot); err != nil || rot["key_id"] == "" {
		t.Fatalf("rotate-key: %v %v", rot, err)
	}
	ci.must("POST", "/api/v1/apps/"+app+"/deploys", map[string]any{"env": map[string]string{"VERSION": "three"}}, &d)
	p.waitLive(app, d.ID)
	if code, body := p.mustGet(app, "/env/SECRET"); code != 200 || !strings.Contains(body, "CANARY-S3cr3t") {
		t.Fatalf("app env after rotation: %d %q", code, body)
	}

	// 9. Logout ends the session.
	admin.must("POST", "/api/v1/auth/logout", nil, nil)
	if status, _ := admin.call("GET", "/api/v1/me", nil, nil); status != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", status)
	}
	// The restarted process opens everything with the rotated key.
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	p.start()
	fresh := p.publicClient()
	fresh.login("/api/v1/auth/login", map[string]string{"email": "root@example.com", "password": "a long password 1"})
	var env map[string]string
	fresh.must("GET", "/api/v1/apps/"+app+"/env", nil, &env)
	var revealed map[string]string
	fresh.must("POST", "/api/v1/apps/"+app+"/env/SECRET/reveal", nil, &revealed)
	if revealed["value"] != "CANARY-S3cr3t" {
		t.Errorf("revealed %q after restart", revealed["value"])
	}
	if status, _ := ci.call("GET", "/api/v1/apps/"+app, nil, nil); status != http.StatusOK {
		t.Errorf("the CI token after rotation and restart: %d", status)
	}
}
