package detect

import "fmt"

// Static files are served by the official Caddy image: a Caddyfile that
// listens on $PORT, compresses, and (for single-page apps) falls back to
// index.html. Caddy runs as an unprivileged user with its config and data
// directories under /tmp, because the image declares /config and /data as
// volumes, and files put there after the declaration do not survive it.

// caddyStart is the start command of the static stacks.
var caddyStart = []string{"caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"}

// staticIgnore is left out of the static stacks' contexts on top of
// commonIgnore: every file copied is served to anyone.
var staticIgnore = []string{".env.*", "*.pem", "*.key", "node_modules"}

// planStatic serves the repository as it is: a source stage copies it (and
// runs the configured build command, if any) and makes it readable, and the
// Caddy stage copies the result to /srv.
func planStatic(pl *planner) error {
	pl.stack(StackStatic)
	if pl.src.isFile("index.html") {
		pl.reason("found index.html and no language manifest: serving the files with Caddy")
	} else {
		pl.reason("no index.html: serving the repository as it is with Caddy")
	}
	if pl.procfile != "" {
		pl.reason("Procfile ignored: the static stack's files are served by Caddy")
		pl.procfile = ""
	}
	argv, _, err := pl.start(caddyStart, "caddy file server")
	if err != nil {
		return err
	}
	port := pl.port(8080)
	pl.ignore(staticIgnore...)

	df := &pl.df
	// Caddy's image prepares the files too: no other image to pull.
	pl.sourceStage("caddy:2-alpine", "/srv", func() {})
	df.blank()
	pl.caddyRuntime(false, port)
	df.linef("COPY --from=source /srv /srv")
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}

// caddyRuntime starts the Caddy stage: user, writable directories and the
// Caddyfile. spa adds the fallback to /index.html for client-side routing.
func (pl *planner) caddyRuntime(spa bool, port int) {
	df := &pl.df
	df.linef("FROM caddy:2-alpine")
	df.alpineUser()
	df.linef("ENV XDG_CONFIG_HOME=/tmp/caddy/config XDG_DATA_HOME=/tmp/caddy/data")
	lines := []string{
		`RUN printf '%s\n'`,
		`	'{'`,
		`	'	admin off'`,
		`	'	persist_config off'`,
		`	'	auto_https off'`,
		`	'}'`,
		fmt.Sprintf(`	':{$PORT:%d} {'`, port),
		`	'	root * /srv'`,
		`	'	encode zstd gzip'`,
	}
	if spa {
		lines = append(lines, `	'	try_files {path} {path}/ /index.html'`)
	}
	lines = append(lines,
		`	'	file_server'`,
		`	'}'`,
		`	> /etc/caddy/Caddyfile`,
	)
	df.continued(lines...)
}
