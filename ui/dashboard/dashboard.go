// Package dashboard serves the dashboard's pages: HTML rendered on the
// server with html/template, and one small script that calls the public API
// for every action. The terminal page adds xterm.js (an npm dependency,
// vendored into assets/vendor by scripts/assets.sh) and terminal.js, which
// opens the API's terminal WebSocket.
//
// The package holds no authorization of its own and reads no store. Every
// page gets its data by calling the public API handler in process, with the
// visitor's own session cookie (apiclient.go), so the one authorization
// layer of /api/v1/ decides what a page shows: another team's app is "not
// found" on its page exactly as it is in the API. Every change in the
// browser is a fetch() to /api/v1/ with the session's X-CSRF-Token header,
// which the page carries in a <meta> tag read from GET /api/v1/me.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates that render a whole page, each with
// templates/layout.html.
var pageNames = []string{"setup", "login", "apps", "app", "terminal", "teams", "audit", "account", "error"}

// Handler serves the dashboard pages and their assets.
type Handler struct {
	api    http.Handler
	prefix string
	mux    *http.ServeMux
	pages  map[string]*template.Template
	assets *assetSet
}

// New returns the dashboard over the public API handler api, served under
// apiPrefix (such as "/api/v1") on the same site. api answers the pages'
// in-process reads and the browser's fetch() calls alike.
func New(api http.Handler, apiPrefix string) (http.Handler, error) {
	if api == nil {
		return nil, errors.New("dashboard: no API handler")
	}
	prefix := strings.TrimSuffix(apiPrefix, "/")
	if !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("dashboard: API prefix %q must start with /", apiPrefix)
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	h := &Handler{api: api, prefix: prefix, assets: assets, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"asset":    assets.url,
		"when":     formatTime,
		"duration": deployDuration,
		"short":    shortID,
		"pathpart": pathPart,
		"cpu":      cpuText,
		"memory":   memoryText,
		"memlimit": memoryLimit,
	}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: parsing page %s: %w", name, err)
		}
		h.pages[name] = t
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.appsPage)
	mux.HandleFunc("GET /apps/{name}", h.appPage)
	mux.HandleFunc("GET /apps/{name}/terminal", h.terminalPage)
	mux.HandleFunc("GET /teams", h.teamsPage)
	mux.HandleFunc("GET /audit", h.auditPage)
	mux.HandleFunc("GET /account", h.accountPage)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("GET /setup", h.setupPage)
	mux.HandleFunc("GET /assets/{hash}/{file}", assets.serve)
	h.mux = mux
	return h, nil
}

// contentSecurityPolicy allows only this site's own scripts, styles and
// connections (WebSockets to this host included), no inline code, and no
// framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// terminalPolicy is the policy of the terminal page alone, which allows
// inline styles: xterm.js draws the terminal in the DOM, writes its theme
// colors and cell sizes into <style> elements that it makes at run time,
// and colors some cells with style attributes. Under style-src 'self' the
// browser drops all of them and the terminal shows black text on black
// (checked in Chromium with xterm.js 6.0.0). Styles only: scripts stay
// 'self' (no inline script, no eval) and nothing else changes. Inline
// styles can restyle the page, not run code; what the page shows of the
// app is escaped by html/template, and xterm.js writes the terminal's
// output as text.
var terminalPolicy = strings.Replace(contentSecurityPolicy, "style-src 'self';", "style-src 'self' 'unsafe-inline';", 1)

// securityHeaders go on every answer of the dashboard: pages, assets,
// redirects and errors (the terminal page replaces the policy with
// terminalPolicy).
var securityHeaders = map[string]string{
	"Content-Security-Policy":      contentSecurityPolicy,
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"X-Content-Type-Options":       "nosniff",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// ServeHTTP serves a page or an asset.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		// The mux would answer in plain text (or redirect a path that is
		// not clean); every answer here is a page.
		h.noRoute(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// noRoute answers a path or method that no page serves.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	probe := r.Clone(r.Context())
	probe.Method = http.MethodGet
	if _, pattern := h.mux.Handler(probe); pattern != "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Pages only show; changes go to the API. (A form posted here is
		// one whose script did not run: its fields are dropped unread.)
		w.Header().Set("Allow", "GET, HEAD")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Nothing changes by posting to a page: the dashboard's forms need JavaScript, which sends each change to "+h.prefix+"/.")
		return
	}
	h.errorPage(w, r, http.StatusNotFound, "There is no page at this address.")
}

// base is what the layout needs on every page.
type base struct {
	Title string
	// Nav names the current section: apps, teams, audit or account.
	Nav string
	// Me is the visitor (nil on the setup, login and error pages of a
	// visitor who is not logged in).
	Me *me
	// API is the API's prefix, for the script.
	API string
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render writes a page: rendered whole before the first byte, so a
// template error never leaves half a page, and never cached.
func (h *Handler) render(w http.ResponseWriter, status int, page string, data any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBytes {
			bufPool.Put(buf)
		}
	}()
	if err := h.pages[page].Execute(buf, data); err != nil {
		// Only a bug in a template gets here; its text stays out of the
		// answer.
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	base
	Status  int
	Heading string
	Message string
}

// errorPage shows a status and a message: the API's own {"error"} message
// or one of the dashboard's, never a stack trace.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d := errorData{base: base{Title: http.StatusText(status), API: h.prefix}, Status: status, Heading: http.StatusText(status), Message: msg}
	if m, ok := r.Context().Value(meKey{}).(*me); ok {
		d.Me = m
	}
	h.render(w, status, "error", d)
}

// fail shows an API error: a page for its status, with its message. A
// session that ended meanwhile goes to the login page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		h.errorPage(w, r, http.StatusBadGateway, "The API could not be reached.")
		return
	}
	if ae.Status == http.StatusUnauthorized {
		h.toLogin(w, r)
		return
	}
	status := ae.Status
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	h.errorPage(w, r, status, ae.Message)
}

// redirect sends the visitor to another page (a path of this site).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}
