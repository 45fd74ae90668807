package caddymodule

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/caddy-paas/caddy-paas/platform"
)

func init() {
	caddy.RegisterModule(Permission{})
}

// Permission is the on-demand TLS permission `paas`: a certificate may be
// obtained only for a host that belongs to an app. Any other name is
// refused before an ACME order is placed.
type Permission struct {
	engine *platform.Engine
}

// CaddyModule returns the Caddy module information.
func (Permission) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.permission.paas",
		New: func() caddy.Module { return new(Permission) },
	}
}

// Provision finds the engine.
func (p *Permission) Provision(ctx caddy.Context) error {
	var err error
	p.engine, err = paasEngine(ctx)
	return err
}

// CertificateAllowed allows exactly the hosts of existing apps.
func (p *Permission) CertificateAllowed(_ context.Context, name string) error {
	if p.engine.HostAllowed(name) {
		return nil
	}
	return fmt.Errorf("%s: %w", name, caddytls.ErrPermissionDenied)
}

// UnmarshalCaddyfile sets up the module from Caddyfile tokens:
//
//	permission paas
func (p *Permission) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Permission)(nil)
	_ caddytls.OnDemandPermission = (*Permission)(nil)
	_ caddyfile.Unmarshaler       = (*Permission)(nil)
)
