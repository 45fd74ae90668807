package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/caddymodule"
)

// The auth phase's sizes.
const (
	// authApps are created; authClients create them.
	authApps    = 1000
	authClients = 4
	// authRequests are timed per side, the sides taking turns in batches
	// (authListBatch requests of the list, authGetBatch of one app), after
	// untimed warm-up requests: authListWarmup of the list, authGetWarmup
	// of one app, authWarmup calls of Authenticate.
	authRequests   = 2000
	authListBatch  = 25
	authGetBatch   = 50
	authListWarmup = 20
	authGetWarmup  = 200
	authWarmup     = 200
	// The list of 1,000 apps takes 10-50 ms per request: the timed
	// requests stop after authListBudget (authGetBudget for one app), at
	// the end of a round, so that the phase stays under a minute.
	authListBudget = 30 * time.Second
	authGetBudget  = 15 * time.Second
	// authHashes and authLogins are timed, in turns.
	authHashes = 7
	authLogins = 5
)

// authEnv is a caddy-paas in this process with its admin endpoint on a
// loopback port and a paas_dashboard server (the public API, /api/v1/) on
// another, and the credentials the phase made.
type authEnv struct {
	admin, dashboard string // base URLs
	client           *http.Client
	email, password  string
	cookie, csrf     string // of the last login
	token            string
}

// authSide is one way of reading the apps: a URL, how the request is
// authenticated (or not), and the times measured.
type authSide struct {
	name   string
	url    string
	header http.Header
	client *http.Client
	times  []time.Duration
}

// authPhase measures the public API's authentication: GET /api/v1/apps
// with 1,000 apps and GET /api/v1/apps/{name}, each with an API token and
// with a session cookie, against the same GETs on Caddy's local admin
// endpoint (no authentication) in the same process; Authenticate alone;
// and what a login costs (POST /api/v1/auth/login against one argon2id
// hash).
func (b *bench) authPhase(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "auth")
	adminAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	dashAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	cfg := caddyConfig(dir, object{
		"paas": paasAppConfig(dir),
		"http": object{"servers": object{
			"dashboard": httpServer(dashAddr, []any{object{"handle": []any{object{"handler": "paas_dashboard"}}}}),
		}},
	})
	// The admin endpoint on a loopback port, as the dashboard: both sides
	// go through TCP and net/http the same way.
	cfg["admin"] = object{"listen": adminAddr, "config": object{"persist": false}}
	b.progress("auth: loading caddy-paas with the admin endpoint on " + adminAddr + " and paas_dashboard on " + dashAddr)
	if err := loadConfig(cfg); err != nil {
		return err
	}
	// The next phase starts from no config; a config with the admin
	// endpoint disabled also closes this one's (caddy.Stop would not).
	defer func() { _ = loadConfig(caddyConfig(b.tmp, object{})) }()

	e := &authEnv{
		admin:     "http://" + adminAddr,
		dashboard: "http://" + dashAddr,
		client:    newAuthClient(),
		email:     "bench-admin@" + baseDomain,
		password:  "bench-" + randomHex(12),
	}
	defer e.client.CloseIdleConnections()
	if _, err := e.call(ctx, http.MethodPost, e.admin+"/paas/users", nil,
		object{"email": e.email, "password": e.password, "admin": true}, http.StatusCreated); err != nil {
		return fmt.Errorf("creating the first admin through the admin endpoint: %w", err)
	}
	b.progress(fmt.Sprintf("auth: creating %d apps through POST /paas/apps, %d clients", authApps, authClients))
	start := time.Now()
	if err := e.createApps(ctx, authApps, authClients); err != nil {
		return err
	}
	b.progress(fmt.Sprintf("auth: created %d apps in %s", authApps, time.Since(start).Round(time.Millisecond)))

	// A first login makes the session of the cookie side and the token's.
	if _, err := e.login(ctx); err != nil {
		return err
	}
	out, err := e.call(ctx, http.MethodPost, e.dashboard+"/api/v1/tokens", e.sessionHeader(true),
		object{"name": "bench", "team": auth.DefaultTeam, "scope": "read"}, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("creating an API token with the session: %w", err)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Token == "" {
		return fmt.Errorf("creating an API token: no token in the answer %s", truncate(string(out), 200))
	}
	e.token = created.Token

	listSides := []*authSide{
		{name: "admin", url: e.admin + "/paas/apps", header: http.Header{}},
		{name: "token", url: e.dashboard + "/api/v1/apps", header: http.Header{"Authorization": {"Bearer " + e.token}}},
		{name: "session", url: e.dashboard + "/api/v1/apps", header: e.sessionHeader(false)},
	}
	one := appName(authApps / 2)
	getSides := []*authSide{
		{name: "admin", url: e.admin + "/paas/apps/" + one, header: listSides[0].header},
		{name: "token", url: e.dashboard + "/api/v1/apps/" + one, header: listSides[1].header},
		{name: "session", url: e.dashboard + "/api/v1/apps/" + one, header: listSides[2].header},
	}
	for _, s := range append(append([]*authSide{}, listSides...), getSides...) {
		s.client = newAuthClient()
		defer s.client.CloseIdleConnections()
	}
	for _, s := range listSides {
		if err := s.check(ctx, authApps); err != nil {
			return err
		}
	}
	listBytes := listSides[0].size(ctx)

	b.progress(fmt.Sprintf("auth: GET of the list of %d apps, up to %d requests per side or %s in all", authApps, authRequests, authListBudget))
	if err := measureAuthSides(ctx, listSides, authListWarmup, authListBatch, authRequests, authListBudget, b.o.profileDir, "auth-apps-list"); err != nil {
		return err
	}
	b.progress(fmt.Sprintf("auth: GET of one app, %d requests per side", authRequests))
	if err := measureAuthSides(ctx, getSides, authGetWarmup, authGetBatch, authRequests, authGetBudget, b.o.profileDir, "auth-app-get"); err != nil {
		return err
	}
	// The dashboard's apps page: rendered on the server from the same list,
	// read through the API in-process with the visitor's session.
	pageSides := []*authSide{
		{name: "api", url: e.dashboard + "/api/v1/apps", header: e.sessionHeader(false)},
		{name: "page", url: e.dashboard + "/", header: e.sessionHeader(false)},
	}
	for _, s := range pageSides {
		s.client = newAuthClient()
		defer s.client.CloseIdleConnections()
	}
	b.progress(fmt.Sprintf("auth: the dashboard's apps page with %d apps", authApps))
	if err := measureAuthSides(ctx, pageSides, authListWarmup, authListBatch, authRequests, authListBudget/2, b.o.profileDir, "dashboard-apps-page"); err != nil {
		return err
	}

	// Authenticate alone, in this process, on requests like the ones
	// above: the authentication layer without HTTP around it.
	svc, err := activeAuth()
	if err != nil {
		return err
	}
	authn := map[string]time.Duration{}
	for _, s := range getSides[1:] {
		req, err := http.NewRequest(http.MethodGet, s.url, nil)
		if err != nil {
			return err
		}
		req.Header = s.header.Clone()
		var times []time.Duration
		for i := 0; i < authWarmup+authRequests; i++ {
			t0 := time.Now()
			p, err := svc.Authenticate(req)
			d := time.Since(t0)
			if err != nil || p == nil {
				return fmt.Errorf("%s: Authenticate found no principal (%v)", s.name, err)
			}
			if i >= authWarmup {
				times = append(times, d)
			}
		}
		authn[s.name] = summarize(times).median
	}

	// Hashes and logins take turns (H L H L ... H H), so that both see the
	// machine alike. Logins use the right password: failures are
	// throttled.
	b.progress(fmt.Sprintf("auth: %d argon2id hashes (auth.HashPassword) and %d logins through POST /api/v1/auth/login, in turns", authHashes, authLogins))
	var hashes, logins []time.Duration
	var params string
	for i := 0; i < max(authHashes, authLogins); i++ {
		if i < authHashes {
			t0 := time.Now()
			h, err := auth.HashPassword(e.password)
			if err != nil {
				return fmt.Errorf("hashing a password: %w", err)
			}
			hashes = append(hashes, time.Since(t0))
			params = argonParams(h)
		}
		if i < authLogins {
			d, err := e.login(ctx)
			if err != nil {
				return err
			}
			logins = append(logins, d)
		}
	}

	how := map[string]string{"token": "API token (Authorization: Bearer)", "session": "session cookie (" + auth.SessionCookie + ")"}
	base := summarize(listSides[0].times)
	baseCell := fmt.Sprintf("GET /paas/apps on Caddy's local admin endpoint, no authentication: p50 %s, p99 %s",
		fmtDur(base.median), fmtDur(base.p99))
	for _, s := range listSides[1:] {
		l := summarize(s.times)
		b.rep.add(row{
			measure:  fmt.Sprintf("GET /api/v1/apps with %s apps, %s (p50, p99 of %s sequential requests)", fmtInt(authApps), how[s.name], fmtInt(float64(len(s.times)))),
			paas:     fmt.Sprintf("p50 %s, p99 %s", fmtDur(l.median), fmtDur(l.p99)),
			baseline: baseCell,
			result:   fmt.Sprintf("%.2f (p50 %s; p99 ratio %.2f)", float64(l.median)/float64(base.median), fmtSigned(l.median-base.median), float64(l.p99)/float64(base.p99)),
			target:   "none (reference)",
		})
		baseCell = fmt.Sprintf("the same admin endpoint: p50 %s", fmtDur(base.median))
	}
	base = summarize(getSides[0].times)
	x := row{
		measure:  fmt.Sprintf("GET /api/v1/apps/{name}, one of %s apps, API token and session cookie (p50, p99 of %s sequential requests)", fmtInt(authApps), fmtInt(float64(len(getSides[0].times)))),
		baseline: fmt.Sprintf("GET /paas/apps/{name} on the local admin endpoint, no authentication: p50 %s, p99 %s", fmtDur(base.median), fmtDur(base.p99)),
		target:   "none (reference)",
	}
	var paas, result []string
	for _, s := range getSides[1:] {
		l := summarize(s.times)
		paas = append(paas, fmt.Sprintf("%s: p50 %s, p99 %s", s.name, fmtDur(l.median), fmtDur(l.p99)))
		result = append(result, fmt.Sprintf("%s %.2f (p50 %s)", s.name, float64(l.median)/float64(base.median), fmtSigned(l.median-base.median)))
	}
	x.paas = strings.Join(paas, "; ")
	x.result = strings.Join(result, ", ") + fmt.Sprintf("; Authenticate alone, in-process: token %s, session %s", fmtDur(authn["token"]), fmtDur(authn["session"]))
	b.rep.add(x)

	api, page := summarize(pageSides[0].times), summarize(pageSides[1].times)
	verdict := "met"
	if page.median >= 50*time.Millisecond {
		verdict = "**missed**"
	}
	b.rep.add(row{
		measure:  fmt.Sprintf("Dashboard apps page (GET /) with %s apps, session cookie (p50, p99 of %s sequential requests, to the last byte)", fmtInt(authApps), fmtInt(float64(len(pageSides[1].times)))),
		paas:     fmt.Sprintf("p50 %s, p99 %s", fmtDur(page.median), fmtDur(page.p99)),
		baseline: fmt.Sprintf("GET /api/v1/apps, the JSON the page is rendered from, same session: p50 %s, p99 %s", fmtDur(api.median), fmtDur(api.p99)),
		result:   fmt.Sprintf("%.2f (p50 %s)", float64(page.median)/float64(api.median), fmtSigned(page.median-api.median)),
		target:   "p50 < 50 ms: " + verdict,
	})

	lg, hs := summarize(logins), summarize(hashes)
	b.rep.add(row{
		measure: fmt.Sprintf("Login, POST /api/v1/auth/login with the right password, argon2id %s (median of %d)", params, authLogins),
		paas:    fmt.Sprintf("%s (%s-%s)", fmtDur(lg.median), fmtDur(slices.Min(logins)), fmtDur(lg.max)),
		baseline: fmt.Sprintf("one argon2id hash, auth.HashPassword in this process, median of %d: %s (%s-%s)",
			authHashes, fmtDur(hs.median), fmtDur(slices.Min(hashes)), fmtDur(hs.max)),
		result: fmt.Sprintf("%.2f (login - hash, medians: %s)", float64(lg.median)/float64(hs.median), fmtSigned(lg.median-hs.median)),
		target: "none (reference)",
	})
	b.rep.note("Auth rows: caddy-paas in this process with %s apps created through POST /paas/apps (no image, no container) on Caddy's admin endpoint, on a loopback port; "+
		"paas_dashboard on another loopback port; one platform admin created through POST /paas/users, logged in through POST /api/v1/auth/login, "+
		"with a read token of team %q made through POST /api/v1/tokens. Each side keeps one keep-alive connection; the three sides (admin endpoint, token, session) take turns in batches (A B C, C B A) of %d requests of the list, %d of one app, "+
		"each request timed from sending to the last byte of its answer (the list is %s bytes of JSON); the list stops at %s requests per side or after %s, whichever comes first.",
		fmtInt(authApps), auth.DefaultTeam, authListBatch, authGetBatch, fmtInt(float64(listBytes)), fmtInt(authRequests), authListBudget)
	return nil
}

// measureAuthSides times GETs of the sides, which take turns in batches
// of batch requests (A B C, C B A), after warmup untimed requests each,
// until each has n or budget has passed (at the end of a round, so that
// all have as many). With profileDir set, this process is CPU-profiled
// meanwhile into profileDir/name.pprof.
func measureAuthSides(ctx context.Context, sides []*authSide, warmup, batch, n int, budget time.Duration, profileDir, name string) error {
	for _, s := range sides {
		for i := 0; i < warmup; i++ {
			if _, err := s.get(ctx); err != nil {
				return err
			}
		}
	}
	stopProfile, err := startProfile(profileDir, name)
	if err != nil {
		return err
	}
	start := time.Now()
	for round := 0; round*batch < n && (round == 0 || time.Since(start) < budget); round++ {
		for j := range sides {
			s := sides[j]
			if round%2 == 1 {
				s = sides[len(sides)-1-j]
			}
			for k := 0; k < batch; k++ {
				d, err := s.get(ctx)
				if err != nil {
					_ = stopProfile()
					return err
				}
				s.times = append(s.times, d)
			}
		}
	}
	return stopProfile()
}

// activeAuth returns the auth service of the running config's paas app.
func activeAuth() (*auth.Service, error) {
	mod, err := caddy.ActiveContext().App("paas")
	if err != nil {
		return nil, fmt.Errorf("finding the paas app: %w", err)
	}
	app, ok := mod.(*caddymodule.App)
	if !ok {
		return nil, fmt.Errorf("the paas app is a %T, not *caddymodule.App", mod)
	}
	if app.Backend() == nil || app.Backend().Auth == nil {
		return nil, fmt.Errorf("the paas app has no auth service")
	}
	return app.Backend().Auth, nil
}

// fmtSigned formats a difference of durations with its sign.
func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}

// newAuthClient is a client with one keep-alive connection to a host and
// no compression.
func newAuthClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 4,
	}}
}

// call sends one JSON request and returns the answer's body, or an error
// unless the status is want.
func (e *authEnv) call(ctx context.Context, method, url string, header http.Header, body any, want int) ([]byte, error) {
	out, _, err := e.send(ctx, method, url, header, body, want)
	return out, err
}

func (e *authEnv) send(ctx context.Context, method, url string, header http.Header, body any, want int) ([]byte, *http.Response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp, err
	}
	if resp.StatusCode != want {
		return out, resp, fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, truncate(strings.TrimSpace(string(out)), 300))
	}
	return out, resp, nil
}

// createApps creates app1..appN with no image through POST /paas/apps on
// the admin endpoint, from clients concurrent clients.
func (e *authEnv) createApps(ctx context.Context, n, clients int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if _, err := e.call(ctx, http.MethodPost, e.admin+"/paas/apps", nil, object{"name": appName(i)}, http.StatusCreated); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("creating app %s: %w", appName(i), err) })
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// login logs in with the right password, keeps the session's cookie and
// CSRF token, and returns the round trip's time.
func (e *authEnv) login(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	out, resp, err := e.send(ctx, http.MethodPost, e.dashboard+"/api/v1/auth/login", nil,
		object{"email": e.email, "password": e.password}, http.StatusOK)
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("logging in: %w", err)
	}
	var answer struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(out, &answer); err != nil || answer.CSRF == "" {
		return 0, fmt.Errorf("logging in: no csrf_token in the answer %s", truncate(string(out), 200))
	}
	e.cookie = ""
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			e.cookie = c.Value
		}
	}
	if e.cookie == "" {
		return 0, fmt.Errorf("logging in: no %s cookie in the answer", auth.SessionCookie)
	}
	e.csrf = answer.CSRF
	return d, nil
}

// sessionHeader is the session's cookie, with the CSRF header for a
// change.
func (e *authEnv) sessionHeader(change bool) http.Header {
	h := http.Header{"Cookie": {(&http.Cookie{Name: auth.SessionCookie, Value: e.cookie}).String()}}
	if change {
		h.Set(auth.CSRFHeader, e.csrf)
	}
	return h
}

// get sends one GET of the side's URL and returns its time, until the
// answer's last byte.
func (s *authSide) get(ctx context.Context) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header = s.header.Clone()
	t0 := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: GET %s: %w", s.name, s.url, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("%s: GET %s: %w", s.name, s.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: GET %s: status %d", s.name, s.url, resp.StatusCode)
	}
	return d, nil
}

// check makes sure the side lists want apps.
func (s *authSide) check(ctx context.Context, want int) error {
	var list []json.RawMessage
	if err := s.decode(ctx, &list); err != nil {
		return err
	}
	if len(list) != want {
		return fmt.Errorf("%s: GET %s lists %d apps, want %d", s.name, s.url, len(list), want)
	}
	return nil
}

// size is the length of the side's answer in bytes, or 0.
func (s *authSide) size(ctx context.Context) int {
	var raw json.RawMessage
	if err := s.decode(ctx, &raw); err != nil {
		return 0
	}
	return len(raw)
}

func (s *authSide) decode(ctx context.Context, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	req.Header = s.header.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", s.name, s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("%s: GET %s: status %d: %s", s.name, s.url, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: GET %s: decoding the answer: %w", s.name, s.url, err)
	}
	return nil
}

// argonParams reads the parameters of a PHC argon2id hash,
// "$argon2id$v=19$m=65536,t=2,p=2$...", as "m=64MiB, t=2, p=2".
func argonParams(hash string) string {
	f := strings.Split(hash, "$")
	if len(f) < 4 {
		return "(unknown parameters)"
	}
	var m, t, p int
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return f[3]
	}
	mem := fmt.Sprintf("%dKiB", m)
	if m%1024 == 0 {
		mem = fmt.Sprintf("%dMiB", m/1024)
	}
	return fmt.Sprintf("m=%s, t=%d, p=%d", mem, t, p)
}
