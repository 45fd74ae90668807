package detect

import (
	"encoding/json"
	"fmt"
	"strings"
)

// defaultDenoVersion is the denoland/deno image tag: Deno publishes full
// versions only, so the Dockerfile pins one in an ARG the user can raise.
const defaultDenoVersion = "2.6.3"

// denoUID is the unprivileged deno user of the denoland/deno images.
const denoUID = 1993

// denoDir is the DENO_DIR of the generated images.
const denoDir = "/deno-cache"

// denoPermissions are granted to an entry file run without a start task:
// what a web server needs. A start task states its own.
var denoPermissions = []string{"--allow-net", "--allow-env", "--allow-read"}

// planDeno runs a Deno app on the denoland/deno image: a build stage
// installs the dependencies, runs the build task and caches the entry file,
// and the runtime stage, on the same image, copies the cache and the tree.
func planDeno(pl *planner) error {
	name, ok := pl.src.firstOf("deno.json", "deno.jsonc")
	if !ok {
		return pl.missing("deno.json or deno.jsonc")
	}
	text, _, err := pl.src.read(name)
	if err != nil {
		return err
	}
	var cfg struct {
		Tasks map[string]json.RawMessage `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(stripJSONC(text)), &cfg); err != nil {
		return fmt.Errorf("parsing %s: %w", name, err)
	}
	pl.stack(StackDeno)
	pl.plan.PackageManager = "deno"
	pl.plan.Version = defaultDenoVersion
	pl.reason("found %s: Deno, on denoland/deno:%s", name, defaultDenoVersion)

	entry, hasEntry := pl.src.firstOf("main.ts", "main.js", "server.ts", "src/main.ts", "mod.ts", "index.ts")
	var def []string
	var what string
	switch {
	case cfg.Tasks["start"] != nil:
		def, what = []string{"deno", "task", "start"}, "deno task start (the start task of "+name+")"
	case hasEntry:
		def = append(append([]string{"deno", "run"}, denoPermissions...), entry)
		what = strings.Join(def, " ") + " (set a start task to choose other permissions)"
	default:
		what = name + " has no start task and there is no main.ts, server.ts or mod.ts"
	}
	argv, _, err := pl.start(def, what)
	if err != nil {
		return err
	}
	port := pl.port(8000)
	pl.ignore("node_modules")

	df := &pl.df
	df.versionArg("DENO_VERSION", defaultDenoVersion)
	df.blank()
	df.linef("FROM denoland/deno:${DENO_VERSION} AS build")
	// A cache of our own, filled as root here; the runtime stage's COPY
	// --chown hands it to the deno user, who may add to it at run time.
	df.linef("ENV DENO_DIR=%s", denoDir)
	df.linef("WORKDIR /app")
	lock := pl.src.existing("deno.lock")
	df.copyFiles(append(append([]string{name}, lock...), pl.src.existing("package.json")...), "./")
	if len(lock) > 0 {
		df.linef("RUN deno install --frozen")
	} else {
		df.linef("RUN deno install")
	}
	df.linef("COPY . .")
	pl.build(func() {
		if cfg.Tasks["build"] != nil {
			df.linef("RUN deno task build")
		}
	})
	if hasEntry {
		df.linef("RUN deno cache %s", entry)
	}
	// The cache may still be empty (no dependencies, no entry file) and
	// COPY --from needs it to exist.
	df.run("mkdir -p "+denoDir, readableTree)

	// The runtime stage gets the cache and the tree, the cache owned by the
	// deno user in the layer of the COPY itself (a chown -R would store it
	// twice), the source owned by root and read-only.
	df.blank()
	df.linef("FROM denoland/deno:${DENO_VERSION}")
	df.linef("ENV DENO_DIR=%s", denoDir)
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build --chown=%d:%d %s %s", denoUID, denoUID, denoDir, denoDir)
	df.linef("COPY --from=build /app ./")
	df.port(port)
	df.linef("USER %d", denoUID)
	df.cmd(argv)
	return nil
}

// stripJSONC turns JSON with comments and trailing commas (deno.jsonc)
// into JSON: comments go first, then the commas they may have hidden.
func stripJSONC(s string) string {
	return dropTrailingCommas(dropComments(s))
}

// scanJSON calls visit for every byte outside strings, with its index; the
// bytes of strings are copied as they are. visit returns how many bytes it
// consumed (at least 1) and what to write for them.
func scanJSON(s string, visit func(i int) (int, string)) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '"' {
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(s))
			b.WriteString(s[i:j])
			i = j
			continue
		}
		n, out := visit(i)
		b.WriteString(out)
		i += n
	}
	return b.String()
}

func dropComments(s string) string {
	return scanJSON(s, func(i int) (int, string) {
		switch {
		case strings.HasPrefix(s[i:], "//"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				return len(s) - i, ""
			}
			return end, ""
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return len(s) - i, ""
			}
			return end + 4, " "
		}
		return 1, s[i : i+1]
	})
}

func dropTrailingCommas(s string) string {
	return scanJSON(s, func(i int) (int, string) {
		if s[i] == ',' {
			rest := strings.TrimLeft(s[i+1:], " \t\r\n")
			if strings.HasPrefix(rest, "}") || strings.HasPrefix(rest, "]") {
				return 1, ""
			}
		}
		return 1, s[i : i+1]
	})
}
