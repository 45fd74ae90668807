package detect

import (
	"fmt"
	"path"
	"strings"
)

// defaultRustVersion is the rust image line used when no toolchain file
// pins one: the newest Rust 1.x.
const defaultRustVersion = "1"

var (
	rustChannelRe = lazyRE(`^1\.[0-9]{1,3}(\.[0-9]{1,3})?$`)
	openSSLSysRe  = lazyRE(`(?m)^name = "openssl-sys"$`)
)

// rustVersion reads the channel of rust-toolchain.toml or rust-toolchain.
func (pl *planner) rustVersion(doc tomlDoc) string {
	channel, from := "", ""
	if text, ok := pl.src.head("rust-toolchain.toml"); ok {
		channel, _ = parseTOML(text).str("toolchain", "channel")
		from = "rust-toolchain.toml"
	} else if text, ok := pl.src.head("rust-toolchain"); ok {
		if strings.Contains(text, "[toolchain]") {
			channel, _ = parseTOML(text).str("toolchain", "channel")
		} else {
			channel, _ = pl.src.firstLine("rust-toolchain")
		}
		from = "rust-toolchain"
	}
	switch {
	case channel == "":
		if msrv, ok := doc.str("package", "rust-version"); ok {
			pl.reason("rust-version %s is a minimum: building with the newest Rust 1.x", printable(msrv))
		} else {
			pl.reason("no toolchain file: building with the newest Rust 1.x")
		}
		return defaultRustVersion
	case channel == "stable":
		pl.reason("%s asks for stable: building with the newest Rust 1.x", from)
		return defaultRustVersion
	case rustChannelRe.MatchString(channel):
		pl.reason("Rust %s from %s", channel, from)
		return channel
	}
	pl.reason("ignoring the %s channel %s: no rust image for it; building with the newest Rust 1.x", from, printable(channel))
	return defaultRustVersion
}

// rustBinary picks the binary to run: default-run, else the package's own
// (src/main.rs), else the one [[bin]] or src/bin/*.rs.
func (pl *planner) rustBinary(doc tomlDoc) (string, error) {
	var candidates []string
	if name, ok := doc.str("package", "default-run"); ok {
		candidates = append(candidates, name)
	} else if name, ok := doc.str("package", "name"); ok && pl.src.isFile("src/main.rs") {
		candidates = append(candidates, name)
	} else {
		for _, e := range doc.entries {
			if e.table == "bin" && e.key == "name" {
				if name, ok := tomlString(e.raw); ok {
					candidates = append(candidates, name)
				}
			}
		}
		if len(candidates) == 0 {
			for _, f := range pl.src.glob("src/bin/*.rs") {
				candidates = append(candidates, strings.TrimSuffix(path.Base(f), ".rs"))
			}
		}
	}
	switch {
	case len(candidates) == 1 && validName(candidates[0]):
		return candidates[0], nil
	case len(candidates) == 1:
		return "", fmt.Errorf("binary name %s is not a usable file name; set a start command", printable(candidates[0]))
	case len(candidates) > 1:
		return "", fmt.Errorf("several binaries (%s) and no default-run: set a start command such as /app/bin/<name>", printable(strings.Join(candidates, ", ")))
	}
	return "", fmt.Errorf("no binary: no [package] with src/main.rs, no [[bin]], no src/bin/*.rs; set a start command")
}

// planRust builds release binaries on the rust image and runs them on
// debian:bookworm-slim (the same Debian, so the same glibc).
func planRust(pl *planner) error {
	text, ok, err := pl.src.read("Cargo.toml")
	if err != nil {
		return err
	}
	if !ok {
		return pl.missing("Cargo.toml")
	}
	doc := parseTOML(text)
	pl.stack(StackRust)
	pl.plan.PackageManager = "cargo"
	name, _ := doc.str("package", "name")
	workspace := doc.hasTable("workspace")
	if workspace {
		pl.reason("found Cargo.toml with a [workspace]: Rust")
	} else {
		pl.reason("found Cargo.toml: Rust package %s", printable(name))
	}
	version := pl.rustVersion(doc)
	pl.plan.Version = version

	var def []string
	what := ""
	if bin, err := pl.rustBinary(doc); err == nil {
		def, what = []string{"/app/bin/" + bin}, "/app/bin/"+bin
	} else if !pl.overridden() {
		return fmt.Errorf("stack rust: %w", err)
	}
	pl.layout = "the release binaries, in bin/"
	argv, _, err := pl.start(def, what)
	if err != nil {
		return err
	}
	port := pl.port(8080)
	pl.ignore("target")

	locked := pl.src.isFile("Cargo.lock")
	lockedFlag := ""
	if locked {
		lockedFlag = " --locked"
	} else {
		pl.reason("no Cargo.lock: dependencies are resolved at build time (commit Cargo.lock for reproducible builds)")
	}
	libs := []string{"ca-certificates"}
	if lock, ok := pl.src.head("Cargo.lock"); ok && openSSLSysRe.MatchString(lock) {
		libs = append(libs, "libssl3")
		pl.reason("openssl-sys in Cargo.lock: libssl3 is installed at run time")
	}

	df := &pl.df
	df.versionArg("RUST_VERSION", version)
	df.blank()
	df.linef("FROM rust:${RUST_VERSION}-bookworm AS build")
	df.linef("WORKDIR /src")
	if workspace {
		pl.reason("workspace: the whole tree is copied before fetching, so any change refetches")
		df.linef("COPY . .")
		df.linef("RUN cargo fetch%s", lockedFlag)
	} else {
		df.copyFiles(pl.src.existing("Cargo.toml", "Cargo.lock"), "./")
		// cargo fetch needs a target to load the manifest; the empty ones
		// go before the real source is copied.
		df.run("mkdir -p src", "touch src/main.rs src/lib.rs", "cargo fetch"+lockedFlag, "rm -rf src")
		df.linef("COPY . .")
	}
	pl.build(func() {
		df.linef("RUN cargo build --release%s", lockedFlag)
		df.run("mkdir -p /out/bin", `find target/release -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.d' -exec cp {} /out/bin/ ';'`)
	})
	df.blank()
	df.linef("FROM debian:bookworm-slim")
	df.aptInstall(libs)
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /out /app")
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
