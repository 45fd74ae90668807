package platform

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
)

// Redirect statuses that a rule may use.
var redirectStatuses = map[int]bool{301: true, 302: true, 307: true, 308: true}

// Redirect is an app's redirect rule: requests to From (a host of the
// app; empty means any) whose path starts with PathPrefix go to To.
type Redirect struct {
	// ID names the rule, for removing it.
	ID string `json:"id"`
	// From is the host the rule applies to; it routes to the app. Empty:
	// every host of the app.
	From string `json:"from,omitempty"`
	// PathPrefix limits the rule to paths under it. Default: every path.
	PathPrefix string `json:"path_prefix,omitempty"`
	// To is where to go: a host (the scheme is kept) or an absolute
	// http(s) URL.
	To string `json:"to"`
	// Status is 301, 302, 307 or 308. Default: 308.
	Status int `json:"status,omitempty"`
	// DropPath sends every request to To itself instead of keeping the
	// path (after the prefix) and the query.
	DropPath bool `json:"drop_path,omitempty"`
}

// WWW redirect switches.
const (
	WWWOff    = ""
	WWWToApex = "to-apex"
	WWWToWWW  = "to-www"
)

// Limits of an app's edge policy.
const (
	maxRedirs  = 100
	maxMessage = 2000
)

// Maintenance is an app's maintenance mode: every request gets a 503 page
// with the message, whatever the app's replicas.
type Maintenance struct {
	// Enabled turns the maintenance page on.
	Enabled bool `json:"enabled"`
	// Message is shown on the page (as text).
	Message string `json:"message,omitempty"`
}

// EdgePolicy is what the router does for an app before proxying: it is
// derived from the app's record and swapped atomically with its hosts.
type EdgePolicy struct {
	Redirects   []Redirect
	WWW         string
	Maintenance *Maintenance
	// HSTS adds Strict-Transport-Security on HTTPS answers.
	HSTS bool
	// hosts are the app's hosts: www/apex redirects go only to one of them.
	hosts map[string]bool
}

// RedirectFor returns where a request goes instead, or "" with 0.
func (p *EdgePolicy) RedirectFor(scheme, host, path, rawQuery string) (string, int) {
	if p == nil {
		return "", 0
	}
	for _, r := range p.Redirects {
		if r.From != "" && r.From != host {
			continue
		}
		if !underPrefix(path, r.PathPrefix) {
			continue
		}
		status := r.Status
		if status == 0 {
			status = 308
		}
		target := r.To
		if !strings.Contains(target, "://") {
			target = scheme + "://" + target
		}
		if r.DropPath {
			return target, status
		}
		rest := path
		if r.PathPrefix != "" {
			rest = "/" + strings.TrimPrefix(strings.TrimPrefix(path, strings.TrimSuffix(r.PathPrefix, "/")), "/")
		}
		target = strings.TrimSuffix(target, "/") + rest
		if rawQuery != "" {
			target += "?" + rawQuery
		}
		return target, status
	}
	switch {
	case p.WWW == WWWToApex && strings.HasPrefix(host, "www."):
		if apex := strings.TrimPrefix(host, "www."); p.hosts[apex] {
			return withPath(scheme, apex, path, rawQuery), 308
		}
	case p.WWW == WWWToWWW && !strings.HasPrefix(host, "www."):
		if www := "www." + host; p.hosts[www] {
			return withPath(scheme, www, path, rawQuery), 308
		}
	}
	return "", 0
}

// underPrefix reports whether path is prefix or under it, segment-wise:
// /docs covers /docs and /docs/a, not /docsearch.
func underPrefix(path, prefix string) bool {
	if prefix == "" || prefix == "/" {
		return true
	}
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// redirectLoops reports whether a rule sends some request of an app with
// these hosts back to itself: its target is one of the hosts the rule
// applies to, on a path the rule matches again.
func redirectLoops(r Redirect, hosts []string) bool {
	raw := r.To
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	target := NormalizeHost(u.Hostname())
	if !slices.Contains(hosts, target) || (r.From != "" && r.From != target) {
		return false
	}
	return underPrefix(cmp.Or(u.Path, "/"), r.PathPrefix)
}

func withPath(scheme, host, path, rawQuery string) string {
	u := scheme + "://" + host + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

// validateRedirect normalizes and checks a rule.
func validateRedirect(r *Redirect) error {
	if r.From != "" {
		from, err := NormalizeDomain(r.From)
		if err != nil {
			return err
		}
		r.From = from
	}
	if r.Status == 0 {
		r.Status = 308
	}
	if !redirectStatuses[r.Status] {
		return invalid("redirect status %d: use 301, 302, 307 or 308", r.Status)
	}
	if r.PathPrefix != "" {
		if err := validateHealthPath(r.PathPrefix); err != nil {
			return invalid("path_prefix must be a path starting with /")
		}
	}
	if r.To == "" {
		return invalid("redirect target \"to\" is required")
	}
	// A target is an http(s) URL, or a host with an optional path.
	raw := r.To
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Port() != "" && !strings.Contains(r.To, "://") || strings.ContainsAny(r.To, " \t\r\n{}\\") {
		return invalid("redirect target %q must be a host (with an optional path) or an http(s) URL", truncate(r.To, 80))
	}
	if _, err := NormalizeDomain(u.Hostname()); err != nil {
		return err
	}
	if r.From != "" && r.PathPrefix == "" && !strings.Contains(r.To, "://") && r.From == r.To {
		return invalid("a redirect from %s to itself would loop", r.From)
	}
	return nil
}

func validateMaintenance(m *Maintenance) error {
	if m != nil && len(m.Message) > maxMessage {
		return invalid("maintenance message is longer than %d bytes", maxMessage)
	}
	return nil
}

func validateWWW(w string) error {
	switch w {
	case WWWOff, WWWToApex, WWWToWWW:
		return nil
	}
	return invalid("www_redirect must be %q, %q or empty", WWWToApex, WWWToWWW)
}

// policyOf derives an app's edge policy from its record; nil when it has
// none, so the router's fast path stays a nil check.
func (e *Engine) policyOf(a *App) *EdgePolicy {
	if len(a.Redirects) == 0 && a.WWWRedirect == "" && (a.Maintenance == nil || !a.Maintenance.Enabled) && !a.HSTS {
		return nil
	}
	p := &EdgePolicy{Redirects: a.Redirects, WWW: a.WWWRedirect, HSTS: a.HSTS, hosts: map[string]bool{}}
	if a.Maintenance != nil && a.Maintenance.Enabled {
		m := *a.Maintenance
		p.Maintenance = &m
	}
	for _, h := range e.hosts(a) {
		p.hosts[h] = true
	}
	return p
}

// AddRedirect adds a redirect rule to an app; its From host routes to the
// app from now on.
func (e *Engine) AddRedirect(name string, r Redirect) (*Redirect, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if err := validateRedirect(&r); err != nil {
		return nil, err
	}
	r.ID = shortID() + shortID()
	var a *App
	err := e.mutate(func(tx *StoreTx) error {
		var err error
		if a, err = tx.App(name); err != nil {
			return err
		}
		if len(a.Redirects) >= maxRedirs {
			return invalid("an app has at most %d redirects", maxRedirs)
		}
		if redirectLoops(r, e.hosts(a)) || r.From != "" && redirectLoops(r, []string{r.From}) {
			return invalid("a redirect to %s from the same host and path would loop", truncate(r.To, 80))
		}
		previous := a.Domains
		if r.From != "" && !slices.Contains(e.hosts(a), r.From) {
			a.Domains = append(append([]string(nil), a.Domains...), r.From)
		}
		a.Redirects = append(a.Redirects, r)
		if err := e.claimHosts(tx, a, previous); err != nil {
			return err
		}
		return tx.PutApp(a)
	}, func() { e.routeApp(a) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RemoveRedirect removes a rule (its From host stays a domain of the app).
func (e *Engine) RemoveRedirect(name, id string) error {
	if err := ValidateAppName(name); err != nil {
		return notFound("app %q not found", truncate(name, 80))
	}
	var a *App
	return e.mutate(func(tx *StoreTx) error {
		var err error
		if a, err = tx.App(name); err != nil {
			return err
		}
		for i, r := range a.Redirects {
			if r.ID == id {
				a.Redirects = append(a.Redirects[:i:i], a.Redirects[i+1:]...)
				return tx.PutApp(a)
			}
		}
		return notFound("redirect %q of app %q not found", truncate(id, 40), name)
	}, func() { e.routeApp(a) })
}

// Redirects lists an app's redirect rules.
func (e *Engine) Redirects(name string) ([]Redirect, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	out := append([]Redirect{}, a.Redirects...)
	return out, nil
}

// routeApp puts an app's hosts and edge policy in the routing table. Call
// it under the record lock (see mutate).
func (e *Engine) routeApp(a *App) *AppRoute {
	route := e.table.SetHosts(a.Name, e.hosts(a))
	route.SetPolicy(e.policyOf(a))
	return route
}
