package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-paas/caddy-paas/platform"
)

func init() {
	caddy.RegisterModule(Upstreams{})
}

// Upstreams is the dynamic upstream source `paas`: the ready replicas of
// the app a request is for, read lock-free from the engine's routing table.
// Inside paas_apps it returns exactly the replica paas_apps picked and
// counted (so drains know about the request); used directly in a
// reverse_proxy, it looks the app up by the request's host.
type Upstreams struct {
	engine *platform.Engine
}

// CaddyModule returns the Caddy module information.
func (Upstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.paas",
		New: func() caddy.Module { return new(Upstreams) },
	}
}

// Provision finds the engine.
func (u *Upstreams) Provision(ctx caddy.Context) error {
	var err error
	u.engine, err = paasEngine(ctx)
	return err
}

// GetUpstreams returns the upstreams for r.
func (u *Upstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	if pick, ok := r.Context().Value(pickKey{}).(*requestPick); ok {
		return pick.next()
	}
	route := u.engine.Table().Lookup(r.Host)
	if route == nil {
		return nil, nil
	}
	var out []*reverseproxy.Upstream
	for _, rep := range route.Replicas() {
		if rep.State() == platform.ReplicaReady {
			out = append(out, &reverseproxy.Upstream{Dial: rep.Addr})
		}
	}
	return out, nil
}

// UnmarshalCaddyfile sets up the module from Caddyfile tokens:
//
//	dynamic paas
func (u *Upstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

type pickKey struct{}

// requestPick carries the app's route through one proxied request and the
// replicas picked for it (one per try), which are released when the
// request ends.
type requestPick struct {
	route  *platform.AppRoute
	picked []*platform.Replica
}

func (p *requestPick) next() ([]*reverseproxy.Upstream, error) {
	rep := p.route.Pick(p.picked)
	if rep == nil {
		// No upstream: the proxy answers 503 (or retries) by itself.
		return nil, nil
	}
	p.picked = append(p.picked, rep)
	return []*reverseproxy.Upstream{{Dial: rep.Addr}}, nil
}

func (p *requestPick) release() {
	for _, rep := range p.picked {
		rep.Release()
	}
}

func withPick(ctx context.Context, p *requestPick) context.Context {
	return context.WithValue(ctx, pickKey{}, p)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Upstreams)(nil)
	_ reverseproxy.UpstreamSource = (*Upstreams)(nil)
	_ caddyfile.Unmarshaler       = (*Upstreams)(nil)
)
