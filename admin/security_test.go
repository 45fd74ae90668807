package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/auth"
)

func (w *world) caller(name string) caller {
	for _, c := range w.callers {
		if c.name == name {
			return c
		}
	}
	panic("no caller " + name)
}

// TestCSRF: a request that a cookie authenticates and that changes
// something needs the session's X-CSRF-Token, and a cross-site one is
// refused whatever it carries; bearer tokens need no CSRF token.
func TestCSRF(t *testing.T) {
	w := sharedWorld(t)
	owner := w.caller("owner")
	cases := []struct {
		name   string
		mutate func(r *http.Request)
		want   int
	}{
		{"no csrf header", func(r *http.Request) { r.Header.Del(auth.CSRFHeader) }, http.StatusForbidden},
		{"wrong csrf header", func(r *http.Request) { r.Header.Set(auth.CSRFHeader, "x"+owner.csrf) }, http.StatusForbidden},
		{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"origin null", func(r *http.Request) { r.Header.Set("Origin", "null") }, http.StatusForbidden},
		{"cross-site fetch", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"same origin with token", func(r *http.Request) { r.Header.Set("Origin", "http://"+r.Host) }, http.StatusAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/api/v1/apps/app1/deploys", strings.NewReader("{}"))
			req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: owner.cookie})
			req.Header.Set(auth.CSRFHeader, owner.csrf)
			tc.mutate(req)
			before := w.engine.callCount()
			rec := httptest.NewRecorder()
			w.api.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.want >= 400 && w.engine.callCount() != before {
				t.Error("a refused request reached the engine")
			}
		})
	}
	t.Run("bearer needs no csrf token", func(t *testing.T) {
		res := w.do(t, w.caller("token-deploy"), "POST", "/api/v1/apps/app1/deploys", "{}")
		if res.status != http.StatusAccepted {
			t.Fatalf("status %d (%s)", res.status, res.error)
		}
	})
	t.Run("a cross-site form post with a token is refused too", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/api/v1/apps/app1/deploys", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+w.caller("token-deploy").bearer)
		req.Header.Set("Origin", "https://evil.example")
		rec := httptest.NewRecorder()
		w.api.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// TestNoCORS: a preflight from another origin gets no Access-Control-Allow
// header, and neither does any answer.
func TestNoCORS(t *testing.T) {
	w := sharedWorld(t)
	req := httptest.NewRequest("OPTIONS", "/api/v1/apps", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("preflight status %d, want 403", rec.Code)
	}
	for k := range rec.Header() {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("preflight answer has %s", k)
		}
	}
	res := w.do(t, w.caller("owner"), "GET", "/api/v1/apps", "")
	for k := range res.header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("answer has %s", k)
		}
	}
}

// TestForgedCredentials: made-up, altered and foreign-format credentials
// all get the same 401, and reach nothing.
func TestForgedCredentials(t *testing.T) {
	w := sharedWorld(t)
	real := w.caller("token-admin").bearer
	id := strings.Split(real, "_")[1]
	altered := real[:len(real)-1] + string("AB"[strings.IndexByte("AB", real[len(real)-1])+1&1])
	for _, h := range []string{
		"Bearer " + altered,
		"Bearer cpaas_" + id + "_" + strings.Repeat("A", 43),
		"Bearer cpaas_000000000000_" + strings.Repeat("A", 43),
		"Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJyb290In0.",
		"Bearer ",
		"Basic cm9vdDpyb290",
		"Bearer " + real + " extra",
	} {
		t.Run(h, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/apps/app1", nil)
			req.Header.Set("Authorization", h)
			before := w.engine.callCount()
			rec := httptest.NewRecorder()
			w.api.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d (%s), want 401", rec.Code, rec.Body)
			}
			if w.engine.callCount() != before {
				t.Error("a forged credential reached the engine")
			}
		})
	}
	// A forged session cookie is no session.
	res := w.do(t, caller{name: "forged", cookie: "not-a-session", csrf: "x"}, "GET", "/api/v1/apps", "")
	if res.status != http.StatusUnauthorized {
		t.Errorf("forged cookie: status %d", res.status)
	}
}

// TestRoleChangeRevokesSessions: a demoted member's old session stops
// working at once.
func TestRoleChangeRevokesSessions(t *testing.T) {
	w := newWorld(t)
	dev := w.caller("developer")
	if res := w.do(t, dev, "POST", "/api/v1/apps/app1/deploys", "{}"); res.status != http.StatusAccepted {
		t.Fatalf("before: %d %s", res.status, res.error)
	}
	me := w.do(t, dev, "GET", "/api/v1/me", "")
	var body struct {
		User struct{ ID string } `json:"user"`
	}
	if err := jsonUnmarshal(me.body, &body); err != nil {
		t.Fatal(err)
	}
	owner := w.caller("owner")
	res := w.do(t, owner, "PATCH", "/api/v1/teams/alpha/members/"+body.User.ID, `{"role":"viewer"}`)
	if res.status != http.StatusOK {
		t.Fatalf("demote: %d %s", res.status, res.error)
	}
	if res := w.do(t, dev, "POST", "/api/v1/apps/app1/deploys", "{}"); res.status != http.StatusUnauthorized {
		t.Errorf("old session after demotion: status %d, want 401", res.status)
	}
	// A member cannot make themselves (or anyone) owner.
	admin := w.caller("admin")
	res = w.do(t, admin, "PATCH", "/api/v1/teams/alpha/members/"+body.User.ID, `{"role":"owner"}`)
	if res.status != http.StatusForbidden {
		t.Errorf("admin granting owner: %d %s, want 403", res.status, res.error)
	}
	res = w.do(t, admin, "POST", "/api/v1/teams/alpha/members", `{"email":"new@example.com","role":"owner"}`)
	if res.status != http.StatusForbidden {
		t.Errorf("admin inviting an owner: %d %s, want 403", res.status, res.error)
	}
}

// TestLoginThrottledOnRealClientAddress: rotating X-Forwarded-For does not
// help an attacker: the address is the one the front door found.
func TestLoginThrottledOnRealClientAddress(t *testing.T) {
	w := sharedWorld(t)
	var last int
	for i := 0; i < 25; i++ {
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"email":"user%d@example.com","password":"wrong password %d"}`, i, i)))
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		req = req.WithContext(auth.WithRequestInfo(req.Context(), auth.RequestInfo{ClientIP: "198.51.100.7"}))
		rec := httptest.NewRecorder()
		w.api.ServeHTTP(rec, req)
		last = rec.Code
		if i < 5 && rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i, rec.Code)
		}
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after 25 failures from one address: %d, want 429", last)
	}
}

// TestPublicBodyLimits: oversized and malformed bodies on the public API.
func TestPublicBodyLimits(t *testing.T) {
	w := sharedWorld(t)
	owner := w.caller("owner")
	big := `{"name":"x","env":{"A":"` + strings.Repeat("a", MaxBodyBytes) + `"}}`
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"too large", "/api/v1/apps", big, http.StatusRequestEntityTooLarge},
		{"trailing data", "/api/v1/apps", `{"name":"x"}{}`, http.StatusBadRequest},
		{"unknown field", "/api/v1/apps", `{"name":"x","privileged":true}`, http.StatusBadRequest},
		{"deep nesting", "/api/v1/apps", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), http.StatusBadRequest},
		{"login too large", "/api/v1/auth/login", `{"email":"a@b.c","password":"` + strings.Repeat("p", MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.engine.callCount()
			res := w.do(t, owner, "POST", tc.path, tc.body)
			if res.status != tc.want {
				t.Fatalf("status %d (%s), want %d", res.status, res.error, tc.want)
			}
			if w.engine.callCount() != before {
				t.Error("a refused body reached the engine")
			}
		})
	}
}

// TestCanaryNeverEchoed: a secret sent in a failing request is in no
// answer and no audit entry.
func TestCanaryNeverEchoed(t *testing.T) {
	w := sharedWorld(t)
	owner := w.caller("owner")
	for _, body := range []string{
		`{"name":"x","env":{"K":"` + canary + `"},"bogus":1}`,
		`{"name":"x","env":{"K":` + `"` + canary + `"}}{`,
		`{"name":"x","port":"` + canary + `"}`,
	} {
		res := w.do(t, owner, "POST", "/api/v1/apps", body)
		if strings.Contains(string(res.body), canary) {
			t.Errorf("answer echoes the canary: %s", res.body)
		}
	}
	res := w.do(t, caller{name: "anon"}, "POST", "/api/v1/auth/login", `{"email":"root@example.com","password":"`+canary+`"}`)
	if strings.Contains(string(res.body), canary) {
		t.Errorf("login answer echoes the password: %s", res.body)
	}
	entries, err := w.svc.Audit(auth.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no audit entries")
	}
	for _, e := range entries {
		if strings.Contains(fmt.Sprint(e), canary) {
			t.Errorf("audit entry holds the canary: %+v", e)
		}
	}
}

// TestAuditRecordsChanges: every change is in the audit log with who, what,
// from where and the result; reads are not, reveals are.
func TestAuditRecordsChanges(t *testing.T) {
	w := sharedWorld(t)
	owner := w.caller("owner")
	w.do(t, owner, "GET", "/api/v1/apps/app1", "")
	w.do(t, owner, "POST", "/api/v1/apps/app1/deploys", "{}")
	w.do(t, w.caller("viewer"), "DELETE", "/api/v1/apps/app1", "")
	w.do(t, owner, "POST", "/api/v1/apps/app1/env/KEY/reveal", "")
	entries, err := w.svc.Audit(auth.AuditFilter{Team: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		action, actor string
		status        int
	}{
		{"env.reveal", "owner@example.com", 200},
		{"apps.delete", "viewer@example.com", 403},
		{"deploys.create", "owner@example.com", 202},
	}
	if len(entries) < len(want) {
		t.Fatalf("entries %+v", entries)
	}
	for i, w := range want {
		e := entries[i]
		if e.Action != w.action || e.Actor != w.actor || e.Status != w.status || e.ClientIP != "192.0.2.1" || e.Team != "alpha" {
			t.Errorf("entry %d = %+v, want %+v", i, e, w)
		}
	}
	if entries[1].Result == "ok" || entries[0].Result != "ok" {
		t.Errorf("results: %q, %q", entries[0].Result, entries[1].Result)
	}
	for _, e := range entries {
		if e.Action == "apps.get" {
			t.Error("a plain read was audited")
		}
	}
	_ = context.Background()
}

// TestAgentReadsAreAudited: every call of the MCP server, reads included,
// is in the audit log, marked as an agent's.
func TestAgentReadsAreAudited(t *testing.T) {
	w := sharedWorld(t)
	req := httptest.NewRequest("GET", "/api/v1/apps/app1/env", nil)
	req.Header.Set("Authorization", "Bearer "+w.caller("token-read").bearer)
	req.Header.Set(ClientHeader, "mcp")
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	entries, err := w.svc.Audit(auth.AuditFilter{Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatalf("%v %v", entries, err)
	}
	if e := entries[0]; e.Action != "env.list" || e.Via != "mcp" || e.TokenID == "" {
		t.Errorf("entry %+v", e)
	}
}

// TestTokenRevokesItself: DELETE /me/token ends the token it is made with,
// and only that one.
func TestTokenRevokesItself(t *testing.T) {
	w := newWorld(t)
	read, deploy := w.caller("token-read"), w.caller("token-deploy")
	if res := w.do(t, read, "DELETE", "/api/v1/me/token", ""); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.error)
	}
	if res := w.do(t, read, "GET", "/api/v1/apps", ""); res.status != http.StatusUnauthorized {
		t.Errorf("the revoked token: %d", res.status)
	}
	if res := w.do(t, deploy, "GET", "/api/v1/apps", ""); res.status != http.StatusOK {
		t.Errorf("another token after the revocation: %d", res.status)
	}
	if res := w.do(t, w.caller("owner"), "DELETE", "/api/v1/me/token", ""); res.status != http.StatusBadRequest {
		t.Errorf("a session revoking 'its token': %d", res.status)
	}
}
