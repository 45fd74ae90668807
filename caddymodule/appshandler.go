package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/ui"
)

func init() {
	caddy.RegisterModule(AppsHandler{})
	httpcaddyfile.RegisterHandlerDirective("paas_apps", parseAppsHandler)
	httpcaddyfile.RegisterDirectiveOrder("paas_apps", httpcaddyfile.Before, "reverse_proxy")
}

// AppsHandler is the handler `paas_apps`: it serves every deployed app by
// the request's Host. A host that belongs to no app gets a 404 page, an app
// with no ready replica a 503 page; anything else is proxied to one of the
// app's ready replicas through an embedded reverse_proxy whose upstreams
// come from the routing table, so deploys change routes with no config
// reload.
type AppsHandler struct {
	// KeepaliveConnsPerHost is how many idle connections to each replica
	// the proxy keeps for reuse. Default: 1024. Stock reverse_proxy keeps 32,
	// which makes it open thousands of new connections under load.
	KeepaliveConnsPerHost int `json:"keepalive_conns_per_host,omitempty"`
	// Retries is how many other replicas a request tries when it cannot
	// connect to the one it picked. Default: 2.
	Retries *int `json:"retries,omitempty"`
	// FlushInterval is how often the proxy flushes a response to the
	// client; -1 flushes every write. Default: Caddy's (streaming responses
	// are flushed at once).
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`

	engine *platform.Engine
	proxy  *reverseproxy.Handler
}

// CaddyModule returns the Caddy module information.
func (AppsHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.paas_apps",
		New: func() caddy.Module { return new(AppsHandler) },
	}
}

// Provision finds the engine and sets up the embedded proxy.
func (h *AppsHandler) Provision(ctx caddy.Context) error {
	var err error
	if h.engine, err = paasEngine(ctx); err != nil {
		return err
	}
	conns := h.KeepaliveConnsPerHost
	if conns <= 0 {
		conns = 1024
	}
	retries := 2
	if h.Retries != nil {
		retries = *h.Retries
	}
	transport := &reverseproxy.HTTPTransport{
		KeepAlive: &reverseproxy.KeepAlive{
			MaxIdleConnsPerHost: conns,
			MaxIdleConns:        conns * 16,
			IdleConnTimeout:     caddy.Duration(90 * time.Second),
		},
	}
	h.proxy = &reverseproxy.Handler{
		TransportRaw:        caddyconfig.JSONModuleObject(transport, "protocol", "http", nil),
		DynamicUpstreamsRaw: json.RawMessage(`{"source":"paas"}`),
		LoadBalancing: &reverseproxy.LoadBalancing{
			Retries:     retries,
			TryInterval: caddy.Duration(10 * time.Millisecond),
		},
		FlushInterval: h.FlushInterval,
	}
	if err := h.proxy.Provision(ctx); err != nil {
		return fmt.Errorf("provisioning the embedded reverse proxy: %w", err)
	}
	return nil
}

// Cleanup releases the embedded proxy.
func (h *AppsHandler) Cleanup() error {
	if h.proxy != nil {
		return h.proxy.Cleanup()
	}
	return nil
}

// ServeHTTP routes the request to its app.
func (h *AppsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	route := h.engine.Table().Lookup(r.Host)
	if route == nil {
		return ui.NotFound(platform.NormalizeHost(r.Host)).Write(w, r)
	}
	if p := route.Policy(); p != nil {
		if p.HSTS && r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		if p.Maintenance != nil {
			return ui.Maintenance(route.App, p.Maintenance.Message).Write(w, r)
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if to, status := p.RedirectFor(scheme, platform.NormalizeHost(r.Host), r.URL.EscapedPath(), r.URL.RawQuery); status != 0 {
			http.Redirect(w, r, to, status)
			return nil
		}
	}
	if route.Ready() == 0 {
		return ui.Unavailable(route.App).Write(w, r)
	}
	pick := &requestPick{route: route}
	defer pick.release()
	return h.proxy.ServeHTTP(w, r.WithContext(withPick(r.Context(), pick)), next)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	paas_apps {
//		keepalive_conns_per_host <n>
//		retries <n>
//		flush_interval <duration>
//	}
func (h *AppsHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "keepalive_conns_per_host":
			n, err := intArg(d)
			if err != nil {
				return err
			}
			h.KeepaliveConnsPerHost = n
		case "retries":
			n, err := intArg(d)
			if err != nil {
				return err
			}
			h.Retries = &n
		case "flush_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() == "-1" {
				h.FlushInterval = -1
				continue
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("flush_interval: %v", err)
			}
			h.FlushInterval = caddy.Duration(dur)
		default:
			return d.Errf("unknown paas_apps option %q", d.Val())
		}
	}
	return nil
}

// intArg reads one non-negative integer argument.
func intArg(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil || n < 0 {
		return 0, d.Errf("%s must be a non-negative integer, got %q", name, d.Val())
	}
	return n, nil
}

func parseAppsHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(AppsHandler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*AppsHandler)(nil)
	_ caddy.CleanerUpper          = (*AppsHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*AppsHandler)(nil)
	_ caddyfile.Unmarshaler       = (*AppsHandler)(nil)
)
