package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/storage"
)

const (
	testPassword = "correct horse battery staple"
	xss          = `<img src=x onerror=alert(1)>`
	escapedXSS   = `&lt;img src=x onerror=alert(1)&gt;`
	siteHost     = "paas.example.com"
)

// site is a dashboard site as paas_dashboard mounts it: the real public
// API over a real identity service (bbolt in a temporary folder) and a
// fake engine, and the dashboard for every other path.
type site struct {
	t      testing.TB
	svc    *auth.Service
	engine *fakeEngine
	api    http.Handler
	pages  http.Handler
}

func newSite(t testing.TB) *site {
	t.Helper()
	return newSiteIn(t, t.TempDir(), t.Cleanup)
}

// newSiteIn makes a site on the data folder dir; cleanup registers what
// closes it.
func newSiteIn(t testing.TB, dir string, cleanup func(func())) *site {
	t.Helper()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(func() { db.Close() })
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	sealer, err := storage.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(db, sealer, auth.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, svc: svc, engine: newFakeEngine()}
	backend := &admin.Backend{Engine: s.engine, Auth: svc}
	s.api = admin.New("/api/v1", admin.SurfacePublic, func() (*admin.Backend, error) { return backend, nil })
	if s.pages, err = New(s.api, "/api/v1"); err != nil {
		t.Fatal(err)
	}
	return s
}

// ServeHTTP routes like paas_dashboard: /api/v1/ to the API, the rest to
// the pages.
func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v1" || strings.HasPrefix(r.URL.Path, "/api/v1/") {
		s.api.ServeHTTP(w, r)
		return
	}
	s.pages.ServeHTTP(w, r)
}

// user makes a user who owns the teams in owns (creating them) and joins
// the teams in joins with a role given by their owner.
func (s *site) user(email, name string, isAdmin bool, owns ...string) *auth.Principal {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.svc.CreateUser(ctx, auth.UserInput{Email: email, Name: name, Password: testPassword, Admin: isAdmin})
	if err != nil {
		s.t.Fatal(err)
	}
	user := u.User
	p := &auth.Principal{Kind: auth.KindSession, User: &user, Teams: map[string]auth.Role{}}
	for _, team := range owns {
		p.Teams[team] = auth.RoleOwner
		if _, err := s.svc.CreateTeam(ctx, p, team); err != nil {
			s.t.Fatal(err)
		}
	}
	return p
}

// visitor is a logged-in browser: its session cookie and CSRF token.
type visitor struct {
	cookie *http.Cookie
	csrf   string
}

// login logs in through the API, as the login page does.
func (s *site) login(email string) *visitor {
	s.t.Helper()
	body := `{"email":"` + email + `","password":"` + testPassword + `"}`
	req := httptest.NewRequest(http.MethodPost, "http://"+siteHost+"/api/v1/auth/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://"+siteHost)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		s.t.Fatalf("login %s: %d %s", email, rec.Code, rec.Body)
	}
	var ans admin.LoginAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		s.t.Fatal(err)
	}
	v := &visitor{csrf: ans.CSRFToken}
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			v.cookie = c
		}
	}
	if v.cookie == nil || v.csrf == "" {
		s.t.Fatalf("login %s: no session cookie or CSRF token", email)
	}
	return v
}

// reply is a response with its body read.
type reply struct {
	*http.Response
	body string
}

// do sends a request to the site as v (nil: a visitor with no session).
func (s *site) do(v *visitor, method, path string, body io.Reader, header http.Header) reply {
	s.t.Helper()
	req := httptest.NewRequest(method, "http://"+siteHost+path, body)
	for k, vals := range header {
		req.Header[k] = vals
	}
	if v != nil {
		req.AddCookie(&http.Cookie{Name: v.cookie.Name, Value: v.cookie.Value})
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	res := rec.Result()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return reply{Response: res, body: string(data)}
}

func (s *site) get(v *visitor, path string) reply {
	s.t.Helper()
	return s.do(v, http.MethodGet, path, nil, nil)
}

// world is a site with two teams: alice owns alpha (app "blog"), bob owns
// beta (app "other"), and root is a platform admin.
type world struct {
	*site
	alice, bob, root *visitor
	// owner is alice as a principal, to add members to alpha.
	owner *auth.Principal
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldOn(t, newSite(t))
}

func newWorldOn(t testing.TB, s *site) *world {
	t.Helper()
	owner := s.user("alice@example.com", "Alice", false, "alpha")
	s.user("bob@example.com", "Bob", false, "beta")
	s.user("root@example.com", "Root", true)
	s.engine.add("blog", "alpha")
	s.engine.add("other", "beta")
	return &world{site: s, owner: owner, alice: s.login("alice@example.com"), bob: s.login("bob@example.com"), root: s.login("root@example.com")}
}

// The shared world serves the tests that only read: logins cost a
// tenth of a second of argon2 each (more under -race), so they are made
// once. Its data folder is removed after every test ran (TestMain).
var shared struct {
	once    sync.Once
	w       *world
	dir     string
	closers []func()
}

// sharedWorld is a world for reading only, with an API token of alice
// and a second env key of blog. A test that changes something makes its
// own world.
func sharedWorld(t *testing.T) *world {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "dashboard-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		w := newWorldOn(t, newSiteIn(t, dir, func(f func()) { shared.closers = append(shared.closers, f) }))
		if _, err := w.svc.CreateToken(context.Background(), w.owner, auth.TokenInput{Name: "ci pipeline", Team: "alpha", Scope: auth.ScopeDeploy}); err != nil {
			t.Fatal(err)
		}
		w.engine.mu.Lock()
		w.engine.env["blog"]["SECOND_KEY"] = platform.MaskedValue
		// blog runs (usage), has edge settings and says who deployed it;
		// other runs nothing.
		blog := w.engine.apps["blog"]
		blog.Usage = &platform.AppUsage{CPUPercent: 12.5, MemoryBytes: 96 << 20, Replicas: 2, SampledAt: time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)}
		blog.HealthPath = "/healthz"
		blog.HSTS = true
		blog.Memory, blog.CPUs = 512<<20, 0.5
		blog.WWWRedirect = platform.WWWToApex
		blog.Maintenance = &platform.Maintenance{Enabled: true, Message: "Back soon"}
		blog.Redirects = []platform.Redirect{{ID: "r1", From: "old.example", PathPrefix: "/docs", To: "https://docs.example", Status: 301}}
		w.engine.deploys["blog"][0].TriggeredBy = "alice@example.com"
		w.engine.mu.Unlock()
		shared.w = w
	})
	if shared.w == nil {
		t.Fatal("the shared world could not be made (see the first test that asked for it)")
	}
	return shared.w
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range shared.closers {
		f()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
