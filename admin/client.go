package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

// Client calls the API, for the CLI and for tests.
type Client struct {
	// BaseURL is the scheme and host the requests go to, such as
	// http://localhost:2019.
	BaseURL string
	// Prefix is the API's path prefix, such as /paas.
	Prefix string
	// HTTP is the client used; it may dial a unix socket.
	HTTP *http.Client
	// Header is added to every request (the admin endpoint checks Origin).
	Header http.Header
	// Token, when set, is sent as "Authorization: Bearer <token>" (an API
	// token of the public API). It never appears in an error of this
	// client: a message that would hold it has it replaced.
	Token string
	// Target names the server in errors, such as "the server at
	// https://paas.example.com" (default: the caddy admin endpoint at
	// BaseURL).
	Target string
}

// setHeaders adds the client's headers and credentials to req.
func (c *Client) setHeaders(req *http.Request) {
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

func (c *Client) target() string {
	if c.Target != "" {
		return c.Target
	}
	return "the caddy admin endpoint at " + c.BaseURL
}

// redacted is the text that replaces the client's token in an error.
const redacted = "[token redacted]"

// redact makes sure err says nothing of the client's token, even when a
// server (or a proxy in front of it) echoes the request back.
func (c *Client) redact(err error) error {
	if err == nil || c.Token == "" || !strings.Contains(err.Error(), c.Token) {
		return err
	}
	if apiErr, ok := err.(*APIError); ok {
		return &APIError{Status: apiErr.Status, Code: strings.ReplaceAll(apiErr.Code, c.Token, redacted),
			Message: strings.ReplaceAll(apiErr.Message, c.Token, redacted)}
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), c.Token, redacted), err: err}
}

// redactedError is an error whose message had a token taken out. Unwrap
// keeps errors.Is working (a context's end), not the message.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Message string
	// Code is the answer's machine-readable reason, when it has one (such
	// as totp_required).
	Code string
}

func (e *APIError) Error() string { return e.Message }

// errorFrom reads an error answer: the server's {"error": ...} message, or
// the body itself when it is not one.
func errorFrom(status int, body []byte) error {
	var e ErrorAnswer
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error, e.Code = strings.TrimSpace(string(body)), ""
	}
	if e.Error == "" {
		e.Error = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return &APIError{Status: status, Message: e.Error, Code: e.Code}
}

// Do sends in (if not nil) as JSON and decodes the answer into out (if not
// nil). An error answer becomes an *APIError with the server's message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.redact(c.do(ctx, method, path, in, out))
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+c.Prefix+path, body)
	if err != nil {
		return err
	}
	c.setHeaders(req)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("request to %s: %w", c.target(), ctx.Err())
		}
		return fmt.Errorf("cannot reach %s: %w", c.target(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		return errorFrom(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding the answer: %w", err)
		}
	}
	return nil
}

// Upload posts a source archive (body of size bytes) to path and decodes
// the answer into out.
func (c *Client) Upload(ctx context.Context, path, contentType string, body io.Reader, size int64, out any) error {
	return c.redact(c.upload(ctx, path, contentType, body, size, out))
}

func (c *Client) upload(ctx context.Context, path, contentType string, body io.Reader, size int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+c.Prefix+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	c.setHeaders(req)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.target(), err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 400 {
		return errorFrom(resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Logs copies a deployment's log to w. With follow, it reads the live
// stream (server-sent events) until the deploy ends.
func (c *Client) Logs(ctx context.Context, app, id string, follow bool, w io.Writer) error {
	return c.Stream(ctx, "/apps/"+app+"/deploys/"+id+"/logs", follow, w)
}

// Stream copies a text answer of path (a log) to w. With follow, it asks
// for server-sent events and writes the data of each as a line, as it
// comes, until an "end" event, the end of the stream or of ctx.
func (c *Client) Stream(ctx context.Context, path string, follow bool, w io.Writer) error {
	return c.redact(c.stream(ctx, path, follow, w))
}

func (c *Client) stream(ctx context.Context, path string, follow bool, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+c.Prefix+path, nil)
	if err != nil {
		return err
	}
	c.setHeaders(req)
	if follow {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.target(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return errorFrom(resp.StatusCode, data)
	}
	if !follow && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "event: end" || line == "event:end" {
			return nil
		}
		if data, ok := strings.CutPrefix(line, "data:"); ok {
			data = strings.TrimPrefix(data, " ")
			if _, err := fmt.Fprintln(w, data); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the stream: %w", err)
	}
	return nil
}

// WaitDeployment polls a deployment until its status is final or ctx ends.
// A failed deployment returns an error with its reason.
func (c *Client) WaitDeployment(ctx context.Context, app, id string, progress func(*platform.Deployment)) (*platform.Deployment, error) {
	var last platform.DeploymentStatus
	for {
		var d platform.Deployment
		if err := c.Do(ctx, http.MethodGet, "/apps/"+app+"/deploys/"+id, nil, &d); err != nil {
			return nil, err
		}
		if d.Status != last && progress != nil {
			progress(&d)
		}
		last = d.Status
		switch d.Status {
		case platform.StatusFailed:
			return &d, fmt.Errorf("deployment %s failed: %s", id, d.Reason)
		case platform.StatusLive, platform.StatusSuperseded:
			return &d, nil
		}
		select {
		case <-ctx.Done():
			return &d, fmt.Errorf("waiting for deployment %s: %w (status %s)", id, ctx.Err(), d.Status)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
