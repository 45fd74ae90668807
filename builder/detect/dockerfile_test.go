package detect

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestCommandArgv(t *testing.T) {
	for _, tc := range []struct {
		line    string
		argv    []string
		shell   bool
		wantErr string
	}{
		{line: "node server.js", argv: []string{"node", "server.js"}},
		{line: "  gunicorn\tapp:app --workers=2 ", argv: []string{"gunicorn", "app:app", "--workers=2"}},
		{line: "bin/server -addr :8080", argv: []string{"bin/server", "-addr", ":8080"}},
		{line: "node server.js --port $PORT", argv: []string{"/bin/sh", "-c", "exec node server.js --port $PORT"}, shell: true},
		{line: `node -e "console.log(1)"`, argv: []string{"/bin/sh", "-c", `node -e "console.log(1)"`}, shell: true},
		{line: "node -e 'require(\"./x\")'", argv: []string{"/bin/sh", "-c", "node -e 'require(\"./x\")'"}, shell: true},
		{line: "cd web", argv: []string{"/bin/sh", "-c", "cd web"}, shell: true},
		{line: "ulimit -n 4096", argv: []string{"/bin/sh", "-c", "ulimit -n 4096"}, shell: true},
		{line: "NODE_ENV=production node x.js", argv: []string{"/bin/sh", "-c", "NODE_ENV=production node x.js"}, shell: true},
		{line: "npm run migrate && npm start", argv: []string{"/bin/sh", "-c", "npm run migrate && npm start"}, shell: true},
		{line: "./run.sh | tee log", argv: []string{"/bin/sh", "-c", "./run.sh | tee log"}, shell: true},
		{line: "exec ./server", argv: []string{"/bin/sh", "-c", "exec ./server"}, shell: true},
		{line: "if true; then ./a; fi", argv: []string{"/bin/sh", "-c", "if true; then ./a; fi"}, shell: true},
		{line: "ls ~", argv: []string{"/bin/sh", "-c", "exec ls ~"}, shell: true},
		{line: "", wantErr: "empty command"},
		{line: "   ", wantErr: "empty command"},
		{line: "a\nb", wantErr: "line break"},
		{line: "a\rb", wantErr: "line break"},
		{line: "a\x00b", wantErr: "NUL"},
		{line: "a\x1bb", wantErr: "control character U+001B"},
		{line: "a\u2029b", wantErr: "control character U+2029"},
		{line: "a\xffb", wantErr: "not valid UTF-8"},
		{line: strings.Repeat("a", maxCommand+1), wantErr: "longer than"},
	} {
		argv, shell, err := commandArgv(tc.line)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("commandArgv(%q) err = %v, want %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(argv, tc.argv) || shell != tc.shell {
			t.Errorf("commandArgv(%q) = %q, %v, %v; want %q, %v", tc.line, argv, shell, err, tc.argv, tc.shell)
		}
	}
}

// TestJSONArrayRoundTrip checks that whatever an element holds, the JSON
// array is one line and decodes to the same elements.
func TestJSONArrayRoundTrip(t *testing.T) {
	for _, argv := range [][]string{
		{"node", "server.js"},
		{"/bin/sh", "-c", `a"] RUN ["b`},
		{`\`, `\"`, `"]`, "`$(id)`", "<&>", "\u2028", "é"},
		{"ends with backslash \\"},
	} {
		s := jsonArray(argv)
		if strings.ContainsAny(s, "\n\r") || strings.HasSuffix(s, `\`) {
			t.Errorf("jsonArray(%q) = %s spans lines or continues", argv, s)
		}
		var back []string
		if err := json.Unmarshal([]byte(s), &back); err != nil || !reflect.DeepEqual(back, argv) {
			t.Errorf("jsonArray(%q) = %s decodes to %q, %v", argv, s, back, err)
		}
	}
	if got := jsonArray([]string{"a && b"}); got != `["a && b"]` {
		t.Errorf("HTML characters escaped: %s", got)
	}
}

// TestDockerfileWriterRefuses checks the writer's own guard, behind the
// validation of each value.
func TestDockerfileWriterRefuses(t *testing.T) {
	for name, write := range map[string]func(d *dockerfile){
		"newline in a line":       func(d *dockerfile) { d.linef("RUN %s", "a\nUSER root") },
		"carriage return":         func(d *dockerfile) { d.linef("ENV A=%s", "b\rc") },
		"trailing backslash":      func(d *dockerfile) { d.linef("ARG V=%s", `1.0\`) },
		"path outside the tree":   func(d *dockerfile) { d.copyFiles([]string{"../secrets"}, "./") },
		"absolute path":           func(d *dockerfile) { d.copyDir("/etc") },
		"option as a path":        func(d *dockerfile) { d.copyFiles([]string{"--from=x"}, "./") },
		"build command with a LF": func(d *dockerfile) { d.runCommand("make\nUSER root") },
		"version with a command":  func(d *dockerfile) { d.versionArg("GO_VERSION", "1.22 AS x\nUSER root") },
		"version with a variable": func(d *dockerfile) { d.versionArg("GO_VERSION", "${USER}") },
	} {
		var d dockerfile
		write(&d)
		if d.err == nil {
			t.Errorf("%s: written as %q", name, d.String())
		}
		if strings.Contains(d.String(), "USER") {
			t.Errorf("%s: wrote %q", name, d.String())
		}
	}
}

func TestRunContinuation(t *testing.T) {
	var d dockerfile
	d.run("apt-get update", "apt-get install -y x")
	d.linef("USER 1")
	want := "RUN apt-get update \\\n\t&& apt-get install -y x\nUSER 1\n"
	if d.String() != want || d.err != nil {
		t.Errorf("got %q, %v; want %q", d.String(), d.err, want)
	}
}

func TestValidRelPath(t *testing.T) {
	for p, want := range map[string]bool{
		"server.js": true, "src/index.ts": true, ".yarn": true, "build/client": true,
		"": false, ".": false, "..": false, "../x": false, "a/../../x": false, "/etc": false,
		"a//b": false, "a b": false, "-rf": false, "x;y": false, "*.js": false, "a/": false,
	} {
		if got := validRelPath(p); got != want {
			t.Errorf("validRelPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"example.com/x": "example.com/x",
		"a\nRUN x":      `"a\nRUN x"`,
		"tab\there":     `"tab\there"`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
	if got := printable(strings.Repeat("x", 500)); len(got) > 130 {
		t.Errorf("printable does not shorten: %d bytes", len(got))
	}
}
