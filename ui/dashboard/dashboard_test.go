package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

func TestNewNeedsAnAPI(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, "/api/v1"); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New(http.NotFoundHandler(), "api"); err == nil {
		t.Error("New with a relative prefix succeeded")
	}
}

func TestFirstRunGoesToSetup(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for _, path := range []string{"/", "/apps/blog", "/teams", "/audit", "/login"} {
		res := s.get(nil, path)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/setup" {
			t.Errorf("GET %s on a fresh data dir: %d to %q, want 303 to /setup", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res := s.get(nil, "/setup")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `data-action="setup"`) {
		t.Fatalf("GET /setup: %d\n%s", res.StatusCode, res.body)
	}
}

func TestLoggedOutGoesToLogin(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("alice@example.com", "Alice", false, "alpha")
	for path, want := range map[string]string{
		"/":                "/login",
		"/apps/blog":       "/login?next=%2Fapps%2Fblog",
		"/teams":           "/login?next=%2Fteams",
		"/audit?team=beta": "/login?next=%2Faudit%3Fteam%3Dbeta",
		"/setup":           "/login",
	} {
		res := s.get(nil, path)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("GET %s logged out: %d to %q, want 303 to %q", path, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	// A session that is not one (expired, forged) is no session.
	forged := &visitor{cookie: &http.Cookie{Name: auth.SessionCookie, Value: "forged"}}
	if res := s.get(forged, "/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Errorf("GET / with a forged cookie: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res := s.get(nil, "/login")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `data-action="login"`) {
		t.Fatalf("GET /login: %d\n%s", res.StatusCode, res.body)
	}
}

func TestLoginNextStaysOnTheSite(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	for next, want := range map[string]string{
		"/apps/blog":             "/apps/blog",
		"//evil.example/x":       "/",
		"/\\evil.example":        "/",
		"https://evil.example/":  "/",
		"javascript:alert(1)":    "/",
		"/apps/blog\r\nSet-X: y": "/",
	} {
		q := "/login?next=" + url.QueryEscape(next)
		if res := w.get(nil, q); !strings.Contains(res.body, `data-next="`+template.HTMLEscapeString(want)+`"`) {
			t.Errorf("GET %s: the form goes to something else than %q", q, want)
		}
		// Logged in already: straight there.
		if res := w.get(w.alice, q); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("GET %s logged in: %d to %q, want %q", q, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
}

func TestAppsPageShowsTheVisitorsTeamsOnly(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	res := w.get(w.alice, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d\n%s", res.StatusCode, res.body)
	}
	for _, want := range []string{`href="/apps/blog"`, ">alpha<", "2/2", `href="//blog.apps.example"`, ">running<", "d2blog", `data-action="create-app"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("alice's apps page lacks %q", want)
		}
	}
	for _, absent := range []string{"other", "beta"} {
		if strings.Contains(res.body, absent) {
			t.Errorf("alice's apps page shows %q, of another team", absent)
		}
	}
	// The platform admin sees both.
	res = w.get(w.root, "/")
	for _, want := range []string{`href="/apps/blog"`, `href="/apps/other"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the admin's apps page lacks %q", want)
		}
	}
}

func TestAppsPageEmptyState(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("alice@example.com", "Alice", false, "alpha")
	res := s.get(s.login("alice@example.com"), "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, "No apps yet") {
		t.Fatalf("GET / with no app: %d, no empty state\n%s", res.StatusCode, res.body)
	}
	if !strings.Contains(res.body, `<option value="alpha" selected>alpha</option>`) {
		t.Error("the new app form does not offer the visitor's team")
	}
}

func TestAppPage(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	res := w.get(w.alice, "/apps/blog")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /apps/blog: %d\n%s", res.StatusCode, res.body)
	}
	for _, want := range []string{
		"<h1>blog</h1>",
		"registry.example/blog:1",
		// The deployments: the live one is current, the old one can come back.
		`data-path="/apps/blog/rollback" data-arg-deployment="d1blog"`,
		"42s",
		// The deploy log of the newest deployment, and the container logs.
		`data-stream="/api/v1/apps/blog/deploys/d2blog/logs?follow=1"`,
		`data-stream="/api/v1/apps/blog/logs?follow=1&amp;tail=200"`,
		// Env keys, never values.
		`data-key="DATABASE_URL"`,
		`data-action="env-save"`,
		`id="env-raw"`,
		`id="env-deploy"`,
		// Domains with their checks; scaling; deletion.
		"blog.apps.example", "points here", "automatic",
		`data-action="add-domains"`,
		`data-action="scale"`, `value="2"`,
		`data-action="delete-app" data-app="blog" data-name="blog"`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the app page lacks %q", want)
		}
	}
	if strings.Contains(res.body, `data-arg-deployment="d2blog"`) {
		t.Error("the current deployment has a rollback button")
	}
}

func TestAppPageControlsFollowTheRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.svc.CreateUser(ctx, auth.UserInput{Email: "viv@example.com", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AddMember(ctx, w.owner, "alpha", auth.MemberInput{Email: "viv@example.com", Role: auth.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	res := w.get(w.login("viv@example.com"), "/apps/blog")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, "DATABASE_URL") {
		t.Fatalf("a viewer's app page: %d\n%s", res.StatusCode, res.body)
	}
	for _, control := range []string{"env-save", "delete-app", `data-action="scale"`, "rollback", `data-action="deploy"`} {
		if strings.Contains(res.body, control) {
			t.Errorf("a viewer's app page shows the control %q", control)
		}
	}
}

func TestAnotherTeamsAppIsNotFound(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	other := w.get(w.alice, "/apps/other")
	if other.StatusCode != http.StatusNotFound {
		t.Fatalf("alice's GET /apps/other: %d, want 404\n%s", other.StatusCode, other.body)
	}
	if strings.Contains(other.body, "beta") || strings.Contains(other.body, "registry.example/other") {
		t.Error("the 404 page tells something of the other team's app")
	}
	// Exactly what an app that does not exist answers, but for its name.
	missing := w.get(w.alice, "/apps/zzzzz")
	if missing.StatusCode != http.StatusNotFound || strings.ReplaceAll(other.body, "other", "zzzzz") != missing.body {
		t.Errorf("another team's app and a missing one answer differently:\n%s\n---\n%s", other.body, missing.body)
	}
	// The API's own message.
	if !strings.Contains(other.body, "app &#34;other&#34; not found") {
		t.Errorf("the 404 page lacks the API's message:\n%s", other.body)
	}
	// Bob sees his own app.
	if res := w.get(w.bob, "/apps/other"); res.StatusCode != http.StatusOK {
		t.Errorf("bob's GET /apps/other: %d", res.StatusCode)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	res := w.get(w.alice, "/no/such/page")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(res.body, "There is no page at this address.") {
		t.Errorf("GET /no/such/page: %d\n%s", res.StatusCode, res.body)
	}
	// Pages never change anything: a form posted to one (from anywhere)
	// reaches no handler.
	res = w.do(w.alice, http.MethodPost, "/apps/blog", strings.NewReader("confirm=blog"), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /apps/blog: %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	if got := w.engine.changed(); len(got) != 0 {
		t.Errorf("the engine was changed: %v", got)
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	body := `{"name":"evil","team":"alpha","image":"x:1"}`
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Origin": {"null"}},
		{"Sec-Fetch-Site": {"cross-site"}},
	} {
		h.Set("Content-Type", "application/json")
		// Even with the right CSRF token.
		h.Set("X-CSRF-Token", w.alice.csrf)
		res := w.do(w.alice, http.MethodPost, "/api/v1/apps", strings.NewReader(body), h)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, "refused") {
			t.Errorf("cross-site POST /api/v1/apps with %v: %d %s", h, res.StatusCode, res.body)
		}
	}
	// A same-origin POST without the CSRF header is refused too.
	res := w.do(w.alice, http.MethodPost, "/api/v1/apps", strings.NewReader(body), http.Header{"Origin": {"http://" + siteHost}, "Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST without X-CSRF-Token: %d %s", res.StatusCode, res.body)
	}
	if got := w.engine.changed(); len(got) != 0 {
		t.Fatalf("the engine was changed: %v", got)
	}
	// What the page's script sends works.
	res = w.do(w.alice, http.MethodPost, "/api/v1/apps", strings.NewReader(body), http.Header{
		"Origin": {"http://" + siteHost}, "Content-Type": {"application/json"}, "X-Csrf-Token": {w.alice.csrf}})
	if res.StatusCode != http.StatusCreated || !slices.Equal(w.engine.changed(), []string{"CreateApp evil"}) {
		t.Errorf("the page's own POST: %d %s, changes %v", res.StatusCode, res.body, w.engine.changed())
	}
}

func TestCSRFTokenInMeta(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	res := w.get(w.alice, "/")
	if want := `<meta name="csrf-token" content="` + w.alice.csrf + `">`; !strings.Contains(res.body, want) {
		t.Errorf("the page lacks %s", want)
	}
	if !strings.Contains(res.body, `<meta name="api-prefix" content="/api/v1">`) {
		t.Error("the page lacks the API prefix")
	}
	// The login page of a visitor with no session has no token.
	if res := w.get(nil, "/login"); strings.Contains(res.body, "csrf-token") {
		t.Error("the login page carries a CSRF token")
	}
}

func TestXSSRendersAsText(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.engine.add(xss, "alpha")
	w.engine.mu.Lock()
	w.engine.env["blog"][xss] = platform.MaskedValue
	w.engine.deploys["blog"][0].Reason = xss
	w.engine.deploys["blog"][1].CommitMessage = xss
	w.engine.domains["blog"] = append(w.engine.domains["blog"], platform.DomainStatus{Domain: "x.example", DNS: platform.DNSCheck{Message: xss}, Certificate: platform.CertStatus{Source: "none", LastError: xss}})
	w.engine.log = "line one\n" + xss + "\n"
	w.engine.mu.Unlock()
	ctx := context.Background()
	if _, err := w.svc.CreateUser(ctx, auth.UserInput{Email: "mallory@example.com", Name: xss, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AddMember(ctx, w.owner, "alpha", auth.MemberInput{Email: "mallory@example.com", Role: auth.RoleDeveloper}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/apps/blog", "/apps/" + url.PathEscape(xss), "/teams", "/apps/" + url.PathEscape(xss+"-missing")} {
		res := w.get(w.alice, path)
		if strings.Contains(res.body, xss) {
			t.Errorf("GET %s: the markup is in the page as markup", path)
		}
		if !strings.Contains(res.body, escapedXSS) {
			t.Errorf("GET %s: the markup is not shown as text", path)
		}
	}
	// A log line reaches the browser only as a server-sent event, never
	// as HTML, and the script writes it with textContent (see
	// TestScriptWritesTextOnly).
	res := w.get(w.alice, "/api/v1/apps/blog/deploys/d2blog/logs?follow=1")
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the deploy log stream: Content-Type %q, nosniff %q", ct, res.Header.Get("X-Content-Type-Options"))
	}
	if !strings.Contains(res.body, "data: "+xss+"\n") {
		t.Errorf("the log stream lacks the line:\n%s", res.body)
	}
}

func TestScriptWritesTextOnly(t *testing.T) {
	t.Parallel()
	js, err := assetFS.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"style\"", ".style."} {
		if strings.Contains(string(js), banned) {
			t.Errorf("app.js uses %s", banned)
		}
	}
	for _, want := range []string{`line.textContent = text`, `"X-CSRF-Token"`, "new EventSource(url)"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("app.js lacks %s", want)
		}
	}
}

var wantHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	js, _ := w.pages.(*Handler).assets.url("app.js")
	for _, tc := range []struct {
		path    string
		v       *visitor
		status  int
		noStore bool
	}{
		{"/", w.alice, 200, true},
		{"/apps/blog", w.alice, 200, true},
		{"/apps/blog/terminal", w.alice, 200, true},
		{"/teams", w.alice, 200, true},
		{"/audit", w.alice, 200, true},
		{"/login", nil, 200, true},
		{"/", nil, 303, true},
		{"/apps/other", w.alice, 404, true},
		{"/nowhere", nil, 404, true},
		{js, nil, 200, false},
		{"/assets/0000000000000000/app.js", nil, 404, true},
	} {
		res := w.get(tc.v, tc.path)
		if res.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, res.StatusCode, tc.status)
		}
		for k, want := range wantHeaders {
			if k == "Content-Security-Policy" && tc.path == "/apps/blog/terminal" {
				// Inline styles for xterm.js (TestScriptsStaySelf).
				want = terminalPolicy
			}
			if got := res.Header.Get(k); got != want {
				t.Errorf("GET %s: %s is %q, want %q", tc.path, k, got, want)
			}
		}
		if cc := res.Header.Get("Cache-Control"); tc.noStore && cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", tc.path, cc)
		}
	}
}

func TestAssetsHaveContentHashes(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	page := w.get(w.alice, "/").body
	re := regexp.MustCompile(`(?:href|src)="(/assets/([0-9a-f]+)/([a-z.]+))"`)
	found := re.FindAllStringSubmatch(page, -1)
	var names []string
	for _, m := range found {
		names = append(names, m[3])
		res := w.get(nil, m[1])
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", m[1], res.StatusCode)
			continue
		}
		sum := sha256.Sum256([]byte(res.body))
		if m[2] != hex.EncodeToString(sum[:])[:assetHashLen] {
			t.Errorf("%s: the address's hash is not the content's", m[1])
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", m[1], cc)
		}
		if ct := res.Header.Get("Content-Type"); ct != assetTypes[m[3][strings.LastIndex(m[3], "."):]] {
			t.Errorf("GET %s: Content-Type %q", m[1], ct)
		}
		// Another version's address has nothing.
		if res := w.get(nil, "/assets/"+strings.Repeat("0", assetHashLen)+"/"+m[3]); res.StatusCode != http.StatusNotFound {
			t.Errorf("an old address of %s: %d", m[3], res.StatusCode)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"app.css", "app.js", "favicon.svg"}) {
		t.Errorf("the page links the assets %v", names)
	}
	if res := w.get(nil, "/assets/x/secret.txt"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown asset: %d", res.StatusCode)
	}
}

func TestTeamsPage(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	res := w.get(w.alice, "/teams")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /teams: %d\n%s", res.StatusCode, res.body)
	}
	for _, want := range []string{">alpha ", "alice@example.com", "owner", `data-action="add-member" data-team="alpha"`, "ci pipeline", `data-action="create-token"`, `data-action="create-team"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the teams page lacks %q", want)
		}
	}
	if strings.Contains(res.body, "beta") || strings.Contains(res.body, "bob@") {
		t.Error("the teams page shows another team")
	}
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// Two changes, one per team.
	for _, c := range []struct {
		v    *visitor
		app  string
		team string
	}{{w.alice, "blog", "alpha"}, {w.bob, "other", "beta"}} {
		res := w.do(c.v, http.MethodPost, "/api/v1/apps/"+c.app+"/scale", strings.NewReader(`{"replicas":3}`), http.Header{
			"Content-Type": {"application/json"}, "X-Csrf-Token": {c.v.csrf}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("scale %s: %d %s", c.app, res.StatusCode, res.body)
		}
	}
	res := w.get(w.alice, "/audit")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, "/apps/blog/scale") || !strings.Contains(res.body, "apps.scale") {
		t.Errorf("alice's audit page: %d\n%s", res.StatusCode, res.body)
	}
	if strings.Contains(res.body, "/apps/other/scale") || strings.Contains(res.body, "bob@") {
		t.Error("alice's audit page shows another team's entries")
	}
	// Asking for another team's log shows the API's answer, not the log.
	res = w.get(w.alice, "/audit?team=beta")
	if strings.Contains(res.body, "/apps/other/scale") || !strings.Contains(res.body, "team &#34;beta&#34; not found") {
		t.Errorf("alice's audit page of team beta:\n%s", res.body)
	}
	res = w.get(w.root, "/audit")
	if !strings.Contains(res.body, "/apps/blog/scale") || !strings.Contains(res.body, "/apps/other/scale") {
		t.Errorf("the admin's audit page lacks an entry:\n%s", res.body)
	}
	if res := w.get(w.root, "/audit?team=alpha"); strings.Contains(res.body, "/apps/other/scale") || !strings.Contains(res.body, "/apps/blog/scale") {
		t.Error("the admin's audit page of team alpha is not filtered")
	}
}

func TestPageViewsAreNotAudited(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	before, err := w.svc.Audit(auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/apps/blog", "/teams", "/audit"} {
		w.get(w.alice, p)
	}
	after, err := w.svc.Audit(auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("viewing pages added %d audit entries", len(after)-len(before))
	}
}
