package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The dashboard's browser tests drive Debian's chromium, headless, with
// chromedp. Host names resolve inside the browser only: paas.localhost
// (the dashboard) and the apps' hosts go to 127.0.0.1.

// xssProbe is text that would run script if a page wrote it as HTML.
const xssProbe = `<img src=x onerror=window.__xss=1>`

// requireChromium returns the path of chromium. Without it the test is
// skipped on a developer machine, and fails under CI=true (like
// requireDocker).
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	browserUnavailable(t, "no chromium in PATH (scripts/test-deps.sh installs Debian's chromium)")
	return ""
}

func browserUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser required under CI=true: %s", msg)
	}
	t.Skipf("browser test skipped: %s", msg)
}

// screenshotDir is where the browser tests write their screenshots:
// $PAAS_SCREENSHOTS, else screenshots/ at the repository's root (ignored
// by git).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PAAS_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "screenshots")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	// The screenshots of an earlier run go: the folder shows one run.
	old, _ := filepath.Glob(filepath.Join(abs, "dashboard-*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return abs
}

// browser is one headless chromium with one tab, on the dashboard of a
// running caddy-paas.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // http://paas.localhost:<port>
	dir  string // screenshots
	shot int

	mu         sync.Mutex
	exceptions []string
	dialogs    []string
}

// newBrowser starts chromium with a fresh profile; b.site sets the
// dashboard it opens pages of. Every JavaScript dialog (confirm) is
// accepted and recorded; uncaught exceptions in a page are recorded for
// b.checkNoExceptions.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := requireChromium(t)
	var out bytes.Buffer
	var outMu sync.Mutex
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // the tests run as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("host-resolver-rules", "MAP "+dashboardHost+" 127.0.0.1, MAP *."+baseDomain+" 127.0.0.1, MAP csrf.example 127.0.0.1"),
		chromedp.CombinedOutput(lockedWriter{&outMu, &out}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser (bound to ctx, so with no
	// timeout of its own).
	if err := chromedp.Do(ctx); err != nil {
		outMu.Lock()
		output := out.String()
		outMu.Unlock()
		if strings.Contains(err.Error(), strings.TrimSpace(output)) {
			output = ""
		}
		browserUnavailable(t, "chromium at %s did not start: %v\n%s", exe, err, output)
	}
	b := &browser{t: t, ctx: ctx, dir: screenshotDir(t)}

	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			text := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil && ev.ExceptionDetails.Exception.Description != "" {
				text += ": " + ev.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", text, ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber))
			b.mu.Unlock()
		}
	}()
	return b
}

// site points the browser at the dashboard of a caddy-paas whose HTTP
// server listens on httpAddr.
func (b *browser) site(httpAddr string) {
	b.t.Helper()
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.base = "http://" + net.JoinHostPort(dashboardHost, port)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// do runs actions with a timeout, failing the test with what was being
// done.
func (b *browser) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// fatalf fails the test with a screenshot of the page as it is.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	b.screenshot("failure")
	b.t.Fatalf(format+"\npage: %s\n%s", append(args, b.location(), b.bodyText())...)
}

// open loads a page of the dashboard and waits for its load event.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("opening "+path, 20*time.Second, chromedp.Navigate(b.base+path))
}

// eval evaluates a JavaScript expression in the page into out (a pointer;
// nil ignores the result). A promise is awaited.
func (b *browser) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, func(p *runtime.EvaluateParams) {
		p.AwaitPromise = new(true)
	}))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// mustEval is eval that fails the test.
func (b *browser) mustEval(expr string, out any) {
	b.t.Helper()
	if err := b.eval(expr, out); err != nil {
		b.fatalf("evaluating %s: %v", expr, err)
	}
}

// waitJS polls a JavaScript expression until it is true. Errors (such as
// a page that is being replaced) count as false. On timeout the test fails
// with a screenshot and the page's text.
func (b *browser) waitJS(what string, timeout time.Duration, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		var ok bool
		err := b.eval("!!("+expr+")", &ok)
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(150 * time.Millisecond)
	}
	b.fatalf("%s: not true after %s (%s; last error %v)", what, timeout, expr, last)
}

// waitPage waits until the page at path has loaded and shows text.
func (b *browser) waitPage(path, text string, timeout time.Duration) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("page %s showing %q", path, text), timeout,
		fmt.Sprintf(`location.pathname === %s && document.readyState === "complete" && document.body.innerText.includes(%s)`, jsString(path), jsString(text)))
}

// location is the page's address ("" when it cannot be read).
func (b *browser) location() string {
	var s string
	_ = b.eval("location.href", &s)
	return s
}

// bodyText is what the page shows, as text.
func (b *browser) bodyText() string {
	var s string
	_ = b.eval("document.body ? document.body.innerText : ''", &s)
	return s
}

// text is the trimmed innerText of the first element matching a CSS
// selector ("" when none).
func (b *browser) text(css string) string {
	var s string
	_ = b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText.trim() : ""; })()`, jsString(css)), &s)
	return s
}

// statusLine is the text of the page's status line (what an action says).
func (b *browser) statusLine() string { return b.text("#status") }

// click clicks the element that a CSS selector finds.
func (b *browser) click(css string) {
	b.t.Helper()
	b.do("clicking "+css, 10*time.Second, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// clickText clicks the visible button or link whose text is text, within
// the elements a CSS selector finds (the whole page for "").
func (b *browser) clickText(within, text string) {
	b.t.Helper()
	sel := b.markByText(within, text)
	if sel == "" {
		b.fatalf("no visible button or link %q in %q", text, within)
	}
	b.click(sel)
}

// markByText finds the first visible button, link or summary whose text
// is text (within a CSS selector, the whole page for "") and answers a CSS
// selector for it ("" when none): the element gets a data-bt attribute.
func (b *browser) markByText(within, text string) string {
	if within == "" {
		within = "body"
	}
	var mark string
	_ = b.eval(fmt.Sprintf(`(() => {
		const want = %s.toLowerCase();
		for (const root of document.querySelectorAll(%s)) {
			for (const e of root.querySelectorAll("button, a, summary, [role=button]")) {
				if (e.getClientRects().length === 0) continue;
				if (e.innerText.trim().toLowerCase() !== want) continue;
				const m = "bt" + Math.random().toString(36).slice(2);
				e.setAttribute("data-bt", m);
				return '[data-bt="' + m + '"]';
			}
		}
		return "";
	})()`, jsString(text), jsString(within)), &mark)
	return mark
}

// typeInto types text into the field a CSS selector finds, with key
// events, after emptying it.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	b.do("waiting for "+css, 10*time.Second, chromedp.WaitVisible(chromedp.CSS(css)))
	b.mustEval(fmt.Sprintf(`(e => (e.value = "", true))(document.querySelector(%s))`, jsString(css)), nil)
	b.do("typing into "+css, 10*time.Second, chromedp.SendKeys(chromedp.CSS(css), text))
}

// keys sends key events to the focused element.
func (b *browser) keys(keys string) {
	b.t.Helper()
	b.do(fmt.Sprintf("pressing %q", keys), 10*time.Second, chromedp.KeyEvent(keys))
}

// screenshot writes a PNG of the whole page into the screenshot folder.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	path := filepath.Join(b.dir, fmt.Sprintf("dashboard-%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}

// setColorScheme emulates prefers-color-scheme ("" for the system's).
func (b *browser) setColorScheme(scheme string) {
	b.t.Helper()
	features := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		b.fatalf("emulating prefers-color-scheme %q: %v", scheme, err)
	}
}

// checkPage makes the checks every page gets: no injected markup ran or
// exists (the XSS probe), every form field has a label, and every visible
// control is reachable with the Tab key. Then it takes a screenshot.
func (b *browser) checkPage(name string) {
	b.t.Helper()
	b.checkNoXSS(name)
	b.checkLabels(name)
	b.checkKeyboardReach(name)
	b.screenshot(name)
}

// checkNoXSS asserts that no injected element exists and no injected
// handler ran. (The page's CSP would block an inline handler too; the
// element check catches the markup itself.)
func (b *browser) checkNoXSS(name string) {
	b.t.Helper()
	var res struct {
		Ran      bool `json:"ran"`
		Injected int  `json:"injected"`
	}
	b.mustEval(`({ran: window.__xss !== undefined, injected: document.querySelectorAll("img[src='x'], [onerror]").length})`, &res)
	if res.Ran || res.Injected > 0 {
		b.t.Errorf("%s: injected markup: handler ran %v, %d injected elements", name, res.Ran, res.Injected)
	}
}

// checkLabels asserts that every input, select and textarea (hidden ones
// too) has a label with text, or an aria-label or aria-labelledby.
func (b *browser) checkLabels(name string) {
	b.t.Helper()
	var unlabelled []string
	b.mustEval(`Array.from(document.querySelectorAll("input, select, textarea"))
		.filter(e => e.type !== "hidden")
		.filter(e => !(Array.from(e.labels || []).some(l => l.textContent.trim() !== "") ||
			(e.getAttribute("aria-label") || "").trim() !== "" ||
			(e.getAttribute("aria-labelledby") || "").split(/\s+/).some(id => id && document.getElementById(id) && document.getElementById(id).textContent.trim() !== "")))
		.map(e => e.outerHTML.slice(0, 160))`, &unlabelled)
	if len(unlabelled) > 0 {
		b.t.Errorf("%s: form fields without a label:\n%s", name, strings.Join(unlabelled, "\n"))
	}
}

// checkKeyboardReach presses Tab from the top of the page until focus
// has visited every visible, enabled control (links, buttons, fields,
// summaries, elements with tabindex >= 0), or fails with those it never
// reached.
func (b *browser) checkKeyboardReach(name string) {
	b.t.Helper()
	var n int
	b.mustEval(`(() => {
		window.__kbSeen = new Set();
		if (!window.__kbListening) {
			document.addEventListener("focusin", e => window.__kbSeen.add(e.target), true);
			window.__kbListening = true;
		}
		if (document.activeElement) document.activeElement.blur();
		window.scrollTo(0, 0);
		return document.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]").length;
	})()`, &n)
	for i := 0; i < n+5; i++ {
		b.keys("\t")
	}
	var missed []string
	b.mustEval(`Array.from(document.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]"))
		.filter(e => !e.disabled && (e.matches("a[href], button, input, select, textarea, summary") || e.tabIndex >= 0))
		.filter(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden")
		.map(e => window.__kbSeen.has(e) ? "" : e.outerHTML.slice(0, 160))`, &missed)
	reached := 0
	missed = slices.DeleteFunc(missed, func(s string) bool {
		if s == "" {
			reached++
		}
		return s == ""
	})
	if len(missed) > 0 {
		b.t.Errorf("%s: controls never reached with Tab (%d presses):\n%s", name, n+5, strings.Join(missed, "\n"))
	}
	b.t.Logf("%s: %d controls reached with Tab", name, reached)
	b.mustEval(`(document.activeElement && document.activeElement.blur(), true)`, nil)
}

// tabTo presses Tab from the top of the page until the focused element
// matches a CSS selector; it answers how many presses that took.
func (b *browser) tabTo(css string, max int) int {
	b.t.Helper()
	b.mustEval(`(document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0), true)`, nil)
	for i := 1; i <= max; i++ {
		b.keys("\t")
		var ok bool
		b.mustEval(fmt.Sprintf(`!!(document.activeElement && document.activeElement.matches(%s))`, jsString(css)), &ok)
		if ok {
			return i
		}
	}
	var focused string
	_ = b.eval(`document.activeElement ? document.activeElement.outerHTML.slice(0, 160) : ""`, &focused)
	b.fatalf("%s not reached after %d Tab presses (focus on %s)", css, max, focused)
	return 0
}

// checkNoExceptions fails on uncaught exceptions in the pages so far.
func (b *browser) checkNoExceptions() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.t.Errorf("uncaught exceptions in the pages:\n%s", strings.Join(b.exceptions, "\n"))
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}
