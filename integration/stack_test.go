package integration

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/caddy-paas/caddy-paas/internal/testimage"
)

// goBuildImage is the base image the generated Go Dockerfile builds in,
// made here as no image can be pulled: the machine's own Go installation
// and Debian's busybox-static (for RUN's /bin/sh), with docker import.
const goBuildImage = testimage.GoBuildImage

var (
	goImageOnce sync.Once
	goImageErr  error
)

func requireGoBuildImage(t *testing.T) {
	t.Helper()
	cli := requireDocker(t)
	goImageOnce.Do(func() {
		if _, err := cli.ImageInspect(context.Background(), goBuildImage); err == nil {
			return
		}
		if _, err := os.Stat("/bin/busybox"); err != nil {
			goImageErr = err
			return
		}
		pr, pw := io.Pipe()
		go func() {
			goroot := strings.TrimSpace(runOut("go", "env", "GOROOT"))
			pw.CloseWithError(testimage.WriteGoRootfs(pw, goroot))
		}()
		rc, err := cli.ImageImport(context.Background(), image.ImportSource{Source: pr, SourceName: "-"}, goBuildImage, image.ImportOptions{
			Changes: testimage.GoImageChanges,
		})
		if err != nil {
			goImageErr = err
			return
		}
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
	})
	if goImageErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("making the Go build image (needs busybox-static): %v", goImageErr)
		}
		t.Skipf("cannot make the Go build image: %v", goImageErr)
	}
}

func runOut(name string, args ...string) string {
	out, _ := execCommand(name, args...).Output()
	return string(out)
}

// TestGoRepositoryWithoutDockerfile: the stack is detected, a multi-stage
// Dockerfile generated and built, and the app serves.
func TestGoRepositoryWithoutDockerfile(t *testing.T) {
	requireGoBuildImage(t)
	p := startInProcess(t, envOptions{healthTimeout: "30s"})
	repo := newGitRepo(t)
	for name, content := range map[string]string{
		"go.mod": "module example.com/hello\n\ngo 1.26\n",
		"main.go": `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello from a detected go app") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`,
		// The build image made above is Go 1.26; a real registry has them all.
		"paas.json": `{"build": {"args": {"GO_VERSION": "1.26"}}}`,
	} {
		if err := os.WriteFile(filepath.Join(repo.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo.commit("a go app")
	app := p.appName("goapp")
	v := p.createApp(map[string]any{"name": app, "git": map[string]string{"url": repo.url()}})
	d := p.wait(app, v.Deployment)
	log := p.logs(app, v.Deployment)
	if d.Status != "live" {
		t.Fatalf("deploy %s: %s\n%s", d.Status, d.Reason, log)
	}
	if d.Stack != "go" {
		t.Errorf("stack %q, want go", d.Stack)
	}
	for _, want := range []string{"no Dockerfile: detected stack go", "found go.mod", "FROM golang:${GO_VERSION}-bookworm AS build", "FROM scratch"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from a detected go app\n" {
		t.Fatalf("GET: %d %q", code, body)
	}
}
