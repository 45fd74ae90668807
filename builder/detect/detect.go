// Package detect recognises the stack of a source tree and writes a
// Dockerfile that builds it, for repositories that bring no Dockerfile of
// their own. It is pure: it reads an fs.FS and returns text, it never runs
// Docker, a toolchain or the network.
//
// # Precedence
//
// The caller looks for a Dockerfile first; detect is only asked when there
// is none. Detect then tries the stack families below in this order and the
// first one whose marker files are present wins:
//
//  1. Go: go.mod
//  2. Rust: Cargo.toml
//  3. Java: pom.xml (Maven), else build.gradle or build.gradle.kts (Gradle)
//  4. .NET: *.csproj at the root, else one web project one or two levels down
//  5. Elixir: mix.exs (elixir-phoenix when phoenix is a dependency)
//  6. Ruby: Gemfile (ruby-rails when config/application.rb exists)
//  7. PHP: composer.json or index.php (php-laravel when artisan exists)
//  8. Python: uv.lock, poetry.lock, pyproject.toml, requirements.txt or
//     manage.py (python-django, python-fastapi, python-flask, python)
//  9. Deno: deno.json or deno.jsonc
//  10. Bun: bun.lock or bun.lockb
//  11. Node.js: package.json (nextjs, nuxt, vite-static, node)
//  12. static: index.html
//  13. procfile: a Procfile with a web process and nothing else
//
// The order puts the markers that are rarely incidental first. Compiled
// languages come first because a go.mod or a Cargo.toml is never there by
// accident, while a repository of any language may carry a requirements.txt
// for its docs or a Gemfile for its tooling. package.json comes late because
// Rails, Laravel, Django and Phoenix apps carry one for their front-end
// assets; a Bun lockfile beats it because it says which runtime the
// package.json is for, and deno.json beats both because Deno projects may
// have a package.json for npm compatibility.
//
// A Procfile is not a stack but an override: when it has a web process,
// that command replaces the detected stack's start command (Heroku's
// behaviour), except for the static stacks, whose files Caddy serves.
// Options.StartCommand overrides both.
//
// # Safety
//
// Values read from the repository (versions, names, paths, commands) are
// validated before they reach the Dockerfile: versions and names against
// strict patterns (an invalid one falls back to a default, with a reason
// line saying so), commands are refused when they hold a line break, a NUL
// or another control character and are written in exec form, JSON-encoded.
package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// The stacks Detect returns, and Options.Stack accepts.
const (
	StackGo         = "go"
	StackRust       = "rust"
	StackJavaMaven  = "java-maven"
	StackJavaGradle = "java-gradle"
	StackDotnet     = "dotnet"
	StackPhoenix    = "elixir-phoenix"
	StackElixir     = "elixir"
	StackRails      = "ruby-rails"
	StackRuby       = "ruby"
	StackLaravel    = "php-laravel"
	StackPHP        = "php"
	StackDjango     = "python-django"
	StackFastAPI    = "python-fastapi"
	StackFlask      = "python-flask"
	StackPython     = "python"
	StackDeno       = "deno"
	StackBun        = "bun"
	StackNextJS     = "nextjs"
	StackNuxt       = "nuxt"
	StackViteStatic = "vite-static"
	StackNode       = "node"
	StackStatic     = "static"
	StackProcfile   = "procfile"
)

// ErrUnknownStack is returned (wrapped, with the files looked for) when no
// family's markers are present.
var ErrUnknownStack = errors.New("no known stack found")

// Plan is what Detect found and the Dockerfile it wrote.
type Plan struct {
	// Stack is the detected (or forced) stack, one of the Stack constants.
	Stack string `json:"stack"`

	// Reasons are human-readable lines for the build log: what was found
	// and why it led to this Dockerfile. Values from the repository in them
	// are quoted when they are not plain printable text.
	Reasons []string `json:"reasons"`

	// Dockerfile is the generated Dockerfile, to be built with the
	// repository as the build context. It needs no BuildKit feature.
	Dockerfile string `json:"dockerfile"`

	// Port is the port the image listens on: its EXPOSE, and the default of
	// the PORT variable its start command reads. Run the container with
	// PORT set to this value (or set both to the same value).
	Port int `json:"port"`

	// PackageManager is the dependency tool the build uses: npm, yarn,
	// pnpm or bun; pip, poetry or uv; bundler, composer, maven, gradle,
	// cargo, mix, nuget or go. Empty for static sites and Procfile-only
	// apps.
	PackageManager string `json:"package_manager,omitempty"`

	// Version is the release line of the language or runtime the base
	// images were chosen for ("1.22", "22", "3.12"), the default of the
	// Dockerfile's version ARG when it has one.
	Version string `json:"version,omitempty"`

	// Start is the argv of the image's CMD.
	Start []string `json:"start"`

	// Ignore is the list of .dockerignore patterns this Dockerfile expects:
	// the caller should leave these paths out of the build context (adding
	// the repository's own .dockerignore patterns), so that local build
	// output and local secrets such as .env files never reach the image.
	Ignore []string `json:"ignore"`
}

// Options are a repository's overrides, which the caller reads from the
// repository's configuration file. The zero value detects everything.
type Options struct {
	// Stack forces a stack (one of the Stack constants) instead of
	// detecting it. The stack's manifest must still be present (go.mod for
	// go, package.json for the Node.js stacks, and so on), except for
	// static, which serves the repository as it is, and procfile.
	Stack string `json:"stack,omitempty"`

	// StartCommand replaces the start command, including a Procfile's web
	// process. It is a command line as in a Procfile: plain words run
	// directly, anything with shell syntax (variables, quotes, operators)
	// runs under /bin/sh -c. Line breaks and control characters are
	// refused.
	StartCommand string `json:"start_command,omitempty"`

	// BuildCommand replaces the stack's build step and runs under /bin/sh
	// -c, as root, once the dependencies are installed and the source is
	// copied. The steps it replaces: npm/yarn/pnpm/bun run build, next,
	// nuxt or vite build, go build, cargo build, the Maven or Gradle build,
	// dotnet publish, mix assets.deploy/compile/release, rails
	// assets:precompile, Django's collectstatic, deno task build. Compiled
	// stacks must leave their output where their own step would:
	// executables in /out/bin (go, rust), the jar at /out/app.jar (java),
	// the publish output in /out (dotnet), the release in /out (elixir);
	// deno's runtime stage gets /app and the /deno-cache DENO_DIR. Stacks
	// with no build step of their own run it after the source is copied:
	// static in its source stage, in /srv, which is all Caddy's stage gets;
	// php and procfile in the final image.
	BuildCommand string `json:"build_command,omitempty"`

	// Port is the port the app listens on; 0 keeps the stack's default.
	Port int `json:"port,omitempty"`
}

// family detects and plans the stacks that share one set of markers.
type family struct {
	stacks  []string
	markers []string // the files looked for, in order; "*" makes a glob
	plan    func(pl *planner) error
}

// families, in order of precedence (see the package comment).
var families = []family{
	{[]string{StackGo}, []string{"go.mod"}, planGo},
	{[]string{StackRust}, []string{"Cargo.toml"}, planRust},
	{[]string{StackJavaMaven, StackJavaGradle}, []string{"pom.xml", "build.gradle", "build.gradle.kts"}, planJava},
	{[]string{StackDotnet}, []string{"*.csproj", "*/*.csproj", "*/*/*.csproj"}, planDotnet},
	{[]string{StackPhoenix, StackElixir}, []string{"mix.exs"}, planElixir},
	{[]string{StackRails, StackRuby}, []string{"Gemfile"}, planRuby},
	{[]string{StackLaravel, StackPHP}, []string{"composer.json", "index.php"}, planPHP},
	{[]string{StackDjango, StackFastAPI, StackFlask, StackPython}, []string{"uv.lock", "poetry.lock", "pyproject.toml", "requirements.txt", "manage.py"}, planPython},
	{[]string{StackDeno}, []string{"deno.json", "deno.jsonc"}, planDeno},
	{[]string{StackBun}, []string{"bun.lock", "bun.lockb"}, planBun},
	{[]string{StackNextJS, StackNuxt, StackViteStatic, StackNode}, []string{"package.json"}, planNode},
	{[]string{StackStatic}, []string{"index.html"}, planStatic},
	{[]string{StackProcfile}, []string{"Procfile"}, planProcfile},
}

// Stacks returns every stack name, in order of precedence.
func Stacks() []string {
	var out []string
	for _, f := range families {
		out = append(out, f.stacks...)
	}
	return out
}

// commonIgnore is left out of every build context: VCS data and the local
// environment files that by convention hold a developer's secrets and are
// never committed on purpose (.env.production and the like often are, for
// public build-time settings, so they stay). The static stacks leave out
// more, since they serve every file they copy.
var commonIgnore = []string{".git", ".hg", ".svn", ".DS_Store", ".env", ".env.local", ".env.*.local"}

// Detect inspects the source tree rooted at fsys and returns the plan to
// build it. fsys should not follow links out of the repository (os.Root's
// FS does not). A tree no family recognises gives an error wrapping
// ErrUnknownStack that lists the files looked for.
func Detect(fsys fs.FS, opts Options) (*Plan, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	src := source{fsys}
	pl := &planner{src: src, opts: opts, plan: &Plan{}}
	if err := pl.readProcfile(); err != nil {
		return nil, err
	}

	fam, err := pl.choose()
	if err != nil {
		return nil, err
	}
	if err := fam.plan(pl); err != nil {
		return nil, err
	}
	if pl.df.err != nil {
		return nil, fmt.Errorf("writing the %s Dockerfile: %w", pl.plan.Stack, pl.df.err)
	}
	if pl.plan.Start == nil || pl.plan.Port == 0 {
		return nil, fmt.Errorf("planning the %s stack: no start command or port (a bug)", pl.plan.Stack)
	}
	pl.plan.Dockerfile = fmt.Sprintf("# Generated by caddy-paas for the %s stack. Add a Dockerfile to the\n# repository to build it your own way.\n", pl.plan.Stack) + pl.df.String()
	pl.plan.Ignore = append(slices.Clone(commonIgnore), pl.plan.Ignore...)
	return pl.plan, nil
}

func (o Options) validate() error {
	if o.Stack != "" && !slices.Contains(Stacks(), o.Stack) {
		return fmt.Errorf("unknown stack %q: want one of %s", o.Stack, strings.Join(Stacks(), ", "))
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("port %d out of range 1-65535", o.Port)
	}
	if o.StartCommand != "" {
		if err := checkCommand(o.StartCommand); err != nil {
			return fmt.Errorf("start command: %w", err)
		}
	}
	if o.BuildCommand != "" {
		if err := checkCommand(o.BuildCommand); err != nil {
			return fmt.Errorf("build command: %w", err)
		}
	}
	return nil
}

// choose returns the forced family or the first whose markers are present.
func (pl *planner) choose() (family, error) {
	if s := pl.opts.Stack; s != "" {
		for _, f := range families {
			if slices.Contains(f.stacks, s) {
				pl.plan.Stack = s
				pl.reason("stack %s forced by the configuration", s)
				return f, nil
			}
		}
	}
	var looked []string
	for _, f := range families {
		for _, m := range f.markers {
			looked = append(looked, m)
			if pl.has(m) {
				return f, nil
			}
		}
	}
	return family{}, fmt.Errorf("%w: looked for %s; add a Dockerfile or set a stack", ErrUnknownStack, strings.Join(dedupe(looked), ", "))
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// planner carries one Detect call: the tree, the options, the plan being
// filled and the Dockerfile being written.
type planner struct {
	src  source
	opts Options
	plan *Plan
	df   dockerfile

	// procfile is the Procfile's web command, "" when there is none.
	procfile string
	// layout says, for compiled stacks, what the runtime image holds: a
	// Procfile written for a build tree (target/..., _build/...) may name
	// paths that are not there.
	layout string
}

// has reports whether marker (a file name or a glob) is present.
func (pl *planner) has(marker string) bool {
	if strings.Contains(marker, "*") {
		return len(pl.src.glob(marker)) > 0
	}
	return pl.src.isFile(marker)
}

// reason adds a line to the plan's reasons.
func (pl *planner) reason(format string, args ...any) {
	pl.plan.Reasons = append(pl.plan.Reasons, fmt.Sprintf(format, args...))
}

// stack sets the plan's stack unless the configuration forced one.
func (pl *planner) stack(s string) {
	if pl.opts.Stack == "" {
		pl.plan.Stack = s
	}
}

// forced reports whether the configuration forced one of stacks.
func (pl *planner) forced(stacks ...string) bool {
	return pl.opts.Stack != "" && slices.Contains(stacks, pl.opts.Stack)
}

// missing is the error for a forced stack whose manifest is absent.
func (pl *planner) missing(manifest string) error {
	return fmt.Errorf("stack %s needs %s, which the repository does not have", pl.plan.Stack, manifest)
}

// port sets and returns the port: the configured one, else def.
func (pl *planner) port(def int) int {
	p := def
	if pl.opts.Port != 0 {
		p = pl.opts.Port
		pl.reason("port %d from the configuration", p)
	}
	pl.plan.Port = p
	return p
}

// ignore adds .dockerignore patterns.
func (pl *planner) ignore(patterns ...string) {
	pl.plan.Ignore = append(pl.plan.Ignore, patterns...)
}

// start decides the start command: the configured one, else the Procfile's
// web process, else def (described by what for the reasons). def may be nil
// when the stack has no default, which is then an error. shell reports
// whether the command needs /bin/sh in the image.
func (pl *planner) start(def []string, what string) (argv []string, shell bool, err error) {
	switch {
	case pl.opts.StartCommand != "":
		argv, shell, err = commandArgv(pl.opts.StartCommand)
		if err != nil {
			return nil, false, fmt.Errorf("start command: %w", err)
		}
		pl.reason("start command from the configuration: %s", printable(pl.opts.StartCommand))
	case pl.procfile != "":
		argv, shell, err = commandArgv(pl.procfile)
		if err != nil {
			return nil, false, fmt.Errorf("procfile web process: %w", err)
		}
		if def != nil {
			pl.reason("Procfile web process replaces the default start command (%s): %s", what, printable(pl.procfile))
		} else {
			pl.reason("start command from the Procfile web process: %s", printable(pl.procfile))
		}
		if pl.layout != "" {
			pl.reason("note: the image holds only %s, in /app; paths into the build tree do not exist there", pl.layout)
		}
	case def != nil:
		argv = def
		shell = len(def) > 0 && def[0] == "/bin/sh"
		pl.reason("start command: %s", what)
	default:
		return nil, false, fmt.Errorf("stack %s: %s; add a Procfile with a web process or set a start command", pl.plan.Stack, what)
	}
	pl.plan.Start = slices.Clone(argv)
	return argv, shell, nil
}

// build writes the build step: the configured build command, else def's
// instructions (which may write nothing).
func (pl *planner) build(def func()) {
	if pl.opts.BuildCommand != "" {
		pl.reason("build command from the configuration: %s", printable(pl.opts.BuildCommand))
		pl.df.runCommand(pl.opts.BuildCommand)
		return
	}
	def()
}

// readableTree is the prepare stages' last step: every file readable by the
// runtime's unprivileged user (directories and files some user may execute
// executable by it too) and writable by root alone, whatever modes the
// repository or the uploaded archive gave them.
const readableTree = "chmod -R a+rX,go-w ."

// sourceStage writes a stage named source, on image, that copies the
// repository into dir and makes the tree readable (readableTree). The
// runtime stage copies dir from it in a single layer, where the same chmod
// run in the runtime stage would store every file twice. build, when not
// nil, writes the build step between the copy and the chmod.
func (pl *planner) sourceStage(image, dir string, build func()) {
	df := &pl.df
	df.linef("FROM %s AS source", image)
	df.linef("WORKDIR %s", dir)
	df.linef("COPY . .")
	if build != nil {
		pl.build(build)
	}
	df.linef("RUN %s", readableTree)
}

// versionLine picks the release line of an image for a constraint: the
// first of lines (in order of preference) that spec allows, else def.
func (pl *planner) versionLine(what, from, spec string, lines []string, def string) string {
	line, err := pickLine(spec, lines)
	if err != nil {
		pl.reason("ignoring %s %s %s: %v; using %s %s", from, what, printable(spec), err, what, def)
		return def
	}
	pl.reason("%s %s from %s (%s)", what, line, from, printable(spec))
	return line
}
