package admin

import (
	"context"
	"errors"
	"io"
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

func TestClientTokenNeverInErrors(t *testing.T) {
	const token = "cpaas_0123456789ab_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
	var mu sync.Mutex
	var gotAuth []string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		// A careless server (or proxy) that echoes the request's headers.
		switch r.URL.Path {
		case "/paas/json":
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": "bad token ` + r.Header.Get("Authorization") + `", "code": "bad_token"}`))
		case "/paas/stream":
			http.Error(w, "refused "+r.Header.Get("Authorization"), http.StatusForbidden)
		default:
			w.Write([]byte(`{}`))
		}
	}))
	c.Token = token
	ctx := context.Background()

	if err := c.Do(ctx, http.MethodGet, "/ok", nil, nil); err != nil {
		t.Fatal(err)
	}
	err := c.Do(ctx, http.MethodGet, "/json", nil, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apiErr.Code != "bad_token" {
		t.Fatalf("Do = %v (%+v), want a 401 APIError with its code", err, apiErr)
	}
	if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "[token redacted]") {
		t.Errorf("error = %q, want the token redacted", err)
	}
	err = c.Stream(ctx, "/stream", false, io.Discard)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Stream error = %v, want one without the token", err)
	}
	err = c.Upload(ctx, "/stream", "application/gzip", strings.NewReader("x"), 1, nil)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Upload error = %v, want one without the token", err)
	}
	mu.Lock()
	for _, a := range gotAuth {
		if a != "Bearer "+token {
			t.Errorf("Authorization = %q, want the bearer token", a)
		}
	}
	mu.Unlock()

	// Without a token, no Authorization header; the target's name is used.
	c.Token, c.Target = "", "the server at https://paas.example.com"
	if err := c.Do(ctx, http.MethodGet, "/ok", nil, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if last := gotAuth[len(gotAuth)-1]; last != "" {
		t.Errorf("Authorization without a token = %q", last)
	}
	mu.Unlock()
	unreachable := &Client{BaseURL: "http://127.0.0.1:1", Prefix: "/api/v1", HTTP: http.DefaultClient, Token: token, Target: "the server at http://127.0.0.1:1"}
	if err := unreachable.Do(ctx, http.MethodGet, "/apps", nil, nil); err == nil || !strings.Contains(err.Error(), "cannot reach the server at") || strings.Contains(err.Error(), token) {
		t.Errorf("Do against nothing = %v", err)
	}
}

func TestClientStream(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("plain one\nplain two\n"))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: one\n\ndata:two\n\n: a comment\ndata: \n\nevent: end\ndata: \n\ndata: after the end\n\n"))
	}))
	var out strings.Builder
	if err := c.Stream(context.Background(), "/apps/web/logs", true, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\ntwo\n\n" {
		t.Errorf("followed stream = %q", out.String())
	}
	out.Reset()
	if err := c.Stream(context.Background(), "/apps/web/logs", false, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "plain one\nplain two\n" {
		t.Errorf("text stream = %q", out.String())
	}
}
