package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/internal/apispec"
	"github.com/caddy-paas/caddy-paas/platform"
)

// TestOpenAPIMatchesRoutes: every route is in the document and every
// operation of the document is a route; the document validates.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	for _, surface := range []struct {
		prefix  string
		surface Surface
	}{{"/paas", SurfaceAdmin}, {"/api/v1", SurfacePublic}} {
		b := &Backend{Engine: &fakeEngine{}, Auth: newTestAuth(t)}
		api := New(surface.prefix, surface.surface, func() (*Backend, error) { return b, nil })
		res := do(t, api, "GET", surface.prefix+"/openapi.json", "")
		if res.status != 200 {
			t.Fatalf("%s: status %d", surface.prefix, res.status)
		}
		v, err := apispec.New(res.body)
		if err != nil {
			t.Fatalf("%s: %v", surface.prefix, err)
		}
		inDoc := map[string]bool{}
		for path, item := range v.Doc.Paths.Map() {
			for method := range item.Operations() {
				inDoc[method+" "+path] = true
			}
		}
		var missing []string
		for _, rt := range Routes {
			if rt.PublicOnly && surface.surface != SurfacePublic {
				continue
			}
			key := rt.Method + " " + rt.Path
			if !inDoc[key] {
				missing = append(missing, key)
				continue
			}
			delete(inDoc, key)
			op := v.Doc.Paths.Find(rt.Path).GetOperation(rt.Method)
			if op.OperationID != rt.ID || op.Summary == "" {
				t.Errorf("%s: operationId %q, summary %q", key, op.OperationID, op.Summary)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s: routes missing from the document: %v", surface.prefix, missing)
		}
		for extra := range inDoc {
			t.Errorf("%s: the document has %s, which is no route", surface.prefix, extra)
		}
	}
}

// TestOpenAPIValidatesAnswers sends a sample request to every engine
// route and checks the request and the answer against the document.
func TestOpenAPIValidatesAnswers(t *testing.T) {
	f := &fakeEngine{}
	api := newTestAPI(t, f)
	doc := do(t, api, "GET", "/paas/openapi.json", "")
	v, err := apispec.New(doc.body)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]string{
		"apps.create":    `{"name":"web","image":"nginx:1","env":{"A":"b"},"replicas":2,"memory":"512m","cpus":0.5}`,
		"apps.update":    `{"replicas":3,"env":{"A":null},"memory":536870912,"cpus":2}`,
		"env.set":        `{"env":{"K":"v"},"deploy":false}`,
		"apps.scale":     `{"replicas":2}`,
		"deploys.create": `{"image":"nginx:2"}`,
		"apps.rollback":  `{"deployment":"d1"}`,
		"redirects.add":  `{"from":"www.a.example","to":"https://a.example","status":308}`,
		"domains.add":    `{"domains":["a.example"]}`,
		"certs.upload":   `{"cert":"x","key":"y"}`,
	}
	checked := 0
	for _, rt := range Routes {
		if rt.PublicOnly || !isEngineRoute(rt) {
			continue
		}
		body := samples[rt.ID]
		if body == "" && rt.Request != nil {
			body = "{}"
		}
		req := httptest.NewRequest(rt.Method, "http://localhost/paas"+concretePath(rt.Path), strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code >= 400 {
			t.Errorf("%s: sample answered %d %s", rt.ID, rec.Code, rec.Body)
			continue
		}
		check := httptest.NewRequest(rt.Method, "http://localhost/paas"+concretePath(rt.Path), nil)
		check.Header = req.Header
		if err := v.Check(check, []byte(body), rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Errorf("%s: %v", rt.ID, err)
		}
		checked++
	}
	// An error answer validates too.
	req := httptest.NewRequest("GET", "http://localhost/paas/apps/app1", nil)
	f.err = &platform.Error{Status: http.StatusNotFound, Message: `app "app1" not found`}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if err := v.Check(req, nil, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Errorf("error answer: %v", err)
	}
	if checked < 30 {
		t.Errorf("only %d routes checked", checked)
	}
}

// TestOpenAPIRejectsWrongAnswers: the validation can fail: an answer of
// the wrong shape, or a request with a wrong type, is refused.
func TestOpenAPIRejectsWrongAnswers(t *testing.T) {
	api := newTestAPI(t, &fakeEngine{})
	doc := do(t, api, "GET", "/paas/openapi.json", "")
	v, err := apispec.New(doc.body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://localhost/paas/apps/app1", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	for _, bad := range []string{`{"name": 5}`, `[]`, `{"name":"a","unknown_field":1}`} {
		if err := v.Check(req, nil, 200, h, []byte(bad)); err == nil {
			t.Errorf("answer %s validated", bad)
		}
	}
	post := httptest.NewRequest("POST", "http://localhost/paas/apps", nil)
	post.Header.Set("Content-Type", "application/json")
	if err := v.Check(post, []byte(`{"name":"a","port":"eighty"}`), 201, h, []byte(`{}`)); err == nil {
		t.Error("a request with a wrong type validated")
	}
}
