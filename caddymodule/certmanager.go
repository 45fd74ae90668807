package caddymodule

import (
	"context"
	"crypto/tls"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-paas/caddy-paas/platform"
)

func init() {
	caddy.RegisterModule(CertManager{})
}

// CertManager is the certificate manager `tls.get_certificate.paas`: it
// serves the certificates users uploaded for their apps' hosts, straight
// from the engine's in-memory index, so an upload is served on the next
// handshake with no reload. For other hosts it answers nothing and the
// automation policy's issuers (on-demand ACME) take over.
type CertManager struct {
	engine *platform.Engine
}

// CaddyModule returns the Caddy module information.
func (CertManager) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.get_certificate.paas",
		New: func() caddy.Module { return new(CertManager) },
	}
}

// Provision finds the engine.
func (m *CertManager) Provision(ctx caddy.Context) error {
	var err error
	m.engine, err = paasEngine(ctx)
	return err
}

// GetCertificate returns the uploaded certificate for the handshake's
// server name, or nil to let the issuers handle it.
func (m *CertManager) GetCertificate(_ context.Context, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.engine.CertificateFor(hello.ServerName), nil
}

// UnmarshalCaddyfile sets up the module from Caddyfile tokens:
//
//	get_certificate paas
func (m *CertManager) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*CertManager)(nil)
	_ certmagic.Manager     = (*CertManager)(nil)
	_ caddyfile.Unmarshaler = (*CertManager)(nil)
)
