package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
)

func ptr[T any](v T) *T { return &v }

const canary = "CANARY-S3cr3t"

// fakeEngine records the calls the API makes and answers with canned
// values, or with err when set.
type fakeEngine struct {
	mu    sync.Mutex
	calls []call
	err   error
	// deployment is what Deployment returns (WaitDeployment tests).
	deployments []*platform.Deployment
	// teams maps app names to their team (default: the default team).
	teams map[string]string
	// missing lists apps that do not exist.
	missing map[string]bool
}

type call struct {
	method string
	args   []any
}

func (f *fakeEngine) record(method string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method, args})
	return f.err
}

func (f *fakeEngine) lastCall() (call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}, false
	}
	return f.calls[len(f.calls)-1], true
}

func (f *fakeEngine) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func view(name string) *platform.AppView {
	return &platform.AppView{Name: name, Env: map[string]string{}, Domains: []string{}, Hosts: []string{}, Status: platform.AppNew}
}

func (f *fakeEngine) Apps() ([]*platform.AppView, error) {
	if err := f.record("Apps"); err != nil {
		return nil, err
	}
	return []*platform.AppView{view("a"), view("b")}, nil
}

func (f *fakeEngine) App(name string) (*platform.AppView, error) {
	if err := f.record("App", name); err != nil {
		return nil, err
	}
	return view(name), nil
}

func (f *fakeEngine) CreateApp(ctx context.Context, in platform.AppInput) (*platform.AppView, error) {
	if err := f.record("CreateApp", in); err != nil {
		return nil, err
	}
	return view(in.Name), nil
}

func (f *fakeEngine) UpdateApp(ctx context.Context, name string, p platform.AppPatch) (*platform.AppView, error) {
	if err := f.record("UpdateApp", name, p); err != nil {
		return nil, err
	}
	return view(name), nil
}

func (f *fakeEngine) DeleteApp(ctx context.Context, name string) error {
	return f.record("DeleteApp", name)
}

func (f *fakeEngine) Deploy(ctx context.Context, name string, in platform.DeployInput) (*platform.Deployment, error) {
	if err := f.record("Deploy", name, in); err != nil {
		return nil, err
	}
	return &platform.Deployment{ID: "d1", App: name, Status: platform.StatusPending}, nil
}

func (f *fakeEngine) Rollback(ctx context.Context, name, deployment string) (*platform.Deployment, error) {
	if err := f.record("Rollback", name, deployment); err != nil {
		return nil, err
	}
	return &platform.Deployment{ID: "d2", App: name, RollbackOf: deployment, Status: platform.StatusPending}, nil
}

func (f *fakeEngine) StopApp(ctx context.Context, name string) (*platform.AppView, error) {
	if err := f.record("StopApp", name); err != nil {
		return nil, err
	}
	return view(name), nil
}

func (f *fakeEngine) StartApp(ctx context.Context, name string) (*platform.AppView, error) {
	if err := f.record("StartApp", name); err != nil {
		return nil, err
	}
	return view(name), nil
}

func (f *fakeEngine) Deployments(name string) ([]*platform.Deployment, error) {
	if err := f.record("Deployments", name); err != nil {
		return nil, err
	}
	return []*platform.Deployment{{ID: "d1", App: name}}, nil
}

func (f *fakeEngine) Deployment(name, id string) (*platform.Deployment, error) {
	if err := f.record("Deployment", name, id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.deployments) > 0 {
		d := f.deployments[0]
		if len(f.deployments) > 1 {
			f.deployments = f.deployments[1:]
		}
		return d, nil
	}
	return &platform.Deployment{ID: id, App: name, Status: platform.StatusLive}, nil
}

func (f *fakeEngine) DeployUpload(ctx context.Context, name string, archive io.Reader) (*platform.Deployment, error) {
	data, _ := io.ReadAll(archive)
	if err := f.record("DeployUpload", name, string(data)); err != nil {
		return nil, err
	}
	return &platform.Deployment{ID: "d2", App: name, Status: platform.StatusPending, Source: platform.SourceUpload}, nil
}

func (f *fakeEngine) CancelDeployment(name, id string) (*platform.Deployment, error) {
	if err := f.record("CancelDeployment", name, id); err != nil {
		return nil, err
	}
	return &platform.Deployment{ID: id, App: name, Status: platform.StatusFailed, Reason: "canceled by a user"}, nil
}

func (f *fakeEngine) Webhook(name string, rotate bool) (*platform.WebhookInfo, error) {
	if err := f.record("Webhook", name, rotate); err != nil {
		return nil, err
	}
	return &platform.WebhookInfo{Paths: map[string]string{"github": "/webhooks/" + name + "/github"}}, nil
}

func (f *fakeEngine) CreateDeployKey(name string) (string, error) {
	if err := f.record("CreateDeployKey", name); err != nil {
		return "", err
	}
	return "ssh-ed25519 AAAA test", nil
}

func (f *fakeEngine) Redirects(name string) ([]platform.Redirect, error) {
	return []platform.Redirect{}, f.record("Redirects", name)
}

func (f *fakeEngine) AddRedirect(name string, r platform.Redirect) (*platform.Redirect, error) {
	if err := f.record("AddRedirect", name, r); err != nil {
		return nil, err
	}
	r.ID = "r1"
	return &r, nil
}

func (f *fakeEngine) RemoveRedirect(name, id string) error {
	return f.record("RemoveRedirect", name, id)
}

func (f *fakeEngine) Certs(name string) ([]platform.CustomCert, error) {
	return []platform.CustomCert{}, f.record("Certs", name)
}

func (f *fakeEngine) UploadCert(name string, in platform.CertInput) (*platform.CustomCert, error) {
	if err := f.record("UploadCert", name, in); err != nil {
		return nil, err
	}
	return &platform.CustomCert{ID: "c1"}, nil
}

func (f *fakeEngine) RemoveCert(name, id string) error {
	return f.record("RemoveCert", name, id)
}

func (f *fakeEngine) Domains(ctx context.Context, name string) ([]platform.DomainStatus, error) {
	return []platform.DomainStatus{}, f.record("Domains", name)
}

func (f *fakeEngine) AddDomains(ctx context.Context, name string, domains []string) (*platform.AppView, error) {
	return &platform.AppView{Name: name}, f.record("AddDomains", name, domains)
}

func (f *fakeEngine) RemoveDomain(ctx context.Context, name, domain string) (*platform.AppView, error) {
	return &platform.AppView{Name: name}, f.record("RemoveDomain", name, domain)
}

func (f *fakeEngine) FollowLog(ctx context.Context, name, id string, w io.Writer, flush func()) error {
	if err := f.record("FollowLog", name, id); err != nil {
		return err
	}
	_, err := io.WriteString(w, "line one\nline two\n")
	return err
}

// AppTeam is what the authorization layer asks; it is not recorded as a
// call. Apps are in the default team unless teams says otherwise.
func (f *fakeEngine) AppTeam(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing[name] {
		return "", &platform.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("app %q not found", name)}
	}
	if t, ok := f.teams[name]; ok {
		return t, nil
	}
	return platform.DefaultTeam, nil
}

func (f *fakeEngine) TeamHasApps(team string) (bool, error) {
	if err := f.record("TeamHasApps", team); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.teams {
		if t == team {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeEngine) EnvKeys(name string) (map[string]string, error) {
	if err := f.record("EnvKeys", name); err != nil {
		return nil, err
	}
	return map[string]string{"KEY": platform.MaskedValue}, nil
}

func (f *fakeEngine) RevealEnv(name, key string) (string, error) {
	if err := f.record("RevealEnv", name, key); err != nil {
		return "", err
	}
	return "value-of-" + key, nil
}

func (f *fakeEngine) AppLogs(ctx context.Context, name string, opts containers.LogOptions, w io.Writer, flush func()) error {
	if err := f.record("AppLogs", name, opts); err != nil {
		return err
	}
	_, err := io.WriteString(w, "[abc] hello\n[def] world\n")
	return err
}

func (f *fakeEngine) RestartApp(ctx context.Context, name string) (*platform.Deployment, error) {
	if err := f.record("RestartApp", name); err != nil {
		return nil, err
	}
	return &platform.Deployment{ID: "d3", App: name, Status: platform.StatusPending}, nil
}

func (f *fakeEngine) ScaleApp(ctx context.Context, name string, replicas int) (*platform.AppView, error) {
	if err := f.record("ScaleApp", name, replicas); err != nil {
		return nil, err
	}
	return view(name), nil
}

// OpenTerminal gives an echoing TTY.
func (f *fakeEngine) OpenTerminal(ctx context.Context, name, replica string, cmd []string) (*platform.Terminal, error) {
	if err := f.record("OpenTerminal", name, replica, cmd); err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(b, b) }()
	return &platform.Terminal{ExecSession: &containers.ExecSession{Stream: a, Resize: func(context.Context, uint, uint) error { return nil }}, Replica: "abc"}, nil
}

func (f *fakeEngine) Status() platform.Status {
	_ = f.record("Status")
	return platform.Status{Apps: 2, Attachments: 1}
}

var _ Engine = (*fakeEngine)(nil)

func newTestAPI(t testing.TB, f *fakeEngine) *API {
	b := &Backend{Engine: f, Auth: newTestAuth(t)}
	return New("/paas/", SurfaceAdmin, func() (*Backend, error) { return b, nil })
}

type response struct {
	status int
	header http.Header
	body   []byte
	error  string
}

func do(t *testing.T, h http.Handler, method, path, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: error answer has Content-Type %q, want application/json (body %q)", method, path, ct, rec.Body.String())
		}
		var e map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Errorf("%s %s: error answer is not JSON: %q", method, path, rec.Body.String())
		}
		msg, ok := e["error"].(string)
		if !ok || msg == "" || len(e) != 1 {
			t.Errorf("%s %s: error answer %q is not {\"error\": \"...\"}", method, path, rec.Body.String())
		}
		res.error = msg
	}
	return res
}

// concretePath fills a route's path parameters.
func concretePath(p string) string {
	return strings.NewReplacer("{name}", "app1", "{id}", "d1", "{domain}", "a.example", "{key}", "KEY",
		"{team}", "default", "{user}", "u_0000000000000000").Replace(p)
}

// isEngineRoute tells the routes that call the engine from those of the
// identity service (tested in identity_test.go).
func isEngineRoute(rt Route) bool {
	if rt.ID == "openapi" || rt.ID == "apps.terminal" { // the terminal: terminal_test.go
		return false
	}
	for _, p := range []string{"auth.", "me.", "tokens.", "users.", "teams.", "members.", "audit.", "secrets."} {
		if strings.HasPrefix(rt.ID, p) {
			return false
		}
	}
	return true
}

func bodyFor(method string) string {
	if method == http.MethodPost || method == http.MethodPatch {
		return "{}"
	}
	return ""
}

// TestEveryRouteIsReachable calls each route in Routes with its method and
// checks that it reaches its own engine method: no route is shadowed by
// another or by the fallbacks.
func TestEveryRouteIsReachable(t *testing.T) {
	want := map[string]struct {
		call   string
		status int
		args   []any
	}{
		"GET /status":                           {"Status", http.StatusOK, nil},
		"GET /apps":                             {"Apps", http.StatusOK, nil},
		"POST /apps":                            {"CreateApp", http.StatusCreated, []any{platform.AppInput{Team: platform.DefaultTeam}}},
		"GET /apps/{name}":                      {"App", http.StatusOK, []any{"app1"}},
		"PATCH /apps/{name}":                    {"UpdateApp", http.StatusOK, []any{"app1", platform.AppPatch{}}},
		"DELETE /apps/{name}":                   {"DeleteApp", http.StatusOK, []any{"app1"}},
		"POST /apps/{name}/stop":                {"StopApp", http.StatusOK, []any{"app1"}},
		"POST /apps/{name}/start":               {"StartApp", http.StatusOK, []any{"app1"}},
		"GET /apps/{name}/deploys":              {"Deployments", http.StatusOK, []any{"app1"}},
		"POST /apps/{name}/deploys":             {"Deploy", http.StatusAccepted, []any{"app1", platform.DeployInput{}}},
		"GET /apps/{name}/deploys/{id}":         {"Deployment", http.StatusOK, []any{"app1", "d1"}},
		"POST /apps/{name}/rollback":            {"Rollback", http.StatusAccepted, []any{"app1", ""}},
		"GET /apps/{name}/deploys/{id}/logs":    {"FollowLog", http.StatusOK, []any{"app1", "d1"}},
		"POST /apps/{name}/deploys/{id}/cancel": {"CancelDeployment", http.StatusOK, []any{"app1", "d1"}},
		"GET /apps/{name}/webhook":              {"Webhook", http.StatusOK, []any{"app1", false}},
		"POST /apps/{name}/deploy-key":          {"CreateDeployKey", http.StatusCreated, []any{"app1"}},
		"GET /apps/{name}/redirects":            {"Redirects", http.StatusOK, []any{"app1"}},
		"GET /apps/{name}/certs":                {"Certs", http.StatusOK, []any{"app1"}},
		"GET /apps/{name}/domains":              {"Domains", http.StatusOK, []any{"app1"}},
		"POST /apps/{name}/domains":             {"AddDomains", http.StatusOK, []any{"app1", []string(nil)}},
		"DELETE /apps/{name}/domains/{domain}":  {"RemoveDomain", http.StatusOK, []any{"app1", "a.example"}},
		"POST /apps/{name}/certs":               {"UploadCert", http.StatusCreated, []any{"app1", platform.CertInput{}}},
		"DELETE /apps/{name}/certs/{id}":        {"RemoveCert", http.StatusOK, []any{"app1", "d1"}},
		"POST /apps/{name}/redirects":           {"AddRedirect", http.StatusCreated, []any{"app1", platform.Redirect{}}},
		"DELETE /apps/{name}/redirects/{id}":    {"RemoveRedirect", http.StatusOK, []any{"app1", "d1"}},
		"POST /apps/{name}/webhook/secret":      {"Webhook", http.StatusOK, []any{"app1", true}},
		"GET /apps/{name}/env":                  {"EnvKeys", http.StatusOK, []any{"app1"}},
		"POST /apps/{name}/env/{key}/reveal":    {"RevealEnv", http.StatusOK, []any{"app1", "KEY"}},
		"GET /apps/{name}/logs":                 {"AppLogs", http.StatusOK, []any{"app1", containers.LogOptions{}}},
		"POST /apps/{name}/restart":             {"RestartApp", http.StatusAccepted, []any{"app1"}},
		"POST /apps/{name}/scale":               {"ScaleApp", http.StatusOK, []any{"app1", 0}},
		"PATCH /apps/{name}/env":                {"UpdateApp", http.StatusOK, []any{"app1", platform.AppPatch{Env: map[string]*string{"K": ptr("v")}}}},
	}
	seen := map[string]string{}
	engineRoutes := 0
	for _, rt := range Routes {
		if !isEngineRoute(rt) {
			continue
		}
		engineRoutes++
		key := rt.Method + " " + rt.Path
		t.Run(key, func(t *testing.T) {
			f := &fakeEngine{}
			api := newTestAPI(t, f)
			body := bodyFor(rt.Method)
			if rt.ID == "env.set" {
				body = `{"env":{"K":"v"}}`
			}
			res := do(t, api, rt.Method, "/paas"+concretePath(rt.Path), body)
			if res.status >= 300 {
				t.Fatalf("status %d (%s), want success", res.status, res.error)
			}
			if rt.Response == (TextStream{}) {
				// Logs are text (or server-sent events), not JSON.
				if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type = %q, want text/plain", ct)
				}
			} else {
				if ct := res.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if !json.Valid(res.body) {
					t.Errorf("answer is not JSON: %q", res.body)
				}
			}
			if f.callCount() != 1 {
				t.Fatalf("the route made %d engine calls, want 1", f.callCount())
			}
			c, _ := f.lastCall()
			reached := fmt.Sprint(c.method, c.args)
			if other, dup := seen[reached]; dup {
				t.Errorf("routes %s and %s both reach %s: one shadows the other", other, key, c.method)
			}
			seen[reached] = key
			w, ok := want[key]
			if !ok {
				t.Fatalf("route %s is not in this test's table: add what it must call", key)
			}
			if res.status != rt.SuccessStatus() {
				t.Errorf("status %d, the route table says %d", res.status, rt.SuccessStatus())
			}
			if c.method != w.call || res.status != w.status {
				t.Errorf("reached %s with status %d, want %s with %d", c.method, res.status, w.call, w.status)
			}
			if len(c.args) != len(w.args) {
				t.Fatalf("args %#v, want %#v", c.args, w.args)
			}
			for i := range w.args {
				gotJSON, _ := json.Marshal(c.args[i])
				wantJSON, _ := json.Marshal(w.args[i])
				if string(gotJSON) != string(wantJSON) {
					t.Errorf("arg %d = %s, want %s", i, gotJSON, wantJSON)
				}
			}
		})
	}
	if len(want) != engineRoutes {
		t.Errorf("the test knows %d routes, Routes has %d engine routes", len(want), engineRoutes)
	}
}

func TestWrongMethod(t *testing.T) {
	// The methods each path serves, from the route list.
	byPath := map[string][]string{}
	for _, rt := range Routes {
		if rt.PublicOnly {
			continue // not served under /paas/
		}
		byPath[rt.Path] = append(byPath[rt.Path], rt.Method)
	}
	for path, methods := range byPath {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut} {
			if slices.Contains(methods, m) {
				continue
			}
			t.Run(m+" "+path, func(t *testing.T) {
				f := &fakeEngine{}
				res := do(t, newTestAPI(t, f), m, "/paas"+concretePath(path), bodyFor(m))
				if res.status != http.StatusMethodNotAllowed {
					t.Fatalf("status %d (%s), want 405", res.status, res.error)
				}
				allow := strings.Split(res.header.Get("Allow"), ", ")
				for _, want := range methods {
					if !slices.Contains(allow, want) {
						t.Errorf("Allow = %q, lacks %s", res.header.Get("Allow"), want)
					}
				}
				if f.callCount() != 0 {
					t.Errorf("a refused method reached the engine: %+v", f.calls)
				}
			})
		}
	}
}

func TestUnknownPath(t *testing.T) {
	for _, p := range []string{
		"/paas/",
		"/paas/nope",
		"/paas/apps/app1/nope",
		"/paas/apps/app1/deploys/d1/extra",
		"/paas/status/x",
		"/other",
	} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			f := &fakeEngine{}
			res := do(t, newTestAPI(t, f), m, p, bodyFor(m))
			if res.status != http.StatusNotFound {
				t.Errorf("%s %s: status %d (%s), want 404", m, p, res.status, res.error)
			}
			if f.callCount() != 0 {
				t.Errorf("%s %s reached the engine", m, p)
			}
		}
	}
}

func TestBadBodies(t *testing.T) {
	big := `{"name":"a","env":{"K":"` + strings.Repeat("x", MaxBodyBytes) + `"}}`
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
		msg    string
	}{
		{name: "empty body", method: "POST", path: "/paas/apps", body: "", status: 400, msg: "empty"},
		{name: "unknown field", method: "POST", path: "/paas/apps", body: `{"name":"a","privileged":true}`, status: 400, msg: "unknown field"},
		{name: "unknown field in patch", method: "PATCH", path: "/paas/apps/a", body: `{"volumes":["/:/host"]}`, status: 400, msg: "unknown field"},
		{name: "trailing object", method: "POST", path: "/paas/apps", body: `{"name":"a"} {"name":"b"}`, status: 400, msg: "trailing"},
		{name: "trailing garbage", method: "POST", path: "/paas/apps", body: `{"name":"a"}x`, status: 400, msg: "trailing"},
		{name: "trailing bracket", method: "POST", path: "/paas/apps", body: `{"name":"a"}]`, status: 400, msg: "trailing"},
		{name: "malformed", method: "POST", path: "/paas/apps", body: `{"name":`, status: 400, msg: "malformed"},
		{name: "syntax error", method: "POST", path: "/paas/apps", body: `{"name" "a"}`, status: 400, msg: "syntax error"},
		{name: "array", method: "POST", path: "/paas/apps", body: `["a"]`, status: 400, msg: "malformed"},
		{name: "wrong type", method: "POST", path: "/paas/apps", body: `{"name":"a","port":"80"}`, status: 400, msg: "port"},
		{name: "empty rollback", method: "POST", path: "/paas/apps/a/rollback", body: "", status: 400, msg: "empty"},
		{name: "malformed deploy", method: "POST", path: "/paas/apps/a/deploys", body: `{"image":`, status: 400, msg: "malformed"},
		{name: "unknown field in deploy", method: "POST", path: "/paas/apps/a/deploys", body: `{"command":"id"}`, status: 400, msg: "unknown field"},
		{name: "too large", method: "POST", path: "/paas/apps", body: big, status: 413, msg: "larger than"},
		{name: "too large deploy", method: "POST", path: "/paas/apps/a/deploys", body: `{"env":{"K":"` + strings.Repeat("x", MaxBodyBytes) + `"}}`, status: 413, msg: "larger than"},
		{name: "too large after the object", method: "PATCH", path: "/paas/apps/a", body: `{}` + strings.Repeat(" ", MaxBodyBytes+10), status: 413, msg: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEngine{}
			res := do(t, newTestAPI(t, f), tc.method, tc.path, tc.body)
			if res.status != tc.status {
				t.Fatalf("status %d (%s), want %d", res.status, res.error, tc.status)
			}
			if !strings.Contains(res.error, tc.msg) {
				t.Errorf("error %q does not contain %q", res.error, tc.msg)
			}
			if f.callCount() != 0 {
				t.Errorf("a refused body reached the engine: %+v", f.calls)
			}
			if len(res.body) > 1000 {
				t.Errorf("error answer is %d bytes: it echoes the body", len(res.body))
			}
		})
	}
}

func TestEmptyDeployBodyRedeploys(t *testing.T) {
	f := &fakeEngine{}
	res := do(t, newTestAPI(t, f), "POST", "/paas/apps/app1/deploys", "")
	if res.status != http.StatusAccepted {
		t.Fatalf("status %d (%s), want 202", res.status, res.error)
	}
	c, _ := f.lastCall()
	if c.method != "Deploy" || c.args[0] != "app1" {
		t.Errorf("call = %+v", c)
	}
	if in := c.args[1].(platform.DeployInput); in.Image != "" || in.Env != nil {
		t.Errorf("Deploy input = %+v, want empty", in)
	}
}

func TestBodyDecoding(t *testing.T) {
	f := &fakeEngine{}
	api := newTestAPI(t, f)
	res := do(t, api, "POST", "/paas/apps", `{"name":"web","image":"nginx:1","port":80,"replicas":2,"env":{"A":"1"},"domains":["x.example.com"]}`)
	if res.status != http.StatusCreated {
		t.Fatalf("status %d (%s)", res.status, res.error)
	}
	c, _ := f.lastCall()
	in := c.args[0].(platform.AppInput)
	if in.Name != "web" || in.Image != "nginx:1" || in.Port == nil || *in.Port != 80 || in.Replicas == nil || *in.Replicas != 2 ||
		in.Env["A"] != "1" || len(in.Domains) != 1 || in.HealthPath != nil {
		t.Errorf("decoded input = %+v", in)
	}
	var v platform.AppView
	if err := json.Unmarshal(res.body, &v); err != nil || v.Name != "web" {
		t.Errorf("answer = %s (%v)", res.body, err)
	}

	res = do(t, api, "PATCH", "/paas/apps/web", `{"env":{"A":null,"B":"2"},"domains":[]}`)
	if res.status != http.StatusOK {
		t.Fatalf("PATCH status %d (%s)", res.status, res.error)
	}
	c, _ = f.lastCall()
	p := c.args[1].(platform.AppPatch)
	if v, ok := p.Env["A"]; !ok || v != nil {
		t.Errorf("env A = %v, %v: want a present null (remove)", v, ok)
	}
	if p.Env["B"] == nil || *p.Env["B"] != "2" {
		t.Errorf("env B = %v", p.Env["B"])
	}
	if p.Domains == nil || len(*p.Domains) != 0 || p.Image != nil || p.Port != nil {
		t.Errorf("patch = %+v", p)
	}

	res = do(t, api, "POST", "/paas/apps/web/rollback", `{"deployment":"abc"}`)
	if res.status != http.StatusAccepted {
		t.Fatalf("rollback status %d (%s)", res.status, res.error)
	}
	if c, _ := f.lastCall(); c.method != "Rollback" || c.args[1] != "abc" {
		t.Errorf("rollback call = %+v", c)
	}
}

func TestEngineErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		status  int
		message string
	}{
		{name: "bad request", err: &platform.Error{Status: 400, Message: "invalid app name"}, status: 400, message: "invalid app name"},
		{name: "not found", err: &platform.Error{Status: 404, Message: `app "x" not found`}, status: 404, message: `app "x" not found`},
		{name: "conflict", err: &platform.Error{Status: 409, Message: "app exists"}, status: 409, message: "app exists"},
		{name: "wrapped", err: errors.Join(&platform.Error{Status: 409, Message: "taken"}), status: 409, message: "taken"},
		{name: "unavailable", err: &platform.Error{Status: 503, Message: "not configured"}, status: 503, message: "not configured"},
		{name: "internal", err: errors.New("bolt: disk I/O error\ngoroutine 1 [running]:\nsecret detail " + canary), status: 500, message: "internal error: bolt: disk I/O error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEngine{err: tc.err}
			api := newTestAPI(t, f)
			for _, req := range []struct{ method, path, body string }{
				{"GET", "/paas/apps", ""},
				{"GET", "/paas/apps/x", ""},
				{"POST", "/paas/apps", `{"name":"x"}`},
				{"DELETE", "/paas/apps/x", ""},
				{"POST", "/paas/apps/x/deploys", `{}`},
				{"GET", "/paas/apps/x/deploys/d", ""},
			} {
				res := do(t, api, req.method, req.path, req.body)
				if res.status != tc.status || res.error != tc.message {
					t.Errorf("%s %s: %d %q, want %d %q", req.method, req.path, res.status, res.error, tc.status, tc.message)
				}
				if strings.Contains(string(res.body), canary) || strings.Contains(string(res.body), "goroutine") {
					t.Errorf("%s %s: answer leaks details: %s", req.method, req.path, res.body)
				}
			}
		})
	}
}

func TestEngineUnavailable(t *testing.T) {
	api := New("/paas", SurfaceAdmin, func() (*Backend, error) {
		return nil, &platform.Error{Status: http.StatusServiceUnavailable, Message: "the paas app is not configured"}
	})
	res := do(t, api, "GET", "/paas/apps", "")
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.error, "not configured") {
		t.Errorf("answer %d %q, want 503", res.status, res.error)
	}
}

// TestErrorsNeverEchoSecrets sends an env value that is a canary secret in
// bodies that fail to decode: no answer may quote it.
func TestErrorsNeverEchoSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"type error after the secret", "POST", "/paas/apps", `{"name":"a","env":{"KEY":"` + canary + `"},"port":"` + canary + `"}`},
		{"secret in a wrong type", "POST", "/paas/apps", `{"name":"a","env":{"KEY":["` + canary + `"]}}`},
		{"secret as a number field", "POST", "/paas/apps", `{"name":"a","replicas":"` + canary + `"}`},
		{"secret then syntax error", "POST", "/paas/apps", `{"name":"a","env":{"KEY":"` + canary + `"},}`},
		{"secret unterminated", "POST", "/paas/apps", `{"name":"a","env":{"KEY":"` + canary},
		{"secret in patch", "PATCH", "/paas/apps/a", `{"env":{"KEY":"` + canary + `"},"port":true}`},
		{"secret in deploy", "POST", "/paas/apps/a/deploys", `{"env":{"KEY":"` + canary + `"},"image":7}`},
		{"secret with trailing data", "POST", "/paas/apps/a/deploys", `{"env":{"KEY":"` + canary + `"}}"` + canary + `"`},
		{"secret as bare value", "POST", "/paas/apps", `"` + canary + `"`},
		{"secret in rollback", "POST", "/paas/apps/a/rollback", `{"deployment":["` + canary + `"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEngine{}
			res := do(t, newTestAPI(t, f), tc.method, tc.path, tc.body)
			if res.status != http.StatusBadRequest {
				t.Errorf("status %d (%s), want 400", res.status, res.error)
			}
			if strings.Contains(string(res.body), canary) || strings.Contains(string(res.body), "S3cr3t") {
				t.Errorf("answer echoes the secret: %s", res.body)
			}
			if f.callCount() != 0 {
				t.Error("a refused body reached the engine")
			}
		})
	}
}

func TestSuccessAnswers(t *testing.T) {
	f := &fakeEngine{}
	api := newTestAPI(t, f)
	res := do(t, api, "GET", "/paas/status", "")
	var st platform.Status
	if err := json.Unmarshal(res.body, &st); err != nil || st.Apps != 2 || st.Attachments != 1 {
		t.Errorf("status answer = %s (%v)", res.body, err)
	}
	res = do(t, api, "GET", "/paas/apps", "")
	var apps []platform.AppView
	if err := json.Unmarshal(res.body, &apps); err != nil || len(apps) != 2 || apps[1].Name != "b" {
		t.Errorf("apps answer = %s (%v)", res.body, err)
	}
	res = do(t, api, "DELETE", "/paas/apps/gone", "")
	var del map[string]string
	if err := json.Unmarshal(res.body, &del); err != nil || del["deleted"] != "gone" {
		t.Errorf("delete answer = %s (%v)", res.body, err)
	}
	// A name with an encoded slash is one path value, handed to the engine
	// to refuse.
	res = do(t, api, "GET", "/paas/apps/a%2Fb", "")
	if c, _ := f.lastCall(); res.status != http.StatusOK || c.method != "App" || c.args[0] != "a/b" {
		t.Errorf("GET /paas/apps/a%%2Fb: %d, call %+v", res.status, c)
	}
}

func TestDeployLogsAsServerSentEvents(t *testing.T) {
	api := newTestAPI(t, &fakeEngine{})
	req := httptest.NewRequest(http.MethodGet, "/paas/apps/app1/deploys/d1/logs", nil)
	req.Header.Set("Accept", "text/event-stream")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	want := "data: line one\n\ndata: line two\n\nevent: end\ndata: \n\n"
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream" || rec.Body.String() != want {
		t.Fatalf("got %d %q %q, want 200 text/event-stream %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), want)
	}
	// An error before the first byte is still a JSON error.
	f := &fakeEngine{err: &platform.Error{Status: http.StatusNotFound, Message: "deployment \"x\" not found"}}
	rec = httptest.NewRecorder()
	newTestAPI(t, f).ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("unknown deployment: %d %q, want 404 JSON", rec.Code, rec.Body.String())
	}
}

func TestDeployUploadBodies(t *testing.T) {
	for name, tc := range map[string]struct {
		contentType string
		body        string
		status      int
		want        string
	}{
		"raw zip":        {"application/zip", "PK-archive", http.StatusAccepted, "PK-archive"},
		"raw gzip":       {"application/gzip", "gz-archive", http.StatusAccepted, "gz-archive"},
		"multipart":      {"multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XX\r\nContent-Disposition: form-data; name=\"source\"; filename=\"a.zip\"\r\n\r\nPK-inside\r\n--XX--\r\n", http.StatusAccepted, "PK-inside"},
		"multipart none": {"multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XX--\r\n", http.StatusBadRequest, ""},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeEngine{}
			req := httptest.NewRequest(http.MethodPost, "/paas/apps/app1/deploys", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			rec := httptest.NewRecorder()
			newTestAPI(t, f).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body.String(), tc.status)
			}
			if tc.want == "" {
				if f.callCount() != 0 {
					t.Errorf("a refused upload reached the engine")
				}
				return
			}
			c, _ := f.lastCall()
			if c.method != "DeployUpload" || c.args[1] != tc.want {
				t.Errorf("engine got %s %v, want DeployUpload with %q", c.method, c.args, tc.want)
			}
		})
	}
}

// TestUploadOutlivesTheServersReadTimeout sends an upload slower than the
// server's ReadTimeout (Caddy's admin server has 10 s): it still arrives.
func TestUploadOutlivesTheServersReadTimeout(t *testing.T) {
	f := &fakeEngine{}
	srv := httptest.NewUnstartedServer(newTestAPI(t, f))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "PK-first-half/")
		time.Sleep(900 * time.Millisecond)
		_, _ = io.WriteString(pw, "second-half")
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/paas/apps/app1/deploys", pr)
	req.Header.Set("Content-Type", "application/zip")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("slow upload: %d %s, want 202", res.StatusCode, body)
	}
	if c, _ := f.lastCall(); c.method != "DeployUpload" || c.args[1] != "PK-first-half/second-half" {
		t.Errorf("engine got %s %v", c.method, c.args)
	}
}

func TestUploadErrorsAreClientErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"deadline": {fmt.Errorf("extracting the upload: reading archive: %w", os.ErrDeadlineExceeded), http.StatusRequestTimeout},
		"too big":  {fmt.Errorf("extracting: %w", &http.MaxBytesError{Limit: 1}), http.StatusRequestEntityTooLarge},
		"other":    {errors.New("boom"), http.StatusBadRequest},
	} {
		var pe *platform.Error
		if !errors.As(uploadError(tc.err, "bad form"), &pe) || pe.Status != tc.want {
			t.Errorf("%s: %v, want status %d", name, uploadError(tc.err, "bad form"), tc.want)
		}
	}
	if readError(errors.New("engine failure")) != nil {
		t.Error("an unrelated error became an upload error")
	}
}
