package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// reservedHosts returns what tells whether a host is served by a site of
// the HTTP app's config that is not the apps' (a route matched by host
// alone whose handlers, subroutes included, have no paas_apps): such a
// site comes before the apps' catch-all, so an app given one of its hosts
// would never see a request. Host patterns and placeholders are matched as
// Caddy matches them.
func reservedHosts(httpApp *caddyhttp.App) func(host string) bool {
	var sites []caddyhttp.MatchHost
	for _, srv := range httpApp.Servers {
		for _, route := range srv.Routes {
			if servesApps(route.Handlers) {
				continue
			}
			for _, set := range route.MatcherSets {
				if len(set) != 1 {
					continue // host and something else: the site takes only part of it
				}
				switch m := set[0].(type) {
				case caddyhttp.MatchHost:
					sites = append(sites, m)
				case *caddyhttp.MatchHost:
					sites = append(sites, *m)
				}
			}
		}
	}
	if len(sites) == 0 {
		return nil
	}
	ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	return func(host string) bool {
		r := (&http.Request{Host: host}).WithContext(ctx)
		for _, m := range sites {
			if m.Match(r) {
				return true
			}
		}
		return false
	}
}

// servesApps reports whether handlers, or the routes of a subroute among
// them, include paas_apps.
func servesApps(handlers []caddyhttp.MiddlewareHandler) bool {
	for _, h := range handlers {
		switch h := h.(type) {
		case *AppsHandler:
			return true
		case *caddyhttp.Subroute:
			for _, route := range h.Routes {
				if servesApps(route.Handlers) {
					return true
				}
			}
		}
	}
	return false
}
