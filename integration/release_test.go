package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/caddy-paas/caddy-paas/platform"
)

func TestReleaseCommandAndPruning(t *testing.T) {
	p := startInProcess(t, envOptions{})
	repo := newGitRepo(t)
	sourceTree(t, repo.dir, "rel-v1", map[string]string{"paas.json": `{"release": ["/app", "release"]}`})
	repo.commit("with a release command")
	app := p.appName("release")
	v := p.createApp(map[string]any{"name": app, "git": map[string]string{"url": repo.url()}})
	p.waitLive(app, v.Deployment)
	if log := p.logs(app, v.Deployment); !strings.Contains(log, "release ran for rel-v1") || !strings.Contains(log, "release command done") {
		t.Errorf("release command output missing from the log:\n%s", log)
	}

	// A failing release command fails the deploy before any replica
	// starts; the old version keeps serving.
	bad := p.wait(app, p.deploy(app, map[string]any{"env": map[string]string{"RELEASE_EXIT": "1"}}).ID)
	if bad.Status != platform.StatusFailed || !strings.Contains(bad.Reason, "release command exited with code 1") {
		t.Fatalf("failing release: %s %q", bad.Status, bad.Reason)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from rel-v1\n" {
		t.Fatalf("after a failed release: %q", body)
	}
	unset := map[string]*string{"RELEASE_EXIT": nil}
	// More builds: older images are pruned, keep_images (2) stay.
	for i := 0; i < 3; i++ {
		d := p.deploy(app, map[string]any{"env": unset})
		p.waitLive(app, d.ID)
	}
	eventually(t, 10*time.Second, "old images pruned", func() (bool, string) {
		imgs, err := dockerCli.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "paas.app="+app))})
		if err != nil {
			return false, err.Error()
		}
		return len(imgs) <= 2, fmt.Sprintf("%d images", len(imgs))
	})
	// Every container of the release commands is gone.
	for _, c := range p.containers(context.Background(), app) {
		if strings.HasSuffix(strings.TrimPrefix(c.Names[0], "/"), "-release") {
			t.Errorf("release container left: %s", c.Names[0])
		}
	}
}

func TestCancelDeploy(t *testing.T) {
	p := startInProcess(t, envOptions{healthTimeout: "60s"})
	app := p.appName("cancel")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "health_path": "/health", "env": map[string]string{"VERSION": "v1"}})
	p.waitLive(app, v.Deployment)
	slow := p.deploy(app, map[string]any{"image": imageV2, "env": map[string]string{"HEALTHY_AFTER": "60s"}})
	eventually(t, 20*time.Second, "slow deploy starting", func() (bool, string) {
		d := p.readDeployment(app, slow.ID)
		return d.Status == platform.StatusStarting, string(d.Status)
	})
	var got platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploys/"+slow.ID+"/cancel", nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != platform.StatusFailed || got.Reason != "canceled by a user" {
		t.Fatalf("canceled deploy: %s %q", got.Status, got.Reason)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from v1\n" {
		t.Fatalf("after cancel: %q", body)
	}
	eventually(t, 10*time.Second, "canceled replica removed", func() (bool, string) {
		n := len(p.containers(context.Background(), app))
		return n == 1, fmt.Sprintf("%d containers", n)
	})
	// A finished deploy cannot be canceled.
	err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploys/"+slow.ID+"/cancel", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "already failed") {
		t.Errorf("cancel of a finished deploy: %v, want 409", err)
	}
}

// readDeployment reads a deployment once, without waiting.
func (p *platformEnv) readDeployment(app, id string) *platform.Deployment {
	p.t.Helper()
	var d platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys/"+id, nil, &d); err != nil {
		p.t.Fatal(err)
	}
	return &d
}

// timedLines records when each write arrived.
type timedLines struct {
	mu    sync.Mutex
	lines []string
	at    []time.Time
}

func (w *timedLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.lines = append(w.lines, l)
		w.at = append(w.at, time.Now())
	}
	return len(p), nil
}

func (w *timedLines) when(substr string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, l := range w.lines {
		if strings.Contains(l, substr) {
			return w.at[i], true
		}
	}
	return time.Time{}, false
}

// TestDeployLogStreamsLive follows a deploy's log through Caddy's admin
// endpoint from before it starts: lines arrive as they are written, not
// all at once at the end.
func TestDeployLogStreamsLive(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("stream-log")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "health_path": "/health"})
	p.waitLive(app, v.Deployment)
	d := p.deploy(app, map[string]any{"image": imageV2, "env": map[string]string{"HEALTHY_AFTER": "3s"}})
	var out timedLines
	if err := p.api.Logs(context.Background(), app, d.ID, true, &out); err != nil {
		t.Fatal(err)
	}
	started, ok1 := out.when("starting 1 replica")
	live, ok2 := out.when("live:")
	if !ok1 || !ok2 {
		t.Fatalf("followed log lacks lines: %q", out.lines)
	}
	if live.Sub(started) < 2*time.Second {
		t.Errorf("the start line arrived %s before the live line: the log did not stream", live.Sub(started))
	}
}
