package detect

// planBun installs with Bun and runs on Bun: a Bun lockfile says the
// package.json next to it is for Bun, not Node.js.
func planBun(pl *planner) error {
	p, err := pl.readPackageJSON()
	if err != nil {
		return err
	}
	if p == nil {
		return pl.missing("package.json")
	}
	pl.stack(StackBun)
	pl.plan.PackageManager = "bun"
	lock, frozen := pl.src.firstOf("bun.lock", "bun.lockb")
	if frozen {
		pl.reason("found %s: Bun is the runtime and the package manager", lock)
	}
	def, what, err := pl.jsDefaultStart(p, []string{"bun", "run"}, []string{"index.ts", "src/index.ts", "server.ts", "src/server.ts", "index.js", "server.js"})
	if err != nil {
		return err
	}
	argv, _, err := pl.start(def, what)
	if err != nil {
		return err
	}
	pl.plan.Version = "1"
	pl.reason("Bun 1: building with oven/bun:1, running on oven/bun:1-slim")
	port := pl.port(3000)
	pl.ignore("node_modules")

	install := "bun install"
	if frozen {
		install = "bun install --frozen-lockfile"
	}
	df := &pl.df
	df.versionArg("BUN_VERSION", "1")
	df.blank()
	df.linef("FROM oven/bun:${BUN_VERSION} AS build")
	df.linef("WORKDIR /app")
	if p.workspaces {
		pl.reason("workspaces: the whole tree is copied before installing, so any change reinstalls")
		df.linef("COPY . .")
		df.linef("RUN %s", install)
	} else {
		files := []string{"package.json"}
		if frozen {
			files = append(files, lock)
		}
		df.copyFiles(append(files, pl.src.existing("bunfig.toml", ".npmrc")...), "./")
		for _, dir := range []string{"patches", "prisma"} {
			if pl.src.isDir(dir) {
				df.copyDir(dir)
			}
		}
		df.linef("RUN %s", install)
		df.linef("COPY . .")
	}
	pl.build(func() {
		if p.scripts["build"] != "" {
			df.linef("RUN bun run build")
		}
	})
	// Reinstall without dev dependencies; the packages come from the cache
	// the first install filled.
	df.run("rm -rf node_modules", install+" --production")
	df.blank()
	df.linef("FROM oven/bun:${BUN_VERSION}-slim")
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH")
	df.linef("COPY --from=build /app ./")
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
