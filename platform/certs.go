package platform

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/storage"
)

// MaxCertPEMBytes caps an uploaded certificate chain or key.
const MaxCertPEMBytes = 64 << 10

// CustomCert is an uploaded certificate as the API shows it; its key is
// sealed at rest and never shown.
type CustomCert struct {
	// ID is the SHA-256 fingerprint of the leaf, in hex.
	ID string `json:"id"`
	// Names are the leaf's DNS names.
	Names []string `json:"names"`
	// Hosts are the app's hosts it is served for.
	Hosts      []string  `json:"hosts"`
	Issuer     string    `json:"issuer"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	UploadedAt time.Time `json:"uploaded_at"`
	// Warning says when the upload cannot take over at once.
	Warning string `json:"warning,omitempty"`
}

// CertInput is an upload: a PEM chain (leaf first) and its PEM key.
type CertInput struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

type certRecord struct {
	CustomCert
	ChainPEM  string `json:"chain_pem"`
	SealedKey string `json:"sealed_key"`
}

func certsOf(app string) []string { return []string{"certs", app} }

// certIndex maps a host to the certificate served for it; it is swapped
// whole on a change (uploads are rare, handshakes are not).
type certIndex = map[string]*tls.Certificate

// parseCert validates an upload against the app's hosts.
func parseCert(in CertInput, hosts []string, now time.Time) (*tls.Certificate, *CustomCert, error) {
	if len(in.Cert) > MaxCertPEMBytes || len(in.Key) > MaxCertPEMBytes {
		return nil, nil, invalid("certificate and key must be at most %d bytes each", MaxCertPEMBytes)
	}
	pair, err := tls.X509KeyPair([]byte(in.Cert), []byte(in.Key))
	if err != nil {
		msg := "the certificate and key are not a valid PEM pair"
		if strings.Contains(err.Error(), "does not match") {
			msg = "the private key does not match the certificate"
		}
		return nil, nil, invalid("%s", msg)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, invalid("the certificate cannot be parsed")
	}
	pair.Leaf = leaf
	if now.After(leaf.NotAfter) {
		return nil, nil, invalid("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, nil, invalid("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	var covered []string
	for _, h := range hosts {
		if leaf.VerifyHostname(h) == nil {
			covered = append(covered, h)
		}
	}
	if len(covered) == 0 {
		return nil, nil, invalid("the certificate (for %s) covers none of the app's hosts (%s)", strings.Join(leaf.DNSNames, ", "), strings.Join(hosts, ", "))
	}
	sum := sha256.Sum256(leaf.Raw)
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	return &pair, &CustomCert{
		ID: hex.EncodeToString(sum[:]), Names: leaf.DNSNames, Hosts: covered, Issuer: issuer,
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, UploadedAt: now.UTC(),
	}, nil
}

// UploadCert validates a certificate for an app (the key matches, it is
// valid now, it covers one of the app's hosts), stores it with its key
// sealed, and serves it from the next handshake on, with no reload.
func (e *Engine) UploadCert(name string, in CertInput) (*CustomCert, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	var out *CustomCert
	err := e.mutate(func(tx *StoreTx) error {
		a, err := tx.App(name)
		if err != nil {
			return err
		}
		_, meta, err := parseCert(in, e.hosts(a), time.Now())
		if err != nil {
			return err
		}
		sealed, err := e.store.sealer.Seal(in.Key, "cert-key/"+name+"/"+meta.ID)
		if err != nil {
			return err
		}
		out = meta
		return tx.tx.Put(certsOf(name), meta.ID, certRecord{CustomCert: *meta, ChainPEM: in.Cert, SealedKey: sealed})
	}, nil)
	if err != nil {
		return nil, err
	}
	e.reloadCerts()
	// Caddy answers a handshake from its certificate cache before it asks
	// for an upload: reloadCerts synced it (automatic certificates of
	// these hosts evicted); what else still answers for one of them (a
	// wildcard, a certificate the operator loaded) may win over the upload.
	if p := e.certCache.Load(); p != nil {
		if shadowed := (*p).Shadowed(out.Hosts); len(shadowed) > 0 {
			out.Warning = fmt.Sprintf("Caddy holds another certificate for %s (a wildcard or one loaded in its config), which it serves before this upload", strings.Join(shadowed, ", "))
		}
	}
	return out, nil
}

// Certs lists an app's uploaded certificates.
func (e *Engine) Certs(name string) ([]CustomCert, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	out := []CustomCert{}
	err := e.store.db.View(func(tx *storage.Tx) error {
		st := &StoreTx{s: e.store, tx: tx}
		if _, err := st.App(name); err != nil {
			return err
		}
		return tx.ForEach(certsOf(name), func(_ string, raw json.RawMessage) error {
			var rec certRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return err
			}
			out = append(out, rec.CustomCert)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NotAfter.After(out[j].NotAfter) })
	return out, err
}

// RemoveCert removes an uploaded certificate; its hosts go back to
// automatic certificates.
func (e *Engine) RemoveCert(name, id string) error {
	if err := ValidateAppName(name); err != nil {
		return notFound("app %q not found", truncate(name, 80))
	}
	err := e.mutate(func(tx *StoreTx) error {
		if _, err := tx.App(name); err != nil {
			return err
		}
		var rec certRecord
		if err := tx.tx.Get(certsOf(name), id, &rec); err == nil {
			return tx.tx.Delete(certsOf(name), id)
		}
		// A unique prefix of at least 8 characters will do, as the
		// CLI's table shows the first 16.
		var match []string
		if len(id) >= 8 {
			err := tx.tx.ForEach(certsOf(name), func(key string, _ json.RawMessage) error {
				if strings.HasPrefix(key, strings.ToLower(id)) {
					match = append(match, key)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		switch len(match) {
		case 0:
			return notFound("certificate %q of app %q not found", truncate(id, 80), name)
		case 1:
			return tx.tx.Delete(certsOf(name), match[0])
		}
		return invalid("%q matches %d certificates of app %q: give more of the id", truncate(id, 80), len(match), name)
	}, nil)
	if err != nil {
		return err
	}
	e.reloadCerts()
	return nil
}

// expireCerts reloads the uploads when the first of them expires (and at
// least hourly): an expired upload stops being served and its hosts go
// back to automatic certificates.
func (e *Engine) expireCerts() {
	defer e.wg.Done()
	for {
		wait := time.Hour
		if idx := e.certs.Load(); idx != nil {
			for _, c := range *idx {
				if c.Leaf != nil {
					wait = min(wait, max(time.Until(c.Leaf.NotAfter)+time.Second, time.Second))
				}
			}
		}
		select {
		case <-e.ctx.Done():
			return
		case <-e.certsChanged:
		case <-time.After(wait):
			e.reloadCerts()
		}
	}
}

// CertificateFor returns the uploaded certificate to serve for a TLS
// server name, or nil. It is a lock-free map read, made for handshakes.
func (e *Engine) CertificateFor(serverName string) *tls.Certificate {
	idx := e.certs.Load()
	if idx == nil {
		return nil
	}
	return (*idx)[NormalizeHost(serverName)]
}

// reloadCerts rebuilds the host -> certificate index from the store: for
// each host of an app with uploads, the certificate that expires last
// wins. Only apps with certificates are read.
func (e *Engine) reloadCerts() {
	// One at a time: two changes must not store their indexes out of order.
	e.certsMu.Lock()
	defer e.certsMu.Unlock()
	idx := certIndex{}
	expiry := map[string]time.Time{}
	now := time.Now()
	err := e.store.db.View(func(tx *storage.Tx) error {
		apps, err := tx.Buckets([]string{"certs"})
		if err != nil {
			return err
		}
		st := &StoreTx{s: e.store, tx: tx}
		for _, name := range apps {
			a, err := st.App(name)
			if err != nil {
				continue
			}
			hosts := e.hosts(a)
			err = tx.ForEach(certsOf(name), func(_ string, raw json.RawMessage) error {
				var rec certRecord
				if json.Unmarshal(raw, &rec) != nil {
					return nil
				}
				key, err := e.store.sealer.Open(rec.SealedKey, "cert-key/"+name+"/"+rec.ID)
				if err != nil {
					e.log().Error("opening a certificate key", zap.String("app", name), zap.String("cert", rec.ID), zap.Error(err))
					return nil
				}
				pair, meta, err := parseCert(CertInput{Cert: rec.ChainPEM, Key: key}, hosts, now)
				if err != nil {
					e.log().Warn("uploaded certificate not served", zap.String("app", name), zap.String("cert", rec.ID), zap.Error(err))
					return nil
				}
				for _, h := range meta.Hosts {
					if cur, ok := expiry[h]; !ok || meta.NotAfter.After(cur) {
						idx[h], expiry[h] = pair, meta.NotAfter
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log().Error("loading certificates", zap.Error(err))
		return
	}
	e.certs.Store(&idx)
	select {
	case e.certsChanged <- struct{}{}:
	default:
	}
	if p := e.certCache.Load(); p != nil {
		(*p).Sync(idx)
	}
}

// CertCache is the TLS server's in-memory certificate cache, which Caddy
// consults before it asks for an upload. The Caddy adapter sets it.
type CertCache interface {
	// Sync brings the cache in step with the uploads: host -> the
	// certificate served for it. The cache drops the automatic
	// certificates it holds for those hosts (Caddy would keep serving
	// them) and may hold uploads itself.
	Sync(uploads map[string]*tls.Certificate)
	// Shadowed returns the hosts for which the cache holds a certificate
	// other than their upload (a wildcard, one the operator loaded) that
	// Caddy may serve in its place.
	Shadowed(hosts []string) []string
}

// SetCertCache sets the cache that uploads evict automatic certificates from.
// The current uploads are synced to it at once.
func (e *Engine) SetCertCache(c CertCache) {
	e.certCache.Store(&c)
	if idx := e.certs.Load(); idx != nil {
		c.Sync(*idx)
	}
}
