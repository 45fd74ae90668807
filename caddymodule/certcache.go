package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	_ "unsafe" // for go:linkname

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/platform"
)

// Caddy's TLS app keeps one certificate cache for the process in these two
// package variables and exports no way to change it outside a config
// load. certmagic answers a handshake from that cache before it asks a
// get_certificate manager, so without them an upload for a host whose
// automatic certificate is cached would wait for a restart, and a cached
// wildcard would always win over an upload. They are reached by name: if
// a Caddy upgrade renames them the build fails at link time, never
// silently, and TestUploadedCertificateServedWithoutReload shows the
// behaviour.
//
//go:linkname caddyCertCache github.com/caddyserver/caddy/v2/modules/caddytls.certCache
var caddyCertCache *certmagic.Cache

//go:linkname caddyCertCacheMu github.com/caddyserver/caddy/v2/modules/caddytls.certCacheMu
var caddyCertCacheMu sync.RWMutex

// uploadTag marks the uploads held in Caddy's cache; a second tag
// "paas-upload:<fingerprint>" names which.
const uploadTag = "paas-upload"

// tlsCertCache keeps Caddy's certificate cache in step with the uploads.
// An upload whose every name is a host it serves is held in the cache
// itself, as an unmanaged certificate: a handshake then costs what it
// costs for a certificate Caddy loaded (and an exact name wins over a
// cached wildcard). Any other upload (a wildcard, a name of another app,
// one that lost a host to a newer upload) stays out of the cache, where it
// could answer for names it was not uploaded for, and is served by the
// `paas` get_certificate manager.
type tlsCertCache struct {
	mu      sync.Mutex
	storage certmagic.Storage
	logger  *zap.Logger
	// held is what this process put into the cache: fingerprint -> names.
	held  map[string][]string
	cache *certmagic.Cache
}

// use sets the storage (for OCSP staples) and the logger of this config.
func (c *tlsCertCache) use(storage certmagic.Storage, logger *zap.Logger) {
	c.mu.Lock()
	c.storage, c.logger = storage, logger
	c.mu.Unlock()
}

// Sync evicts the automatic certificates cached for the uploads' hosts,
// caches the uploads that may be cached and removes those held before
// that are no longer wanted.
func (c *tlsCertCache) Sync(uploads map[string]*tls.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The lock guards the variable, not the cache (which has its own): it
	// is not held while an OCSP staple may be fetched below.
	caddyCertCacheMu.RLock()
	cache := caddyCertCache
	caddyCertCacheMu.RUnlock()
	if cache == nil {
		return
	}
	if cache != c.cache { // a new cache after Caddy stopped its TLS app: none held
		c.cache, c.held = cache, map[string][]string{}
	}

	hostsOf := map[*tls.Certificate][]string{}
	for h, cert := range uploads {
		hostsOf[cert] = append(hostsOf[cert], h)
	}
	want := map[string]*tls.Certificate{}
	for cert, hosts := range hostsOf {
		if names := certNames(cert.Leaf); len(names) > 0 && allIn(names, hosts) {
			want[fingerprint(cert)] = cert
		}
	}

	var drop []string
	for fp, names := range c.held {
		if _, ok := want[fp]; ok {
			continue
		}
		for _, cc := range cache.AllMatchingCertificates(names[0]) {
			if cc.HasTag(uploadTag + ":" + fp) {
				drop = append(drop, cc.Hash())
			}
		}
		delete(c.held, fp)
	}
	cache.Remove(drop)

	subjects := make([]certmagic.SubjectIssuer, 0, len(uploads))
	for h := range uploads {
		subjects = append(subjects, certmagic.SubjectIssuer{Subject: h})
	}
	cache.RemoveManaged(subjects)

	if len(want) == 0 {
		return
	}
	cfg := certmagic.New(cache, certmagic.Config{Storage: c.storage, Logger: c.logger})
	for fp, cert := range want {
		if _, ok := c.held[fp]; ok {
			continue
		}
		if _, err := cfg.CacheUnmanagedTLSCertificate(context.Background(), *cert, []string{uploadTag, uploadTag + ":" + fp}); err != nil {
			c.logger.Warn("caching an uploaded certificate; the paas manager serves it", zap.Strings("names", cert.Leaf.DNSNames), zap.Error(err))
			continue
		}
		c.held[fp] = certNames(cert.Leaf)
	}
}

// Shadowed returns the hosts for which the cache holds a certificate that
// is not an upload and that Caddy may serve before the upload: with the
// upload cached, another certificate for exactly that name; else any.
func (c *tlsCertCache) Shadowed(hosts []string) []string {
	caddyCertCacheMu.RLock()
	cache := caddyCertCache
	caddyCertCacheMu.RUnlock()
	if cache == nil {
		return nil
	}
	var out []string
	for _, h := range hosts {
		var ours, exact, other bool
		for _, cc := range cache.AllMatchingCertificates(h) {
			isExact := slices.Contains(cc.Names, h)
			switch {
			case cc.HasTag(uploadTag) && isExact:
				ours = true
			case !cc.HasTag(uploadTag) && isExact:
				exact = true
			case !cc.HasTag(uploadTag):
				other = true
			}
		}
		if exact || (other && !ours) {
			out = append(out, h)
		}
	}
	return out
}

// certNames are the names certmagic indexes a certificate by.
func certNames(leaf *x509.Certificate) []string {
	if leaf == nil {
		return nil
	}
	var names []string
	if leaf.Subject.CommonName != "" {
		names = append(names, strings.ToLower(leaf.Subject.CommonName))
	}
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	for _, e := range leaf.EmailAddresses {
		names = append(names, strings.ToLower(e))
	}
	for _, u := range leaf.URIs {
		names = append(names, u.String())
	}
	return names
}

func allIn(names, hosts []string) bool {
	for _, n := range names {
		if !slices.Contains(hosts, n) {
			return false
		}
	}
	return true
}

func fingerprint(cert *tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// Interface guard
var _ platform.CertCache = (*tlsCertCache)(nil)
