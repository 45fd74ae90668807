package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TestOnDemandFromCaddyfile runs the README's production Caddyfile
// (on_demand_tls with permission paas, an https:// site with on_demand
// and get_certificate paas, paas_apps), changed only to point at pebble
// and at test ports: an app's custom domain and its host under the base
// domain each get a certificate at their first handshake, and a stranger
// gets none.
func TestOnDemandFromCaddyfile(t *testing.T) {
	a := startACME(t)
	const domain = "shop.example.test"
	appHost := "shop." + acmeBaseDomain
	a.addA(domain, appHost, "stranger.example.test")
	caddyfile := fmt.Sprintf(`{
	admin off
	http_port %d
	https_port %d
	storage file_system %s
	acme_ca %s
	acme_ca_root %s
	log {
		output file %s
		format json
		level DEBUG
	}
	on_demand_tls {
		permission paas
	}
	paas {
		data_dir %s
		base_domain %s
		docker_host unix://%s
	}
}

https:// {
	bind 127.0.0.1
	tls {
		on_demand
		get_certificate paas
	}
	paas_apps
}
`, a.httpPort, a.tlsPort, a.storageDir, a.pebbleDir, a.minica, a.logPath,
		t.TempDir(), acmeBaseDomain, filepath.Join(t.TempDir(), "no-docker.sock"))
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting the Caddyfile: %v", err)
	}
	for _, w := range warnings {
		t.Logf("caddyfile warning: %s", w.String())
	}
	e := a.startCaddy(cfg)
	attachments := e.Attachments()

	if _, err := e.CreateApp(context.Background(), platform.AppInput{Name: "shop", Domains: []string{domain}}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{domain, appHost} {
		conn, err := a.handshake(name)
		if err != nil {
			t.Fatalf("handshake for %s: %v", name, err)
		}
		if names := conn.ConnectionState().PeerCertificates[0].DNSNames; !slices.Contains(names, name) {
			t.Errorf("certificate for %s names %v", name, names)
		}
		if code, body := acmeGet(t, conn, name); code != http.StatusServiceUnavailable {
			t.Errorf("GET https://%s/: %d %.200q, want 503", name, code, body)
		}
		conn.Close()
		if n := a.pebbleOrders(); n != i+1 {
			t.Errorf("after %s: pebble got %d orders, want %d", name, n, i+1)
		}
	}
	if conn, err := a.handshake("stranger.example.test"); err == nil {
		conn.Close()
		t.Error("handshake for stranger.example.test succeeded")
	}
	// Plain HTTP is redirected to HTTPS, path and query kept.
	plain := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", a.httpPort))
		}},
	}
	resp, err := plain.Get(fmt.Sprintf("http://%s:%d/cart?item=1", domain, a.httpPort))
	if err != nil {
		t.Fatalf("GET http://%s/: %v", domain, err)
	}
	resp.Body.Close()
	// (Caddy's catch-all redirect names no port: production serves 443.)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://"+domain) || !strings.HasSuffix(loc, "/cart?item=1") {
		t.Errorf("plain HTTP: %d Location %q, want 308 to https://%s/cart?item=1", resp.StatusCode, loc, domain)
	}
	if n := a.pebbleOrders(); n != 2 {
		t.Errorf("pebble got %d orders, want 2", n)
	}
	// Only loopback listeners: the HTTP->HTTPS redirect server Caddy adds
	// (where it answers HTTP-01) binds where the site binds.
	loops := a.caddyLogLines("starting server loop")
	for _, l := range loops {
		var entry struct{ Address string }
		if err := json.Unmarshal([]byte(l), &entry); err != nil || !strings.HasPrefix(entry.Address, "127.0.0.1:") {
			t.Errorf("a server listens beyond loopback: %s", l)
		}
	}
	if len(loops) != 2 {
		t.Errorf("%d servers started, want 2 (HTTPS and the redirects): %q", len(loops), loops)
	}
	// Caddy solved the challenge itself: HTTP-01 on the redirect server or
	// TLS-ALPN-01 on the HTTPS port, whichever it picked.
	if len(a.caddyLogLines("served key authentication", domain)) == 0 {
		t.Errorf("caddy did not answer pebble's challenge for %s", domain)
	}
	if got := e.Attachments(); got != attachments {
		t.Errorf("engine attachments went from %d to %d: the config was reloaded", attachments, got)
	}
}
