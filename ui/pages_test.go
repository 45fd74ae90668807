package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const xss = `<img src=x onerror=alert(1)>`

func TestStatusPageHTML(t *testing.T) {
	for _, tc := range []struct {
		name       string
		page       StatusPage
		status     int
		retryAfter string
		contains   []string
	}{
		{
			name:     "not found",
			page:     NotFound("shop.example.com"),
			status:   http.StatusNotFound,
			contains: []string{"<h1>404</h1>", "No app here", "No app is deployed at shop.example.com."},
		},
		{
			name:       "unavailable",
			page:       Unavailable("web"),
			status:     http.StatusServiceUnavailable,
			retryAfter: "5",
			contains:   []string{"<h1>503</h1>", "App unavailable", "The app web has no running replica"},
		},
		{
			name:     "host with markup",
			page:     NotFound(xss),
			status:   http.StatusNotFound,
			contains: []string{"&lt;img src=x onerror=alert(1)&gt;"},
		},
		{
			name:       "app with markup",
			page:       Unavailable(xss + `"'&`),
			status:     http.StatusServiceUnavailable,
			retryAfter: "5",
			contains:   []string{"&lt;img src=x onerror=alert(1)&gt;", "&#34;&#39;&amp;"},
		},
		{
			name:     "custom page with markup in the title",
			page:     StatusPage{Status: http.StatusBadGateway, Title: "</title><script>alert(1)</script>", Message: "m"},
			status:   http.StatusBadGateway,
			contains: []string{"&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
			if err := tc.page.Write(rec, req); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			body := rec.Body.String()
			if !strings.HasPrefix(body, "<!doctype html>") {
				t.Errorf("body does not start as an HTML page: %.60q", body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, bad := range []string{"<img", "<script>", "onerror=alert(1)>"} {
				if strings.Contains(body, bad) {
					t.Errorf("body holds unescaped %q", bad)
				}
			}
		})
	}
}

func TestStatusPageJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		page   StatusPage
		accept []string
		status int
	}{
		{name: "not found", page: NotFound("shop.example.com"), accept: []string{"application/json"}, status: 404},
		{name: "unavailable", page: Unavailable("web"), accept: []string{"application/json, text/plain;q=0.5"}, status: 503},
		{name: "second accept header", page: NotFound("x"), accept: []string{"text/plain", "application/json"}, status: 404},
		{name: "markup and quotes", page: NotFound(xss + `"\` + "\t"), accept: []string{"application/json"}, status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/api", nil)
			for _, a := range tc.accept {
				req.Header.Add("Accept", a)
			}
			if err := tc.page.Write(rec, req); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			wantRetry := ""
			if tc.status == http.StatusServiceUnavailable {
				wantRetry = "5"
			}
			if got := rec.Header().Get("Retry-After"); got != wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, wantRetry)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
			}
			if body["error"] != tc.page.Message || len(body) != 1 {
				t.Errorf("body = %v, want {\"error\": %q}", body, tc.page.Message)
			}
		})
	}
}

func TestStatusPageNoAcceptIsHTML(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := NotFound("x.test").Write(rec, req); err != nil {
		t.Fatal(err)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type without Accept = %q, want HTML", ct)
	}
}

type failingWriter struct {
	*httptest.ResponseRecorder
}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("client went away") }

func TestStatusPageWriteError(t *testing.T) {
	w := failingWriter{httptest.NewRecorder()}
	err := NotFound("x").Write(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if err == nil {
		t.Error("Write to a failing writer returned no error")
	}
}
