package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/caddymodule"
	"github.com/caddy-paas/caddy-paas/platform"
)

// baseDomain is the base domain of the bench's apps; nothing resolves it,
// every request names it in its Host header.
const baseDomain = "bench.test"

// appName and appHost name the i-th app (from 1) and its host.
func appName(i int) string { return fmt.Sprintf("app%d", i) }
func appHost(i int) string { return appName(i) + "." + baseDomain }

// object is a JSON object of a Caddy config.
type object = map[string]any

// caddyConfig is a whole Caddy config for the in-process Caddy: no admin
// endpoint, no autosave, errors only in the log, storage in the bench's
// folder, and the given apps.
func caddyConfig(tmp string, apps object) object {
	return object{
		"admin":   object{"disabled": true, "config": object{"persist": false}},
		"logging": object{"logs": object{"default": object{"level": "ERROR"}}},
		"storage": object{"module": "file_system", "root": filepath.Join(tmp, "caddy-storage")},
		"apps":    apps,
	}
}

// paasAppConfig is the paas app on a data directory of the bench's. The
// Docker host is a socket that does not exist: the bench runs no
// container, and the machine's Docker engine (its API calls, its events)
// stays out of the figures.
func paasAppConfig(tmp string) object {
	return object{
		"data_dir":    filepath.Join(tmp, "paas-data"),
		"base_domain": baseDomain,
		"docker_host": "unix://" + filepath.Join(tmp, "no-docker.sock"),
	}
}

// httpServer is a plain-HTTP server on one loopback address.
func httpServer(listen string, routes []any) object {
	return object{
		"listen":          []string{listen},
		"automatic_https": object{"disable": true},
		"routes":          routes,
	}
}

// paasRoutes is the one route of a caddy-paas server: paas_apps.
func paasRoutes() []any {
	return []any{object{"handle": []any{object{"handler": "paas_apps"}}}}
}

// proxyHandler is stock reverse_proxy with a static upstream and its
// defaults (32 idle connections per upstream host).
func proxyHandler(dial string) object {
	return object{"handler": "reverse_proxy", "upstreams": []any{object{"dial": dial}}}
}

// hostRoutes is what stock Caddy needs for n apps with a static config: one
// route per app, matched by host, each with its reverse_proxy. Caddy tries
// the routes one by one. Route changed (if > 0) dials changedDial instead,
// which makes a config that differs from the last in one upstream, as a
// deploy would.
func hostRoutes(n int, dial string, changed int, changedDial string) []any {
	routes := make([]any, 0, n)
	for i := 1; i <= n; i++ {
		d := dial
		if i == changed {
			d = changedDial
		}
		routes = append(routes, object{
			"match":    []any{object{"host": []string{appHost(i)}}},
			"handle":   []any{proxyHandler(d)},
			"terminal": true,
		})
	}
	return routes
}

// loadConfig runs cfg in this process with caddy.Load.
func loadConfig(cfg object) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding a Caddy config: %w", err)
	}
	if err := caddy.Load(raw, true); err != nil {
		return fmt.Errorf("loading a Caddy config: %w", err)
	}
	return nil
}

// activeEngine returns the engine of the running config's paas app.
func activeEngine() (*platform.Engine, error) {
	mod, err := caddy.ActiveContext().App("paas")
	if err != nil {
		return nil, fmt.Errorf("finding the paas app: %w", err)
	}
	app, ok := mod.(*caddymodule.App)
	if !ok {
		return nil, fmt.Errorf("the paas app is a %T, not *caddymodule.App", mod)
	}
	if app.Engine() == nil {
		return nil, fmt.Errorf("the paas app has no engine")
	}
	return app.Engine(), nil
}

// routeApps makes apps from..to (inclusive) route to backend, each with one
// ready replica, as a finished deploy leaves them.
func routeApps(table *platform.RoutingTable, from, to int, backend string) {
	for i := from; i <= to; i++ {
		route := table.SetHosts(appName(i), []string{appHost(i)})
		r := platform.NewReplica(fmt.Sprintf("bench-%d-1", i), "bench-deploy-1", backend)
		r.SetState(platform.ReplicaReady)
		route.SetReplicas([]*platform.Replica{r})
	}
}
