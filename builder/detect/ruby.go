package detect

import (
	"fmt"
	"slices"
	"strings"
)

// defaultRubyVersion is the ruby image line used when the repository does
// not ask for one; rubyLines are the lines a constraint may pick.
const defaultRubyVersion = "3.3"

var rubyLines = []string{"3.3", "3.4", "3.2", "3.1"}

var (
	lockRubyVersionRe = lazyRE(`(?m)^RUBY VERSION\s*\n\s+ruby ([0-9][0-9.]*)`)
	gemfileRubyRe     = lazyRE(`(?m)^\s*ruby\s+['"]([^'"\n]{1,40})['"]`)
	gemfileGemRe      = lazyRE(`(?m)^\s*gem\s+['"]([A-Za-z0-9_.-]+)['"]`)
	lockSpecRe        = lazyRE(`(?m)^    ([A-Za-z0-9_.-]+) \(`)
)

// rubyRuntimeLibs are the shared libraries native gems link against, which
// the slim runtime image lacks.
var rubyRuntimeLibs = map[string]string{"pg": "libpq5", "mysql2": "libmariadb3", "ruby-vips": "libvips42"}

// rubyGems returns the gems of Gemfile.lock (every resolved gem), else the
// gems Gemfile names.
func (pl *planner) rubyGems() map[string]bool {
	gems := map[string]bool{}
	if lock, ok := pl.src.head("Gemfile.lock"); ok {
		for _, m := range lockSpecRe.FindAllStringSubmatch(lock, -1) {
			gems[m[1]] = true
		}
		return gems
	}
	if gemfile, ok := pl.src.head("Gemfile"); ok {
		for _, m := range gemfileGemRe.FindAllStringSubmatch(gemfile, -1) {
			gems[m[1]] = true
		}
	}
	return gems
}

// rubyVersion picks the ruby image line from Gemfile.lock, .ruby-version
// or the Gemfile's ruby directive.
func (pl *planner) rubyVersion() string {
	if lock, ok := pl.src.head("Gemfile.lock"); ok {
		if m := lockRubyVersionRe.FindStringSubmatch(lock); m != nil {
			return pl.versionLine("Ruby", "Gemfile.lock", m[1], rubyLines, defaultRubyVersion)
		}
	}
	if v, ok := pl.src.firstLine(".ruby-version"); ok {
		return pl.versionLine("Ruby", ".ruby-version", strings.TrimPrefix(v, "ruby-"), rubyLines, defaultRubyVersion)
	}
	if gemfile, ok := pl.src.head("Gemfile"); ok {
		if m := gemfileRubyRe.FindStringSubmatch(gemfile); m != nil {
			return pl.versionLine("Ruby", "Gemfile", m[1], rubyLines, defaultRubyVersion)
		}
	}
	pl.reason("no Ruby version in Gemfile.lock, .ruby-version or Gemfile: using Ruby %s", defaultRubyVersion)
	return defaultRubyVersion
}

// planRuby bundles on the full ruby image (which compiles native gems) and
// runs on the slim one.
func planRuby(pl *planner) error {
	if !pl.src.isFile("Gemfile") {
		return pl.missing("Gemfile")
	}
	gems := pl.rubyGems()
	rails := pl.forced(StackRails) || (!pl.forced(StackRuby) && pl.src.isFile("config/application.rb"))
	if rails {
		pl.stack(StackRails)
		pl.reason("found Gemfile and config/application.rb: Ruby on Rails")
	} else {
		pl.stack(StackRuby)
		pl.reason("found Gemfile: Ruby")
	}
	pl.plan.PackageManager = "bundler"

	var def []string
	var what string
	switch {
	case rails && pl.src.isFile("bin/rails"):
		def, what = []string{"./bin/rails", "server"}, "./bin/rails server (Rails reads $PORT and binds 0.0.0.0 in production)"
	case rails:
		def, what = []string{"bundle", "exec", "rails", "server"}, "bundle exec rails server"
	case pl.src.isFile("config.ru") && gems["puma"] && pl.src.isFile("config/puma.rb"):
		def, what = []string{"bundle", "exec", "puma", "-C", "config/puma.rb"}, "bundle exec puma -C config/puma.rb"
	case pl.src.isFile("config.ru") && gems["puma"]:
		def = []string{"/bin/sh", "-c", `exec bundle exec puma --bind "tcp://0.0.0.0:${PORT:-9292}"`}
		what = "puma serving config.ru"
	case pl.src.isFile("config.ru"):
		def = []string{"/bin/sh", "-c", `exec bundle exec rackup --host 0.0.0.0 --port "${PORT:-9292}"`}
		what = "rackup serving config.ru"
	default:
		what = "no Rails app and no config.ru"
	}
	argv, _, err := pl.start(def, what)
	if err != nil {
		return err
	}
	version := pl.rubyVersion()
	pl.plan.Version = version
	defaultPort := 9292
	if rails {
		defaultPort = 3000
	}
	port := pl.port(defaultPort)
	pl.ignore("tmp", "log", ".bundle", "vendor/bundle", "node_modules", "public/assets", "storage/*.sqlite3")

	var libs []string
	for gem, lib := range rubyRuntimeLibs {
		if gems[gem] {
			libs = append(libs, lib)
		}
	}
	slices.Sort(libs)
	if len(libs) > 0 {
		pl.reason("native gems need %s at run time", strings.Join(libs, ", "))
	}
	locked := pl.src.isFile("Gemfile.lock")
	env := "BUNDLE_WITHOUT=development:test BUNDLE_PATH=/usr/local/bundle"
	if locked {
		env = "BUNDLE_DEPLOYMENT=1 " + env
	} else {
		pl.reason("no Gemfile.lock: gems are resolved at build time (commit Gemfile.lock for reproducible builds)")
	}
	if rails {
		env = "RAILS_ENV=production " + env
	}
	precompile := rails && (gems["sprockets"] || gems["propshaft"] || pl.src.isDir("app/assets"))
	withNode := precompile && pl.src.isFile("package.json")

	df := &pl.df
	df.versionArg("RUBY_VERSION", version)
	if withNode {
		df.versionArg("NODE_VERSION", defaultNodeVersion)
		df.blank()
		df.linef("FROM node:${NODE_VERSION}-bookworm-slim AS node")
	}
	df.blank()
	df.linef("FROM ruby:${RUBY_VERSION}-bookworm AS build")
	df.linef("ENV %s", env)
	df.linef("WORKDIR /app")
	df.copyFiles(pl.src.existing("Gemfile", "Gemfile.lock", ".ruby-version"), "./")
	df.run("bundle install", "rm -rf /usr/local/bundle/ruby/*/cache")
	df.linef("COPY . .")
	if withNode {
		pl.reason("package.json next to the asset pipeline: Node.js %s is copied into the build stage for assets:precompile", defaultNodeVersion)
		df.linef("COPY --from=node /usr/local/bin /usr/local/bin")
		df.linef("COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules")
		df.linef("COPY --from=node /opt /opt")
	}
	pl.build(func() {
		if precompile {
			pl.reason("precompiling assets with a dummy secret key base (SECRET_KEY_BASE_DUMMY, Rails 7.1+)")
			df.linef("RUN SECRET_KEY_BASE_DUMMY=1 bundle exec rails assets:precompile")
		}
	})
	df.blank()
	df.linef("FROM ruby:${RUBY_VERSION}-slim-bookworm")
	if rails {
		df.linef("ENV %s RAILS_LOG_TO_STDOUT=1 RAILS_SERVE_STATIC_FILES=1", env)
	} else {
		df.linef("ENV %s", env)
	}
	df.aptInstall(libs)
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /usr/local/bundle /usr/local/bundle")
	df.linef("COPY --from=build /app ./")
	if rails {
		// Rails writes pids, caches, logs and SQLite databases.
		df.run("mkdir -p tmp log storage db", fmt.Sprintf("chown -R %d:%d tmp log storage db", appUID, appUID))
	}
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
