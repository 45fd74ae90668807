package integration

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-paas/caddy-paas/internal/apispec"
)

// specChecker is an http.RoundTripper that checks every JSON exchange of
// the integration tests against the server's own OpenAPI document: the
// document cannot drift from what the API really sends.
type specChecker struct {
	t      testing.TB
	next   http.RoundTripper
	docURL string

	once sync.Once
	v    *apispec.Validator
}

func (c *specChecker) validator() *apispec.Validator {
	c.once.Do(func() {
		resp, err := c.next.RoundTrip(mustRequest(c.t, "GET", c.docURL))
		if err != nil {
			c.t.Errorf("fetching %s: %v", c.docURL, err)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		v, err := apispec.New(data)
		if err != nil {
			c.t.Errorf("the OpenAPI document of %s: %v", c.docURL, err)
			return
		}
		c.v = v
	})
	return c.v
}

func mustRequest(t testing.TB, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (c *specChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || req.Body == nil && reqBody == nil && req.Method != http.MethodGet && req.Method != http.MethodDelete && req.Method != http.MethodPost {
		return resp, err
	}
	if req.Body != nil && reqBody == nil {
		return resp, err // an upload: not JSON
	}
	data, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if rerr != nil {
		return resp, nil
	}
	if v := c.validator(); v != nil {
		check := req.Clone(req.Context())
		if err := v.Check(check, reqBody, resp.StatusCode, resp.Header, data); err != nil {
			c.t.Errorf("OpenAPI: %v", err)
		}
	}
	return resp, nil
}
