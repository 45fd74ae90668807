package mcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddy-paas/caddy-paas/admin"
)

// ClientHeader marks every request the MCP server sends to the API, with
// the value ClientName, so that the API audits each of them (reads too).
const (
	ClientHeader = "X-Paas-Client"
	ClientName   = "mcp"
)

// MaxAnswerBytes caps an answer read from the API; a longer one (a huge
// log) is cut, and the tool says so.
const MaxAnswerBytes = 4 << 20

// Invoker sends one request to the API. path is relative to the API's
// prefix ("/apps/blog?x=1"); body is JSON, or nil for none. An answer with
// an error status is not an error: err is for a request that could not be
// made.
type Invoker interface {
	Do(ctx context.Context, method, path string, body []byte) (status int, contentType string, data []byte, err error)
}

type authorizationKey struct{}

// WithAuthorization returns ctx carrying the Authorization header to send
// on the API requests made for it: the caller's own credentials, so that
// the API authorizes each tool call as the caller.
func WithAuthorization(ctx context.Context, value string) context.Context {
	return context.WithValue(ctx, authorizationKey{}, value)
}

func authorizationFrom(ctx context.Context) string {
	v, _ := ctx.Value(authorizationKey{}).(string)
	return v
}

// HandlerInvoker calls an API handler in process, such as the public API
// of the dashboard site. The request carries Header and the Authorization
// of the context (WithAuthorization), and nothing else of the MCP request:
// the handler authenticates and authorizes it as any other.
type HandlerInvoker struct {
	// Handler is the API, such as admin.New("/api/v1", ...).
	Handler http.Handler
	// Prefix is the API's path prefix, such as /api/v1.
	Prefix string
	// Header is added to every request.
	Header http.Header
}

// Do calls the handler.
func (h HandlerInvoker) Do(ctx context.Context, method, path string, body []byte) (int, string, []byte, error) {
	if h.Handler == nil {
		return 0, "", nil, errors.New("no API handler")
	}
	req, err := newRequest(ctx, method, "http://mcp.internal", h.Prefix, path, body, h.Header)
	if err != nil {
		return 0, "", nil, err
	}
	rec := &answerRecorder{header: http.Header{}}
	h.Handler.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	data := rec.body.Bytes()
	switch {
	case rec.cut:
		data = append(data, truncatedNote...)
	case ctx.Err() != nil && len(data) > 0:
		data = append(data, stoppedNote...)
	}
	return rec.status, rec.header.Get("Content-Type"), data, nil
}

// ClientInvoker calls the API over HTTP, such as Caddy's local admin
// endpoint for `caddy paas mcp`.
type ClientInvoker struct {
	// BaseURL is the scheme and host, such as http://localhost:2019.
	BaseURL string
	// Prefix is the API's path prefix: /paas (admin endpoint) or /api/v1.
	Prefix string
	// Token, when set, is sent as "Authorization: Bearer <token>" (the
	// public API).
	Token string
	// Header is added to every request (the admin endpoint checks Origin).
	Header http.Header
	// HTTP is the client used (it may dial a unix socket); nil for
	// http.DefaultClient. Redirects are never followed.
	HTTP *http.Client
}

// NewClientInvoker calls the API that c calls, with c's client, headers
// and token.
func NewClientInvoker(c *admin.Client) *ClientInvoker {
	return &ClientInvoker{BaseURL: c.BaseURL, Prefix: c.Prefix, Token: c.Token, Header: c.Header.Clone(), HTTP: c.HTTP}
}

// Do sends the request.
func (c *ClientInvoker) Do(ctx context.Context, method, path string, body []byte) (int, string, []byte, error) {
	header := c.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if c.Token != "" {
		header.Set("Authorization", "Bearer "+c.Token)
	}
	req, err := newRequest(ctx, method, strings.TrimSuffix(c.BaseURL, "/"), c.Prefix, path, body, header)
	if err != nil {
		return 0, "", nil, err
	}
	hc := http.DefaultClient
	if c.HTTP != nil {
		hc = c.HTTP
	}
	// A redirect would send the call to another operation than the one
	// the tool names.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", nil, fmt.Errorf("calling the API: %w", ctx.Err())
		}
		return 0, "", nil, fmt.Errorf("cannot reach the API at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		if ctx.Err() == nil || len(data) == 0 {
			return 0, "", nil, fmt.Errorf("reading the answer: %w", err)
		}
		// A followed log cut by the call's deadline: what came is the
		// answer.
		data = append(data, stoppedNote...)
	}
	if len(data) > MaxAnswerBytes {
		data = append(data[:MaxAnswerBytes], truncatedNote...)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data, nil
}

const (
	truncatedNote = "\n[answer cut at 4 MiB]\n"
	stoppedNote   = "\n[answer cut: the call's time limit]\n"
)

// newRequest builds an API request: JSON body, the MCP marker header, and
// the caller's Authorization from ctx when there is one.
func newRequest(ctx context.Context, method, base, prefix, path string, body []byte, header http.Header) (*http.Request, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("API path %q must start with /", path)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+strings.TrimSuffix(prefix, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = append([]string(nil), v...)
	}
	if a := authorizationFrom(ctx); a != "" {
		req.Header.Set("Authorization", a)
	}
	req.Header.Set(ClientHeader, ClientName)
	req.Header.Set("Accept", "application/json, text/plain")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// answerRecorder keeps an in-process answer, up to MaxAnswerBytes.
type answerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	cut    bool
}

var errAnswerTooLarge = errors.New("answer larger than the MCP limit")

func (a *answerRecorder) Header() http.Header { return a.header }

func (a *answerRecorder) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	room := MaxAnswerBytes - a.body.Len()
	if len(p) > room {
		a.body.Write(p[:max(room, 0)])
		a.cut = true
		// An error stops a log that would go on (a followed deploy).
		return max(room, 0), errAnswerTooLarge
	}
	return a.body.Write(p)
}

// Flush lets a streamed answer (server-sent events) flush: it is all kept.
func (a *answerRecorder) Flush() {}
