package dashboard

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// rowOf is the table row of the apps page that links to the app.
func rowOf(t *testing.T, body, app string) string {
	t.Helper()
	m := regexp.MustCompile(`<tr><td><a href="/apps/` + regexp.QuoteMeta(app) + `">.*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("the apps page has no row for %s", app)
	}
	return m
}

func TestAppsPageShowsUsage(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	body := w.get(w.root, "/").body
	for _, want := range []string{`<th scope="col">CPU</th>`, `<th scope="col">Memory</th>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the apps page lacks %s", want)
		}
	}
	if row := rowOf(t, body, "blog"); !strings.Contains(row, "<td>12.5%</td><td>96.0 MiB</td>") {
		t.Errorf("blog's row does not show its usage: %s", row)
	}
	// Nothing runs: no sample, a dash.
	if row := rowOf(t, body, "other"); !strings.Contains(row, "<td>—</td><td>—</td>") {
		t.Errorf("other's row does not show a dash for no usage: %s", row)
	}
	// The overview of each app.
	page := w.get(w.alice, "/apps/blog").body
	for _, want := range []string{"<dt>CPU</dt><dd>12.5% <span", "2 replicas, sampled 2026-03-01 12:05 UTC", "<dt>Memory</dt><dd>96.0 MiB <span class=\"muted\">(limit 512m per replica)</span></dd>"} {
		if !strings.Contains(page, want) {
			t.Errorf("blog's overview lacks %q", want)
		}
	}
	page = w.get(w.bob, "/apps/other").body
	if !strings.Contains(page, "<dt>CPU</dt><dd>—</dd>") || !strings.Contains(page, "<dt>Memory</dt><dd>—</dd>") {
		t.Error("other's overview does not show a dash for no usage")
	}
}

func TestUsageText(t *testing.T) {
	t.Parallel()
	if got := memoryText(&platform.AppUsage{MemoryBytes: 1536 << 10}); got != "1.5 MiB" {
		t.Errorf("memoryText(1.5 MiB) = %q", got)
	}
	if got := cpuText(&platform.AppUsage{CPUPercent: 210}); got != "210.0%" {
		t.Errorf("cpuText(210) = %q", got)
	}
	if cpuText(nil) != "—" || memoryText(nil) != "—" {
		t.Error("no usage is not a dash")
	}
}

func TestNewAppFormOffersEverySource(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	body := w.get(w.alice, "/").body
	for _, want := range []string{
		`<select id="app-source" name="source" data-source-choice`,
		`<option value="image" selected>`,
		`<option value="git">`,
		`<option value="upload">`,
		`<fieldset class="pane" data-source-pane="image">`,
		`<fieldset class="pane" data-source-pane="git" hidden disabled>`,
		`id="app-git-url" name="git_url" required`,
		`id="app-git-ref" name="git_ref"`,
		`id="app-git-username" name="git_username"`,
		// The token is a secret: a password field the browser does not fill.
		`id="app-git-token" name="git_token" type="password" autocomplete="new-password"`,
		`<fieldset class="pane" data-source-pane="upload" hidden disabled>`,
		`id="app-archive" name="archive" type="file" required accept=".zip,.tar.gz,.tgz`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the new app form lacks %s", want)
		}
	}
}

func TestDeploymentsShowWhoAndHowLong(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	body := w.get(w.alice, "/apps/blog").body
	for _, want := range []string{`<th scope="col">By</th>`, `<th scope="col">Duration</th>`, "<td>42s</td><td>alice@example.com</td>",
		// An older deployment says nobody.
		`<td>42s</td><td><span class="muted">—</span></td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the deployments lack %s", want)
		}
	}
}

func TestAppSettingsSection(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	body := w.get(w.alice, "/apps/blog").body
	for _, want := range []string{
		`<h2 id="settings">Settings</h2>`,
		`data-action="settings" data-app="blog"`,
		`id="settings-port" name="port" type="number" min="1" max="65535" required value="8080"`,
		`id="settings-health" name="health_path" value="/healthz"`,
		`id="settings-hsts" name="hsts" type="checkbox" checked`,
		`id="settings-memory" name="memory" value="512m"`,
		`id="settings-cpus" name="cpus" type="number" min="0" max="1024" step="0.01" value="0.5"`,
		`(limit 512m per replica)`,
		`<dt>CPU limit</dt><dd>0.5 per replica</dd>`,
		`<option value="to-apex" selected>`,
		`<option value="">off</option>`,
		`id="settings-maintenance" name="maintenance" type="checkbox" checked`,
		`maxlength="2000">Back soon</textarea>`,
		// The redirects, with a remove button each, and the form to add one.
		"<td>old.example</td><td><code>/docs</code></td><td><code>https://docs.example</code></td><td>301</td>",
		`data-method="DELETE" data-path="/apps/blog/redirects/r1"`,
		`data-action="add-redirect" data-app="blog"`,
		`id="redirect-to" name="to" required`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the settings lack %s", want)
		}
	}
	// Another app with none of it set.
	body = w.get(w.bob, "/apps/other").body
	for _, want := range []string{`<option value="" selected>off</option>`, `maxlength="2000"></textarea>`, "No redirects.",
		`id="settings-memory" name="memory" value=""`, `step="0.01" value=""`} {
		if !strings.Contains(body, want) {
			t.Errorf("other's settings lack %s", want)
		}
	}
	if strings.Contains(body, `id="settings-hsts" name="hsts" type="checkbox" checked`) {
		t.Error("other's HSTS shows as on")
	}
}

func TestSettingsNeedConfigure(t *testing.T) {
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
	if res.StatusCode != http.StatusOK {
		t.Fatalf("a viewer's app page: %d", res.StatusCode)
	}
	for _, control := range []string{`data-action="settings"`, `data-action="add-redirect"`, `id="settings"`} {
		if strings.Contains(res.body, control) {
			t.Errorf("a viewer's app page shows %s", control)
		}
	}
}

func TestXSSInSettingsRendersAsText(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.engine.mu.Lock()
	blog := w.engine.apps["blog"]
	blog.Redirects = []platform.Redirect{{ID: xss, From: xss, PathPrefix: xss, To: xss}}
	blog.Maintenance = &platform.Maintenance{Enabled: true, Message: xss}
	blog.HealthPath = xss
	w.engine.deploys["blog"][0].TriggeredBy = xss
	w.engine.mu.Unlock()
	body := w.get(w.alice, "/apps/blog").body
	if strings.Contains(body, xss) {
		t.Error("the app page has the markup as markup")
	}
	// The redirect's from, prefix, target (cell, button and question), the
	// maintenance message, the health path and who deployed.
	if n := strings.Count(body, escapedXSS); n < 7 {
		t.Errorf("the markup is shown as text %d times, want at least 7", n)
	}
	if !strings.Contains(body, `maxlength="2000">`+escapedXSS+`</textarea>`) {
		t.Error("the maintenance message is not escaped text")
	}
	if !strings.Contains(body, `<td>`+escapedXSS+`</td><td><code>`+escapedXSS+`</code></td><td><code>`+escapedXSS+`</code>`) {
		t.Error("the redirect is not escaped text")
	}
}

func TestAccountPage(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	// Linked from the header of every page.
	for _, p := range []string{"/", "/apps/blog", "/teams", "/audit"} {
		if !strings.Contains(w.get(w.alice, p).body, `<a href="/account">Account</a>`) {
			t.Errorf("%s does not link the account page", p)
		}
	}
	res := w.get(w.alice, "/account")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /account: %d\n%s", res.StatusCode, res.body)
	}
	for _, want := range []string{
		`<a href="/account" aria-current="page">Account</a>`,
		"alice@example.com",
		`data-action="change-password"`,
		`id="password-current" name="current_password" type="password"`,
		`id="password-new" name="new_password" type="password"`,
		`data-action="totp-begin"`,
		`data-action="totp-confirm"`,
		`id="totp-code" name="code"`,
		"data-recovery",
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the account page lacks %s", want)
		}
	}
	if strings.Contains(res.body, `data-action="totp-disable"`) {
		t.Error("the account page offers to turn off what is off")
	}
	if res := w.get(nil, "/account"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Faccount" {
		t.Errorf("GET /account logged out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestAccountPageWithTwoFactorOn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	res := w.get(w.alice, "/account")
	if !strings.Contains(res.body, "is <strong>off</strong>") {
		t.Fatalf("the account page does not say two-factor is off:\n%s", res.body)
	}
	enr, err := w.svc.BeginTOTP(context.Background(), w.owner.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := confirmTOTP(w, enr.Secret); err != nil {
		t.Fatal(err)
	}
	res = w.get(w.alice, "/account")
	for _, want := range []string{"is <strong>on</strong>", `data-action="totp-disable"`, `id="totp-disable-password" name="password" type="password"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the account page with two-factor on lacks %s", want)
		}
	}
	if strings.Contains(res.body, `data-action="totp-begin"`) {
		t.Error("the account page offers to turn on what is on")
	}
}

// confirmTOTP turns alice's pending enrollment on with the current code.
func confirmTOTP(w *world, secret string) error {
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		return err
	}
	_, err = w.svc.ConfirmTOTP(context.Background(), w.owner.User.ID, code)
	return err
}

func TestLastDeployText(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    *platform.DeploySummary
		want string
	}{
		{nil, ""},
		{&platform.DeploySummary{Status: platform.StatusLive, CreatedAt: now.Add(-20 * time.Second)}, "live, just now"},
		{&platform.DeploySummary{Status: platform.StatusFailed, CreatedAt: now.Add(-5 * time.Minute)}, "failed, 5m ago"},
		{&platform.DeploySummary{Status: platform.StatusLive, CreatedAt: now.Add(-3 * time.Hour)}, "live, 3h ago"},
		{&platform.DeploySummary{Status: platform.StatusLive, CreatedAt: now.Add(-72 * time.Hour)}, "live, 3d ago"},
	} {
		if got := lastDeployText(tc.d, now); got != tc.want {
			t.Errorf("lastDeployText(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestMemoryLimitText(t *testing.T) {
	for b, want := range map[int64]string{0: "", 512 << 20: "512m", 2 << 30: "2g", 1536 << 10: "1536k", 7_000_001: "7000001"} {
		if got := memoryLimit(b); got != want {
			t.Errorf("memoryLimit(%d) = %q, want %q", b, got, want)
		}
	}
}
