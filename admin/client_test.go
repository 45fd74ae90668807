package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

func newTestClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL, Prefix: "/paas", HTTP: srv.Client()}
}

func TestClientDo(t *testing.T) {
	f := &fakeEngine{}
	c := newTestClient(t, newTestAPI(t, f))
	ctx := context.Background()

	var v platform.AppView
	if err := c.Do(ctx, http.MethodPost, "/apps", platform.AppInput{Name: "web"}, &v); err != nil {
		t.Fatalf("Do(create): %v", err)
	}
	if v.Name != "web" {
		t.Errorf("decoded answer = %+v", v)
	}
	if call, _ := f.lastCall(); call.method != "CreateApp" || call.args[0].(platform.AppInput).Name != "web" {
		t.Errorf("engine call = %+v", call)
	}

	var apps []platform.AppView
	if err := c.Do(ctx, http.MethodGet, "/apps", nil, &apps); err != nil || len(apps) != 2 {
		t.Errorf("Do(list) = %v, %v", apps, err)
	}
	// No out: the answer is dropped.
	if err := c.Do(ctx, http.MethodDelete, "/apps/web", nil, nil); err != nil {
		t.Errorf("Do(delete) = %v", err)
	}

	f.mu.Lock()
	f.err = &platform.Error{Status: http.StatusConflict, Message: `app "web" already exists`}
	f.mu.Unlock()
	err := c.Do(ctx, http.MethodPost, "/apps", platform.AppInput{Name: "web"}, &v)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Do with an error answer = %v, want an *APIError", err)
	}
	if apiErr.Status != http.StatusConflict || apiErr.Message != `app "web" already exists` || err.Error() != apiErr.Message {
		t.Errorf("APIError = %+v", apiErr)
	}

	err = c.Do(ctx, http.MethodGet, "/nope", nil, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("Do(unknown path) = %v, want a 404 APIError", err)
	}
}

func TestClientDoPlainErrorsAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var origin, contentType string
	got := func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return origin, contentType
	}
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		origin, contentType = r.Header.Get("Origin"), r.Header.Get("Content-Type")
		mu.Unlock()
		switch r.URL.Path {
		case "/paas/text":
			http.Error(w, "origin not allowed", http.StatusForbidden)
		case "/paas/garbage":
			w.Write([]byte("not json"))
		default:
			w.Write([]byte(`{}`))
		}
	}))
	c.Header = http.Header{"Origin": {"http://localhost:2019"}}
	ctx := context.Background()

	err := c.Do(ctx, http.MethodPost, "/text", map[string]string{"a": "b"}, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || apiErr.Message != "origin not allowed" {
		t.Errorf("Do with a text error = %v (%+v)", err, apiErr)
	}
	gotOrigin, gotCT := got()
	if gotOrigin != "http://localhost:2019" {
		t.Errorf("Origin header = %q, want the client's", gotOrigin)
	}
	if gotCT != "application/json" {
		t.Errorf("Content-Type with a body = %q", gotCT)
	}
	err = c.Do(ctx, http.MethodGet, "/ok", nil, nil)
	if _, ct := got(); err != nil || ct != "" {
		t.Errorf("Do without a body = %v, Content-Type %q", err, ct)
	}
	var out map[string]any
	if err := c.Do(ctx, http.MethodGet, "/garbage", nil, &out); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("Do with a non-JSON answer = %v, want a decoding error", err)
	}
	unreachable := &Client{BaseURL: "http://127.0.0.1:1", Prefix: "/paas", HTTP: http.DefaultClient}
	if err := unreachable.Do(ctx, http.MethodGet, "/status", nil, nil); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("Do against nothing = %v", err)
	}
}

func TestClientWaitDeployment(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []platform.DeploymentStatus
		reason   string
		wantErr  string
		final    platform.DeploymentStatus
	}{
		{name: "live", statuses: []platform.DeploymentStatus{platform.StatusPending, platform.StatusStarting, platform.StatusLive}, final: platform.StatusLive},
		{name: "already superseded", statuses: []platform.DeploymentStatus{platform.StatusSuperseded}, final: platform.StatusSuperseded},
		{name: "failed", statuses: []platform.DeploymentStatus{platform.StatusBuilding, platform.StatusFailed}, reason: "replica exited with code 3", wantErr: "replica exited with code 3", final: platform.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEngine{}
			for _, s := range tc.statuses {
				d := &platform.Deployment{ID: "d1", App: "web", Status: s}
				if s == platform.StatusFailed {
					d.Reason = tc.reason
				}
				f.deployments = append(f.deployments, d)
			}
			c := newTestClient(t, newTestAPI(t, f))
			var seen []platform.DeploymentStatus
			d, err := c.WaitDeployment(context.Background(), "web", "d1", func(d *platform.Deployment) { seen = append(seen, d.Status) })
			if tc.wantErr == "" && err != nil {
				t.Fatalf("WaitDeployment = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("WaitDeployment = %v, want an error with %q", err, tc.wantErr)
			}
			if d == nil || d.Status != tc.final {
				t.Fatalf("final deployment = %+v, want %s", d, tc.final)
			}
			if strings.Join(statusStrings(seen), ",") != strings.Join(statusStrings(tc.statuses), ",") {
				t.Errorf("progress saw %v, want %v", seen, tc.statuses)
			}
		})
	}
}

func TestClientWaitDeploymentContextEnds(t *testing.T) {
	f := &fakeEngine{deployments: []*platform.Deployment{{ID: "d1", App: "web", Status: platform.StatusStarting}}}
	c := newTestClient(t, newTestAPI(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	var polls int
	d, err := c.WaitDeployment(ctx, "web", "d1", func(*platform.Deployment) { polls++ })
	if err == nil {
		t.Fatalf("WaitDeployment past its context = %+v, want an error", d)
	}
	// The context may end during a poll (no deployment) or between polls
	// (the last one seen).
	if d != nil && d.Status != platform.StatusStarting {
		t.Errorf("WaitDeployment returned %+v, want the last status seen", d)
	}
	if polls > 1 {
		t.Errorf("progress called %d times for one status, want at most 1", polls)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("WaitDeployment took %s past a 300ms context", time.Since(start))
	}
}

func statusStrings(list []platform.DeploymentStatus) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = string(s)
	}
	return out
}
