package caddymodule

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TestHostsOfOtherSitesAreReserved: a host another site of the config
// serves (the dashboard's, say) cannot be an app's: the site would get
// every request for it.
func TestHostsOfOtherSitesAreReserved(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	site := func(hosts []string, handler map[string]any) map[string]any {
		return map[string]any{
			"match":    []any{map[string]any{"host": hosts}},
			"handle":   []any{map[string]any{"handler": "subroute", "routes": []any{map[string]any{"handle": []any{handler}}}}},
			"terminal": true,
		}
	}
	static := map[string]any{"handler": "static_response", "body": "site"}
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"paas": map[string]any{
				"data_dir": t.TempDir(), "base_domain": "localhost",
				"docker_host": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
			},
			"http": map[string]any{"servers": map[string]any{"s": map[string]any{
				"listen": []string{addr},
				"routes": []any{
					site([]string{"paas.localhost"}, static),
					site([]string{"*.internal.test"}, static),
					site([]string{"*.apps.test"}, map[string]any{"handler": "paas_apps"}),
					// Host and path: the site takes only part of the host.
					map[string]any{"match": []any{map[string]any{"host": []string{"shared.test"}, "path": []string{"/status"}}}, "handle": []any{static}},
					map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}},
				},
				"automatic_https": map[string]any{"disable": true},
			}}},
		},
	})
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	mod, _ := caddy.ActiveContext().App("paas")
	e := mod.(*App).Engine()
	ctx := t.Context()

	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "paas"}); platform.StatusOf(err) != http.StatusConflict {
		t.Errorf("an app whose own host is the dashboard's: %v, want 409", err)
	}
	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "web", Domains: []string{"db.internal.test"}}); platform.StatusOf(err) != http.StatusConflict {
		t.Errorf("a domain under another site's wildcard: %v, want 409", err)
	}
	if _, err := e.CreateApp(ctx, platform.AppInput{Name: "web", Domains: []string{"a.apps.test", "shared.test"}}); err != nil {
		t.Fatalf("hosts of the apps' own sites: %v", err)
	}
	if _, err := e.AddDomains(ctx, "web", []string{"paas.localhost"}); platform.StatusOf(err) != http.StatusConflict {
		t.Errorf("adding the dashboard's host: %v, want 409", err)
	}
	if _, err := e.AddRedirect("web", platform.Redirect{From: "x.internal.test", To: "a.apps.test"}); platform.StatusOf(err) != http.StatusConflict {
		t.Errorf("a redirect from another site's host: %v, want 409", err)
	}
	if v, err := e.App("web"); err != nil || len(v.Domains) != 2 {
		t.Errorf("after refused claims: %+v, %v", v, err)
	}
}
