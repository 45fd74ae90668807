package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/mcp"
	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/ui/dashboard" // Dashboard pages
	"github.com/caddy-paas/caddy-paas/webhooks"
)

func init() {
	caddy.RegisterModule(Dashboard{})
	httpcaddyfile.RegisterHandlerDirective("paas_dashboard", parseDashboard)
	httpcaddyfile.RegisterDirectiveOrder("paas_dashboard", httpcaddyfile.Before, "reverse_proxy")
}

// Dashboard is the handler `paas_dashboard`: the public face of the
// platform on its own site. It serves the authenticated public API under
// /api/v1/ (session cookie or bearer token, the same operations and JSON
// as the admin endpoint's /paas/) and the git providers' push webhooks at
// POST /webhooks/{app}/{provider}; the dashboard pages and MCP join it
// here.
type Dashboard struct {
	engine *platform.Engine
	api    *admin.API
	mcp    http.Handler
	// Dashboard pages (begin): every path that is not the API, MCP or a
	// webhook.
	pages http.Handler
	// Dashboard pages (end).
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Dashboard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.paas_dashboard",
		New: func() caddy.Module { return new(Dashboard) },
	}
}

// Provision finds the engine.
func (h *Dashboard) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	mod, err := ctx.App("paas")
	if err != nil {
		return fmt.Errorf("loading the paas app: %w", err)
	}
	app := mod.(*App)
	h.engine = app.engine
	backend := app.Backend()
	h.api = admin.New(apiPrefix, admin.SurfacePublic, func() (*admin.Backend, error) { return backend, nil })
	// MCP for AI agents at /mcp: API tokens only, each tool a call of the
	// public API above with the caller's token.
	h.mcp = mcp.NewHTTPHandler(backend.Auth, h.api, apiPrefix)
	// Dashboard pages (begin): they read through the public API above,
	// in process, with the visitor's session cookie.
	if h.pages, err = dashboard.New(h.api, apiPrefix); err != nil {
		return fmt.Errorf("setting up the dashboard pages: %w", err)
	}
	// Dashboard pages (end).
	return nil
}

// apiPrefix is where the public API lives on the dashboard site.
const apiPrefix = "/api/v1"

// ServeHTTP serves the dashboard site.
func (h *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.URL.Path == apiPrefix || strings.HasPrefix(r.URL.Path, apiPrefix+"/") {
		// The real client address is Caddy's: X-Forwarded-For counts only
		// from the server's trusted_proxies.
		ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		info := auth.RequestInfo{ClientIP: ip, UserAgent: r.UserAgent(), Secure: r.TLS != nil}
		h.api.ServeHTTP(w, r.WithContext(auth.WithRequestInfo(r.Context(), info)))
		return nil
	}
	// MCP (begin): the same request info, for the audit entries of the
	// API calls its tools make.
	if r.URL.Path == "/mcp" || r.URL.Path == "/mcp/" {
		ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		info := auth.RequestInfo{ClientIP: ip, UserAgent: r.UserAgent(), Secure: r.TLS != nil}
		h.mcp.ServeHTTP(w, r.WithContext(auth.WithRequestInfo(r.Context(), info)))
		return nil
	}
	// MCP (end).
	// Dashboard pages (begin): the rest of the site is the dashboard, with
	// the same request info for its in-process API calls.
	if !strings.HasPrefix(r.URL.Path, "/webhooks/") {
		ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		info := auth.RequestInfo{ClientIP: ip, UserAgent: r.UserAgent(), Secure: r.TLS != nil}
		h.pages.ServeHTTP(w, r.WithContext(auth.WithRequestInfo(r.Context(), info)))
		return nil
	}
	// Dashboard pages (end).
	rest, ok := strings.CutPrefix(r.URL.Path, "/webhooks/")
	if !ok {
		return writeJSONError(w, http.StatusNotFound, "not found")
	}
	app, provider, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(provider, "/") {
		return writeJSONError(w, http.StatusNotFound, "not found")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeJSONError(w, http.StatusMethodNotAllowed, "webhooks are POST requests")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhooks.MaxPayloadBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return writeJSONError(w, http.StatusRequestEntityTooLarge, "payload too large")
		}
		return writeJSONError(w, http.StatusBadRequest, "reading the payload failed")
	}
	remote, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	d, err := h.engine.HandleWebhook(r.Context(), app, provider, r.Header, body, remote)
	if err != nil {
		status := platform.StatusOf(err)
		msg := err.Error()
		if status == http.StatusInternalServerError {
			h.logger.Error("webhook", zap.String("app", app), zap.Error(err))
			msg = "internal error"
		}
		return writeJSONError(w, status, msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(d.Status)
	return json.NewEncoder(w).Encode(d)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	paas_dashboard
func (h *Dashboard) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("unknown paas_dashboard option %q", d.Val())
	}
	return nil
}

func parseDashboard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Dashboard)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Dashboard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Dashboard)(nil)
	_ caddyfile.Unmarshaler       = (*Dashboard)(nil)
)
