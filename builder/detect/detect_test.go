package detect

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite the golden Dockerfiles in testdata")

// goldenCases are the fixture trees in testdata/<dir>/, each with its
// expected Dockerfile in testdata/<name>.Dockerfile.
var goldenCases = []struct {
	name    string // golden file: testdata/<name>.Dockerfile
	dir     string // fixture tree; name when empty
	opts    Options
	stack   string
	port    int
	pm      string
	version string
	start   []string
	reasons []string // each must be a substring of some reason
	// compiled stacks must not run on their build stage's image (every
	// stack must have two stages at least, compiled or not).
	compiled bool
	// depsFirst: the dependency manifests are copied and installed before
	// the rest of the source.
	depsFirst bool
}{
	{
		name: "go-basic", stack: StackGo, port: 8080, pm: "go", version: "1.22",
		start:    []string{"/app/bin/hello"},
		reasons:  []string{"found go.mod: module example.com/hello, go 1.22.3", "main package .: binary /app/bin/hello"},
		compiled: true, depsFirst: true,
	},
	{
		name: "go-cmd-cgo", stack: StackGo, port: 8080, pm: "go", version: "1.23",
		start:    []string{"/app/bin/notesd"},
		reasons:  []string{"github.com/mattn/go-sqlite3 needs cgo", "main package ./cmd/notesd", "Go 1.23: building with golang:1.23-bookworm"},
		compiled: true, depsFirst: true,
	},
	{
		name: "node-npm", stack: StackNode, port: 3000, pm: "npm", version: "20",
		start:    []string{"node", "server.js"},
		reasons:  []string{"Node.js 20 from package.json engines.node (20.x)", "found package-lock.json: installing with npm"},
		compiled: true, depsFirst: true,
	},
	{
		name: "node-pnpm-ts", stack: StackNode, port: 3000, pm: "pnpm", version: "22",
		start:    []string{"node", "dist/index.js"},
		reasons:  []string{"package manager pnpm from package.json packageManager", "Node.js 22 from package.json engines.node (>=18)"},
		compiled: true, depsFirst: true,
	},
	{
		name: "node-yarn", stack: StackNode, port: 3000, pm: "yarn", version: "20",
		start:    []string{"/bin/sh", "-c", "exec node bin/www --port $PORT"},
		reasons:  []string{"Node.js 20 from .nvmrc (lts/iron)", "yarn classic"},
		compiled: true, depsFirst: true,
	},
	{
		name: "nextjs-standalone", stack: StackNextJS, port: 3000, pm: "npm", version: "22",
		start:    []string{"node", "server.js"},
		reasons:  []string{"next.config.mjs sets output: 'standalone'"},
		compiled: true, depsFirst: true,
	},
	{
		name: "nextjs-yarn", stack: StackNextJS, port: 3000, pm: "yarn", version: "22",
		start:    []string{"next", "start"},
		reasons:  []string{"package manager yarn from package.json packageManager", "yarn berry through corepack"},
		compiled: true, depsFirst: true,
	},
	{
		name: "nuxt", stack: StackNuxt, port: 3000, pm: "npm", version: "22",
		start:    []string{"node", ".output/server/index.mjs"},
		reasons:  []string{"found package.json with the nuxt dependency: Nuxt"},
		compiled: true, depsFirst: true,
	},
	{
		name: "vite-static", stack: StackViteStatic, port: 8080, pm: "npm", version: "22",
		start:    caddyStart,
		reasons:  []string{"found package.json with vite and no start script: a static build", "build output build/client from vite.config.ts"},
		compiled: true, depsFirst: true,
	},
	{
		name: "bun", stack: StackBun, port: 3000, pm: "bun", version: "1",
		start:    []string{"bun", "run", "src/index.ts"},
		reasons:  []string{"found bun.lock: Bun is the runtime and the package manager"},
		compiled: true, depsFirst: true,
	},
	{
		name: "deno", stack: StackDeno, port: 8000, pm: "deno", version: defaultDenoVersion,
		start:     []string{"deno", "task", "start"},
		reasons:   []string{"found deno.jsonc: Deno"},
		depsFirst: true,
	},
	{
		name: "static", stack: StackStatic, port: 8080,
		start:   caddyStart,
		reasons: []string{"found index.html and no language manifest"},
	},
	{
		name: "procfile", stack: StackProcfile, port: 8080,
		start:   []string{"/bin/sh", "-c", "exec ./serve.sh --port $PORT"},
		reasons: []string{"start command from the Procfile web process: ./serve.sh --port $PORT"},
	},
	{
		name: "python-django", stack: StackDjango, port: 8000, pm: "pip", version: "3.11",
		start:    []string{"gunicorn", "mysite.wsgi"},
		reasons:  []string{"found requirements.txt: installing with pip", "Python 3.11 from .python-version (3.11.9)", "need libpq5 at run time", "running collectstatic"},
		compiled: true, depsFirst: true,
	},
	{
		name: "python-flask-poetry", stack: StackFlask, port: 8000, pm: "poetry", version: "3.12",
		start:    []string{"gunicorn", "app:app"},
		reasons:  []string{"found poetry.lock: installing with Poetry", "Flask app app:app in app.py", "Python 3.12 from pyproject.toml tool.poetry.dependencies.python (^3.10)"},
		compiled: true, depsFirst: true,
	},
	{
		name: "python-fastapi-uv", stack: StackFastAPI, port: 8000, pm: "uv", version: "3.12",
		start:    []string{"/bin/sh", "-c", `exec uvicorn app.main:api --host 0.0.0.0 --port "${PORT:-8000}"`},
		reasons:  []string{"found uv.lock: installing with uv", "FastAPI app app.main:api in app/main.py"},
		compiled: true, depsFirst: true,
	},
	{
		name: "python-procfile", stack: StackPython, port: 8000, pm: "pip", version: "3.13",
		start:    []string{"/bin/sh", "-c", "exec python -m app.server --port=$PORT"},
		reasons:  []string{"start command from the Procfile web process", "Python 3.13 from runtime.txt"},
		compiled: true, depsFirst: true,
	},
	{
		name: "ruby-rails", stack: StackRails, port: 3000, pm: "bundler", version: "3.3",
		start:    []string{"./bin/rails", "server"},
		reasons:  []string{"found Gemfile and config/application.rb: Ruby on Rails", "Ruby 3.3 from Gemfile.lock (3.3.5)", "native gems need libpq5"},
		compiled: true, depsFirst: true,
	},
	{
		name: "ruby-rack", stack: StackRuby, port: 9292, pm: "bundler", version: "3.3",
		start:    []string{"/bin/sh", "-c", `exec bundle exec puma --bind "tcp://0.0.0.0:${PORT:-9292}"`},
		reasons:  []string{"Ruby 3.3 from Gemfile (~> 3.2)"},
		compiled: true, depsFirst: true,
	},
	{
		name: "php-laravel", stack: StackLaravel, port: 8080, pm: "composer", version: "8.3",
		start:    []string{"apache2-foreground"},
		reasons:  []string{"found composer.json and artisan: Laravel", "PHP extensions installed: bcmath, intl, opcache, pdo_mysql", "not installed (PECL or unknown extensions need a Dockerfile): redis", "building front-end assets in a node stage"},
		compiled: true, depsFirst: true,
	},
	{
		name: "php-plain", stack: StackPHP, port: 8080, version: "8.3",
		start:   []string{"apache2-foreground"},
		reasons: []string{"document root /var/www/html"},
	},
	{
		name: "java-maven", stack: StackJavaMaven, port: 8080, pm: "maven", version: "17",
		start:    []string{"/bin/sh", "-c", `exec java -XX:MaxRAMPercentage=75 -Dserver.port="${PORT:-8080}" -jar /app/app.jar`},
		reasons:  []string{"Java 17 from pom.xml"},
		compiled: true, depsFirst: true,
	},
	{
		name: "java-gradle", stack: StackJavaGradle, port: 8080, pm: "gradle", version: "21",
		start:    []string{"/bin/sh", "-c", `exec java -XX:MaxRAMPercentage=75 -Dserver.port="${PORT:-8080}" -jar /app/app.jar`},
		reasons:  []string{"Java 21 from build.gradle.kts", "found the Gradle wrapper"},
		compiled: true, depsFirst: true,
	},
	{
		name: "dotnet", stack: StackDotnet, port: 8080, pm: "nuget", version: "8.0",
		start:    []string{"/bin/sh", "-c", `export ASPNETCORE_HTTP_PORTS="${PORT:-8080}" && exec dotnet /app/Inventory.Api.dll`},
		reasons:  []string{".NET 8.0 from the target framework net8.0"},
		compiled: true, depsFirst: true,
	},
	{
		name: "rust", stack: StackRust, port: 8080, pm: "cargo", version: "1.82",
		start:    []string{"/app/bin/hello-api"},
		reasons:  []string{"Rust 1.82 from rust-toolchain.toml", "openssl-sys in Cargo.lock"},
		compiled: true, depsFirst: true,
	},
	{
		name: "elixir-phoenix", stack: StackPhoenix, port: 4000, pm: "mix", version: "1.17",
		start:    []string{"/app/bin/hello", "start"},
		reasons:  []string{"found mix.exs with the phoenix dependency: Phoenix", "Elixir 1.17 from mix.exs (~> 1.14)", "assets.deploy"},
		compiled: true, depsFirst: true,
	},
	{
		name: "override-node", dir: "node-npm",
		opts:  Options{Port: 8081, BuildCommand: "npm run build:prod", StartCommand: `node dist/server.js --port "$PORT"`},
		stack: StackNode, port: 8081, pm: "npm", version: "20",
		start:    []string{"/bin/sh", "-c", `exec node dist/server.js --port "$PORT"`},
		reasons:  []string{"port 8081 from the configuration", "build command from the configuration: npm run build:prod", "start command from the configuration"},
		compiled: true, depsFirst: true,
	},
	{
		name: "forced-static", dir: "vite-static",
		opts:  Options{Stack: StackStatic},
		stack: StackStatic, port: 8080,
		start:   caddyStart,
		reasons: []string{"stack static forced by the configuration"},
	},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.dir
			if dir == "" {
				dir = tc.name
			}
			plan, err := Detect(os.DirFS(filepath.Join("testdata", dir)), tc.opts)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if plan.Stack != tc.stack || plan.Port != tc.port || plan.PackageManager != tc.pm || plan.Version != tc.version {
				t.Errorf("got stack %q port %d pm %q version %q, want %q %d %q %q",
					plan.Stack, plan.Port, plan.PackageManager, plan.Version, tc.stack, tc.port, tc.pm, tc.version)
			}
			if !reflect.DeepEqual(plan.Start, tc.start) {
				t.Errorf("start = %q, want %q", plan.Start, tc.start)
			}
			for _, want := range tc.reasons {
				if !slices.ContainsFunc(plan.Reasons, func(r string) bool { return strings.Contains(r, want) }) {
					t.Errorf("no reason contains %q; reasons:\n%s", want, strings.Join(plan.Reasons, "\n"))
				}
			}
			for _, p := range problems(plan.Dockerfile, plan.Port, plan.Start, tc.compiled) {
				t.Errorf("Dockerfile: %s", p)
			}
			if tc.depsFirst {
				if p := depsBeforeSource(plan.Dockerfile); p != "" {
					t.Errorf("Dockerfile: %s", p)
				}
			}

			golden := filepath.Join("testdata", tc.name+".Dockerfile")
			if *update {
				if err := os.WriteFile(golden, []byte(plan.Dockerfile), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./builder/detect -update to write it)", err)
			}
			if plan.Dockerfile != string(want) {
				t.Errorf("Dockerfile differs from %s (run go test ./builder/detect -update if the change is intended):\n%s",
					golden, lineDiff(string(want), plan.Dockerfile))
			}
		})
	}
}

// TestGoldenFiles checks that every golden has a case and every fixture
// tree is used, so that no stale file lingers in testdata.
func TestGoldenFiles(t *testing.T) {
	names, dirs := map[string]bool{}, map[string]bool{}
	for _, tc := range goldenCases {
		names[tc.name+".Dockerfile"] = true
		if tc.dir != "" {
			dirs[tc.dir] = true
		} else {
			dirs[tc.name] = true
		}
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case e.IsDir() && !dirs[e.Name()]:
			t.Errorf("testdata/%s is not used by any case", e.Name())
		case !e.IsDir() && !names[e.Name()]:
			t.Errorf("testdata/%s is not the golden of any case", e.Name())
		}
	}
}

// TestGoldenDockerfilesParse runs the structural checks on the golden files
// themselves, so that a golden rewritten by -update is checked too.
func TestGoldenDockerfilesParse(t *testing.T) {
	for _, tc := range goldenCases {
		text, err := os.ReadFile(filepath.Join("testdata", tc.name+".Dockerfile"))
		if err != nil {
			t.Fatalf("%v (run go test ./builder/detect -update)", err)
		}
		for _, p := range problems(string(text), tc.port, tc.start, tc.compiled) {
			t.Errorf("%s.Dockerfile: %s", tc.name, p)
		}
	}
}

var knownInstructions = []string{"FROM", "ARG", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "CMD", "ENTRYPOINT", "LABEL", "HEALTHCHECK"}

// instruction is one logical Dockerfile instruction, continuations joined.
type instruction struct {
	line      int
	cmd, args string
}

// parseDockerfile splits text into instructions the way the Dockerfile
// parser does for what we generate: comments and blank lines dropped, a
// trailing backslash continuing the instruction on the next line.
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur *instruction
	for i, line := range strings.Split(text, "\n") {
		if cur == nil {
			trimmed := strings.TrimSpace(line)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			cmd, args, _ := strings.Cut(trimmed, " ")
			cur = &instruction{line: i + 1, cmd: cmd, args: args}
		} else {
			cur.args += " " + strings.TrimSpace(line)
		}
		if strings.HasSuffix(line, `\`) {
			cur.args = strings.TrimSuffix(cur.args, `\`)
			continue
		}
		out = append(out, *cur)
		cur = nil
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

var (
	curlPipeRe   = regexp.MustCompile(`(curl|wget)[^|;&]*\|\s*(sudo\s+)?(ba|z)?sh`)
	secretEnvRe  = regexp.MustCompile(`(?i)(SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE_KEY)[A-Z_]*=`)
	argRefRe     = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	numericUIDRe = regexp.MustCompile(`^([0-9]+)(:[0-9]+)?$`)
)

type stage struct {
	image, name string
	instrs      []instruction
}

// problems checks the structure every generated Dockerfile must have.
func problems(text string, port int, start []string, compiled bool) []string {
	var out []string
	bad := func(format string, args ...any) {
		out = append(out, sprintf(format, args...))
	}
	globals := map[string]string{}
	var stages []stage
	for _, in := range parseDockerfile(text) {
		if !slices.Contains(knownInstructions, in.cmd) {
			bad("line %d: unknown instruction %q", in.line, in.cmd)
			continue
		}
		if curlPipeRe.MatchString(in.args) {
			bad("line %d: pipes a download into a shell", in.line)
		}
		if (in.cmd == "ENV" || in.cmd == "ARG") && secretEnvRe.MatchString(in.args) {
			bad("line %d: a secret in %s", in.line, in.cmd)
		}
		if strings.HasPrefix(in.args, "[") {
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
				bad("line %d: %s exec form is not a JSON array of strings: %v", in.line, in.cmd, err)
			}
		}
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			globals[k] = v
			continue
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			s := stage{image: argRefRe.ReplaceAllStringFunc(f[0], func(ref string) string {
				return globals[argRefRe.FindStringSubmatch(ref)[1]]
			})}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			if s.image != "scratch" {
				repo := s.image[strings.LastIndex(s.image, "/")+1:]
				_, tag, ok := strings.Cut(repo, ":")
				if !ok || tag == "" || tag == "latest" {
					bad("line %d: base image %s has no pinned tag", in.line, s.image)
				}
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			bad("line %d: %s before FROM", in.line, in.cmd)
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if len(stages) == 0 {
		return append(out, "no FROM")
	}

	final := stages[len(stages)-1]
	var user, expose, cmd string
	for _, in := range final.instrs {
		switch in.cmd {
		case "USER":
			user = in.args
		case "EXPOSE":
			expose = in.args
		case "CMD":
			cmd = in.args
		}
	}
	if m := numericUIDRe.FindStringSubmatch(user); m == nil || m[1] == "0" {
		bad("final stage: USER %q is not a numeric non-root uid", user)
	}
	if expose != strconv.Itoa(port) {
		bad("final stage: EXPOSE %q, want %d", expose, port)
	}
	var argv []string
	if err := json.Unmarshal([]byte(cmd), &argv); err != nil || len(argv) == 0 {
		bad("final stage: CMD %q is not an exec-form JSON array", cmd)
	} else if start != nil && !reflect.DeepEqual(argv, start) {
		bad("final stage: CMD %q, want %q", argv, start)
	}
	// Every stack builds or prepares in earlier stages and runs in a last
	// one that takes only what it needs from them.
	if len(stages) < 2 {
		bad("a single stage: want a build or prepare stage and a runtime stage")
	} else if !copiesFromEarlierStage(stages) {
		bad("final stage copies nothing from an earlier stage (COPY --from=<stage>)")
	}
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.instrs {
			if in.cmd == "USER" || in.cmd == "CMD" || in.cmd == "EXPOSE" {
				bad("line %d: %s in a stage that is not the final one", in.line, in.cmd)
			}
		}
	}
	if compiled {
		for _, s := range stages[:len(stages)-1] {
			if s.name == "build" && s.image == final.image {
				bad("final stage runs on the build stage's image %s", s.image)
			}
		}
	}
	return out
}

// copiesFromEarlierStage reports whether the final stage has a COPY
// --from= naming an earlier stage, by name or by index (an image name
// would not count).
func copiesFromEarlierStage(stages []stage) bool {
	final := stages[len(stages)-1]
	for _, in := range final.instrs {
		if in.cmd != "COPY" {
			continue
		}
		for _, f := range strings.Fields(in.args) {
			from, ok := strings.CutPrefix(f, "--from=")
			if !ok {
				continue
			}
			for i, s := range stages[:len(stages)-1] {
				if (s.name != "" && strings.EqualFold(from, s.name)) || from == strconv.Itoa(i) {
					return true
				}
			}
		}
	}
	return false
}

// depsBeforeSource checks the cache-friendly order in the stage that copies
// the whole source: some dependency install runs before COPY . . (unless
// the stage had to copy everything first, which the reasons then say).
func depsBeforeSource(text string) string {
	var sawManifest, sawInstall bool
	for _, in := range parseDockerfile(text) {
		switch {
		case in.cmd == "FROM":
			sawManifest, sawInstall = false, false
		case in.cmd == "COPY" && (in.args == ". ." || in.args == ". ./"):
			if sawManifest && sawInstall {
				return ""
			}
			return "COPY . . comes before the dependency manifests are copied and installed"
		case in.cmd == "COPY" && !strings.HasPrefix(in.args, "--from"):
			sawManifest = true
		case in.cmd == "RUN" && sawManifest:
			sawInstall = true
		}
	}
	return "no COPY . . found"
}

func sprintf(format string, args ...any) string {
	return strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " "))
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return sprintf("line %d:\n-%s\n+%s", i+1, wl, gl)
		}
	}
	return ""
}

func TestPrecedence(t *testing.T) {
	pkg := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	file := &fstest.MapFile{Data: []byte("x\n")}
	for _, tc := range []struct {
		name  string
		fs    fstest.MapFS
		stack string
		pm    string
	}{
		{"go.mod beats package.json and Cargo.toml", fstest.MapFS{
			"go.mod": pkg("module example.com/x\n\ngo 1.22\n"), "main.go": pkg("package main\n"),
			"package.json": pkg(`{"scripts":{"start":"node x.js"}}`), "Cargo.toml": pkg("[package]\nname = \"x\"\n"),
		}, StackGo, "go"},
		{"Rails beats its package.json", fstest.MapFS{
			"Gemfile": file, "config/application.rb": file, "bin/rails": file,
			"package.json": pkg(`{"scripts":{"build":"esbuild app.js"},"devDependencies":{"esbuild":"^0.24"}}`),
		}, StackRails, "bundler"},
		{"Laravel beats its package.json", fstest.MapFS{
			"composer.json": pkg(`{"require":{"php":"^8.2"}}`), "artisan": file,
			"package.json": pkg(`{"scripts":{"build":"vite build"},"devDependencies":{"vite":"^5"}}`),
		}, StackLaravel, "composer"},
		{"Django beats its package.json", fstest.MapFS{
			"requirements.txt": pkg("django\n"), "manage.py": file,
			"package.json": pkg(`{"scripts":{"build":"tailwindcss -o x.css"}}`),
		}, StackDjango, "pip"},
		{"Maven beats Gradle", fstest.MapFS{"pom.xml": pkg("<project/>"), "build.gradle": file}, StackJavaMaven, "maven"},
		{"Phoenix beats package.json", fstest.MapFS{
			"mix.exs": pkg("app: :shop, deps: [{:phoenix, \"~> 1.7\"}]"), "package.json": pkg(`{}`),
		}, StackPhoenix, "mix"},
		{"Deno beats Bun and package.json", fstest.MapFS{
			"deno.json": pkg(`{"tasks":{"start":"deno run -A main.ts"}}`), "bun.lock": file, "package.json": pkg(`{}`),
		}, StackDeno, "deno"},
		{"a Bun lockfile beats npm's", fstest.MapFS{
			"bun.lockb": file, "package-lock.json": file, "package.json": pkg(`{"scripts":{"start":"bun run index.ts"}}`),
		}, StackBun, "bun"},
		{"next beats vite", fstest.MapFS{
			"package.json": pkg(`{"dependencies":{"next":"15.0.0"},"devDependencies":{"vite":"^5"}}`),
		}, StackNextJS, "npm"},
		{"pnpm lockfile beats npm lockfile", fstest.MapFS{
			"package.json": pkg(`{"scripts":{"start":"node index.js"}}`), "pnpm-lock.yaml": pkg("lockfileVersion: '6.0'\n"), "package-lock.json": file,
		}, StackNode, "pnpm"},
		{"packageManager beats lockfiles", fstest.MapFS{
			"package.json": pkg(`{"packageManager":"yarn@1.22.22","scripts":{"start":"node index.js"}}`), "package-lock.json": file,
		}, StackNode, "yarn"},
		{"package.json with a start script beats index.html", fstest.MapFS{
			"package.json": pkg(`{"scripts":{"start":"node server.js"}}`), "index.html": file,
		}, StackNode, "npm"},
		{"package.json with no way to start next to index.html is a static site", fstest.MapFS{
			"package.json": pkg(`{"devDependencies":{"prettier":"^3"}}`), "index.html": file,
		}, StackStatic, ""},
		{"a Procfile does not turn a static site into an app", fstest.MapFS{
			"index.html": file, "Procfile": pkg("web: python -m http.server $PORT\n"),
		}, StackStatic, ""},
		{"uv.lock beats requirements.txt", fstest.MapFS{
			"pyproject.toml": pkg("[project]\nname = \"x\"\ndependencies = [\"flask\", \"gunicorn\"]\n"), "uv.lock": file,
			"requirements.txt": pkg("flask\n"), "app.py": pkg("app = Flask(__name__)\n"),
		}, StackFlask, "uv"},
		{"requirements.txt beats an unlocked Poetry project", fstest.MapFS{
			"pyproject.toml":   pkg("[tool.poetry]\nname = \"x\"\n[tool.poetry.dependencies]\nfastapi = \"*\"\n"),
			"requirements.txt": pkg("fastapi[standard]==0.115.0\n"), "main.py": pkg("app = FastAPI()\n"),
		}, StackFastAPI, "pip"},
		{"FastAPI beats Flask", fstest.MapFS{
			"requirements.txt": pkg("flask\nfastapi\nuvicorn\n"), "main.py": pkg("app = FastAPI()\n"),
		}, StackFastAPI, "pip"},
		{"Procfile alone", fstest.MapFS{"Procfile": pkg("web: ./run\n")}, StackProcfile, ""},
		{"csproj one level down", fstest.MapFS{
			"src/Web/Web.csproj": pkg(`<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup><TargetFramework>net9.0</TargetFramework></PropertyGroup></Project>`),
			"src/Lib/Lib.csproj": pkg(`<Project Sdk="Microsoft.NET.Sdk"></Project>`),
		}, StackDotnet, "nuget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Detect(tc.fs, Options{})
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if plan.Stack != tc.stack || plan.PackageManager != tc.pm {
				t.Errorf("got %s/%s, want %s/%s; reasons:\n%s", plan.Stack, plan.PackageManager, tc.stack, tc.pm, strings.Join(plan.Reasons, "\n"))
			}
			for _, p := range problems(plan.Dockerfile, plan.Port, plan.Start, false) {
				t.Errorf("Dockerfile: %s\n%s", p, plan.Dockerfile)
			}
		})
	}
}

func TestUnknownStack(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"empty":        {},
		"only docs":    {"README.md": {Data: []byte("# hi\n")}, "docs/guide.md": {Data: []byte("x")}},
		"no web in it": {"Procfile": {Data: []byte("worker: ./work\n")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Detect(fsys, Options{})
			if name == "no web in it" {
				// A Procfile is found but has nothing to serve.
				if err == nil || !strings.Contains(err.Error(), "needs a Procfile with a web process") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownStack) {
				t.Fatalf("err = %v, want ErrUnknownStack", err)
			}
			for _, f := range []string{"go.mod", "Cargo.toml", "pom.xml", "*.csproj", "mix.exs", "Gemfile", "composer.json", "requirements.txt", "deno.json", "bun.lockb", "package.json", "index.html", "Procfile"} {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error does not name %s: %v", f, err)
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	nodeApp := fstest.MapFS{
		"package.json": {Data: []byte(`{"dependencies":{"next":"15.0.0"},"scripts":{"build":"next build","start":"next start"}}`)},
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		stack   string
		wantErr string
	}{
		{"unknown stack", Options{Stack: "cobol"}, "", `unknown stack "cobol"`},
		{"negative port", Options{Port: -1}, "", "port -1 out of range"},
		{"port too big", Options{Port: 70000}, "", "port 70000 out of range"},
		{"start with a newline", Options{StartCommand: "next start\nRUN curl evil"}, "", "start command: command contains a line break"},
		{"build with a NUL", Options{BuildCommand: "make\x00"}, "", "build command: command contains a NUL byte"},
		{"forced stack without its manifest", Options{Stack: StackGo}, "", "stack go needs go.mod"},
		{"forced plain node on a Next.js app", Options{Stack: StackNode}, StackNode, ""},
		{"forced static on a Next.js app", Options{Stack: StackStatic}, StackStatic, ""},
		{"forced procfile with a start command", Options{Stack: StackProcfile, StartCommand: "./serve"}, StackProcfile, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Detect(nodeApp, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if plan.Stack != tc.stack {
				t.Errorf("stack = %s, want %s", plan.Stack, tc.stack)
			}
			for _, p := range problems(plan.Dockerfile, plan.Port, plan.Start, false) {
				t.Errorf("Dockerfile: %s", p)
			}
		})
	}
}

// TestProblemsStages checks the stage rules of problems on Dockerfiles
// that break them: a single stage, a final stage that copies from an image
// rather than an earlier stage, a USER outside the final stage.
func TestProblemsStages(t *testing.T) {
	tail := "ENV PORT=8080\nEXPOSE 8080\nUSER 10001\nCMD [\"./run\"]\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"single stage", "FROM debian:bookworm-slim\nCOPY . .\n" + tail, "a single stage"},
		{"copies from an image", "FROM debian:bookworm-slim AS source\nCOPY . .\n\nFROM debian:bookworm-slim\nCOPY --from=busybox:1.36 /bin/busybox /bin/\nCOPY . .\n" + tail, "copies nothing from an earlier stage"},
		{"copies from a later name", "FROM debian:bookworm-slim AS source\nCOPY . .\n\nFROM debian:bookworm-slim\nCOPY --from=runtime /app ./\n" + tail, "copies nothing from an earlier stage"},
		{"USER in the first stage", "FROM debian:bookworm-slim AS source\nUSER 10001\nCOPY . .\n\nFROM debian:bookworm-slim\nCOPY --from=source /app ./\n" + tail, "USER in a stage that is not the final one"},
		{"by index", "FROM debian:bookworm-slim\nCOPY . .\n\nFROM debian:bookworm-slim\nCOPY --from=0 /app ./\n" + tail, ""},
		{"by name", "FROM debian:bookworm-slim AS source\nCOPY . .\n\nFROM debian:bookworm-slim\nCOPY --from=source /app ./\n" + tail, ""},
	} {
		got := strings.Join(problems(tc.text, 8080, []string{"./run"}, false), "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestBuildCommandStage checks where the configured build command of the
// stacks with no build step of their own runs: static in its source stage
// (Caddy's stage gets /srv alone), procfile and php in the final image,
// after the source is copied from the source stage.
func TestBuildCommandStage(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("x\n")}
	for _, tc := range []struct {
		name     string
		fs       fstest.MapFS
		inSource bool
	}{
		{"static", fstest.MapFS{"index.html": file}, true},
		{"procfile", fstest.MapFS{"Procfile": {Data: []byte("web: ./serve\n")}, "serve": file}, false},
		{"php", fstest.MapFS{"index.php": file}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Detect(tc.fs, Options{BuildCommand: "make site"})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems(plan.Dockerfile, plan.Port, plan.Start, false) {
				t.Errorf("Dockerfile: %s", p)
			}
			stage, copied := 0, false
			for _, in := range parseDockerfile(plan.Dockerfile) {
				switch {
				case in.cmd == "FROM":
					stage++
				case in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=source"):
					copied = true
				case in.cmd == "RUN" && strings.Contains(in.args, "make site"):
					if tc.inSource && stage != 1 {
						t.Errorf("the build command runs in stage %d, want the source stage:\n%s", stage, plan.Dockerfile)
					}
					if !tc.inSource && !copied {
						t.Errorf("the build command runs before the source is copied into the final stage:\n%s", plan.Dockerfile)
					}
					return
				}
			}
			t.Errorf("no build command:\n%s", plan.Dockerfile)
		})
	}
}

// TestGoRuntimeImage checks that a Go app runs on an empty image unless
// its start command needs a shell.
func TestGoRuntimeImage(t *testing.T) {
	base := fstest.MapFS{
		"go.mod":  {Data: []byte("module example.com/svc\n\ngo 1.23\n")},
		"main.go": {Data: []byte("package main\n\nfunc main() {}\n")},
	}
	for _, tc := range []struct {
		name     string
		procfile string
		final    string
	}{
		{"no Procfile", "", "FROM scratch"},
		{"plain Procfile command", "web: bin/svc -listen :8080\n", "FROM scratch"},
		{"Procfile command with a variable", "web: bin/svc -listen :$PORT\n", "FROM debian:bookworm-slim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range base {
				fsys[k] = v
			}
			if tc.procfile != "" {
				fsys["Procfile"] = &fstest.MapFile{Data: []byte(tc.procfile)}
			}
			plan, err := Detect(fsys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			froms := regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(plan.Dockerfile, -1)
			if got := froms[len(froms)-1]; got != tc.final {
				t.Errorf("final stage %q, want %q", got, tc.final)
			}
			for _, p := range problems(plan.Dockerfile, 8080, nil, true) {
				t.Errorf("Dockerfile: %s", p)
			}
		})
	}
}

// TestIgnore checks the context exclusions: local secrets always, served
// secrets for static sites.
func TestIgnore(t *testing.T) {
	plan, err := Detect(fstest.MapFS{"index.html": {Data: []byte("hi")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", ".env", ".env.*", "*.pem"} {
		if !slices.Contains(plan.Ignore, want) {
			t.Errorf("static Ignore %q lacks %s", plan.Ignore, want)
		}
	}
	plan, err = Detect(os.DirFS("testdata/node-npm"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", ".env", ".env.local", "node_modules"} {
		if !slices.Contains(plan.Ignore, want) {
			t.Errorf("node Ignore %q lacks %s", plan.Ignore, want)
		}
	}
}
