package detect

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// defaultGoVersion is used when go.mod names no usable version.
const defaultGoVersion = "1.24"

var (
	goDirectiveRe = lazyRE(`^1\.([0-9]{1,3})(\.[0-9]{1,3})?((rc|beta)[0-9]{1,2})?$`)
	goMainRe      = lazyRE(`(?m)^package[ \t]+main[ \t]*(//.*)?\r?$`)
	// goMajorSuffixRe is the /vN suffix of a module path, which is not the
	// name of the binary.
	goMajorSuffixRe = lazyRE(`^v[0-9]+$`)
)

// cgoModules need cgo, hence glibc at run time instead of an empty image.
var cgoModules = []string{"github.com/mattn/go-sqlite3"}

// goMod is what detection reads of go.mod.
type goMod struct {
	module, goVersion, toolchain string
	cgo                          string // the first cgo module required
}

func parseGoMod(text string) goMod {
	var m goMod
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "module" && m.module == "":
			m.module = strings.Trim(f[1], `"`+"`")
		case len(f) == 2 && f[0] == "go" && m.goVersion == "":
			m.goVersion = f[1]
		case len(f) == 2 && f[0] == "toolchain" && m.toolchain == "":
			m.toolchain = strings.TrimPrefix(f[1], "go")
		}
		for _, mod := range cgoModules {
			if m.cgo == "" && (len(f) >= 2 && (f[0] == mod || (f[0] == "require" && f[1] == mod))) {
				m.cgo = mod
			}
		}
	}
	return m
}

// goLine returns the minor of a go directive ("1.22.3" -> 22), or -1.
func goLine(v string) int {
	m := goDirectiveRe.FindStringSubmatch(v)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// goImageVersion picks the golang image line: the go directive's, or the
// toolchain line's when that is newer. Lines before 1.21 have no bookworm
// image; the Go 1 compatibility promise lets the default build them.
func (pl *planner) goImageVersion(m goMod) string {
	minor := goLine(m.goVersion)
	if m.goVersion != "" && minor < 0 {
		pl.reason("ignoring the go directive %s: not a Go version; using Go %s", printable(m.goVersion), defaultGoVersion)
		return defaultGoVersion
	}
	if t := goLine(m.toolchain); t > minor {
		pl.reason("go.mod asks for the toolchain go%s: building with Go 1.%d", printable(m.toolchain), t)
		minor = t
	}
	switch {
	case minor < 0:
		pl.reason("go.mod names no Go version: using Go %s", defaultGoVersion)
		return defaultGoVersion
	case minor < 21:
		pl.reason("go 1.%d predates the bookworm golang images: building with Go %s, which compiles it under the Go 1 compatibility promise", minor, defaultGoVersion)
		return defaultGoVersion
	}
	v := fmt.Sprintf("1.%d", minor)
	pl.reason("Go %s: building with golang:%s-bookworm", v, v)
	return v
}

// goMain finds the main package to build: the root, else the one directory
// under cmd/ (or the one named after the module). It returns the package
// path ("." or "./cmd/api") and the binary name.
func (pl *planner) goMain(module string) (pkg, bin string, err error) {
	base := path.Base(module)
	if goMajorSuffixRe.MatchString(base) {
		base = path.Base(path.Dir(module))
	}
	if !validName(base) {
		if module != "" {
			pl.reason("module name %s is not a usable file name: the binary is called app", printable(module))
		}
		base = "app"
	}
	if pl.isGoMain(".") {
		return ".", base, nil
	}
	var mains []string
	for _, dir := range pl.src.subdirs("cmd") {
		if pl.isGoMain(dir) && validName(path.Base(dir)) {
			mains = append(mains, path.Base(dir))
		}
	}
	switch {
	case len(mains) == 1:
		return "./cmd/" + mains[0], mains[0], nil
	case len(mains) > 1:
		for _, m := range mains {
			if m == base {
				pl.reason("several main packages under cmd/ (%s): building cmd/%s, named like the module", strings.Join(mains, ", "), m)
				return "./cmd/" + m, m, nil
			}
		}
		return "", "", fmt.Errorf("several main packages under cmd/ (%s) and none named like the module: set a build command that writes to /out/bin and a start command", strings.Join(mains, ", "))
	}
	return "", "", fmt.Errorf("no main package at the root or under cmd/: set a build command that writes to /out/bin and a start command")
}

// isGoMain reports whether dir holds a non-test Go file of package main.
func (pl *planner) isGoMain(dir string) bool {
	for _, f := range pl.src.glob(path.Join(dir, "*.go")) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if text, ok := pl.src.head(f); ok && goMainRe.MatchString(text) {
			return true
		}
	}
	return false
}

// planGo builds a static binary on the golang image and runs it on an empty
// image, or on debian:bookworm-slim when it needs cgo or a shell.
func planGo(pl *planner) error {
	text, ok, err := pl.src.read("go.mod")
	if err != nil {
		return err
	}
	if !ok {
		return pl.missing("go.mod")
	}
	pl.stack(StackGo)
	pl.plan.PackageManager = "go"
	m := parseGoMod(text)
	pl.reason("found go.mod: module %s, go %s", printable(m.module), printable(m.goVersion))
	version := pl.goImageVersion(m)
	pl.plan.Version = version

	pkg, bin := "", "app"
	if pl.opts.BuildCommand == "" || pl.opts.StartCommand == "" {
		pkg, bin, err = pl.goMain(m.module)
		if err != nil {
			return fmt.Errorf("stack go: %w", err)
		}
		pl.reason("main package %s: binary /app/bin/%s", pkg, bin)
	}
	pl.layout = "the binary, bin/" + bin
	argv, shell, err := pl.start([]string{"/app/bin/" + bin}, "/app/bin/"+bin)
	if err != nil {
		return err
	}
	port := pl.port(8080)

	cgo := "0"
	if m.cgo != "" {
		cgo = "1"
		pl.reason("%s needs cgo: building with CGO_ENABLED=1 and running on debian:bookworm-slim (glibc)", m.cgo)
	}
	slim := m.cgo != "" || shell
	if shell && m.cgo == "" {
		pl.reason("the start command needs a shell: running on debian:bookworm-slim instead of an empty image")
	}

	df := &pl.df
	df.versionArg("GO_VERSION", version)
	df.blank()
	df.linef("FROM golang:${GO_VERSION}-bookworm AS build")
	df.linef("WORKDIR /src")
	if pl.src.isDir("vendor") {
		pl.reason("found vendor/: building from the vendored modules")
		df.linef("COPY . .")
	} else {
		df.copyFiles(pl.src.existing("go.mod", "go.sum"), "./")
		df.linef("RUN go mod download")
		df.linef("COPY . .")
	}
	pl.build(func() {
		df.linef(`RUN CGO_ENABLED=%s go build -trimpath -ldflags="-s -w" -o /out/bin/%s %s`, cgo, bin, pkg)
	})
	df.blank()
	if slim {
		df.linef("FROM debian:bookworm-slim")
		df.debianUser()
	} else {
		df.linef("FROM scratch")
	}
	df.linef("COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/")
	df.linef("COPY --from=build /usr/local/go/lib/time/zoneinfo.zip /usr/local/go/lib/time/")
	df.linef("ENV ZONEINFO=/usr/local/go/lib/time/zoneinfo.zip")
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /out /app")
	df.port(port)
	if slim {
		df.linef("USER %d", appUID)
	} else {
		df.linef("USER %d:%d", nobodyUID, nobodyUID)
	}
	df.cmd(argv)
	return nil
}
