package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/containers"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tarFiles(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeSymlink {
			out[h.Name] = "-> " + h.Linkname
		} else {
			out[h.Name] = string(b)
		}
	}
}

func TestTarContext(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"Dockerfile": "FROM scratch\n", "main.go": "package main", ".git/HEAD": "ref",
		"secret.env": "CANARY-S3cr3t", "node_modules/x/index.js": "x", ".dockerignore": "*.env\nnode_modules\n",
	})
	if err := os.Symlink("main.go", filepath.Join(dir, "link.go")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := TarContext(dir, &buf, "Dockerfile", []string{".git"}, map[string][]byte{"extra.txt": []byte("added")}); err != nil {
		t.Fatal(err)
	}
	got := tarFiles(t, buf.Bytes())
	for _, want := range []string{"Dockerfile", "main.go", ".dockerignore", "extra.txt"} {
		if _, ok := got[want]; !ok {
			t.Errorf("context lacks %s: %v", want, keys(got))
		}
	}
	for _, gone := range []string{".git/HEAD", "secret.env", "node_modules/x/index.js"} {
		if _, ok := got[gone]; ok {
			t.Errorf("context has excluded %s", gone)
		}
	}
	if got["link.go"] != "-> main.go" || got["extra.txt"] != "added" {
		t.Errorf("link %q, extra %q", got["link.go"], got["extra.txt"])
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestReadRepoConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		content string
		want    string
	}{
		"valid":           {`{"port": 3000, "health_path": "/up", "release": ["./migrate", "up"], "build": {"context": "web", "args": {"A": "1"}}}`, ""},
		"unknown field":   {`{"prot": 3000}`, "unknown field"},
		"trailing":        {`{} {}`, "trailing"},
		"escaping ctx":    {`{"build": {"context": "../x"}}`, "inside the repository"},
		"absolute":        {`{"build": {"dockerfile": "/etc/passwd"}}`, "inside the repository"},
		"bad target":      {`{"build": {"target": "a b"}}`, "stage name"},
		"bad arg":         {`{"build": {"args": {"A B": "1"}}}`, "argument name"},
		"port":            {`{"port": 70000}`, "out of range"},
		"empty release":   {`{"release": [""]}`, "release"},
		"too big":         {`{"env": {"A": "` + strings.Repeat("x", 70<<10) + `"}}`, "larger than"},
		"not json":        {`port = 3000`, "paas.json"},
		"release is text": {`{"release": "rm -rf /"}`, "paas.json"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{RepoConfigFile: tc.content})
			cfg, err := ReadRepoConfig(dir)
			if tc.want == "" {
				if err != nil || cfg.Port != 3000 || cfg.Build.Context != "web" || len(cfg.Release) != 2 {
					t.Fatalf("ReadRepoConfig = %+v, %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadRepoConfig error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if cfg, err := ReadRepoConfig(t.TempDir()); err != nil || cfg.Port != 0 {
		t.Errorf("no paas.json: %+v, %v", cfg, err)
	}
}

// recordingBuilder keeps the build context and spec it was given.
type recordingBuilder struct {
	spec    containers.BuildSpec
	context map[string]string
	err     error
}

func (r *recordingBuilder) BuildImage(ctx context.Context, contextTar io.Reader, spec containers.BuildSpec, log io.Writer) (string, error) {
	data, err := io.ReadAll(contextTar)
	if err != nil {
		return "", err
	}
	r.spec = spec
	r.context = map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		r.context[h.Name] = string(b)
	}
	io.WriteString(log, "Step 1/1 : FROM scratch\n")
	return "sha256:abc", r.err
}

func TestBuildUsesRepositoryDockerfile(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "go.mod": "module x\n"})
	b := &recordingBuilder{}
	var log bytes.Buffer
	res, err := Build(context.Background(), b, Request{App: "blog", Deployment: "d1", Dir: dir}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Image != "paas/blog:d1" || res.Stack != "" || b.spec.Dockerfile != "Dockerfile" || b.spec.Labels[containers.LabelImageApp] != "blog" {
		t.Errorf("result %+v, spec %+v", res, b.spec)
	}
	if !strings.Contains(log.String(), "building with the repository's Dockerfile") {
		t.Errorf("log: %s", log.String())
	}
}

func TestBuildGeneratesDockerfile(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"go.mod": "module example.com/hello\n\ngo 1.22\n", "main.go": "package main\nfunc main() {}\n",
		".dockerignore": "docs\n", "docs/a.md": "x", "paas.json": `{"port": 9000}`,
	})
	b := &recordingBuilder{}
	var log bytes.Buffer
	res, err := Build(context.Background(), b, Request{App: "hello", Deployment: "d2", Dir: dir}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stack != "go" || b.spec.Dockerfile != GeneratedDockerfile || res.Config.Port != 9000 {
		t.Errorf("result %+v, spec %+v", res, b.spec)
	}
	if !strings.Contains(b.context[GeneratedDockerfile], "FROM") {
		t.Errorf("the generated Dockerfile is not in the context: %v", keys(b.context))
	}
	ignore := b.context[".dockerignore"]
	for _, want := range []string{"docs", GeneratedDockerfile, ".dockerignore", ".git"} {
		if !strings.Contains(ignore, want+"\n") {
			t.Errorf(".dockerignore in the context lacks %q:\n%s", want, ignore)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, GeneratedDockerfile)); err == nil {
		t.Error("the generated Dockerfile was written into the source tree")
	}
	for _, want := range []string{"no Dockerfile: detected stack go", "found go.mod", "generated Dockerfile:"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		files    map[string]string
		settings BuildConfig
		builder  *recordingBuilder
		want     string
	}{
		"unknown stack":      {map[string]string{"notes.txt": "x"}, BuildConfig{}, &recordingBuilder{}, "no Dockerfile"},
		"missing dockerfile": {map[string]string{"main.go": "x"}, BuildConfig{Dockerfile: "build/Dockerfile"}, &recordingBuilder{}, "not found"},
		"missing context":    {map[string]string{"Dockerfile": "FROM scratch"}, BuildConfig{Context: "web"}, &recordingBuilder{}, "not a folder"},
		"escaping context":   {map[string]string{"Dockerfile": "FROM scratch"}, BuildConfig{Context: "../../etc"}, &recordingBuilder{}, "inside the repository"},
		"build fails":        {map[string]string{"Dockerfile": "FROM scratch"}, BuildConfig{}, &recordingBuilder{err: containers.ErrBuildFailed}, "build failed"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, err := Build(context.Background(), tc.builder, Request{App: "a", Deployment: "d", Dir: dir, Settings: tc.settings}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
