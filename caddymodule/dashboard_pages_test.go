package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/storage"
	"github.com/caddy-paas/caddy-paas/ui/dashboard"
)

// nullEngine is an engine that no request of these tests may reach: a
// call panics.
type nullEngine struct{ admin.Engine }

// newPagesSite is paas_dashboard as Provision sets it up, over a fresh
// data folder (no user yet) and an engine never reached.
func newPagesSite(t *testing.T) *Dashboard {
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
	backend := &admin.Backend{Engine: nullEngine{}, Auth: svc}
	h := &Dashboard{logger: zap.NewNop(), mcp: http.NotFoundHandler()}
	h.api = admin.New(apiPrefix, admin.SurfacePublic, func() (*admin.Backend, error) { return backend, nil })
	if h.pages, err = dashboard.New(h.api, apiPrefix); err != nil {
		t.Fatal(err)
	}
	return h
}

func serveDashboard(t *testing.T, h *Dashboard, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, req, nil); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestDashboardMountsThePages checks the paths of the site: the API and
// webhooks where they were, and every other path a dashboard page.
func TestDashboardMountsThePages(t *testing.T) {
	h := newPagesSite(t)
	for _, tc := range []struct {
		method, path string
		status       int
		location     string
		contains     string
		contentType  string
	}{
		// A page: no user yet, so first-run setup.
		{"GET", "/", http.StatusSeeOther, "/setup", "", ""},
		{"GET", "/apps/blog", http.StatusSeeOther, "/setup", "", ""},
		{"GET", "/setup", http.StatusOK, "", `data-action="setup"`, "text/html; charset=utf-8"},
		{"GET", "/no/such/page", http.StatusNotFound, "", "There is no page at this address.", "text/html; charset=utf-8"},
		// The API, still JSON.
		{"GET", "/api/v1/auth/status", http.StatusOK, "", `"setup_required":true`, "application/json"},
		{"GET", "/api/v1/nothing", http.StatusNotFound, "", `"error"`, "application/json"},
		// Webhooks, still theirs.
		{"GET", "/webhooks/blog/github", http.StatusMethodNotAllowed, "", "webhooks are POST requests", "application/json"},
	} {
		res, body := serveDashboard(t, h, httptest.NewRequest(tc.method, "http://paas.example.com"+tc.path, nil))
		if res.StatusCode != tc.status || res.Header.Get("Location") != tc.location || !strings.Contains(body, tc.contains) ||
			(tc.contentType != "" && res.Header.Get("Content-Type") != tc.contentType) {
			t.Errorf("%s %s: %d to %q, %s\n%s", tc.method, tc.path, res.StatusCode, res.Header.Get("Location"), res.Header.Get("Content-Type"), body)
		}
		// The pages carry the browser's protections.
		if !strings.HasPrefix(tc.path, "/api/") && !strings.HasPrefix(tc.path, "/webhooks/") {
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || res.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s %s: CSP %q, X-Frame-Options %q", tc.method, tc.path, csp, res.Header.Get("X-Frame-Options"))
			}
		}
	}
}

// TestDashboardRefusesCrossOriginPosts sends, through the mounted
// handler, what a form on another site would post.
func TestDashboardRefusesCrossOriginPosts(t *testing.T) {
	h := newPagesSite(t)
	for _, tc := range []struct {
		path   string
		header http.Header
		status int
	}{
		{"/api/v1/auth/setup", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"/api/v1/apps", http.Header{"Origin": {"null"}}, http.StatusForbidden},
		{"/api/v1/auth/login", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		// A page is no endpoint: nothing there takes a POST.
		{"/apps/blog", http.Header{"Origin": {"https://evil.example"}}, http.StatusMethodNotAllowed},
	} {
		req := httptest.NewRequest(http.MethodPost, "http://paas.example.com"+tc.path, strings.NewReader(`{"token":"x","email":"a@example.com","password":"0123456789ab"}`))
		req.Header = tc.header
		req.Header.Set("Content-Type", "application/json")
		res, body := serveDashboard(t, h, req)
		if res.StatusCode != tc.status {
			t.Errorf("cross-site POST %s with %v: %d %s", tc.path, tc.header, res.StatusCode, body)
		}
	}
}
