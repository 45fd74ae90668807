package caddymodule

import (
	"strconv"

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
//		build_timeout  <duration>
//		keep_images    <n>
//		public_ips     <ip>...
//		git_allow_hosts <host|ip|cidr>...
//		git_allow_http
//		git_allow_file
//		session_idle     <duration>
//		session_lifetime <duration>
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
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.Errf("%s takes exactly one value", opt)
			}
			return args[0], nil
		}
		switch opt {
		case "data_dir", "base_domain", "docker_host", "upstream_mode", "network":
			val, err := one()
			if err != nil {
				return err
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
			}
		case "health_timeout", "drain_timeout", "build_timeout", "session_idle", "session_lifetime":
			val, err := one()
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			switch opt {
			case "health_timeout":
				a.HealthTimeout = caddy.Duration(dur)
			case "drain_timeout":
				a.DrainTimeout = caddy.Duration(dur)
			case "session_idle":
				a.SessionIdle = caddy.Duration(dur)
			case "session_lifetime":
				a.SessionLifetime = caddy.Duration(dur)
			default:
				a.BuildTimeout = caddy.Duration(dur)
			}
		case "keep_images":
			val, err := one()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return d.Errf("keep_images must be a positive integer, got %q", val)
			}
			a.KeepImages = n
		case "public_ips":
			if len(args) == 0 {
				return d.ArgErr()
			}
			a.PublicIPs = append(a.PublicIPs, args...)
		case "git_allow_hosts":
			if len(args) == 0 {
				return d.ArgErr()
			}
			a.gitPolicy().AllowHosts = append(a.gitPolicy().AllowHosts, args...)
		case "git_allow_http", "git_allow_file":
			if len(args) != 0 {
				return d.Errf("%s takes no value", opt)
			}
			if opt == "git_allow_http" {
				a.gitPolicy().AllowHTTP = true
			} else {
				a.gitPolicy().AllowFile = true
			}
		default:
			return d.Errf("unknown paas option %q", opt)
		}
	}
	return nil
}

func (a *App) gitPolicy() *GitPolicy {
	if a.Git == nil {
		a.Git = new(GitPolicy)
	}
	return a.Git
}

// Interface guard
var _ caddyfile.Unmarshaler = (*App)(nil)
