package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/auth"
)

const terminalLink = `href="/apps/blog/terminal"`

// TestTerminalFollowsTheRole: the app page links the terminal, and the
// terminal page shows its controls, only to those whose role may reveal
// (the team's owners and admins, and platform admins), as the API allows
// the socket only to them.
func TestTerminalFollowsTheRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	members := map[auth.Role]*visitor{}
	for _, role := range []auth.Role{auth.RoleAdmin, auth.RoleDeveloper, auth.RoleViewer} {
		email := string(role) + "@example.com"
		if _, err := w.svc.CreateUser(ctx, auth.UserInput{Email: email, Password: testPassword}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.AddMember(ctx, w.owner, "alpha", auth.MemberInput{Email: email, Role: role}); err != nil {
			t.Fatal(err)
		}
		members[role] = w.login(email)
	}
	for _, tc := range []struct {
		who    string
		v      *visitor
		allows bool
	}{
		{"the team's owner", w.alice, true},
		{"a team admin", members[auth.RoleAdmin], true},
		{"a platform admin", w.root, true},
		{"a developer", members[auth.RoleDeveloper], false},
		{"a viewer", members[auth.RoleViewer], false},
	} {
		app := w.get(tc.v, "/apps/blog")
		if app.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /apps/blog: %d", tc.who, app.StatusCode)
		}
		if got := strings.Contains(app.body, terminalLink); got != tc.allows {
			t.Errorf("%s: the app page links the terminal: %v, want %v", tc.who, got, tc.allows)
		}
		page := w.get(tc.v, "/apps/blog/terminal")
		if !tc.allows {
			if page.StatusCode != http.StatusForbidden || !strings.Contains(page.body, "does not open terminals") || strings.Contains(page.body, "data-terminal") {
				t.Errorf("%s: GET /apps/blog/terminal: %d\n%s", tc.who, page.StatusCode, page.body)
			}
			if csp := page.Header.Get("Content-Security-Policy"); csp != contentSecurityPolicy {
				t.Errorf("%s: the refusal has the policy %q", tc.who, csp)
			}
			continue
		}
		if page.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /apps/blog/terminal: %d\n%s", tc.who, page.StatusCode, page.body)
		}
		for _, want := range []string{
			"<h1>Terminal: blog</h1>",
			`<form method="post" data-terminal data-app="blog"`,
			`<input id="terminal-cmd" name="cmd" value="/bin/sh"`,
			"An argument array, run without a shell",
			`<button type="submit">Open terminal</button>`,
			`data-terminal-close disabled>Close terminal</button>`,
			`id="terminal-screen"`,
			`role="status"`,
			"Escape and then Tab",
			// blog runs two replicas: one can be picked.
			`<input id="terminal-replica" name="replica"`,
		} {
			if !strings.Contains(page.body, want) {
				t.Errorf("%s: the terminal page lacks %q", tc.who, want)
			}
		}
	}
	// Another team's app: not found, as in the API.
	if res := w.get(w.bob, "/apps/blog/terminal"); res.StatusCode != http.StatusNotFound || strings.Contains(res.body, "data-terminal") {
		t.Errorf("bob's GET /apps/blog/terminal: %d", res.StatusCode)
	}
	// No session: the login page, then back.
	if res := w.get(nil, "/apps/blog/terminal"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fapps%2Fblog%2Fterminal" {
		t.Errorf("GET /apps/blog/terminal logged out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// One replica: nothing to pick.
	w.engine.mu.Lock()
	w.engine.apps["blog"].Replicas = 1
	w.engine.mu.Unlock()
	if res := w.get(w.alice, "/apps/blog/terminal"); strings.Contains(res.body, "terminal-replica") {
		t.Error("the terminal page of a one-replica app offers a replica field")
	}
}

// cspDirectives splits a policy into its directives.
func cspDirectives(policy string) map[string]string {
	out := map[string]string{}
	for d := range strings.SplitSeq(policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		out[name] = value
	}
	return out
}

// TestScriptsStaySelf: every answer allows only this site's scripts. Only
// the terminal page allows inline styles, which xterm.js needs (see
// terminalPolicy); everything else of its policy is the strict one.
func TestScriptsStaySelf(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	js, _ := w.pages.(*Handler).assets.url("xterm.js")
	strict := cspDirectives(contentSecurityPolicy)
	if strict["script-src"] != "'self'" || strict["style-src"] != "'self'" || strict["default-src"] != "'self'" {
		t.Fatalf("the policy is not strict: %q", contentSecurityPolicy)
	}
	for _, path := range []string{"/", "/apps/blog", "/apps/blog/terminal", "/apps/other/terminal", "/teams", "/audit", "/login", "/nowhere", js} {
		res := w.get(w.alice, path)
		csp := res.Header.Get("Content-Security-Policy")
		got := cspDirectives(csp)
		if got["script-src"] != "'self'" || got["default-src"] != "'self'" || strings.Contains(csp, "unsafe-eval") || strings.Count(csp, "script-src") != 1 {
			t.Errorf("GET %s: scripts are not only 'self': %q", path, csp)
		}
		if path == "/apps/blog/terminal" {
			if res.StatusCode != http.StatusOK || csp != terminalPolicy {
				t.Errorf("GET %s: %d, policy %q, want %q", path, res.StatusCode, csp, terminalPolicy)
			}
			if got["style-src"] != "'self' 'unsafe-inline'" {
				t.Errorf("the terminal page's style-src is %q", got["style-src"])
			}
			delete(got, "style-src")
			s := cspDirectives(contentSecurityPolicy)
			delete(s, "style-src")
			if len(got) != len(s) {
				t.Errorf("the terminal page's policy has other directives: %q", csp)
			}
			for k, v := range s {
				if got[k] != v {
					t.Errorf("the terminal page's %s is %q, want %q", k, got[k], v)
				}
			}
			continue
		}
		if csp != contentSecurityPolicy {
			t.Errorf("GET %s: the policy is %q", path, csp)
		}
	}
}

// TestVendoredAssetsAreServedWithContentHashes: the terminal page links
// xterm.js, its stylesheet, the fit addon and its own script at addresses
// made of their content's hash, and each is served from there, cached for
// good, with the bytes of the vendored file.
func TestVendoredAssetsAreServedWithContentHashes(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	page := w.get(w.alice, "/apps/blog/terminal").body
	re := regexp.MustCompile(`(?:href|src)="(/assets/([0-9a-f]+)/([a-z.-]+))"`)
	var names []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
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
		if ct := res.Header.Get("Content-Type"); ct != assetTypes[filepath.Ext(m[3])] {
			t.Errorf("GET %s: Content-Type %q", m[1], ct)
		}
		file := filepath.Join("assets", m[3])
		if _, err := os.Stat(file); err != nil {
			file = filepath.Join(vendorDir, m[3])
		}
		if disk, err := os.ReadFile(file); err != nil || string(disk) != res.body {
			t.Errorf("GET %s: not the bytes of %s (%v)", m[1], file, err)
		}
	}
	slices.Sort(names)
	if want := []string{"addon-fit.js", "app.css", "app.js", "favicon.svg", "terminal.js", "xterm.css", "xterm.js"}; !slices.Equal(names, want) {
		t.Errorf("the terminal page links %v, want %v", names, want)
	}
	// The MANIFEST is embedded, never served.
	if res := w.get(nil, "/assets/x/MANIFEST"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET the MANIFEST: %d", res.StatusCode)
	}
	// The app page stays light: no xterm.js there.
	if strings.Contains(w.get(w.alice, "/apps/blog").body, "xterm") {
		t.Error("the app page loads xterm.js")
	}
}

// TestTerminalScript checks what terminal.js does with the socket, and
// that it writes no HTML.
func TestTerminalScript(t *testing.T) {
	t.Parallel()
	js, err := assetFS.ReadFile("assets/terminal.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"style\"", ".style."} {
		if strings.Contains(string(js), banned) {
			t.Errorf("terminal.js uses %s", banned)
		}
	}
	for _, want := range []string{
		`location.protocol === "https:" ? "wss:" : "ws:"`,
		`"/terminal?"`,
		`q.append("cmd", a)`,
		`ws.binaryType = "arraybuffer"`,
		`send(encoder.encode(data))`,
		`term.write(new Uint8Array(ev.data))`,
		`type: "resize", cols: term.cols, rows: term.rows`,
		"new window.FitAddon.FitAddon()",
		`screen.addEventListener("keydown", leaveKey, true)`,
		"state.textContent = msg",
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("terminal.js lacks %s", want)
		}
	}
}
