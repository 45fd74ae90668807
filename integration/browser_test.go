package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TestDashboardEndToEnd drives the dashboard in headless Chromium against
// the built binary and a real Docker engine, as a user would: first-run
// setup with the token from the log, log out and in (with the keyboard
// alone), create an app from a local image through the "New app" form and
// watch it go live, change an env var and redeploy, read its logs, roll
// back, the terminal, then teams, tokens and the audit log, with text that
// would be markup if a page wrote it as HTML, a phone-width screen, dark
// mode, a cross-site form post, and log out. Every step asserts on what
// the page shows; every page is checked for labels and keyboard reach and
// photographed into the screenshot folder (screenshotDir).
func TestDashboardEndToEnd(t *testing.T) {
	began := time.Now()
	b := newBrowser(t) // before anything is built: skip or fail at once
	p := startProcess(t, envOptions{})
	b.site(p.httpAddr)
	t.Logf("screenshots in %s", b.dir)

	var token string
	eventually(t, 10*time.Second, "setup token logged", func() (bool, string) {
		data, _ := os.ReadFile(p.logPath)
		if m := setupTokenRE.FindSubmatch(data); m != nil {
			token = string(m[1])
			return true, ""
		}
		return false, string(data)
	})
	const (
		email    = "ada@example.com"
		password = "a long password 1"
	)
	app := p.appName("web")
	appPath := "/apps/" + app

	// 1. First-run setup: any page leads to /setup; the token from the log
	// makes the first admin, who lands on the empty apps page.
	b.open("/")
	b.waitPage("/setup", "Welcome to caddy-paas", 10*time.Second)
	b.checkPage("setup")
	b.typeInto("#setup-token", "not-the-token")
	b.typeInto("#setup-email", email)
	b.typeInto("#setup-password", password)
	b.clickText("form[data-action=setup]", "Create the admin account")
	b.waitJS("a wrong setup token is refused on the page", 10*time.Second, `document.querySelector("#status.error") && document.querySelector("#status").innerText.trim() !== ""`)
	t.Logf("wrong setup token: %q", b.statusLine())
	b.typeInto("#setup-token", token)
	b.typeInto("#setup-name", "Ada")
	b.clickText("form[data-action=setup]", "Create the admin account")
	b.waitPage("/", "No apps yet.", 15*time.Second)
	if s := b.statusLine(); !strings.Contains(s, "your admin account is ready") {
		t.Errorf("after setup, status line %q", s)
	}
	if h := b.text("header"); !strings.Contains(h, email) || !strings.Contains(h, "Log out") {
		t.Errorf("after setup, header %q lacks the user and Log out", h)
	}
	b.checkPage("apps-empty")

	// 2. Log out, then log in again: a wrong password is refused with a
	// message; then the keyboard alone (Tab to the fields, Enter submits).
	b.clickText("header", "Log out")
	b.waitPage("/login", "Log in", 10*time.Second)
	b.checkPage("login")
	b.typeInto("#login-email", email)
	b.typeInto("#login-password", "not the password")
	b.clickText("form[data-action=login]", "Log in")
	b.waitJS("a wrong password is refused on the page", 10*time.Second, `document.querySelector("#status.error") && document.querySelector("#status").innerText.trim() !== ""`)
	t.Logf("wrong password: %q", b.statusLine())
	b.open("/login")
	presses := b.tabTo("#login-email", 10)
	b.keys(email)
	b.keys("\t")
	b.waitJS("Tab moves from the e-mail to the password", 2*time.Second, `document.activeElement && document.activeElement.id === "login-password"`)
	b.keys(password)
	b.keys("\r")
	b.waitPage("/", "No apps yet.", 15*time.Second)
	t.Logf("keyboard login: %d Tab presses to the e-mail field", presses)

	// 3. Create an app through the "New app" form (its submit button is
	// reachable with Tab); its page shows the deploy and then the app live.
	presses = b.tabTo(`form[data-action="create-app"] button[type=submit]`, 40)
	t.Logf("keyboard: %d Tab presses to the New app form's submit button", presses)
	b.typeInto("#app-name", app)
	b.typeInto("#app-image", imageV1)
	b.typeInto("#app-port", "8080")
	b.typeInto("#app-env", "VERSION=v1")
	b.clickText(`form[data-action="create-app"]`, "Create and deploy")
	// The page says the app was made; a deploy that ends within a second
	// reloads it at once, saying so instead.
	b.waitJS("the app page says the app was made", 15*time.Second, fmt.Sprintf(
		`location.pathname === %s && document.readyState === "complete" && /App %s created|The deploy has finished/.test(document.querySelector("#status").innerText)`, jsString(appPath), app))
	b.screenshot("app-created")
	b.waitLive(1, 90*time.Second)
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Fatalf("after create: %d %q", code, body)
	}
	if s := b.text("section[aria-labelledby=overview]"); !strings.Contains(s, imageV1) || !strings.Contains(s, "1/1") {
		t.Errorf("overview %q lacks the image or 1/1 replicas", s)
	}
	b.checkPage("app-live")
	b.open("/")
	if row := b.text("main table tbody"); !strings.Contains(row, app) || !strings.Contains(row, "running") || !strings.Contains(row, "1/1") {
		t.Errorf("apps page row %q: want %s running 1/1", row, app)
	}
	b.checkPage("apps")

	// 4. The env editor: values are masked; VERSION=v2 with deploy on
	// save starts a deploy that goes live.
	b.open(appPath)
	valueField := `tr[data-env-row][data-key="VERSION"] input[data-env-value]`
	var masked struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	b.mustEval(fmt.Sprintf(`(e => ({type: e.type, value: e.value}))(document.querySelector(%s))`, jsString(valueField)), &masked)
	if masked.Type != "password" || masked.Value != "" {
		t.Errorf("env value field before reveal: %+v, want an empty password field", masked)
	}
	b.clickText(`form[data-action="env-save"]`, "Raw .env")
	var raw string
	b.mustEval(`document.getElementById("env-raw").value`, &raw)
	if raw != "VERSION=********" {
		t.Errorf("raw .env view %q, want VERSION=********", raw)
	}
	b.screenshot("env-raw")
	b.clickText(`form[data-action="env-save"]`, "Key/value")
	b.typeInto(valueField, "v2")
	var deployOnSave bool
	b.mustEval(`document.getElementById("env-deploy").checked`, &deployOnSave)
	if !deployOnSave {
		t.Error("Deploy on save is not checked by default")
	}
	b.clickText(`form[data-action="env-save"]`, "Save the environment")
	b.waitJS("the env save says a deploy started", 15*time.Second, `document.querySelector("#status").innerText.includes("Environment saved (1 set, 0 removed): deploy")`)
	b.screenshot("env-saved")
	b.waitLive(2, 90*time.Second)
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v2\n" {
		t.Fatalf("after the env change: %d %q", code, body)
	}

	// 5. The container logs panel streams the replica's output; the search
	// box hides the lines that do not match.
	b.waitJS("the logs panel shows the app's start", 20*time.Second, `document.getElementById("app-log").innerText.includes("testapp listening")`)
	visibleLines := `Array.from(document.getElementById("app-log").children).filter(l => !l.hidden).map(l => l.textContent)`
	b.typeInto("#log-search", "no line says this")
	var lines []string
	b.mustEval(visibleLines, &lines)
	if len(lines) != 0 {
		t.Errorf("search for a missing text leaves %d lines shown: %q", len(lines), lines)
	}
	b.typeInto("#log-search", "LISTENING")
	b.mustEval(visibleLines, &lines)
	if len(lines) == 0 {
		t.Error("search for \"LISTENING\" shows no line")
	}
	for _, l := range lines {
		if !strings.Contains(strings.ToLower(l), "listening") {
			t.Errorf("search for \"LISTENING\" shows %q", l)
		}
	}
	b.screenshot("app-logs-search")

	// 6. Roll back to the first deployment with its button (after a
	// confirmation): a new deployment of it goes live.
	b.open(appPath)
	b.clickRowButton("v1 ", "Roll back")
	b.waitJS("the rollback says it started", 15*time.Second, `document.querySelector("#status").innerText.includes("Rollback to version 1 started")`)
	b.waitLive(3, 90*time.Second)
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Fatalf("after the rollback: %d %q", code, body)
	}
	if note := b.text("section[aria-labelledby=deployments] tbody tr"); !strings.Contains(note, "rollback of") {
		t.Errorf("the rollback's row %q does not say what it rolls back", note)
	}
	b.mu.Lock()
	dialogs := strings.Join(b.dialogs, "\n")
	b.mu.Unlock()
	if !strings.Contains(dialogs, "Roll back "+app+" to version 1?") {
		t.Errorf("no confirmation before the rollback; dialogs: %q", dialogs)
	}
	b.checkPage("app-rolled-back")

	// 7. The terminal: the page's session opens the terminal WebSocket and
	// runs a command in the replica; and, when the app page has its
	// "Open terminal" control, through xterm.js.
	b.terminalSocket(app, "release ran for v1")
	if b.terminalUI(app, "release ran for v1") {
		t.Log("terminal: driven through the page's Open terminal control")
	} else {
		t.Log("terminal: the app page has no \"Open terminal\" control yet; only the WebSocket was checked")
	}

	// Text that would be markup: a member's name, an app's log lines, an
	// API token's name, an unknown app's address, a refused app name.
	b.checkMarkupAsText(p)

	// A phone-width screen: no horizontal scrolling.
	b.checkPhone(appPath)

	// Dark mode follows the system setting.
	b.checkDarkMode(appPath)

	// A form posted from another site changes nothing.
	b.checkCrossSitePost(p)

	// The app's settings: maintenance mode on with a message (the app
	// answers 503 with it), then off again; a redirect added and listed.
	b.checkSettings(p, app)

	// The account page, linked from the header: two-factor authentication
	// turned on with a code of the secret it shows (ten recovery codes,
	// once), then off again with the password.
	b.checkAccount(password)

	// "New app" from an uploaded archive: the app is made, the .zip is
	// uploaded, and its build goes live.
	b.checkUploadApp(p)

	// 8. Log out: the login page, and the pages need a login again.
	b.open("/")
	b.clickText("header", "Log out")
	b.waitPage("/login", "Log in", 10*time.Second)
	b.open(appPath)
	b.waitPage("/login", "Log in", 10*time.Second)
	if loc := b.location(); !strings.Contains(loc, "next=") {
		t.Errorf("an app page after logout sends to %s, want the login page with next=", loc)
	}
	b.screenshot("logged-out")

	b.checkNoExceptions()
	t.Logf("dashboard end to end in %s", time.Since(began).Round(time.Second))
}

// waitLive waits until the app page shows the deployment of version n
// live and current, and the app running. The page reloads itself when the
// deploy it follows ends; when it did not within 30 s it is reloaded here,
// and the test fails (the page should have said so by itself).
func (b *browser) waitLive(n int, timeout time.Duration) {
	b.t.Helper()
	cond := fmt.Sprintf(`(() => {
		const head = document.querySelector(".heading .badge");
		const row = Array.from(document.querySelectorAll("section[aria-labelledby=deployments] tbody tr"))
			.find(r => r.cells[0].innerText.trim().startsWith("v%d "));
		return document.readyState === "complete" && head && head.innerText.trim() === "running" &&
			row && row.cells[1].innerText.includes("live") && row.cells[1].innerText.includes("current");
	})()`, n)
	deadline := time.Now().Add(timeout)
	selfUpdate := time.Now().Add(30 * time.Second)
	reloaded := false
	for time.Now().Before(deadline) {
		var ok bool
		if err := b.eval(cond, &ok); err == nil && ok {
			if reloaded {
				b.t.Errorf("version %d went live, but the page did not show it by itself within 30 s", n)
			}
			return
		}
		if time.Now().After(selfUpdate) {
			reloaded = true
			_ = b.eval("location.reload()", nil)
			selfUpdate = time.Now().Add(3 * time.Second)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.fatalf("version %d not shown live and current, the app running, after %s", n, timeout)
}

// clickRowButton clicks the button labelled text in the row of the
// deployments table whose first cell starts with prefix.
func (b *browser) clickRowButton(prefix, text string) {
	b.t.Helper()
	var mark string
	b.mustEval(fmt.Sprintf(`(() => {
		const row = Array.from(document.querySelectorAll("section[aria-labelledby=deployments] tbody tr"))
			.find(r => r.cells[0].innerText.trim().startsWith(%s));
		if (!row) return "";
		const btn = Array.from(row.querySelectorAll("button")).find(e => e.innerText.trim() === %s);
		if (!btn) return "";
		btn.setAttribute("data-bt", "row-button");
		return '[data-bt="row-button"]';
	})()`, jsString(prefix), jsString(text)), &mark)
	if mark == "" {
		b.fatalf("no %q button in the deployment row starting %q", text, prefix)
	}
	b.click(mark)
}

// terminalSocket opens the terminal's WebSocket from the page, with the
// page's session, running `/app release` in the replica, and checks its
// output.
func (b *browser) terminalSocket(app, want string) {
	b.t.Helper()
	var res struct {
		Out    string `json:"out"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	b.mustEval(fmt.Sprintf(`new Promise(resolve => {
		const ws = new WebSocket("ws://" + location.host + "/api/v1/apps/" + %s + "/terminal?cmd=/app&cmd=release");
		ws.binaryType = "arraybuffer";
		const dec = new TextDecoder();
		let out = "";
		ws.onmessage = e => { out += typeof e.data === "string" ? e.data : dec.decode(e.data, {stream: true}); };
		ws.onclose = e => resolve({out: out, code: e.code, reason: e.reason});
		setTimeout(() => { try { ws.close(); } catch (e) {} resolve({out: out, code: -1, reason: "timeout"}); }, 15000);
	})`, jsString(url.PathEscape(app))), &res)
	if !strings.Contains(res.Out, want) {
		b.t.Errorf("terminal WebSocket from the page: output %q (close %d %q), want %q", res.Out, res.Code, res.Reason, want)
	}
}

// terminalUI drives the terminal of the dashboard when the app page has
// an "Open terminal" control: it leads to the terminal page (or opens the
// terminal in place), where the command field (labelled "Command") gets
// `/app release` and the "Open terminal" button runs it; xterm.js shows
// the output in its rows. It answers false when the app page has no such
// control.
func (b *browser) terminalUI(app, want string) bool {
	b.t.Helper()
	appPath := "/apps/" + url.PathEscape(app)
	b.open(appPath)
	open := b.markByText("main", "Open terminal")
	if open == "" {
		return false
	}
	b.click(open)
	// commandField marks the visible field labelled "command" and answers
	// its selector.
	commandField := `(() => {
		const f = Array.from(document.querySelectorAll("main input, main textarea"))
			.filter(e => e.getClientRects().length > 0 && !e.closest(".xterm"))
			.find(e => Array.from(e.labels || []).some(l => /^\s*command\b/i.test(l.textContent)) || /^command\b/i.test(e.getAttribute("aria-label") || ""));
		if (!f) return "";
		f.setAttribute("data-bt", "terminal-command");
		return '[data-bt="terminal-command"]';
	})()`
	b.waitJS("the terminal's command field", 10*time.Second, commandField)
	if loc, _ := url.Parse(b.location()); loc != nil && loc.Path != appPath {
		b.waitJS("the terminal page loads", 10*time.Second, `document.readyState === "complete"`)
		b.checkPage("terminal-page")
	}
	var sel string
	b.mustEval(commandField, &sel)
	b.typeInto(sel, "/app release")
	b.clickText("main", "Open terminal")
	b.waitJS("the terminal shows the command's output", 20*time.Second, fmt.Sprintf(`Array.from(document.querySelectorAll(".xterm-rows")).some(e => e.textContent.includes(%s))`, jsString(want)))
	b.t.Logf("terminal state: %q", b.text("#terminal-state"))
	b.checkNoXSS("terminal")
	b.checkLabels("terminal")
	b.screenshot("terminal")
	return true
}

// checkMarkupAsText puts xssProbe where the API accepts any text and
// loads the pages that show it: each shows it as text, and no injected
// element or handler exists.
func (b *browser) checkMarkupAsText(p *process) {
	b.t.Helper()
	t := b.t
	ctx := context.Background()
	// A member's name (users create "name"), on the teams page.
	if err := p.api.Do(ctx, http.MethodPost, "/users", map[string]any{"email": "mallory@example.com", "name": xssProbe, "password": "another long password"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.api.Do(ctx, http.MethodPost, "/teams/default/members", map[string]any{"email": "mallory@example.com", "role": "developer"}, nil); err != nil {
		t.Fatal(err)
	}
	// An app whose log lines hold it (the test app logs its VERSION).
	xapp := p.appName("xss")
	v := p.createApp(map[string]any{"name": xapp, "image": imageV1, "env": map[string]string{"VERSION": xssProbe}})
	p.waitLive(xapp, v.Deployment)

	b.open("/teams")
	b.waitPage("/teams", xssProbe, 10*time.Second)
	// An API token named with it, made with the page's form.
	b.typeInto("#token-name", xssProbe)
	b.clickText(`form[data-action="create-token"]`, "Create token")
	b.waitJS("the new token is shown once, with its name as text", 10*time.Second,
		fmt.Sprintf(`(o => o && !o.hidden && o.innerText.includes(%s) && o.querySelector("code") && o.querySelector("code").innerText.startsWith("cpaas_"))(document.querySelector("output[data-output]:not([hidden])"))`, jsString(xssProbe)))
	b.checkNoXSS("teams, token made")
	b.open("/teams")
	b.waitJS("the token list shows the name as text", 10*time.Second, fmt.Sprintf(`Array.from(document.querySelectorAll("section[aria-labelledby=tokens-h] td")).some(td => td.innerText.trim() === %s)`, jsString(xssProbe)))
	b.checkPage("teams")

	b.open("/apps/" + xapp)
	b.waitJS("the logs panel shows the log line as text", 20*time.Second, fmt.Sprintf(`document.getElementById("app-log").innerText.includes(%s)`, jsString("version "+xssProbe)))
	b.checkNoXSS("app with markup in its logs")
	b.screenshot("app-markup-in-logs")

	b.open("/audit")
	b.waitPage("/audit", "members.add", 10*time.Second)
	b.checkPage("audit")

	// An address that names no app, with the probe in it.
	b.open("/apps/" + url.PathEscape(xssProbe))
	b.waitJS("an unknown app's page loads", 10*time.Second, `document.readyState === "complete" && document.querySelector("h1")`)
	b.checkNoXSS("unknown app page")
	t.Logf("unknown app page: %q", b.text("main"))
	b.screenshot("error-unknown-app")

	// A refused app name: the form says why, as text.
	b.open("/")
	b.typeInto("#app-name", xssProbe)
	b.typeInto("#app-image", imageV1)
	// The field's pattern is checked by the API, not the browser: send it.
	b.clickText(`form[data-action="create-app"]`, "Create and deploy")
	b.waitJS("a refused app name is explained", 10*time.Second, `document.querySelector("#status.error") && document.querySelector("#status").innerText.trim() !== ""`)
	t.Logf("refused app name: %q", b.statusLine())
	b.checkNoXSS("refused app name")
	b.screenshot("apps-refused-name")
}

// checkPhone loads the apps page and an app page at 390x844 (a phone,
// with touch): the apps page must not scroll sideways. The app page is
// measured and its overflow logged: its tables' visually hidden "Actions"
// headers are absolutely positioned and escape their scrolling
// .table-wrap, so the document grows to the width of the deployments
// table (see the report of this test).
func (b *browser) checkPhone(appPath string) {
	b.t.Helper()
	b.do("phone viewport", 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	defer func() {
		_, _ = chromedp.Call(b.ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		_, _ = chromedp.Call(b.ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: false})
	}()
	for _, page := range []struct {
		path, name string
		strict     bool
	}{{"/", "phone-apps", true}, {appPath, "phone-app", true}} {
		b.open(page.path)
		var m struct {
			ScrollWidth int      `json:"scrollWidth"`
			InnerWidth  int      `json:"innerWidth"`
			Wide        []string `json:"wide"`
		}
		// Wide are the elements past the screen's right edge that are not
		// clipped by a scrolling box (a table's or a log's): those make
		// the page itself scroll.
		b.mustEval(`({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
			wide: Array.from(document.querySelectorAll("body *"))
				.filter(e => e.getBoundingClientRect().right > 391)
				.filter(e => ["absolute", "fixed"].includes(getComputedStyle(e).position) || !e.parentElement.closest(".table-wrap, .log"))
				.slice(0, 8).map(e => Math.round(e.getBoundingClientRect().right) + "px: " + e.outerHTML.slice(0, 100))})`, &m)
		b.screenshot(page.name)
		// A mobile browser widens the layout viewport to content that
		// does not fit: innerWidth grows past 390 too.
		if m.InnerWidth == 390 && m.ScrollWidth <= m.InnerWidth {
			continue
		}
		msg := fmt.Sprintf("%s at 390 px: the page scrolls sideways: scrollWidth %d, innerWidth %d; elements past the edge: %q", page.name, m.ScrollWidth, m.InnerWidth, m.Wide)
		if page.strict {
			b.t.Error(msg)
		} else {
			b.t.Log("known layout bug: " + msg)
		}
	}
}

// checkDarkMode compares the computed colors of a page under
// prefers-color-scheme light and dark.
func (b *browser) checkDarkMode(appPath string) {
	b.t.Helper()
	defer b.setColorScheme("")
	colors := func() (bg, fg string) {
		var c struct {
			Bg string `json:"bg"`
			Fg string `json:"fg"`
		}
		b.mustEval(`(s => ({bg: s.backgroundColor, fg: s.color}))(getComputedStyle(document.body))`, &c)
		return c.Bg, c.Fg
	}
	for _, page := range []struct{ path, name string }{{"/", "apps"}, {appPath, "app"}} {
		b.open(page.path)
		b.setColorScheme("light")
		lightBg, lightFg := colors()
		b.setColorScheme("dark")
		darkBg, darkFg := colors()
		if lightBg == darkBg || lightFg == darkFg {
			b.t.Errorf("%s: dark mode changes nothing: background %s / %s, text %s / %s", page.name, lightBg, darkBg, lightFg, darkFg)
		}
		b.screenshot("dark-" + page.name)
	}
}

// checkCrossSitePost has the logged-in browser submit a form from another
// site to the API (a text/plain body that reads as JSON): no app is made.
func (b *browser) checkCrossSitePost(p *process) {
	b.t.Helper()
	name := p.appName("csrf")
	target := b.base + "/api/v1/apps"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form id=f method=post enctype="text/plain" action=%q><input name='{"name":"%s","image":"%s","x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`, target, name, imageV1)
	}))
	defer evil.Close()
	u, _ := url.Parse(evil.URL)
	b.do("opening the other site", 20*time.Second, chromedp.Navigate("http://csrf.example:"+u.Port()+"/"))
	b.waitJS("the cross-site form was posted", 10*time.Second, fmt.Sprintf(`location.href === %s && document.readyState === "complete"`, jsString(target)))
	answer := b.bodyText()
	b.t.Logf("cross-site form post answered: %q", answer)
	var apps []platform.AppView
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps", nil, &apps); err != nil {
		b.t.Fatal(err)
	}
	for _, a := range apps {
		if a.Name == name {
			b.t.Errorf("a form posted from another site created the app %s", name)
		}
	}
	if !strings.Contains(answer, `"error"`) {
		b.t.Errorf("cross-site form post: answer %q is not an error", answer)
	}
}

// checkSettings turns maintenance mode on from the app page's Settings
// section (only that field is sent), sees the app answer 503 with the
// message, turns it off, and adds a redirect that the page then lists.
func (b *browser) checkSettings(p *process, app string) {
	b.t.Helper()
	appPath := "/apps/" + app
	b.open(appPath)
	b.waitPage(appPath, "Settings", 10*time.Second)
	b.click("#settings-maintenance")
	b.typeInto("#settings-maintenance-message", "Back at noon")
	b.clickText(`form[data-action="settings"]`, "Save settings")
	b.waitJS("the settings say maintenance is on", 15*time.Second, `document.querySelector("#status").innerText.includes("Settings saved: maintenance on.")`)
	eventually(b.t, 10*time.Second, "the app in maintenance", func() (bool, string) {
		code, body := p.mustGet(app, "/")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "Back at noon"), fmt.Sprintf("%d %q", code, body)
	})
	b.screenshot("app-maintenance")
	b.waitJS("the page shows maintenance on", 10*time.Second, `document.getElementById("settings-maintenance").checked`)
	b.click("#settings-maintenance")
	b.clickText(`form[data-action="settings"]`, "Save settings")
	b.waitJS("the settings say maintenance is off", 15*time.Second, `document.querySelector("#status").innerText.includes("Settings saved: maintenance off.")`)
	eventually(b.t, 10*time.Second, "the app out of maintenance", func() (bool, string) {
		code, body := p.mustGet(app, "/")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
	b.typeInto("#redirect-prefix", "/old")
	b.typeInto("#redirect-to", "https://example.com/new")
	b.clickText(`form[data-action="add-redirect"]`, "Add redirect")
	b.waitJS("the redirect is listed", 15*time.Second, `document.querySelector("#status").innerText.includes("Redirect added") && document.querySelector("section[aria-labelledby=settings] tbody").innerText.includes("https://example.com/new")`)
	b.checkPage("app-settings")
}

// checkAccount turns two-factor authentication on and off from the
// account page.
func (b *browser) checkAccount(password string) {
	b.t.Helper()
	b.open("/")
	b.clickText("header", "Account")
	b.waitPage("/account", "Two-factor authentication is off", 10*time.Second)
	b.checkPage("account")
	b.clickText(`form[data-action="totp-begin"]`, "Turn two-factor authentication on")
	b.waitJS("the secret is shown", 10*time.Second, `document.querySelector("[data-totp-secret]").textContent !== ""`)
	var enr struct {
		Secret string `json:"secret"`
		URL    string `json:"url"`
	}
	b.mustEval(`({secret: document.querySelector("[data-totp-secret]").textContent, url: document.querySelector("[data-totp-url]").textContent})`, &enr)
	if !strings.HasPrefix(enr.URL, "otpauth://totp/") || !strings.Contains(enr.URL, "secret="+enr.Secret) {
		b.t.Errorf("the enrollment shows the address %q for the secret %q", enr.URL, enr.Secret)
	}
	code, err := totp.GenerateCode(enr.Secret, time.Now())
	if err != nil {
		b.fatalf("a code of the shown secret: %v", err)
	}
	b.typeInto("#totp-code", code)
	b.clickText(`form[data-action="totp-confirm"]`, "Confirm and turn on")
	b.waitJS("ten recovery codes are shown", 10*time.Second, `document.querySelectorAll("[data-recovery] li code").length === 10 && document.querySelector("#status").innerText.includes("Two-factor authentication is on")`)
	b.screenshot("account-recovery-codes")
	b.open("/account")
	b.waitPage("/account", "Two-factor authentication is on", 10*time.Second)
	b.checkPage("account-totp-on")
	b.typeInto("#totp-disable-password", password)
	b.clickText(`form[data-action="totp-disable"]`, "Turn two-factor authentication off")
	b.waitJS("two-factor is off again", 10*time.Second, `document.querySelector("#status").innerText.includes("Two-factor authentication is off.") && !!document.querySelector('form[data-action="totp-begin"]')`)
}

// checkUploadApp creates an app from the "New app" form with the source
// "an uploaded archive": a .zip whose Dockerfile packs the test app.
func (b *browser) checkUploadApp(p *process) {
	b.t.Helper()
	app := p.appName("zip")
	archive := filepath.Join(b.t.TempDir(), "site.zip")
	if err := os.WriteFile(archive, zipOf(b.t, map[string]string{
		"site/Dockerfile": "FROM scratch\nENV VERSION=archive\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n",
		"site/app":        string(testAppBinary),
	}), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.open("/")
	b.waitPage("/", "New app", 10*time.Second)
	b.mustEval(`(s => (s.value = "upload", s.dispatchEvent(new Event("change")), true))(document.getElementById("app-source"))`, nil)
	b.typeInto("#app-name", app)
	b.typeInto("#app-port", "8080")
	b.do("choosing the archive", 10*time.Second, chromedp.SetUploadFiles(chromedp.CSS("#app-archive"), []string{archive}))
	b.clickText(`form[data-action="create-app"]`, "Create and upload")
	b.waitJS("the app page says the archive was uploaded", 30*time.Second, fmt.Sprintf(
		`location.pathname === %s && document.readyState === "complete" && /Archive uploaded|The deploy has finished/.test(document.querySelector("#status").innerText)`, jsString("/apps/"+app)))
	b.screenshot("app-uploaded")
	eventually(b.t, 120*time.Second, "the uploaded app live", func() (bool, string) {
		code, body := p.mustGet(app, "/")
		return code == http.StatusOK && body == "hello from archive\n", fmt.Sprintf("%d %q", code, body)
	})
	b.open("/apps/" + app)
	row := b.text("section[aria-labelledby=deployments] tbody tr")
	if !strings.Contains(row, "upload") {
		b.t.Errorf("the uploaded deployment's row %q does not say upload", row)
	}
	// Who started it, once the API says so (triggered_by).
	b.t.Logf("the uploaded deployment's row: %q", row)
}
