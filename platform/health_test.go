package platform

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/containers"
)

func TestHealthProbe(t *testing.T) {
	for _, tc := range []struct {
		name        string
		image       fakeImage
		healthcheck bool
		path        string
		wantErr     string // "" means healthy
	}{
		{name: "http 200 on path", image: fakeImage{}, path: "/healthz"},
		{name: "http 204 on path", image: fakeImage{status: http.StatusNoContent}, path: "/healthz"},
		{name: "redirect counts as up", image: fakeImage{status: http.StatusFound}, path: "/healthz"},
		{name: "any answer without a path", image: fakeImage{status: http.StatusInternalServerError}},
		{name: "404 on path", image: fakeImage{status: http.StatusNotFound}, path: "/healthz", wantErr: "did not become healthy"},
		{name: "500 on path", image: fakeImage{status: http.StatusInternalServerError}, path: "/healthz", wantErr: "did not become healthy"},
		{name: "exits", image: fakeImage{exitAtStart: true, exitCode: 3}, wantErr: "exited with code 3"},
		{name: "docker healthy", image: fakeImage{healthcheck: true, status: http.StatusInternalServerError}, healthcheck: true, path: "/healthz"},
		{name: "docker starting", image: fakeImage{healthcheck: true, health: "starting"}, healthcheck: true, wantErr: "docker health status starting"},
		{name: "docker unhealthy", image: fakeImage{healthcheck: true, health: "unhealthy"}, healthcheck: true, wantErr: "docker health status unhealthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime(t)
			rt.addImage("img", tc.image)
			c, err := rt.CreateAndStart(context.Background(), containers.Spec{Name: "x", Image: "img", Labels: map[string]string{containers.LabelApp: "a"}})
			if err != nil {
				t.Fatal(err)
			}
			p := newHealthProbe(rt, tc.healthcheck, tc.path)
			start := time.Now()
			timeout := 300 * time.Millisecond
			if tc.wantErr == "" {
				timeout = 5 * time.Second
			}
			addr, err := p.wait(context.Background(), c.ID, timeout)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("wait = %v, want healthy", err)
				}
				if addr == "" || addr != rt.containerAddr(c.ID) {
					t.Errorf("wait returned address %q, want the container's %q", addr, rt.containerAddr(c.ID))
				}
				return
			}
			if err == nil {
				t.Fatalf("wait = %q, want an error containing %q", addr, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("wait took %s with a %s timeout", time.Since(start), timeout)
			}
		})
	}
}

func TestHealthProbeUsesPathAndUserAgent(t *testing.T) {
	rt := newFakeRuntime(t)
	var gotPath, gotUA string
	got := make(chan struct{}, 1)
	srv := newRecordingServer(t, func(r *http.Request) {
		gotPath, gotUA = r.URL.RequestURI(), r.UserAgent()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	id := rt.addContainer(map[string]string{containers.LabelApp: "a"}, "img")
	rt.mu.Lock()
	rt.containers[id].c.Addr = srv
	rt.mu.Unlock()
	p := newHealthProbe(rt, false, "/ready?deep=1")
	if _, err := p.wait(context.Background(), id, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	<-got
	if gotPath != "/ready?deep=1" {
		t.Errorf("probe asked for %q, want /ready?deep=1", gotPath)
	}
	if gotUA != "caddy-paas-health" {
		t.Errorf("probe user agent = %q", gotUA)
	}
}

func TestHealthProbeErrors(t *testing.T) {
	rt := newFakeRuntime(t)
	p := newHealthProbe(rt, false, "")
	if _, err := p.wait(context.Background(), "missing", time.Second); err == nil {
		t.Error("wait on a missing container succeeded")
	}

	// A running container with no address never becomes healthy.
	id := rt.addContainer(map[string]string{containers.LabelApp: "a"}, "img")
	rt.mu.Lock()
	srv := rt.containers[id].srv
	rt.containers[id].c.Addr = ""
	rt.mu.Unlock()
	srv.Close()
	_, err := p.wait(context.Background(), id, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("wait on a replica with no address = %v", err)
	}

	// Canceled, not timed out.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = p.wait(ctx, id, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("wait with a canceled context = %v, want canceled", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("cancel took %s to end the wait", time.Since(start))
	}
}

// newRecordingServer starts an HTTP server that calls fn for each request
// and answers 200; it returns its address.
func newRecordingServer(t *testing.T, fn func(*http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fn(r) }))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestHealthProbeCheckReasons(t *testing.T) {
	rt := newFakeRuntime(t)
	for _, tc := range []struct {
		name        string
		image       fakeImage
		healthcheck bool
		path        string
		ok          bool
		reason      string
	}{
		{name: "200", path: "/healthz", ok: true},
		{name: "404", image: fakeImage{status: http.StatusNotFound}, path: "/healthz", reason: "health path /healthz answered 404"},
		{name: "503", image: fakeImage{status: http.StatusServiceUnavailable}, path: "/up", reason: "health path /up answered 503"},
		{name: "no path, 503", image: fakeImage{status: http.StatusServiceUnavailable}, ok: true},
		{name: "docker starting", image: fakeImage{healthcheck: true, health: "starting"}, healthcheck: true, reason: "docker health status starting"},
		{name: "docker healthy", image: fakeImage{healthcheck: true}, healthcheck: true, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := "img-" + strings.ReplaceAll(tc.name, " ", "-")
			rt.addImage(ref, tc.image)
			c, err := rt.CreateAndStart(context.Background(), containers.Spec{Name: "x", Image: ref, Labels: map[string]string{containers.LabelApp: "a"}})
			if err != nil {
				t.Fatal(err)
			}
			p := newHealthProbe(rt, tc.healthcheck, tc.path)
			ok, reason := p.check(context.Background(), c)
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("check = (%v, %q), want (%v, %q)", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}
