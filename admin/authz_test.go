package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// The expected powers, written here independently of roles.go: the test
// is the specification.
var (
	specRole = map[auth.Role][]auth.Permission{
		auth.RoleOwner:     {auth.PermRead, auth.PermDeploy, auth.PermConfigure, auth.PermManage, auth.PermReveal, auth.PermOwn},
		auth.RoleAdmin:     {auth.PermRead, auth.PermDeploy, auth.PermConfigure, auth.PermManage, auth.PermReveal},
		auth.RoleDeveloper: {auth.PermRead, auth.PermDeploy, auth.PermConfigure},
		auth.RoleViewer:    {auth.PermRead},
	}
	specScope = map[auth.Scope][]auth.Permission{
		auth.ScopeRead:   {auth.PermRead},
		auth.ScopeDeploy: {auth.PermRead, auth.PermDeploy, auth.PermConfigure},
		auth.ScopeAdmin:  {auth.PermRead, auth.PermDeploy, auth.PermConfigure, auth.PermManage, auth.PermReveal, auth.PermOwn},
	}
)

func has(list []auth.Permission, p auth.Permission) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

// caller is one way of calling the public API.
type caller struct {
	name    string
	cookie  string // session id
	csrf    string
	bearer  string
	role    auth.Role  // in team alpha ("" for none)
	scope   auth.Scope // tokens only
	admin   bool       // platform admin
	session bool
}

// world is a public API over a real identity service and a fake engine:
// team alpha (app1) where the callers are members, team beta (app2) where
// they are not.
type world struct {
	api     *API
	engine  *fakeEngine
	svc     *auth.Service
	callers []caller
	userID  string // a member of beta, for {user}
}

const testPassword = "correct horse battery"

var (
	shared     *world
	sharedOnce sync.Once
)

// sharedWorld is one world for the tests that change nothing the others
// look at: building one costs a dozen argon2 hashes.
func sharedWorld(t *testing.T) *world {
	sharedOnce.Do(func() { shared = newWorld(&sharedTB) })
	if shared == nil || len(shared.callers) == 0 {
		t.Fatal("building the shared world failed")
	}
	return shared
}

func newWorld(t testing.TB) *world {
	t.Helper()
	f := &fakeEngine{teams: map[string]string{"app1": "alpha", "app2": "beta"}}
	svc := newTestAuth(t)
	b := &Backend{Engine: f, Auth: svc}
	w := &world{api: New("/api/v1", SurfacePublic, func() (*Backend, error) { return b, nil }), engine: f, svc: svc}
	ctx := context.Background()
	rootIn := auth.UserInput{Email: "root@example.com", Password: testPassword, Admin: true}
	if _, err := svc.CreateUser(ctx, rootIn); err != nil {
		t.Fatal(err)
	}
	for _, team := range []string{"alpha", "beta"} {
		if _, err := svc.CreateTeam(ctx, auth.Local, team); err != nil {
			t.Fatal(err)
		}
	}
	login := func(email string) (string, string) {
		u, s, err := svc.Login(ctx, auth.LoginInput{Email: email, Password: testPassword}, auth.RequestInfo{ClientIP: "192.0.2.1"})
		if err != nil || u == nil {
			t.Fatalf("login %s: %v", email, err)
		}
		return s.ID, s.CSRF
	}
	id, csrf := login("root@example.com")
	w.callers = append(w.callers, caller{name: "platform-admin", cookie: id, csrf: csrf, admin: true, session: true, role: auth.RoleOwner})
	var ownerP *auth.Principal
	for _, role := range auth.Roles {
		email := string(role) + "@example.com"
		cu, err := svc.CreateUser(ctx, auth.UserInput{Email: email, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddMember(ctx, auth.Local, "alpha", auth.MemberInput{Email: email, Role: role}); err != nil {
			t.Fatal(err)
		}
		id, csrf := login(email)
		w.callers = append(w.callers, caller{name: string(role), cookie: id, csrf: csrf, role: role, session: true})
		if role == auth.RoleOwner {
			ownerP = &auth.Principal{Kind: auth.KindSession, User: &cu.User, Teams: map[string]auth.Role{"alpha": auth.RoleOwner}}
		}
	}
	other, err := svc.CreateUser(ctx, auth.UserInput{Email: "beta@example.com", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddMember(ctx, auth.Local, "beta", auth.MemberInput{Email: "beta@example.com", Role: auth.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	w.userID = other.ID
	for _, scope := range []auth.Scope{auth.ScopeRead, auth.ScopeDeploy, auth.ScopeAdmin} {
		tok, err := svc.CreateToken(ctx, ownerP, auth.TokenInput{Name: "t", Team: "alpha", Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		w.callers = append(w.callers, caller{name: "token-" + string(scope), bearer: tok.Secret, role: auth.RoleOwner, scope: scope})
	}
	w.callers = append(w.callers, caller{name: "anonymous"})
	return w
}

func (w *world) do(t *testing.T, c caller, method, path, body string) response {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req = req.WithContext(auth.WithRequestInfo(req.Context(), auth.RequestInfo{ClientIP: "192.0.2.1"}))
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: c.cookie})
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if rec.Code >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: error answer %q is not {\"error\": ...}", method, path, rec.Body.String())
		}
		res.error = e.Error
	}
	return res
}

// matrixPath fills a route's parameters for the own team (alpha) or the
// other one (beta).
func (w *world) matrixPath(rt Route, own bool) (string, string) {
	app, team := "app1", "alpha"
	if !own {
		app, team = "app2", "beta"
	}
	p := strings.NewReplacer("{name}", app, "{team}", team, "{id}", "d1", "{domain}", "a.example",
		"{key}", "KEY", "{user}", w.userID).Replace(rt.Path)
	body := ""
	if rt.Method == http.MethodPost || rt.Method == http.MethodPatch {
		body = "{}"
		if rt.Scope == ScopeTeamInBody {
			body = `{"team":"` + team + `"}`
		}
	}
	return "/api/v1" + p, body
}

// skipInMatrix lists routes whose side effect would end the callers'
// sessions for the rest of the matrix; their authorization is the same
// code path and they are tested on their own.
var skipInMatrix = map[string]bool{"auth.logout": true, "me.token.revoke": true}

// sharedTB lives as long as the test binary: TestMain runs its cleanups.
var sharedTB mainTB

type mainTB struct {
	testing.TB
	cleanups []func()
}

func (m *mainTB) Helper()                      {}
func (m *mainTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (m *mainTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
func (m *mainTB) Cleanup(f func())             { m.cleanups = append(m.cleanups, f) }
func (m *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "admin-test-")
	if err != nil {
		panic(err)
	}
	m.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(sharedTB.cleanups) - 1; i >= 0; i-- {
		sharedTB.cleanups[i]()
	}
	os.Exit(code)
}

// TestRouteRoleMatrix calls every route as every kind of caller, on the
// caller's own team and on another team, and checks the answer against the
// specification above: 401 without credentials, 404 (and no engine call)
// for another team's resources, 403 without the permission, and
// otherwise an answer from the handler.
func TestRouteRoleMatrix(t *testing.T) {
	w := sharedWorld(t)
	for _, rt := range Routes {
		if rt.Scope == ScopeAnonymous || skipInMatrix[rt.ID] {
			continue
		}
		for _, c := range w.callers {
			for _, own := range []bool{true, false} {
				teamScoped := rt.Scope == ScopeApp || rt.Scope == ScopeTeam || rt.Scope == ScopeTeamInBody
				if !own && !teamScoped {
					continue
				}
				where := "own"
				if !own {
					where = "other"
				}
				t.Run(rt.ID+"/"+c.name+"/"+where, func(t *testing.T) {
					path, body := w.matrixPath(rt, own)
					before := w.engine.callCount()
					res := w.do(t, c, rt.Method, path, body)
					calls := w.engine.callCount() - before
					denied := func(status int) {
						t.Helper()
						if res.status != status {
							t.Fatalf("%s %s as %s: status %d (%s), want %d", rt.Method, path, c.name, res.status, res.error, status)
						}
						if calls != 0 {
							t.Errorf("a refused request reached the engine %d times", calls)
						}
					}
					switch {
					case c.name == "anonymous":
						denied(http.StatusUnauthorized)
						return
					case rt.SessionOnly && !c.session:
						denied(http.StatusForbidden)
						return
					case rt.Scope == ScopePlatform:
						if !c.admin {
							denied(http.StatusForbidden)
							return
						}
					case teamScoped && !own && !c.admin:
						denied(http.StatusNotFound)
						if !strings.Contains(res.error, "not found") {
							t.Errorf("error %q does not read like a missing resource", res.error)
						}
						return
					case teamScoped:
						allowed := has(specRole[c.role], rt.Perm)
						if c.scope != "" {
							allowed = allowed && has(specScope[c.scope], rt.Perm)
						}
						if !allowed {
							denied(http.StatusForbidden)
							return
						}
					}
					// Allowed: the handler answered, not the
					// authorization layer.
					if res.status == http.StatusUnauthorized || (res.status == http.StatusForbidden && (strings.Contains(res.error, "does not allow") || strings.Contains(res.error, "only platform admins") || strings.Contains(res.error, "API tokens cannot"))) {
						t.Fatalf("%s %s as %s: refused with %d (%s), want it allowed", rt.Method, path, c.name, res.status, res.error)
					}
					if res.status == http.StatusNotFound && (strings.Contains(res.error, `team "alpha" not found`) || strings.Contains(res.error, `app "app1" not found`)) {
						t.Fatalf("%s %s as %s: %d (%s), want it allowed", rt.Method, path, c.name, res.status, res.error)
					}
				})
			}
		}
	}
}

// TestEveryRouteHasAnAuthorizationRule: a route with no scope (or a
// resource scope with no permission) makes New refuse to start.
func TestEveryRouteHasAnAuthorizationRule(t *testing.T) {
	for _, rt := range Routes {
		if err := rt.check(); err != nil {
			t.Errorf("%v", err)
		}
	}
	saved := Routes
	defer func() { Routes = saved }()
	for _, bad := range []Route{
		{ID: "x", Method: "GET", Path: "/x", Handler: (*API).status},
		{ID: "x", Method: "GET", Path: "/x", Scope: ScopeApp, Handler: (*API).status},
	} {
		Routes = append(append([]Route{}, saved...), bad)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New accepted route %+v with no authorization rule", bad)
				}
			}()
			New("/api/v1", SurfacePublic, nil)
		}()
	}
}

// TestListsShowOnlyOwnTeams: lists are narrowed to the caller's teams.
func TestListsShowOnlyOwnTeams(t *testing.T) {
	w := sharedWorld(t)
	for _, c := range w.callers {
		if c.name == "anonymous" {
			continue
		}
		res := w.do(t, c, "GET", "/api/v1/apps", "")
		var apps []platform.AppView
		if err := json.Unmarshal(res.body, &apps); err != nil {
			t.Fatalf("%s: %v (%s)", c.name, err, res.body)
		}
		names := map[string]bool{}
		for _, a := range apps {
			names[a.Name] = true
		}
		// The fake engine lists apps a and b in the default team, which
		// only the platform admin sees.
		if c.admin != (names["a"] && names["b"]) || (!c.admin && len(apps) != 0) {
			t.Errorf("%s sees %v", c.name, names)
		}
		res = w.do(t, c, "GET", "/api/v1/teams", "")
		var teams []auth.TeamView
		if err := json.Unmarshal(res.body, &teams); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, tm := range teams {
			if tm.Name == "beta" && !c.admin {
				t.Errorf("%s sees team beta", c.name)
			}
		}
	}
}
