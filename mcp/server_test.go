package mcp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
)

// recordingInvoker answers every request with status and data, and
// remembers them.
type recordingInvoker struct {
	status      int
	contentType string
	data        string

	mu       sync.Mutex
	requests []string
	bodies   []string
}

func (r *recordingInvoker) Do(ctx context.Context, method, path string, body []byte) (int, string, []byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, method+" "+path)
	r.bodies = append(r.bodies, string(body))
	return r.status, r.contentType, []byte(r.data), nil
}

func (r *recordingInvoker) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func inProcess(t *testing.T, s *server.MCPServer) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(context.Background(), mcpgo.InitializeRequest{Params: mcpgo.InitializeParams{ClientInfo: mcpgo.Implementation{Name: "t"}}}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestToolCallShapesTheRequestAndAnswer(t *testing.T) {
	inv := &recordingInvoker{status: 202, contentType: "application/json", data: `{"id":"d1","app":"blog"}`}
	c := inProcess(t, NewServer(inv, Options{}))
	text, isErr := call(t, c, "deploys_create", map[string]any{"name": "blog", "image": "img:2", "env": map[string]any{"A": "1", "B": nil}})
	if isErr || text != "{\n  \"id\": \"d1\",\n  \"app\": \"blog\"\n}" {
		t.Fatalf("answer %v %q", isErr, text)
	}
	if inv.requests[0] != "POST /apps/blog/deploys" || inv.bodies[0] != `{"env":{"A":"1","B":null},"image":"img:2"}` {
		t.Fatalf("request %q %s", inv.requests[0], inv.bodies[0])
	}
	// Every exposed tool is listed when no filter is set.
	res, err := c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil || len(res.Tools) != len(Tools()) {
		t.Fatalf("%d tools listed, want %d (%v)", len(res.Tools), len(Tools()), err)
	}
	for _, tool := range res.Tools {
		if tool.Annotations.ReadOnlyHint == nil || tool.Annotations.DestructiveHint == nil {
			t.Errorf("%s has no hints", tool.Name)
		}
	}
}

func TestToolCallErrorsAreToolErrors(t *testing.T) {
	inv := &recordingInvoker{status: 409, contentType: "application/json", data: `{"error":"a deploy is running","code":"busy"}`}
	c := inProcess(t, NewServer(inv, Options{}))
	text, isErr := call(t, c, "apps_stop", map[string]any{"name": "blog"})
	if !isErr || text != "error 409: a deploy is running (busy)" {
		t.Fatalf("%v %q", isErr, text)
	}
}

func TestToolFilterIsEnforcedOnCall(t *testing.T) {
	inv := &recordingInvoker{status: 200, contentType: "application/json", data: `{}`}
	var calls []Call
	var mu sync.Mutex
	s := NewServer(inv, Options{
		ToolFilter: func(ctx context.Context, r admin.Route) bool { return r.Method == http.MethodGet },
		OnCall: func(ctx context.Context, c Call) {
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		},
	})
	c := inProcess(t, s)
	for _, name := range toolNames(t, c) {
		if strings.HasSuffix(name, "_create") || strings.HasSuffix(name, "_delete") {
			t.Errorf("filtered tool %s is listed", name)
		}
	}
	if _, isErr := call(t, c, "apps_delete", map[string]any{"name": "blog"}); !isErr {
		t.Fatal("a hidden tool was callable")
	}
	// The handler checks too, whatever the library does.
	h := &handler{inv: inv, opts: Options{ToolFilter: func(context.Context, admin.Route) bool { return false },
		Confirmations: NewConfirmations(0, 0), Logger: nil}}
	h.opts.Logger = zap.NewNop()
	var tool Tool
	for _, tl := range Tools() {
		if tl.Name == "apps_get" {
			tool = tl
		}
	}
	res, err := h.tool(tool)(context.Background(), mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "apps_get", Arguments: map[string]any{"name": "blog"}}})
	if err != nil || !res.IsError {
		t.Fatalf("handler ran a filtered tool: %+v %v", res, err)
	}
	if inv.count() != 0 {
		t.Fatalf("the API was called %d times", inv.count())
	}
	text, isErr := call(t, c, "apps_get", map[string]any{"name": "blog"})
	if isErr || inv.count() != 1 {
		t.Fatalf("visible tool: %v %s", isErr, text)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) == 0 || calls[len(calls)-1].Outcome != OutcomeCalled || calls[len(calls)-1].Path != "/apps/blog" {
		t.Fatalf("calls %+v", calls)
	}
}

func TestHandlerInvokerSendsTheCallerOnly(t *testing.T) {
	var got *http.Request
	var gotBody string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{"ok":true}`)
	})
	inv := HandlerInvoker{Handler: api, Prefix: "/api/v1", Header: http.Header{"X-Extra": {"1"}}}
	ctx := WithAuthorization(context.Background(), "Bearer tok")
	status, ct, data, err := inv.Do(ctx, http.MethodPost, "/apps/blog/deploys", []byte(`{}`))
	if err != nil || status != 201 || ct != "application/json" || string(data) != `{"ok":true}` {
		t.Fatalf("%d %q %q %v", status, ct, data, err)
	}
	if got.URL.Path != "/api/v1/apps/blog/deploys" || got.Header.Get("Authorization") != "Bearer tok" ||
		got.Header.Get(ClientHeader) != ClientName || got.Header.Get("X-Extra") != "1" ||
		got.Header.Get("Content-Type") != "application/json" || gotBody != `{}` || got.Header.Get("Cookie") != "" {
		t.Fatalf("request %s %v %q", got.URL, got.Header, gotBody)
	}
	// An answer beyond the limit is cut.
	big := HandlerInvoker{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 1<<20)
		for range 10 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})}
	_, _, data, _ = big.Do(context.Background(), http.MethodGet, "/x", nil)
	if len(data) > MaxAnswerBytes+100 || !strings.HasSuffix(string(data), truncatedNote) {
		t.Fatalf("answer of %d bytes", len(data))
	}
}

func TestClientInvoker(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		if r.URL.Path == "/paas/redirect" {
			http.Redirect(w, r, "/paas/users", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	inv := NewClientInvoker(&admin.Client{BaseURL: srv.URL, Prefix: "/paas", HTTP: srv.Client(), Header: http.Header{"Origin": {srv.URL}}})
	inv.Token = "tok"
	status, ct, data, err := inv.Do(context.Background(), http.MethodGet, "/apps?x=1", nil)
	if err != nil || status != 200 || ct != "text/plain" || string(data) != "hello" {
		t.Fatalf("%d %q %q %v", status, ct, data, err)
	}
	if got.URL.RequestURI() != "/paas/apps?x=1" || got.Header.Get("Authorization") != "Bearer tok" ||
		got.Header.Get(ClientHeader) != ClientName || got.Header.Get("Origin") != srv.URL {
		t.Fatalf("request %s %v", got.URL, got.Header)
	}
	status, _, _, err = inv.Do(context.Background(), http.MethodGet, "/redirect", nil)
	if err != nil || status != http.StatusFound || got.URL.Path != "/paas/redirect" {
		t.Fatalf("a redirect was followed: %d %s %v", status, got.URL.Path, err)
	}
}

// TestFollowedLogEndsWithTheCallTimeout: a followed log (server-sent
// events) answers what came within the call's time limit, as text.
func TestFollowedLogEndsWithTheCallTimeout(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "1" {
			t.Errorf("request %s", r.URL)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: line 1\n\ndata: line 2\n\n")
		<-r.Context().Done()
	})
	s := NewServer(HandlerInvoker{Handler: api}, Options{CallTimeout: 100 * time.Millisecond})
	c := inProcess(t, s)
	text, isErr := call(t, c, "deploys_logs", map[string]any{"name": "blog", "id": "d1", "follow": true})
	if isErr || !strings.HasPrefix(text, "line 1\nline 2\n") || !strings.Contains(text, "time limit") {
		t.Fatalf("%v %q", isErr, text)
	}
}
