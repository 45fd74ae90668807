package dashboard

import (
	"cmp"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// The pages. Each handler finds the visitor (GET /me), reads what it shows
// from the API with the visitor's cookie, and renders it; none of them
// decides who may see what.

// setupPage is first-run setup: the setup token from the server's log, an
// e-mail and a password make the first admin.
func (h *Handler) setupPage(w http.ResponseWriter, r *http.Request) {
	var st authStatus
	if err := h.get(r, "/auth/status", &st); err != nil {
		h.fail(w, r, err)
		return
	}
	if !st.SetupRequired {
		if st.User != nil {
			redirect(w, r, "/")
		} else {
			redirect(w, r, "/login")
		}
		return
	}
	h.render(w, http.StatusOK, "setup", base{Title: "First-run setup", API: h.prefix})
}

type loginData struct {
	base
	// Next is where to go after logging in: a path of this site.
	Next string
}

// loginPage asks for an e-mail and a password, and a TOTP code when the
// API answers that the account needs one.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	var st authStatus
	if err := h.get(r, "/auth/status", &st); err != nil {
		h.fail(w, r, err)
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	switch {
	case st.SetupRequired:
		redirect(w, r, "/setup")
		return
	case st.User != nil:
		redirect(w, r, next)
		return
	}
	h.render(w, http.StatusOK, "login", loginData{base: base{Title: "Log in", API: h.prefix}, Next: next})
}

// safeNext keeps a "next" address only when it is a path of this site: a
// login page must not send anyone elsewhere.
func safeNext(s string) string {
	if len(s) > 2000 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") ||
		strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '\\' }) {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return s
}

type appsData struct {
	base
	Apps []appRow
	// Teams are the teams the visitor may create an app in.
	Teams []string
	// Team is the one preselected in the "New app" form.
	Team string
}

// appRow is one line of the apps page: flat strings and numbers, so that
// rendering 1,000 of them stays cheap (no embedded struct to search, no
// function called per cell).
type appRow struct {
	Name string
	Path string
	Team string
	// Status is also the badge's class.
	Status string
	// Host is the app's first host, with the site's port: its link
	// (//host) keeps the scheme of the dashboard.
	Host    string
	Current string
	// LastDeploy is the newest deployment's status and age ("" for none).
	LastDeploy string
	// Replicas is "ready/wanted".
	Replicas string
	// CPU and Memory are the running replicas' use ("—" when none runs).
	CPU    string
	Memory string
}

// listedApp is what the apps page reads of each app in GET /apps: only
// the fields it shows are decoded.
type listedApp struct {
	Name          string   `json:"name"`
	Team          string   `json:"team"`
	Status        string   `json:"status"`
	Hosts         []string `json:"hosts"`
	Current       string   `json:"current_deployment"`
	Replicas      int      `json:"replicas"`
	ReadyReplicas int      `json:"ready_replicas"`
	// Usage is absent when no replica runs.
	Usage *platform.AppUsage `json:"usage"`
	// LastDeploy is the newest deployment, absent before the first.
	LastDeploy *platform.DeploySummary `json:"last_deploy"`
}

// lastDeployText says the newest deployment's status and how long ago it
// started, such as "live, 5m ago".
func lastDeployText(d *platform.DeploySummary, now time.Time) string {
	if d == nil {
		return ""
	}
	age := now.Sub(d.CreatedAt)
	var ago string
	switch {
	case age < time.Minute:
		ago = "just now"
	case age < time.Hour:
		ago = strconv.Itoa(int(age/time.Minute)) + "m ago"
	case age < 48*time.Hour:
		ago = strconv.Itoa(int(age/time.Hour)) + "h ago"
	default:
		ago = strconv.Itoa(int(age/(24*time.Hour))) + "d ago"
	}
	return string(d.Status) + ", " + ago
}

// appsPage lists the apps the visitor sees, with a form for a new one.
func (h *Handler) appsPage(w http.ResponseWriter, r *http.Request) {
	m, r := h.session(w, r)
	if m == nil {
		return
	}
	var (
		apps  []listedApp
		teams []*auth.TeamView
	)
	if err := h.get(r, "/apps", &apps); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.get(r, "/teams", &teams); err != nil {
		h.fail(w, r, err)
		return
	}
	d := appsData{base: base{Title: "Apps", Nav: "apps", Me: m, API: h.prefix}, Apps: make([]appRow, len(apps))}
	_, port := siteOrigin(r)
	now := time.Now()
	for i, a := range apps {
		row := appRow{Name: a.Name, Path: url.PathEscape(a.Name), Team: a.Team, Status: a.Status,
			Current: shortID(a.Current), Replicas: strconv.Itoa(a.ReadyReplicas) + "/" + strconv.Itoa(a.Replicas),
			CPU: cpuText(a.Usage), Memory: memoryText(a.Usage), LastDeploy: lastDeployText(a.LastDeploy, now)}
		if len(a.Hosts) > 0 {
			row.Host = hostPort(a.Hosts[0], port)
		}
		d.Apps[i] = row
	}
	for _, t := range teams {
		if t.Role.Can(auth.PermManage) {
			d.Teams = append(d.Teams, t.Name)
		}
	}
	slices.Sort(d.Teams)
	if slices.Contains(d.Teams, auth.DefaultTeam) {
		d.Team = auth.DefaultTeam
	} else if len(d.Teams) > 0 {
		d.Team = d.Teams[0]
	}
	h.render(w, http.StatusOK, "apps", d)
}

type appData struct {
	base
	App *platform.AppView
	// Role is the visitor's role in the app's team: it only decides which
	// controls are shown; the API decides what they may do.
	Role    auth.Role
	URLs    []string
	Deploys []*platform.Deployment
	// Latest is the newest deployment, whose log the page streams.
	Latest       *platform.Deployment
	EnvKeys      []string
	Domains      []platform.DomainStatus
	DeploysError string
	EnvError     string
	DomainsError string
}

// Can reports whether the visitor's role shows the controls that need
// perm.
func (d appData) Can(perm string) bool { return d.Role.Can(auth.Permission(perm)) }

// appPage shows one app: overview, deployments, logs, env, domains,
// scaling and deletion. Another team's app is not found, as in the API.
func (h *Handler) appPage(w http.ResponseWriter, r *http.Request) {
	m, r := h.session(w, r)
	if m == nil {
		return
	}
	name := r.PathValue("name")
	path := "/apps/" + url.PathEscape(name)
	var app platform.AppView
	if err := h.get(r, path, &app); err != nil {
		h.fail(w, r, err)
		return
	}
	d := appData{base: basePage(app.Name, "apps", m, h.prefix), App: &app}
	d.Role = roleIn(m, app.Team)
	scheme, port := siteOrigin(r)
	for _, host := range app.Hosts {
		d.URLs = append(d.URLs, appURL(scheme, port, host))
	}
	// The sections are independent reads: run them together (the domain
	// checks resolve names).
	var (
		wg      sync.WaitGroup
		env     map[string]string
		errs    [3]error
		deploys []*platform.Deployment
		domains []platform.DomainStatus
	)
	wg.Go(func() { errs[0] = h.get(r, path+"/deploys", &deploys) })
	wg.Go(func() { errs[1] = h.get(r, path+"/env", &env) })
	wg.Go(func() { errs[2] = h.get(r, path+"/domains", &domains) })
	wg.Wait()
	for _, err := range errs {
		if ae, ok := err.(*apiError); ok && ae.Status == http.StatusUnauthorized {
			h.toLogin(w, r)
			return
		}
	}
	d.DeploysError, d.EnvError, d.DomainsError = errText(errs[0]), errText(errs[1]), errText(errs[2])
	slices.SortStableFunc(deploys, func(a, b *platform.Deployment) int {
		if c := cmp.Compare(b.Version, a.Version); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	d.Deploys = deploys
	if len(deploys) > 0 {
		d.Latest = deploys[0]
	}
	for k := range env {
		d.EnvKeys = append(d.EnvKeys, k)
	}
	slices.Sort(d.EnvKeys)
	d.Domains = domains
	h.render(w, http.StatusOK, "app", d)
}

func basePage(title, nav string, m *me, prefix string) base {
	return base{Title: title, Nav: nav, Me: m, API: prefix}
}

// roleIn is the visitor's role in team, for the controls a page shows. A
// platform admin acts as an owner everywhere.
func roleIn(m *me, team string) auth.Role {
	if m.User != nil && m.User.Admin {
		return auth.RoleOwner
	}
	return m.Teams[team]
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	if ae, ok := err.(*apiError); ok {
		return ae.Message
	}
	return "the API could not be reached"
}

type teamsData struct {
	base
	Teams       []teamRow
	Tokens      []auth.Token
	TokensError string
	// TokenTeams are the teams a token may be made for.
	TokenTeams []string
	Roles      []auth.Role
	Scopes     []auth.Scope
}

type teamRow struct {
	*auth.TeamView
	// CanManage shows the member controls.
	CanManage bool
}

// teamsPage shows the visitor's teams with their members, and their API
// tokens.
func (h *Handler) teamsPage(w http.ResponseWriter, r *http.Request) {
	m, r := h.session(w, r)
	if m == nil {
		return
	}
	var teams []*auth.TeamView
	if err := h.get(r, "/teams", &teams); err != nil {
		h.fail(w, r, err)
		return
	}
	d := teamsData{base: basePage("Teams", "teams", m, h.prefix), Roles: auth.Roles,
		Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeDeploy, auth.ScopeAdmin}}
	slices.SortFunc(teams, func(a, b *auth.TeamView) int { return strings.Compare(a.Name, b.Name) })
	for _, t := range teams {
		d.Teams = append(d.Teams, teamRow{TeamView: t, CanManage: t.Role.Can(auth.PermManage)})
		if t.Role != "" {
			d.TokenTeams = append(d.TokenTeams, t.Name)
		}
	}
	var tokens []auth.Token
	err := h.get(r, "/tokens", &tokens)
	if ae, ok := err.(*apiError); ok && ae.Status == http.StatusUnauthorized {
		h.toLogin(w, r)
		return
	}
	d.TokensError = errText(err)
	d.Tokens = tokens
	h.render(w, http.StatusOK, "teams", d)
}

// auditLimit is how many entries the audit page shows at once.
const auditLimit = 100

type auditData struct {
	base
	Entries []auth.AuditEntry
	// Teams are the teams whose log the visitor may read (for the filter).
	Teams []string
	// Team is the filter ("" for every team the visitor may read).
	Team string
	// Notes say what the page could not show.
	Notes []string
	// Older links to the next page of older entries.
	Older string
}

// auditPage shows the audit log: all of it for a platform admin (GET
// /audit), else the log of each team the visitor manages.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request) {
	m, r := h.session(w, r)
	if m == nil {
		return
	}
	q := r.URL.Query()
	d := auditData{base: basePage("Audit log", "audit", m, h.prefix), Team: q.Get("team")}
	var teams []*auth.TeamView
	if err := h.get(r, "/teams", &teams); err != nil {
		h.fail(w, r, err)
		return
	}
	for _, t := range teams {
		if t.Role.Can(auth.PermManage) {
			d.Teams = append(d.Teams, t.Name)
		}
	}
	slices.Sort(d.Teams)
	params := url.Values{"limit": {strconv.Itoa(auditLimit)}}
	if b := q.Get("before"); b != "" {
		params.Set("before", b)
	}
	if m.User.Admin {
		if d.Team != "" {
			params.Set("team", d.Team)
		}
		if err := h.get(r, "/audit?"+params.Encode(), &d.Entries); err != nil {
			h.fail(w, r, err)
			return
		}
	} else {
		list := d.Teams
		if d.Team != "" {
			list = []string{d.Team}
		}
		if len(list) == 0 {
			d.Notes = append(d.Notes, "You manage no team: the audit log of a team is for its owners and admins.")
		}
		for _, t := range list {
			var entries []auth.AuditEntry
			err := h.get(r, "/teams/"+url.PathEscape(t)+"/audit?"+params.Encode(), &entries)
			if err != nil {
				if ae, ok := err.(*apiError); ok && ae.Status == http.StatusUnauthorized {
					h.toLogin(w, r)
					return
				}
				d.Notes = append(d.Notes, "Team "+t+": "+errText(err))
				continue
			}
			d.Entries = append(d.Entries, entries...)
		}
		slices.SortFunc(d.Entries, func(a, b auth.AuditEntry) int { return cmp.Compare(b.ID, a.ID) })
		if len(d.Entries) > auditLimit {
			d.Entries = d.Entries[:auditLimit]
		}
	}
	if n := len(d.Entries); n == auditLimit {
		older := url.Values{"before": {strconv.FormatUint(d.Entries[n-1].ID, 10)}}
		if d.Team != "" {
			older.Set("team", d.Team)
		}
		d.Older = "/audit?" + older.Encode()
	}
	h.render(w, http.StatusOK, "audit", d)
}

// siteOrigin is the scheme and port the visitor reached the dashboard
// with. Apps are served by the same Caddy, normally on the same scheme
// and port, so their links use them too.
func siteOrigin(r *http.Request) (scheme, port string) {
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	return scheme, port
}

func appURL(scheme, port, host string) string {
	return scheme + "://" + hostPort(host, port)
}

func hostPort(host, port string) string {
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}

// formatTime shows a time in UTC to the minute; "" for none.
func formatTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// deployDuration is how long a deployment ran, from its start (or its
// creation) to its end; "running" while it runs.
func deployDuration(d *platform.Deployment) string {
	start := d.CreatedAt
	if d.StartedAt != nil {
		start = *d.StartedAt
	}
	if d.FinishedAt == nil {
		if d.Status.Finished() {
			return ""
		}
		return "running"
	}
	return d.FinishedAt.Sub(start).Round(time.Second).String()
}

// noUsage is what the CPU and memory cells show when no replica runs.
const noUsage = "—"

// cpuText shows the CPU use of an app's replicas, in percent of one CPU.
func cpuText(u *platform.AppUsage) string {
	if u == nil {
		return noUsage
	}
	return strconv.FormatFloat(u.CPUPercent, 'f', 1, 64) + "%"
}

// memoryText shows the memory of an app's replicas in MiB.
func memoryText(u *platform.AppUsage) string {
	if u == nil {
		return noUsage
	}
	return strconv.FormatFloat(float64(u.MemoryBytes)/(1<<20), 'f', 1, 64) + " MiB"
}

// memoryLimit writes a limit in bytes as the API reads it back: "512m",
// "1g", or bytes; "" for none.
func memoryLimit(b int64) string {
	switch {
	case b <= 0:
		return ""
	case b%(1<<30) == 0:
		return strconv.FormatInt(b>>30, 10) + "g"
	case b%(1<<20) == 0:
		return strconv.FormatInt(b>>20, 10) + "m"
	case b%(1<<10) == 0:
		return strconv.FormatInt(b>>10, 10) + "k"
	}
	return strconv.FormatInt(b, 10)
}

type accountData struct {
	base
	// TOTPEnabled tells whether two-factor authentication is on.
	TOTPEnabled bool
}

// accountPage lets the visitor change their password and turn two-factor
// authentication on or off.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	m, r := h.session(w, r)
	if m == nil {
		return
	}
	h.render(w, http.StatusOK, "account", accountData{base: basePage("Account", "account", m, h.prefix), TOTPEnabled: m.User.TOTPEnabled})
}

// shortID cuts an id for display.
func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// pathPart escapes a name for a path segment of an address.
func pathPart(s string) string { return url.PathEscape(s) }
