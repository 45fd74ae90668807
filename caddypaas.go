// Package caddypaas registers every caddy-paas module with Caddy, so that
//
//	xcaddy build --with github.com/caddy-paas/caddy-paas=.
//
// builds a Caddy that is also a PaaS. The modules themselves live in
// package caddymodule; the engine in package platform.
package caddypaas

import (
	// The Caddy adapters: the paas app, the paas_apps handler, the paas
	// upstream source, the paas TLS permission, the admin API and the CLI.
	_ "github.com/caddy-paas/caddy-paas/caddymodule"
)
