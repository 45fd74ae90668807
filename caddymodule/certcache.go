package caddymodule

import (
	"slices"
	"sync"
	_ "unsafe" // for go:linkname

	"github.com/caddyserver/certmagic"

	"github.com/caddy-paas/caddy-paas/platform"
)

// Caddy's TLS app keeps one certificate cache for the process in these two
// package variables and exports no way to evict from it; certmagic answers
// a handshake from that cache before it asks a get_certificate manager,
// so an upload for a host whose automatic certificate is cached would wait
// for a restart. They are reached by name: if a Caddy upgrade renames
// them, the build fails at link time (never silently), and
// TestUploadReplacesCachedAutomaticCertificate shows the behaviour.
//
//go:linkname caddyCertCache github.com/caddyserver/caddy/v2/modules/caddytls.certCache
var caddyCertCache *certmagic.Cache

//go:linkname caddyCertCacheMu github.com/caddyserver/caddy/v2/modules/caddytls.certCacheMu
var caddyCertCacheMu sync.RWMutex

// tlsCertCache is the engine's view of Caddy's certificate cache.
type tlsCertCache struct{}

// Evict removes the managed (automatic) certificates cached for exactly
// these hosts; a wildcard or a certificate loaded by the config stays.
func (tlsCertCache) Evict(hosts []string) {
	caddyCertCacheMu.RLock()
	defer caddyCertCacheMu.RUnlock()
	if caddyCertCache == nil {
		return
	}
	subjects := make([]certmagic.SubjectIssuer, len(hosts))
	for i, h := range hosts {
		subjects[i] = certmagic.SubjectIssuer{Subject: h}
	}
	caddyCertCache.RemoveManaged(subjects)
}

// Shadowed returns the hosts that a cached certificate still answers for.
func (tlsCertCache) Shadowed(hosts []string) []string {
	caddyCertCacheMu.RLock()
	defer caddyCertCacheMu.RUnlock()
	if caddyCertCache == nil {
		return nil
	}
	var out []string
	for _, h := range hosts {
		if len(caddyCertCache.AllMatchingCertificates(h)) > 0 {
			out = append(out, h)
		}
	}
	return slices.Clip(out)
}

// Interface guard
var _ platform.CertCache = tlsCertCache{}
