package integration

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/caddy-paas/caddy-paas/platform"
)

// getWithType requests path on an app's host through Caddy and returns the
// status, the Content-Type and the body.
func (p *platformEnv) getWithType(app, path string) (int, string, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+host(app)+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := p.apps.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s%s: %v", host(app), path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("GET %s%s: reading: %v", host(app), path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// runningContainer is the one running replica of an app.
func (p *platformEnv) runningContainer(app string) container.InspectResponse {
	p.t.Helper()
	var running []string
	for _, c := range p.containers(context.Background(), app) {
		if c.State == "running" {
			running = append(running, c.ID)
		}
	}
	if len(running) != 1 {
		p.t.Fatalf("%s has %d running containers, want 1", app, len(running))
	}
	info, err := dockerCli.ContainerInspect(context.Background(), running[0])
	if err != nil {
		p.t.Fatal(err)
	}
	return info
}

// execOut runs cmd in a container through the exec API and returns its
// standard output.
func execOut(t *testing.T, id string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created, err := dockerCli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := dockerCli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	defer att.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	if ins, err := dockerCli.ContainerExecInspect(ctx, created.ID); err != nil || ins.ExitCode != 0 {
		t.Fatalf("exec %v: exit %d, %v: %s", cmd, ins.ExitCode, err, errOut.String())
	}
	return out.String()
}

// TestStaticSiteBuildsAndServes deploys a plain static site with no
// Dockerfile from git: the static stack is detected, its generated
// Dockerfile builds on caddy:2-alpine (here the stand-in made from stock
// Caddy and busybox), the files are served with their content types by a
// Caddy running as uid 10001, and a redeploy with a changed page fails no
// request.
func TestStaticSiteBuildsAndServes(t *testing.T) {
	requireCaddyImage(t)
	p := startInProcess(t, envOptions{})
	repo := newGitRepo(t)
	page := func(v string) string {
		return "<!doctype html>\n<html><head><link rel=\"stylesheet\" href=\"/css/site.css\"></head>\n<body><h1>static " + v + "</h1></body></html>\n"
	}
	for name, content := range map[string]string{
		"index.html":      page("v1"),
		"css/site.css":    "h1 { color: rebeccapurple; }\n",
		"docs/about.html": "<!doctype html>\n<p>about this static site</p>\n",
	} {
		path := filepath.Join(repo.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo.commit("a static site")

	app := p.appName("static")
	v := p.createApp(map[string]any{"name": app, "git": map[string]string{"url": repo.url(), "ref": "main"}})
	d := p.wait(app, v.Deployment)
	log := p.logs(app, v.Deployment)
	if d.Status != platform.StatusLive {
		t.Fatalf("deploy %s: %s\n%s", d.Status, d.Reason, log)
	}
	if d.Stack != "static" {
		t.Errorf("stack %q, want static", d.Stack)
	}
	for _, want := range []string{"no Dockerfile: detected stack static", "found index.html and no language manifest", "FROM caddy:2-alpine"} {
		if !strings.Contains(log, want) {
			t.Errorf("deploy log lacks %q:\n%s", want, log)
		}
	}

	for _, tc := range []struct{ path, ctype, body string }{
		{"/", "text/html; charset=utf-8", page("v1")},
		{"/docs/about.html", "text/html; charset=utf-8", "<!doctype html>\n<p>about this static site</p>\n"},
		{"/css/site.css", "text/css; charset=utf-8", "h1 { color: rebeccapurple; }\n"},
	} {
		code, ctype, body := p.getWithType(app, tc.path)
		if code != 200 || ctype != tc.ctype || body != tc.body {
			t.Errorf("GET %s: %d %q %q, want 200 %q %q", tc.path, code, ctype, body, tc.ctype, tc.body)
		}
	}
	if code, _, _ := p.getWithType(app, "/no-such-page.html"); code != 404 {
		t.Errorf("GET /no-such-page.html: %d, want 404", code)
	}

	// Caddy runs as the unprivileged user the Dockerfile made: the image's
	// user, and the owner of PID 1 in the container.
	c := p.runningContainer(app)
	if c.Config.User != "10001" {
		t.Errorf("container user %q, want 10001", c.Config.User)
	}
	if got := strings.Fields(execOut(t, c.ID, "sh", "-c", "id -u; stat -c %u /proc/1")); len(got) != 2 || got[0] != "10001" || got[1] != "10001" {
		t.Errorf("id -u and the owner of PID 1: %q, want 10001 10001", got)
	}

	// A redeploy with a changed page, under a steady trickle of requests.
	if err := os.WriteFile(filepath.Join(repo.dir, "index.html"), []byte(page("v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	repo.commit("v2")
	var (
		mu              sync.Mutex
		total, failures int
		seen            = map[string]int{}
		firstFailure    string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, body, err := p.get(app, "/")
			mu.Lock()
			total++
			switch {
			case err != nil || code != 200:
				failures++
				if firstFailure == "" {
					firstFailure = body
					if err != nil {
						firstFailure = err.Error()
					}
				}
			case body == page("v1"):
				seen["v1"]++
			case body == page("v2"):
				seen["v2"]++
			default:
				seen["other"]++
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start := time.Now()
	d2 := p.deploy(app, map[string]any{"git": map[string]string{"ref": "main"}})
	p.waitLive(app, d2.ID)
	redeploy := time.Since(start)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	t.Logf("redeploy in %s: %d requests, %d failed, bodies %v", redeploy.Round(time.Millisecond), total, failures, seen)
	if failures != 0 {
		t.Errorf("%d of %d requests failed during the redeploy (first: %s)", failures, total, firstFailure)
	}
	if seen["other"] != 0 || seen["v2"] == 0 {
		t.Errorf("bodies during the redeploy: %v, want only v1 then v2", seen)
	}
	mu.Unlock()
	if code, _, body := p.getWithType(app, "/"); code != 200 || body != page("v2") {
		t.Fatalf("after the redeploy: %d %q", code, body)
	}
	if code, ctype, _ := p.getWithType(app, "/css/site.css"); code != 200 || ctype != "text/css; charset=utf-8" {
		t.Errorf("css after the redeploy: %d %q", code, ctype)
	}
}

// TestBusyboxDockerfileUpload deploys an upload whose own Dockerfile builds
// FROM busybox:stable (a non-Go base, made in the test with docker import)
// and serves with busybox httpd as a non-root user.
func TestBusyboxDockerfileUpload(t *testing.T) {
	requireBusyboxImage(t)
	p := startInProcess(t, envOptions{})
	app := p.appName("busybox")
	p.createApp(map[string]any{"name": app})
	archive := zipOf(t, map[string]string{
		"site/Dockerfile": "FROM busybox:stable\n" +
			"RUN mkdir -p /www && echo 'hello from busybox httpd' > /www/index.html && chmod -R a+rX /www\n" +
			"USER nobody\n" +
			"EXPOSE 8080\n" +
			"CMD busybox httpd -f -p $PORT -h /www\n",
		"site/README.md": "a busybox site\n",
	})
	var d platform.Deployment
	if err := p.api.Upload(context.Background(), "/apps/"+app+"/deploys", "application/zip", bytes.NewReader(archive), int64(len(archive)), &d); err != nil {
		t.Fatal(err)
	}
	if got := p.wait(app, d.ID); got.Status != platform.StatusLive {
		t.Fatalf("deploy %s: %s\n%s", got.Status, got.Reason, p.logs(app, d.ID))
	}
	if log := p.logs(app, d.ID); !strings.Contains(log, "building with the repository's Dockerfile") {
		t.Errorf("deploy log does not say it used the Dockerfile:\n%s", log)
	}
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from busybox httpd\n" {
		t.Fatalf("GET /: %d %q", code, body)
	}
	c := p.runningContainer(app)
	if got := strings.TrimSpace(execOut(t, c.ID, "stat", "-c", "%u", "/proc/1")); got != "65534" {
		t.Errorf("owner of PID 1: %q, want 65534 (nobody)", got)
	}
}
