package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The generated Dockerfiles stay within what the classic builder accepts
// (Docker Engine API 1.41 and older engines build with it): no RUN --mount,
// no heredocs, no COPY --chmod or --link.

// appUID is the uid (and gid) of the user created in Debian and Alpine based
// runtime images; scratch images run as nobodyUID.
const (
	appUID    = 10001
	nobodyUID = 65532
)

// maxCommand bounds a start or build command taken from the repository or
// from Options.
const maxCommand = 4096

var (
	// versionRe is the only shape of version that reaches an image tag or an
	// ARG default: digits and dots, nothing a Dockerfile or a shell reads.
	versionRe = lazyRE(`^[0-9]{1,4}(\.[0-9]{1,4}){0,2}$`)
	// nameRe is a binary, assembly or app name that is written into a path.
	nameRe = lazyRE(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// relPathRe is a relative path inside the repository; validRelPath also
	// refuses empty, "." and ".." segments.
	relPathRe = lazyRE(`^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$`)
)

// validName reports whether s can be written as a file name.
func validName(s string) bool {
	return nameRe.MatchString(s) && s != "." && s != ".."
}

// validRelPath reports whether s is a clean relative path that stays inside
// the repository.
func validRelPath(s string) bool {
	if !relPathRe.MatchString(s) {
		return false
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// printable returns s for a reason line: as it is when it is short and
// printable, quoted otherwise, so a value from the repository can never forge
// a line of the build log.
func printable(s string) string {
	if len(s) > 120 {
		return strconv.Quote(s[:120] + "...")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// checkCommand refuses a command line that could break out of the line it
// is written on: control characters (newlines, carriage returns, NUL) and
// invalid UTF-8. Tabs count as spaces.
func checkCommand(line string) error {
	if strings.TrimSpace(line) == "" {
		return fmt.Errorf("empty command")
	}
	if len(line) > maxCommand {
		return fmt.Errorf("command longer than %d bytes", maxCommand)
	}
	if !utf8.ValidString(line) {
		return fmt.Errorf("command is not valid UTF-8")
	}
	for _, r := range line {
		switch {
		case r == '\n' || r == '\r':
			return fmt.Errorf("command contains a line break")
		case r == 0:
			return fmt.Errorf("command contains a NUL byte")
		case r == '\t':
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return fmt.Errorf("command contains the control character %U", r)
		}
	}
	return nil
}

// plainWord reports whether every rune of w means the same to a shell and
// to exec: no quoting, expansion, globbing, redirection or operators.
func plainWord(w string) bool {
	for _, r := range w {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("_./:=@%+,-", r):
		default:
			return false
		}
	}
	return true
}

// shellKeywords are first words after which "exec" cannot be put.
var shellKeywords = map[string]bool{
	"if": true, "for": true, "while": true, "until": true, "case": true,
	"{": true, "!": true, "[[": true, "exec": true, "function": true,
}

// shellBuiltins are first words that name no program: a line starting with
// one runs under the shell even when its words are plain.
var shellBuiltins = map[string]bool{
	"exec": true, "cd": true, "export": true, "source": true, ".": true, "eval": true,
	"ulimit": true, "umask": true, "set": true, "unset": true, "trap": true, "wait": true,
	"command": true, "readonly": true, "alias": true,
}

// commandArgv turns a command line (a Procfile process, a package.json
// script, a configured start command) into the argv of an exec-form CMD.
// A line of plain words is split into them. Anything else runs under
// /bin/sh -c, prefixed with exec when it is a single simple command so that
// the app, not the shell, is PID 1 and receives SIGTERM when a deploy drains
// it. shell reports whether the image needs /bin/sh.
func commandArgv(line string) (argv []string, shell bool, err error) {
	if err := checkCommand(line); err != nil {
		return nil, false, err
	}
	line = strings.TrimSpace(strings.ReplaceAll(line, "\t", " "))
	words := strings.Fields(line)
	plain := !strings.Contains(words[0], "=") && !shellBuiltins[words[0]]
	for _, w := range words {
		plain = plain && plainWord(w)
	}
	if plain {
		return words, false, nil
	}
	return []string{"/bin/sh", "-c", execPrefix(line, words[0])}, true, nil
}

// execPrefix puts "exec " before line when line is one simple command.
func execPrefix(line, first string) string {
	if strings.ContainsAny(line, ";&|<>()`") || shellKeywords[first] || shellBuiltins[first] ||
		strings.Contains(first, "=") || strings.HasPrefix(first, "#") {
		return line
	}
	return "exec " + line
}

// jsonArray renders argv as the JSON array of an exec-form instruction.
// encoding/json escapes quotes, backslashes and every control character, so
// no element can end the array or the line early.
func jsonArray(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(a) // encoding a string cannot fail
		parts[i] = strings.TrimSuffix(b.String(), "\n")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// dockerfile accumulates the lines of a generated Dockerfile. It is the last
// line of defence against injection: a line that would carry a control
// character is not written and the first such attempt is kept as err.
type dockerfile struct {
	b   strings.Builder
	err error
}

// linef writes one instruction line.
func (d *dockerfile) linef(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	for _, r := range line {
		if r != '\t' && unicode.IsControl(r) {
			if d.err == nil {
				d.err = fmt.Errorf("refusing to write a Dockerfile line with the control character %U: %q", r, line)
			}
			return
		}
	}
	if strings.HasSuffix(line, `\`) && d.err == nil {
		d.err = fmt.Errorf("refusing to write a Dockerfile line that ends with a backslash: %q", line)
		return
	}
	d.b.WriteString(line)
	d.b.WriteByte('\n')
}

// versionArg writes the global ARG that holds a base image's version. The
// version is one of this package's release lines or was matched by a strict
// pattern already; checking it again here keeps any future path from
// writing repository text into a FROM.
func (d *dockerfile) versionArg(name, version string) {
	if !versionRe.MatchString(version) {
		if d.err == nil {
			d.err = fmt.Errorf("refusing the version %q for %s", version, name)
		}
		return
	}
	d.linef("ARG %s=%s", name, version)
}

// blank separates stages.
func (d *dockerfile) blank() { d.b.WriteByte('\n') }

// run writes a shell-form RUN of commands joined by &&, one per line. Only
// constants of this package and validated values reach it.
func (d *dockerfile) run(cmds ...string) {
	lines := make([]string, len(cmds))
	for i, c := range cmds {
		lines[i] = "\t&& " + c
	}
	lines[0] = "RUN " + cmds[0]
	d.continued(lines...)
}

// continued writes lines as one instruction, each but the last ending with
// a line continuation. The continuation is added after linef's check, which
// refuses a trailing backslash coming from a value.
func (d *dockerfile) continued(lines ...string) {
	for i, l := range lines {
		d.linef("%s", l)
		if i < len(lines)-1 {
			d.continueLast()
		}
	}
}

// continueLast turns the last written line into a continued one.
func (d *dockerfile) continueLast() {
	s := d.b.String()
	if d.err != nil || !strings.HasSuffix(s, "\n") {
		return
	}
	d.b.Reset()
	d.b.WriteString(strings.TrimSuffix(s, "\n") + " \\\n")
}

// runCommand writes a RUN for a command line that came from the repository
// or from Options, in exec form under /bin/sh -c.
func (d *dockerfile) runCommand(line string) {
	if err := checkCommand(line); err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("build command: %w", err)
		}
		return
	}
	d.linef("RUN %s", jsonArray([]string{"/bin/sh", "-c", strings.TrimSpace(line)}))
}

// cmd writes the exec-form CMD.
func (d *dockerfile) cmd(argv []string) {
	d.linef("CMD %s", jsonArray(argv))
}

// debianUser creates the unprivileged user in a Debian or Ubuntu image.
func (d *dockerfile) debianUser() {
	d.run(
		fmt.Sprintf("groupadd --system --gid %d app", appUID),
		fmt.Sprintf("useradd --system --uid %d --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app", appUID),
	)
}

// alpineUser creates the unprivileged user in an Alpine image.
func (d *dockerfile) alpineUser() {
	d.run(
		fmt.Sprintf("addgroup -S -g %d app", appUID),
		fmt.Sprintf("adduser -S -D -H -u %d -G app app", appUID),
	)
}

// aptInstall installs Debian packages (names are constants of this package)
// and drops the package lists in the same layer.
func (d *dockerfile) aptInstall(pkgs []string) {
	if len(pkgs) == 0 {
		return
	}
	d.run(
		"apt-get update",
		"apt-get install -y --no-install-recommends "+strings.Join(pkgs, " "),
		"rm -rf /var/lib/apt/lists/*",
	)
}

// port writes the PORT default and EXPOSE: the caller sets PORT at run time
// and the generated start commands read it.
func (d *dockerfile) port(p int) {
	d.linef("ENV PORT=%d", p)
	d.linef("EXPOSE %d", p)
}

// copyFiles writes one COPY of files (relative paths already checked to
// exist) into dest, or nothing when files is empty.
func (d *dockerfile) copyFiles(files []string, dest string) {
	if len(files) == 0 {
		return
	}
	for _, f := range files {
		if !validRelPath(f) {
			if d.err == nil {
				d.err = fmt.Errorf("refusing to copy the path %q", f)
			}
			return
		}
	}
	d.linef("COPY %s %s", strings.Join(files, " "), dest)
}

// copyDir writes a COPY of one directory of the repository to the same
// place under the working directory.
func (d *dockerfile) copyDir(dir string) {
	if !validRelPath(dir) {
		if d.err == nil {
			d.err = fmt.Errorf("refusing to copy the path %q", dir)
		}
		return
	}
	d.linef("COPY %s ./%s", dir, dir)
}

// String returns the Dockerfile text.
func (d *dockerfile) String() string { return d.b.String() }
