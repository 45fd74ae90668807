package detect

import (
	"fmt"
	"strings"
)

// procfileLineRe is a Procfile process line: a process type, a colon, the
// command. Lines that do not match are not processes and are skipped, as
// Heroku does.
var procfileLineRe = lazyRE(`^([A-Za-z0-9_-]+):[ \t]*(.*)$`)

// readProcfile reads the web process of the Procfile, if any. A web command
// that could break out of its line is an error, not something to skip: the
// repository asked for it to be run.
func (pl *planner) readProcfile() error {
	text, ok, err := pl.src.read("Procfile")
	if err != nil || !ok {
		return err
	}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := procfileLineRe.FindStringSubmatch(line)
		if m == nil || m[1] != "web" {
			continue
		}
		if pl.procfile != "" {
			// Heroku keeps one process per type; so do we, the first.
			continue
		}
		if err := checkCommand(m[2]); err != nil {
			return fmt.Errorf("procfile line %d: web process: %w", n+1, err)
		}
		pl.procfile = strings.TrimSpace(m[2])
	}
	return nil
}

// planProcfile runs a Procfile's web process on a plain Debian image, for
// repositories that are nothing but a Procfile and the files it runs: a
// source stage makes the files readable and the runtime stage copies them.
func planProcfile(pl *planner) error {
	pl.stack(StackProcfile)
	if pl.procfile == "" && pl.opts.StartCommand == "" {
		return pl.missing("a Procfile with a web process")
	}
	pl.reason("found a Procfile and no language manifest: running its web process on debian:bookworm-slim")
	argv, _, err := pl.start(nil, "no default start command")
	if err != nil {
		return err
	}
	port := pl.port(8080)

	df := &pl.df
	pl.sourceStage("debian:bookworm-slim", "/app", nil)
	df.blank()
	df.linef("FROM debian:bookworm-slim")
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("COPY --from=source /app ./")
	// The build command runs in the final image, where the start command
	// runs: it may install what that command needs (apt-get).
	pl.build(func() {})
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
