package detect

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// defaultNodeVersion is the node image line used when the repository does
// not ask for one, and nodeLines every line a constraint may pick, in order
// of preference: the default, newer and older LTS lines, then current ones.
const defaultNodeVersion = "22"

var nodeLines = []string{"22", "24", "20", "18", "25", "23", "21", "19"}

// nodeCodenames maps the LTS names .nvmrc files use to their lines.
var nodeCodenames = map[string]string{"lts/hydrogen": "18", "lts/iron": "20", "lts/jod": "22", "lts/krypton": "24"}

var (
	packageManagerRe    = lazyRE(`^(npm|yarn|pnpm|bun)@([0-9]{1,3})\.[0-9]{1,4}\.[0-9]{1,4}`)
	pnpmLockVersionRe   = lazyRE(`(?m)^lockfileVersion:\s*['"]?([0-9]{1,2})`)
	nextStandaloneRe    = lazyRE(`output\s*:\s*['"]standalone['"]`)
	viteOutDirRe        = lazyRE(`outDir\s*:\s*['"]([^'"\n]{1,200})['"]`)
	yarnPathRe          = lazyRE(`(?m)^yarnPath:`)
	nodeModulesLinkerRe = lazyRE(`(?m)^nodeLinker:\s*["']?node-modules`)
)

// packageJSON is what detection reads of package.json.
type packageJSON struct {
	main, module   string
	scripts        map[string]string
	deps           map[string]string // dependencies and devDependencies
	enginesNode    string
	packageManager string
	workspaces     bool
}

// has reports whether name is a dependency or a dev dependency.
func (p *packageJSON) has(name string) bool {
	_, ok := p.deps[name]
	return ok
}

// readPackageJSON reads package.json, or returns nil when there is none.
// Fields of an unexpected type are ignored with a reason, not fatal.
func (pl *planner) readPackageJSON() (*packageJSON, error) {
	text, ok, err := pl.src.read("package.json")
	if err != nil || !ok {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("parsing package.json: %w", err)
	}
	decode := func(key string, dst any) {
		if v, ok := raw[key]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				pl.reason("ignoring package.json %s: %v", key, err)
			}
		}
	}
	p := &packageJSON{deps: map[string]string{}}
	var deps, devDeps map[string]string
	var engines map[string]any
	decode("main", &p.main)
	decode("module", &p.module)
	decode("scripts", &p.scripts)
	decode("dependencies", &deps)
	decode("devDependencies", &devDeps)
	decode("engines", &engines)
	decode("packageManager", &p.packageManager)
	for k, v := range devDeps {
		p.deps[k] = v
	}
	for k, v := range deps {
		p.deps[k] = v
	}
	if s, ok := engines["node"].(string); ok {
		p.enginesNode = s
	}
	_, p.workspaces = raw["workspaces"]
	return p, nil
}

// overridden reports whether the start command comes from the configuration
// or a Procfile rather than from the stack.
func (pl *planner) overridden() bool {
	return pl.opts.StartCommand != "" || pl.procfile != ""
}

// jsDefaultStart is the default start command of a Node.js or Bun app: the
// start script, else the main field, else a conventional entry file, run
// with runner ("node" or "bun run"). It returns nil when there is none.
func (pl *planner) jsDefaultStart(p *packageJSON, runner []string, entries []string) ([]string, string, error) {
	if s := p.scripts["start"]; s != "" {
		argv, _, err := commandArgv(s)
		switch {
		case err == nil:
			return argv, "package.json scripts.start: " + printable(s), nil
		case !pl.overridden():
			return nil, "", fmt.Errorf("package.json scripts.start: %w", err)
		}
		pl.reason("ignoring package.json scripts.start: %v", err)
	}
	for _, f := range append([]string{p.main, p.module}, entries...) {
		if f == "" {
			continue
		}
		f = path.Clean(f)
		if validRelPath(f) && pl.src.isFile(f) {
			return append(runner, f), strings.Join(runner, " ") + " " + f, nil
		}
	}
	what := "package.json has no start script and no main file"
	if len(entries) > 0 {
		what += " and there is no " + strings.Join(entries[:min(3, len(entries))], ", ") + " or the like"
	}
	return nil, what, nil
}

// nodeVersion picks the node image line from engines.node, .node-version
// or .nvmrc.
func (pl *planner) nodeVersion(p *packageJSON) string {
	if p.enginesNode != "" {
		return pl.versionLine("Node.js", "package.json engines.node", p.enginesNode, nodeLines, defaultNodeVersion)
	}
	for _, f := range []string{".node-version", ".nvmrc"} {
		v, ok := pl.src.firstLine(f)
		if !ok {
			continue
		}
		if line, ok := nodeCodenames[strings.ToLower(v)]; ok {
			pl.reason("Node.js %s from %s (%s)", line, f, v)
			return line
		}
		return pl.versionLine("Node.js", f, v, nodeLines, defaultNodeVersion)
	}
	pl.reason("no Node.js version in package.json engines.node, .node-version or .nvmrc: using Node.js %s", defaultNodeVersion)
	return defaultNodeVersion
}

// nodePM is how one package manager installs, builds and prunes.
type nodePM struct {
	name     string   // npm, yarn or pnpm
	lockfile string   // "" when there is none
	setup    []string // commands that make the package manager available
	install  string
	prune    string // "" when the package manager cannot drop dev dependencies
}

// nodePackageManager chooses npm, yarn or pnpm: the packageManager field,
// else the lockfile (pnpm, then yarn, then npm when there are several).
func (pl *planner) nodePackageManager(p *packageJSON, nodeMajor int) nodePM {
	locks := map[string]string{}
	var found []string
	for _, c := range []struct{ pm, file string }{
		{"pnpm", "pnpm-lock.yaml"}, {"yarn", "yarn.lock"}, {"npm", "package-lock.json"}, {"npm", "npm-shrinkwrap.json"},
	} {
		if _, seen := locks[c.pm]; !seen && pl.src.isFile(c.file) {
			locks[c.pm] = c.file
			found = append(found, c.file)
		}
	}

	declared, declaredMajor := "", 0
	if p.packageManager != "" {
		if m := packageManagerRe.FindStringSubmatch(p.packageManager); m != nil && m[1] != "bun" {
			declared = m[1]
			declaredMajor, _ = strconv.Atoi(m[2])
		} else {
			pl.reason("ignoring package.json packageManager %s", printable(p.packageManager))
		}
	}

	pm := nodePM{}
	switch {
	case declared != "":
		pm.name = declared
		pl.reason("package manager %s from package.json packageManager (%s)", declared, printable(p.packageManager))
	case len(found) > 0:
		switch found[0] {
		case "pnpm-lock.yaml":
			pm.name = "pnpm"
		case "yarn.lock":
			pm.name = "yarn"
		default:
			pm.name = "npm"
		}
		if len(found) > 1 {
			pl.reason("several lockfiles (%s): using %s", strings.Join(found, ", "), found[0])
		} else {
			pl.reason("found %s: installing with %s", found[0], pm.name)
		}
	default:
		pm.name = "npm"
		pl.reason("no lockfile: installing with npm install (commit a lockfile for reproducible builds)")
	}
	pm.lockfile = locks[pm.name]
	frozen := pm.lockfile != ""
	if declared != "" && !frozen {
		pl.reason("package.json asks for %s but there is no lockfile of it: dependencies are resolved at build time", declared)
	}

	switch pm.name {
	case "npm":
		pm.install = "npm install --no-audit --no-fund"
		if frozen {
			pm.install = "npm ci --no-audit --no-fund"
		}
		pm.prune = "npm prune --omit=dev --no-audit --no-fund"
	case "pnpm":
		major := declaredMajor
		if major == 0 {
			major = 9
			if text, ok := pl.src.head(pm.lockfile); ok && pm.lockfile != "" {
				if m := pnpmLockVersionRe.FindStringSubmatch(text); m != nil {
					switch lv, _ := strconv.Atoi(m[1]); {
					case lv <= 5:
						major = 7
					case lv == 6:
						major = 8
					}
				}
			}
		}
		pm.setup = []string{fmt.Sprintf("npm install --global pnpm@%d", major)}
		pm.install = "pnpm install"
		if frozen {
			pm.install = "pnpm install --frozen-lockfile"
		}
		pm.prune = "pnpm prune --prod"
	case "yarn":
		lock, _ := pl.src.head("yarn.lock")
		rc, hasRC := pl.src.head(".yarnrc.yml")
		berry := hasRC || declaredMajor >= 2 || strings.Contains(lock, "__metadata:")
		if !berry {
			pm.install = "yarn install --non-interactive"
			if frozen {
				pm.install = "yarn install --frozen-lockfile --non-interactive"
			}
			pl.reason("yarn classic, as bundled with the node image; yarn cannot prune, so dev dependencies stay in the image")
			break
		}
		pm.install = "yarn install"
		if frozen {
			pm.install = "yarn install --immutable"
		}
		if !nodeModulesLinkerRe.MatchString(rc) {
			pl.reason("warning: yarn Plug'n'Play: the image runs binaries from node_modules/.bin, so set nodeLinker: node-modules in .yarnrc.yml")
		}
		switch {
		case yarnPathRe.MatchString(rc):
			pl.reason("yarn berry from .yarnrc.yml yarnPath; yarn cannot prune, so dev dependencies stay in the image")
		default:
			if nodeMajor >= 25 {
				pm.setup = append(pm.setup, "npm install --global corepack@0")
			}
			pm.setup = append(pm.setup, "corepack enable")
			if declared == "" {
				pm.setup = append(pm.setup, "corepack prepare yarn@stable --activate")
				pl.reason("yarn berry without a packageManager field: using the latest stable yarn (set packageManager to pin it)")
			} else {
				pl.reason("yarn berry through corepack; yarn cannot prune, so dev dependencies stay in the image")
			}
		}
	}
	return pm
}

// nodeStack tells the Node.js stacks apart by their dependencies. outDir is
// the build output of a static build.
func (pl *planner) nodeStack(p *packageJSON) (stack, outDir string) {
	if pl.forced(StackNextJS, StackNuxt, StackNode) {
		return pl.opts.Stack, ""
	}
	if pl.forced(StackViteStatic) {
		return StackViteStatic, pl.viteOutDir("dist")
	}
	switch {
	case p.has("next"):
		pl.reason("found package.json with the next dependency: Next.js")
		return StackNextJS, ""
	case p.has("nuxt") || p.has("nuxt3"):
		if r, err := parseRange(p.deps["nuxt"]); err == nil && r.allowsLine("2") && !r.allowsLine("3") {
			pl.reason("found package.json with nuxt 2, which has no standalone server output: building it as a Node.js app")
			return StackNode, ""
		}
		pl.reason("found package.json with the nuxt dependency: Nuxt")
		return StackNuxt, ""
	case p.has("@sveltejs/kit"):
		if p.has("@sveltejs/adapter-static") {
			pl.reason("found SvelteKit with adapter-static: a static build in build/")
			return StackViteStatic, "build"
		}
		pl.reason("found SvelteKit: building it as a Node.js app (adapter-node serves build/)")
		return StackNode, ""
	case p.has("vite") && p.scripts["start"] == "":
		pl.reason("found package.json with vite and no start script: a static build")
		return StackViteStatic, pl.viteOutDir("dist")
	}
	pl.reason("found package.json: Node.js")
	return StackNode, ""
}

// viteOutDir reads build.outDir from the vite config, else def.
func (pl *planner) viteOutDir(def string) string {
	for _, f := range []string{"vite.config.ts", "vite.config.js", "vite.config.mts", "vite.config.mjs", "vite.config.cjs"} {
		text, ok := pl.src.head(f)
		if !ok {
			continue
		}
		m := viteOutDirRe.FindStringSubmatch(text)
		if m == nil {
			return def
		}
		if dir := path.Clean(m[1]); validRelPath(dir) {
			pl.reason("build output %s from %s", dir, f)
			return dir
		}
		pl.reason("ignoring outDir %s in %s: not a path inside the repository; using %s", printable(m[1]), f, def)
		return def
	}
	return def
}

// nodeInstall copies the dependency manifests, installs and then copies the
// rest, so that a change to the source alone does not reinstall.
func (pl *planner) nodeInstall(p *packageJSON, pm nodePM) {
	df := &pl.df
	if p.workspaces || pl.src.isFile("pnpm-workspace.yaml") {
		pl.reason("workspaces: the whole tree is copied before installing, so any change reinstalls")
		df.linef("COPY . .")
		df.linef("RUN %s", pm.install)
		return
	}
	files := []string{"package.json"}
	if pm.lockfile != "" {
		files = append(files, pm.lockfile)
	}
	files = append(files, pl.src.existing(".npmrc", ".yarnrc", ".yarnrc.yml")...)
	df.copyFiles(files, "./")
	// Directories install scripts need: yarn's releases and plugins,
	// patch-package patches, the Prisma schema for prisma generate.
	for _, dir := range []string{".yarn", "patches", "prisma"} {
		if pl.src.isDir(dir) {
			df.copyDir(dir)
		}
	}
	df.linef("RUN %s", pm.install)
	df.linef("COPY . .")
}

// planNode builds Node.js apps on node:<line>-bookworm and runs them on
// node:<line>-bookworm-slim; static builds are served by Caddy.
func planNode(pl *planner) error {
	p, err := pl.readPackageJSON()
	if err != nil {
		return err
	}
	if p == nil {
		return pl.missing("package.json")
	}
	stack, outDir := pl.nodeStack(p)

	// The default start command, decided first: without one, a
	// package.json next to an index.html is tooling for a static site.
	var def []string
	var what string
	standalone := false
	switch stack {
	case StackNode:
		def, what, err = pl.jsDefaultStart(p, []string{"node"}, []string{"server.js", "index.js", "app.js", "main.js", "server.mjs", "index.mjs", "src/server.js", "src/index.js"})
		if err != nil {
			return err
		}
		if def == nil && p.has("@sveltejs/kit") {
			def, what = []string{"node", "build"}, "node build (the SvelteKit adapter-node server)"
		}
		if def == nil && !pl.overridden() && !pl.forced(StackNode) && pl.src.isFile("index.html") {
			pl.reason("no start script or server entry, and index.html exists: a static site")
			return planStatic(pl)
		}
	case StackNextJS:
		for _, f := range []string{"next.config.js", "next.config.mjs", "next.config.ts", "next.config.cjs"} {
			if text, ok := pl.src.head(f); ok && nextStandaloneRe.MatchString(text) {
				standalone = true
				pl.reason("%s sets output: 'standalone': the image keeps only the standalone server", f)
			}
		}
		switch {
		case standalone:
			def, what = []string{"node", "server.js"}, "node server.js (Next.js standalone server)"
		case p.scripts["start"] != "":
			def, what, err = pl.jsDefaultStart(p, []string{"node"}, nil)
			if err != nil {
				return err
			}
		default:
			def, what = []string{"next", "start"}, "next start"
		}
	case StackNuxt:
		def, what = []string{"node", ".output/server/index.mjs"}, "node .output/server/index.mjs (Nuxt's Nitro server)"
	case StackViteStatic:
		if pl.procfile != "" {
			pl.reason("Procfile ignored: the static build is served by Caddy")
			pl.procfile = ""
		}
		def, what = caddyStart, "caddy file server for the static build in "+outDir
	}
	pl.stack(stack)
	argv, _, err := pl.start(def, what)
	if err != nil {
		return err
	}

	version := pl.nodeVersion(p)
	pl.plan.Version = version
	major, _ := strconv.Atoi(version)
	pm := pl.nodePackageManager(p, major)
	pl.plan.PackageManager = pm.name
	defaultPort := 3000
	if stack == StackViteStatic {
		defaultPort = 8080
	}
	port := pl.port(defaultPort)
	pl.ignore("node_modules", ".next", ".nuxt", ".output", ".svelte-kit")
	if stack == StackViteStatic {
		pl.ignore(outDir)
	}

	df := &pl.df
	df.versionArg("NODE_VERSION", version)
	df.blank()
	df.linef("FROM node:${NODE_VERSION}-bookworm AS build")
	if stack == StackNextJS {
		df.linef("ENV NEXT_TELEMETRY_DISABLED=1")
	}
	df.linef("WORKDIR /app")
	if len(pm.setup) > 0 {
		df.run(pm.setup...)
	}
	pl.nodeInstall(p, pm)

	build := ""
	if p.scripts["build"] != "" {
		build = pm.name + " run build"
	} else {
		build = map[string]string{
			StackNextJS:     "node_modules/.bin/next build",
			StackNuxt:       "node_modules/.bin/nuxt build",
			StackViteStatic: "node_modules/.bin/vite build",
		}[stack]
	}
	pl.build(func() {
		if build != "" {
			df.linef("RUN %s", build)
		}
	})
	keepsNodeModules := stack == StackNode || (stack == StackNextJS && !standalone)
	if stack == StackNextJS && !standalone {
		df.linef("RUN rm -rf .next/cache")
	}
	if keepsNodeModules && pm.prune != "" {
		df.linef("RUN %s", pm.prune)
	}
	df.blank()

	if stack == StackViteStatic {
		pl.ignore(staticIgnore...)
		pl.caddyRuntime(true, port)
		df.linef("COPY --from=build /app/%s /srv", outDir)
		df.port(port)
		df.linef("USER %d", appUID)
		df.cmd(argv)
		return nil
	}

	df.linef("FROM node:${NODE_VERSION}-bookworm-slim")
	df.debianUser()
	df.linef("WORKDIR /app")
	switch {
	case stack == StackNextJS && standalone:
		df.linef("ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 HOSTNAME=0.0.0.0")
		if pl.src.isDir("public") {
			df.linef("COPY --from=build /app/public ./public")
		}
		df.linef("COPY --from=build --chown=%d:%d /app/.next/standalone ./", appUID, appUID)
		df.linef("COPY --from=build --chown=%d:%d /app/.next/static ./.next/static", appUID, appUID)
	case stack == StackNextJS:
		df.linef("ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 HOSTNAME=0.0.0.0 PATH=/app/node_modules/.bin:$PATH")
		df.linef("COPY --from=build /app ./")
		// Next.js writes its image and fetch caches at run time.
		df.run("mkdir -p .next/cache", fmt.Sprintf("chown %d:%d .next/cache", appUID, appUID))
	case stack == StackNuxt:
		df.linef("ENV NODE_ENV=production HOST=0.0.0.0")
		df.linef("COPY --from=build /app/.output ./.output")
	default:
		df.linef("ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH")
		df.linef("COPY --from=build /app ./")
	}
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
