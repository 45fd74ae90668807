// Command caddy is Caddy with the standard modules and caddy-paas, for a
// plain `go build` (`make build` writes ./bin/caddy). `make xcaddy` builds
// the same from xcaddy.json with xcaddy, adding any extra plugins listed
// there (DNS providers, for example).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-paas/caddy-paas"
)

func main() {
	caddycmd.Main()
}
