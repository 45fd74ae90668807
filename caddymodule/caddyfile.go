package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("paas", parseGlobalOption)
}

// parseGlobalOption parses the global option:
//
//	paas {
//		data_dir       <dir>
//		base_domain    <domain>
//		docker_host    <url>
//		upstream_mode  host|network
//		network        <name>
//		health_timeout <duration>
//		drain_timeout  <duration>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "paas", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the global option's tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "data_dir":
			a.DataDir = val
		case "base_domain":
			a.BaseDomain = val
		case "docker_host":
			a.DockerHost = val
		case "upstream_mode":
			if val != "host" && val != "network" {
				return d.Errf("upstream_mode must be host or network, got %q", val)
			}
			a.UpstreamMode = val
		case "network":
			a.Network = val
		case "health_timeout", "drain_timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if opt == "health_timeout" {
				a.HealthTimeout = caddy.Duration(dur)
			} else {
				a.DrainTimeout = caddy.Duration(dur)
			}
		default:
			return d.Errf("unknown paas option %q", opt)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*App)(nil)
