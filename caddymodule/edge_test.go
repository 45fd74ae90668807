package caddymodule

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TestEdgePolicyOverRealRequests drives redirects, the www/apex switch and
// maintenance mode through a running Caddy, as a visitor would. The apps
// have no replica, so a request that passes the edge policy gets 503.
func TestEdgePolicyOverRealRequests(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"paas": map[string]any{
				"data_dir": t.TempDir(), "base_domain": "edge.test",
				// No Docker is needed: these apps never run a container.
				"docker_host": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
			},
			"http": map[string]any{"servers": map[string]any{"s": map[string]any{
				"listen":          []string{addr},
				"routes":          []any{map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}}},
				"automatic_https": map[string]any{"disable": true},
			}}},
		},
	})
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	mod, err := caddy.ActiveContext().App("paas")
	if err != nil {
		t.Fatal(err)
	}
	e := mod.(*App).Engine()
	ctx := context.Background()
	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "blog", Domains: []string{"blog.example", "www.blog.example", "old.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "shop", Domains: []string{"shop.example", "www.shop.example"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []platform.Redirect{
		{From: "old.example", To: "blog.example", Status: 301},
		{PathPrefix: "/docs/", To: "https://docs.example/manual", Status: 302},
		{From: "go.example", To: "blog.example/landing", DropPath: true, Status: 307},
		{PathPrefix: "/old", To: "blog.example/new"}, // same host, another path: no loop
	} {
		if _, err := e.AddRedirect("blog", r); err != nil {
			t.Fatalf("AddRedirect(%+v): %v", r, err)
		}
	}
	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "mall", Domains: []string{"mall.example", "www.mall.example"}}); err != nil {
		t.Fatal(err)
	}
	toApex, toWWW := platform.WWWToApex, platform.WWWToWWW
	hsts := true
	if _, err := e.UpdateApp(ctx, "mall", platform.AppPatch{WWWRedirect: &toWWW, HSTS: &hsts}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateApp(ctx, "blog", platform.AppPatch{WWWRedirect: &toApex}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateApp(ctx, "shop", platform.AppPatch{WWWRedirect: &toWWW, Maintenance: &platform.Maintenance{Enabled: true, Message: "Back at <b>noon</b>"}}); err != nil {
		t.Fatal(err)
	}

	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}},
	}
	for _, tc := range []struct {
		host, path string
		status     int
		location   string
		body       string
	}{
		{"old.example", "/a/b?x=1", 301, "http://blog.example/a/b?x=1", ""},
		{"blog.example", "/docs/setup?v=2", 302, "https://docs.example/manual/setup?v=2", ""},
		{"go.example", "/anything", 307, "http://blog.example/landing", ""},
		{"www.blog.example", "/post/1", 308, "http://blog.example/post/1", ""},
		{"blog.example", "/post/1", 503, "", "no running replica"},
		{"blog.example", "/docsearch", 503, "", "no running replica"},      // not under /docs/
		{"blog.example", "/docs", 302, "https://docs.example/manual/", ""}, // the folder itself
		{"blog.example", "/old/post?id=3", 308, "http://blog.example/new/post?id=3", ""},
		{"mall.example", "/shoes?size=9", 308, "http://www.mall.example/shoes?size=9", ""},
		{"www.mall.example", "/shoes", 503, "", "no running replica"},
		{"blog.edge.test", "/", 503, "", "no running replica"},
		{"shop.example", "/cart", 503, "", "Back at &lt;b&gt;noon&lt;/b&gt;"},
		{"www.shop.example", "/cart", 503, "", "Back at"},
		{"nobody.example", "/", 404, "", "No app"},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+tc.host+tc.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || !strings.Contains(string(body), tc.body) {
				t.Errorf("got %d Location %q body %.80q; want %d %q containing %q",
					resp.StatusCode, resp.Header.Get("Location"), body, tc.status, tc.location, tc.body)
			}
			if resp.Header.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS sent over plain HTTP")
			}
		})
	}

	// Bad rules are refused.
	for _, r := range []platform.Redirect{
		{To: "blog.example", Status: 200},
		{To: "{env.SECRET}"},
		{To: "javascript:alert(1)"},
		{From: "loop.example", To: "loop.example"},
		{To: "https://user:pw@evil.example/"},
		{PathPrefix: "no-slash", To: "blog.example"},
		{To: "blog.example"},                          // every request of blog.example to itself
		{To: "https://www.blog.example/"},             // www.blog.example too
		{PathPrefix: "/a", To: "blog.example/a/b"},    // /a/b is under /a again
		{From: "new.example", To: "new.example/home"}, // the new host to itself
	} {
		if _, err := e.AddRedirect("blog", r); platform.StatusOf(err) != http.StatusBadRequest {
			t.Errorf("AddRedirect(%+v) = %v, want 400", r, err)
		}
	}
	// The redirect's host belongs to blog now: another app cannot take it.
	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "thief", Domains: []string{"go.example"}}); platform.StatusOf(err) != http.StatusConflict {
		t.Errorf("taking a redirect's host: %v, want 409", err)
	}
	list, _ := e.Redirects("blog")
	if err := e.RemoveRedirect("blog", list[0].ID); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://old.example/", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("after removing the rule: %d, want 503 (the host still belongs to blog)", resp.StatusCode)
	}
}
