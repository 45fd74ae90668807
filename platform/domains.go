package platform

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// CertStatus is what is known of a host's certificate.
type CertStatus struct {
	// Source is "uploaded", "automatic" (obtained by Caddy) or "none" yet.
	Source string `json:"source"`
	Issuer string `json:"issuer,omitempty"`
	// NotAfter is when the certificate expires; absent without one.
	NotAfter *time.Time `json:"not_after,omitempty"`
	// LastError is why the last attempt to obtain or renew failed, until
	// one succeeds.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

type certAttempt struct {
	err string
	at  time.Time
}

// CertEvent records the outcome of Caddy's attempt to obtain or renew a
// host's certificate ("" error for a success), for the domain status.
func (e *Engine) CertEvent(host, errMsg string) {
	host = NormalizeHost(host)
	if errMsg == "" {
		e.certErrors.Delete(host)
		return
	}
	e.certErrors.Store(host, certAttempt{err: errMsg, at: time.Now().UTC()})
}

// DNSCheck tells whether a domain resolves to this server.
type DNSCheck struct {
	Addresses  []string `json:"addresses"`
	PointsHere bool     `json:"points_here"`
	Message    string   `json:"message"`
}

// DomainStatus is one host of an app with its checks.
type DomainStatus struct {
	Domain      string     `json:"domain"`
	Default     bool       `json:"default,omitempty"`
	DNS         DNSCheck   `json:"dns"`
	Certificate CertStatus `json:"certificate"`
}

// CertLookup finds the certificate Caddy obtained for a host (from its
// certificate storage); ok is false when there is none. The Caddy adapter
// sets it.
type CertLookup func(ctx context.Context, host string) (cert *x509.Certificate, ok bool)

// Resolver resolves host names (net.DefaultResolver in production).
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// SetCertLookup sets how automatic certificates are found.
func (e *Engine) SetCertLookup(f CertLookup) { e.certLookup.Store(&f) }

// ReservedHosts tells whether another site of the server's config serves
// a host before the apps do (a dashboard's host, say): an app given that
// host would never see a request for it. The Caddy adapter sets it.
type ReservedHosts func(host string) bool

// SetReservedHosts sets which hosts apps may not claim.
func (e *Engine) SetReservedHosts(f ReservedHosts) { e.reserved.Store(&f) }

// checkNotReserved refuses a host another site of the config serves.
func (e *Engine) checkNotReserved(host string) error {
	if p := e.reserved.Load(); p != nil && *p != nil && (*p)(host) {
		return conflict("%s is served by another site of this server's Caddy config, before any app: choose another host", host)
	}
	return nil
}

// SetResolver replaces the resolver of domain checks (tests).
func (e *Engine) SetResolver(r Resolver) { e.resolver.Store(&r) }

// Domains lists an app's hosts, each with a DNS check and what is known of
// its certificate.
func (e *Engine) Domains(ctx context.Context, name string) ([]DomainStatus, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	here := e.serverAddresses()
	var out []DomainStatus
	for i, h := range e.hosts(a) {
		ds := DomainStatus{Domain: h, Default: i == 0 && e.config().BaseDomain != ""}
		ds.DNS = e.checkDNS(ctx, h, here)
		ds.Certificate = e.certStatus(ctx, h)
		out = append(out, ds)
	}
	return out, nil
}

// AddDomains adds custom domains to an app (they route at once).
func (e *Engine) AddDomains(ctx context.Context, name string, domains []string) (*AppView, error) {
	if len(domains) == 0 {
		return nil, invalid("domains is required")
	}
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	list := append(append([]string(nil), a.Domains...), domains...)
	return e.UpdateApp(ctx, name, AppPatch{Domains: &list})
}

// RemoveDomain removes a custom domain from an app.
func (e *Engine) RemoveDomain(ctx context.Context, name, domain string) (*AppView, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	d, err := NormalizeDomain(domain)
	if err != nil || !slices.Contains(a.Domains, d) {
		return nil, notFound("domain %q is not a custom domain of app %q", truncate(domain, 80), name)
	}
	list := slices.DeleteFunc(append([]string(nil), a.Domains...), func(x string) bool { return x == d })
	return e.UpdateApp(ctx, name, AppPatch{Domains: &list})
}

// serverAddresses are this machine's addresses: the configured public
// ones, else those of its interfaces.
func (e *Engine) serverAddresses() map[string]bool {
	out := map[string]bool{}
	for _, ip := range e.config().PublicIPs {
		if p := net.ParseIP(ip); p != nil {
			out[p.String()] = true
		}
	}
	if len(out) > 0 {
		return out
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out[n.IP.String()] = true
		}
	}
	return out
}

func (e *Engine) checkDNS(ctx context.Context, host string, here map[string]bool) DNSCheck {
	var r Resolver = net.DefaultResolver
	if p := e.resolver.Load(); p != nil {
		r = *p
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ips, err := r.LookupIPAddr(ctx, host)
	c := DNSCheck{Addresses: []string{}}
	if err != nil || len(ips) == 0 {
		c.Message = fmt.Sprintf("%s does not resolve: add an A (or AAAA) record pointing to this server", host)
		return c
	}
	var elsewhere []string
	for _, ip := range ips {
		s := ip.IP.String()
		c.Addresses = append(c.Addresses, s)
		if here[s] {
			c.PointsHere = true
		} else {
			elsewhere = append(elsewhere, s)
		}
	}
	switch {
	case c.PointsHere && len(elsewhere) == 0:
		c.Message = "points to this server"
	case c.PointsHere:
		c.Message = fmt.Sprintf("points to this server and also to %s: some visitors will not reach it", strings.Join(elsewhere, ", "))
	default:
		c.Message = fmt.Sprintf("resolves to %s, not to this server: a certificate cannot be obtained until it does", strings.Join(elsewhere, ", "))
	}
	return c
}

func (e *Engine) certStatus(ctx context.Context, host string) CertStatus {
	st := CertStatus{Source: "none"}
	if c := e.CertificateFor(host); c != nil && c.Leaf != nil {
		st = CertStatus{Source: "uploaded", Issuer: issuerName(c.Leaf), NotAfter: &c.Leaf.NotAfter}
	} else if p := e.certLookup.Load(); p != nil {
		if cert, ok := (*p)(ctx, host); ok {
			st = CertStatus{Source: "automatic", Issuer: issuerName(cert), NotAfter: &cert.NotAfter}
		}
	}
	if v, ok := e.certErrors.Load(host); ok {
		a := v.(certAttempt)
		st.LastError, st.LastErrorAt = a.err, &a.at
	}
	return st
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	if len(c.Issuer.Organization) > 0 {
		return c.Issuer.Organization[0]
	}
	return ""
}
