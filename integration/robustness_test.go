package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestFailedDeploysLeakNothing: after many failed deploys, goroutines,
// file descriptors and containers are back to where they were.
func TestFailedDeploysLeakNothing(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("leak")
	v := p.createApp(map[string]any{"name": app, "image": imageV1})
	p.waitLive(app, v.Deployment)
	// Warm up: the first failure opens connections that are then reused.
	p.wait(app, p.deploy(app, map[string]any{"image": imageCrash}).ID)
	time.Sleep(time.Second)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	for i := 0; i < 30; i++ {
		if d := p.wait(app, p.deploy(app, map[string]any{"image": imageCrash}).ID); d.Status != platform.StatusFailed {
			t.Fatalf("deploy %d: %s, want failed", i, d.Status)
		}
	}
	p.apps.CloseIdleConnections()
	eventually(t, 15*time.Second, "goroutines, fds and containers back to baseline", func() (bool, string) {
		g, f, c := runtime.NumGoroutine(), openFDs(t), len(p.containers(context.Background(), app))
		return g <= goroutines+5 && f <= fds+5 && c == 1,
			fmt.Sprintf("goroutines %d (was %d), fds %d (was %d), containers %d (want 1)", g, goroutines, f, fds, c)
	})
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from \n" {
		t.Errorf("after 30 failed deploys: %d %q", code, body)
	}
}

// TestConcurrentChangesSerialize sends 20 concurrent deploy and scale
// calls to one app: they run one at a time, the newest recorded one is
// live, and exactly its replicas exist. Then a delete racing deploys
// leaves no container.
func TestConcurrentChangesSerialize(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("race")
	v := p.createApp(map[string]any{"name": app, "image": imageV1})
	p.waitLive(app, v.Deployment)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			if i%3 == 0 {
				err = p.api.Do(context.Background(), http.MethodPatch, "/apps/"+app, map[string]any{"replicas": 1 + i%2}, nil)
			} else {
				img := []string{imageV1, imageV2}[i%2]
				err = p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploys", map[string]any{"image": img}, nil)
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	var list []platform.Deployment
	eventually(t, 90*time.Second, "every deploy finished", func() (bool, string) {
		if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys", nil, &list); err != nil {
			return false, err.Error()
		}
		for _, d := range list {
			if !d.Status.Finished() {
				return false, "deployment " + d.ID + " is " + string(d.Status)
			}
		}
		return true, ""
	})
	newest := list[0] // newest first
	var got platform.AppView
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app, nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.Current != newest.ID || newest.Status != platform.StatusLive {
		t.Fatalf("live deployment %s, want the newest %s (%s)", got.Current, newest.ID, newest.Status)
	}
	eventually(t, 30*time.Second, "exactly the live replicas exist", func() (bool, string) {
		cs := p.containers(context.Background(), app)
		ok := len(cs) == newest.Replicas
		for _, c := range cs {
			ok = ok && c.Labels["paas.deployment"] == newest.ID
		}
		return ok, fmt.Sprintf("%d containers, want %d of %s", len(cs), newest.Replicas, newest.ID)
	})

	// A delete racing deploys: nothing is left behind.
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploys", map[string]any{"image": imageV2}, nil)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := p.api.Do(context.Background(), http.MethodDelete, "/apps/"+app, nil, nil); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	eventually(t, 30*time.Second, "no container after delete", func() (bool, string) {
		n := len(p.containers(context.Background(), app))
		return n == 0, fmt.Sprintf("%d containers", n)
	})
}
