package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/platform"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin module `admin.api.paas`: the PaaS API under Caddy's
// admin endpoint at /paas/. The admin endpoint is trusted and local; keep it
// on localhost or a unix socket.
type AdminAPI struct {
	api *admin.API
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.paas",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision keeps the config's context: admin modules are provisioned
// before apps, so the paas app is looked up per request.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.api = admin.New("/paas", admin.SurfaceAdmin, func() (*admin.Backend, error) {
		mod, err := ctx.AppIfConfigured("paas")
		if err != nil {
			return nil, &platform.Error{Status: http.StatusServiceUnavailable,
				Message: "the paas app is not configured: add the paas global option"}
		}
		return mod.(*App).Backend(), nil
	})
	return nil
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{
		Pattern: "/paas/",
		Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			a.api.ServeHTTP(w, r)
			return nil
		}),
	}}
}

// Interface guards
var (
	_ caddy.Provisioner = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
