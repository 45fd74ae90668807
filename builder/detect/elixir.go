package detect

import (
	"fmt"
)

// defaultElixirVersion is the elixir image line used when mix.exs does not
// ask for one; elixirLines are the lines a constraint may pick.
const defaultElixirVersion = "1.17"

var elixirLines = []string{"1.17", "1.18", "1.16", "1.15", "1.14"}

var (
	mixAppRe     = lazyRE(`\bapp:\s*:([a-z_][a-z0-9_]{0,63})\b`)
	mixElixirRe  = lazyRE(`\belixir:\s*"([^"\n]{1,40})"`)
	mixPhoenixRe = lazyRE(`\{\s*:phoenix\s*,`)
	mixAssetsRe  = lazyRE(`"assets\.deploy"`)
)

// planElixir builds a Mix release on the elixir image and runs it on the
// slim elixir image of the same line (same Debian, same OpenSSL).
func planElixir(pl *planner) error {
	text, ok, err := pl.src.read("mix.exs")
	if err != nil {
		return err
	}
	if !ok {
		return pl.missing("mix.exs")
	}
	phoenix := pl.forced(StackPhoenix) || (!pl.forced(StackElixir) && mixPhoenixRe.MatchString(text))
	if phoenix {
		pl.stack(StackPhoenix)
		pl.reason("found mix.exs with the phoenix dependency: Phoenix")
	} else {
		pl.stack(StackElixir)
		pl.reason("found mix.exs: Elixir")
	}
	pl.plan.PackageManager = "mix"
	m := mixAppRe.FindStringSubmatch(text)
	if m == nil {
		return fmt.Errorf("stack %s: no app: :name in mix.exs", pl.plan.Stack)
	}
	app := m[1]
	pl.reason("release of the app %s: /app/bin/%s start", app, app)

	version := defaultElixirVersion
	if m := mixElixirRe.FindStringSubmatch(text); m != nil {
		version = pl.versionLine("Elixir", "mix.exs", m[1], elixirLines, defaultElixirVersion)
	} else {
		pl.reason("no Elixir version in mix.exs: using Elixir %s", defaultElixirVersion)
	}
	pl.plan.Version = version
	pl.layout = "the Mix release (bin/" + app + ")"
	argv, _, err := pl.start([]string{"/app/bin/" + app, "start"}, "/app/bin/"+app+" start")
	if err != nil {
		return err
	}
	port := pl.port(4000)
	pl.ignore("_build", "deps", "assets/node_modules", "priv/static/assets", "erl_crash.dump")

	df := &pl.df
	df.versionArg("ELIXIR_VERSION", version)
	df.blank()
	df.linef("FROM elixir:${ELIXIR_VERSION} AS build")
	df.linef("ENV MIX_ENV=prod")
	df.run("mix local.hex --force", "mix local.rebar --force")
	df.linef("WORKDIR /src")
	df.copyFiles(pl.src.existing("mix.exs", "mix.lock"), "./")
	df.linef("RUN mix deps.get --only prod")
	df.copyFiles(pl.src.existing("config/config.exs", "config/prod.exs"), "config/")
	df.linef("RUN mix deps.compile")
	df.linef("COPY . .")
	pl.build(func() {
		if phoenix && mixAssetsRe.MatchString(text) {
			pl.reason("mix.exs has an assets.deploy alias: building the assets")
			df.linef("RUN mix assets.deploy")
		}
		df.linef("RUN mix compile")
		df.linef("RUN mix release --path /out")
	})
	df.blank()
	df.linef("FROM elixir:${ELIXIR_VERSION}-slim")
	if phoenix {
		df.linef("ENV LANG=C.UTF-8 MIX_ENV=prod RELEASE_TMP=/tmp PHX_SERVER=true")
	} else {
		df.linef("ENV LANG=C.UTF-8 MIX_ENV=prod RELEASE_TMP=/tmp")
	}
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /out /app")
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
