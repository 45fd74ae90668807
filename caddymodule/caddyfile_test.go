package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adapt(t *testing.T, input string) (map[string]any, error) {
	t.Helper()
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(input), nil)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("adapted config is not JSON: %v", err)
	}
	return cfg, nil
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestCaddyfileGlobalOption(t *testing.T) {
	cfg, err := adapt(t, `{
	on_demand_tls {
		permission paas
	}
	paas {
		data_dir /var/lib/paas
		base_domain apps.example.com
		docker_host tcp://127.0.0.1:2375
		upstream_mode network
		network edge
		health_timeout 45s
		drain_timeout 1m
	}
}
:8080 {
	paas_apps {
		keepalive_conns_per_host 256
		retries 3
		flush_interval -1
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	paas := dig(cfg, "apps", "paas").(map[string]any)
	want := map[string]any{
		"data_dir": "/var/lib/paas", "base_domain": "apps.example.com",
		"docker_host": "tcp://127.0.0.1:2375", "upstream_mode": "network", "network": "edge",
		"health_timeout": float64(45e9), "drain_timeout": float64(60e9),
	}
	for k, v := range want {
		if paas[k] != v {
			t.Errorf("apps.paas.%s = %v, want %v", k, paas[k], v)
		}
	}
	if got := dig(cfg, "apps", "tls", "automation", "on_demand", "permission", "module"); got != "paas" {
		t.Errorf("on-demand permission module = %v, want paas", got)
	}
	raw, _ := json.Marshal(dig(cfg, "apps", "http", "servers"))
	for _, want := range []string{`"handler":"paas_apps"`, `"keepalive_conns_per_host":256`, `"retries":3`, `"flush_interval":-1`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("servers config lacks %s: %s", want, raw)
		}
	}
}

func TestCaddyfileErrors(t *testing.T) {
	for name, input := range map[string]string{
		"unknown option":     "{\n paas {\n  color blue\n }\n}\n:80 {\n paas_apps\n}",
		"bad upstream mode":  "{\n paas {\n  upstream_mode tunnel\n }\n}",
		"bad duration":       "{\n paas {\n  health_timeout soon\n }\n}",
		"two values":         "{\n paas {\n  base_domain a.com b.com\n }\n}",
		"no value":           "{\n paas {\n  data_dir\n }\n}",
		"handler argument":   ":80 {\n paas_apps everything\n}",
		"handler bad option": ":80 {\n paas_apps {\n  retries -1\n }\n}",
		"handler unknown":    ":80 {\n paas_apps {\n  sticky yes\n }\n}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := adapt(t, input); err == nil {
				t.Errorf("adapting %q succeeded, want an error", input)
			}
		})
	}
}

func TestAppProvisionValidates(t *testing.T) {
	for name, tc := range map[string]struct {
		app  App
		want string
	}{
		"no base domain":    {App{DataDir: t.TempDir()}, "base_domain is required"},
		"bad base domain":   {App{DataDir: t.TempDir(), BaseDomain: "{env.X}"}, "base_domain"},
		"bad upstream mode": {App{DataDir: t.TempDir(), BaseDomain: "a.test", UpstreamMode: "tunnel"}, "upstream_mode"},
		"negative timeout":  {App{DataDir: t.TempDir(), BaseDomain: "a.test", HealthTimeout: -1}, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			err := tc.app.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Provision = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Two configs over one data directory share one engine; it stops only
// when the last one is cleaned up.
func TestAppSharesEngineAcrossConfigs(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	first := &App{DataDir: dir, BaseDomain: "a.test"}
	if err := first.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	second := &App{DataDir: dir, BaseDomain: "b.test"}
	if err := second.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if first.Engine() != second.Engine() {
		t.Fatal("two configs over one data directory got two engines")
	}
	if got := first.Engine().Attachments(); got != 2 {
		t.Errorf("attachments = %d, want 2", got)
	}
	if err := first.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// Still usable: the second config holds it.
	if _, err := second.Engine().Apps(); err != nil {
		t.Errorf("engine closed while a config still uses it: %v", err)
	}
	if err := second.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Engine().Apps(); err == nil {
		t.Error("engine's database still open after the last config went away")
	}
}
