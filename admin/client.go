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
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// errorFrom reads an error answer: the server's {"error": ...} message, or
// the body itself when it is not one.
func errorFrom(status int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	return &APIError{Status: status, Message: e.Error}
}

// Do sends in (if not nil) as JSON and decodes the answer into out (if not
// nil). An error answer becomes an *APIError with the server's message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
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
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("request to the admin endpoint: %w", ctx.Err())
		}
		return fmt.Errorf("cannot reach the caddy admin endpoint at %s: %w", c.BaseURL, err)
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+c.Prefix+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the caddy admin endpoint at %s: %w", c.BaseURL, err)
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+c.Prefix+"/apps/"+app+"/deploys/"+id+"/logs", nil)
	if err != nil {
		return err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if follow {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the caddy admin endpoint at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return errorFrom(resp.StatusCode, data)
	}
	if !follow {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "event: end" {
			return nil
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if _, err := fmt.Fprintln(w, data); err != nil {
				return err
			}
		}
	}
	return sc.Err()
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
