package platform

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"
)

// recordingCertCache is a CertCache that remembers what it was told.
type recordingCertCache struct {
	mu    sync.Mutex
	syncs []map[string]*tls.Certificate
}

func (c *recordingCertCache) Sync(uploads map[string]*tls.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncs = append(c.syncs, uploads)
}

func (c *recordingCertCache) Shadowed([]string) []string { return nil }

func (c *recordingCertCache) last() map[string]*tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.syncs) == 0 {
		return nil
	}
	return c.syncs[len(c.syncs)-1]
}

// shortLivedPEM is a self-signed certificate for name that expires in life.
func shortLivedPEM(t *testing.T, name string, life time.Duration) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(life),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// TestUploadsSyncToTheCertCacheAndExpire: the cache hears of every upload
// and removal, and an upload that expires stops being served by itself.
func TestUploadsSyncToTheCertCacheAndExpire(t *testing.T) {
	h := newHarness(t)
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Domains: []string{"short.example", "long.example"}}); err != nil {
		t.Fatal(err)
	}
	cc := &recordingCertCache{}
	h.e.SetCertCache(cc)
	if got := cc.last(); got == nil || len(got) != 0 {
		t.Fatalf("SetCertCache synced %v, want the empty index", got)
	}
	longPEM, longKey := selfSignedPEM(t, "long.example")
	if _, err := h.e.UploadCert("app", CertInput{Cert: longPEM, Key: longKey}); err != nil {
		t.Fatal(err)
	}
	shortPEM, shortKey := shortLivedPEM(t, "short.example", 2*time.Second)
	if _, err := h.e.UploadCert("app", CertInput{Cert: shortPEM, Key: shortKey}); err != nil {
		t.Fatal(err)
	}
	hosts := func(m map[string]*tls.Certificate) []string {
		var out []string
		for h := range m {
			out = append(out, h)
		}
		slices.Sort(out)
		return out
	}
	if got := hosts(cc.last()); !slices.Equal(got, []string{"long.example", "short.example"}) {
		t.Fatalf("cache synced with %v", got)
	}
	if h.e.CertificateFor("short.example") == nil {
		t.Fatal("the short-lived upload is not served")
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.e.CertificateFor("short.example") != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if h.e.CertificateFor("short.example") != nil {
		t.Fatal("an expired upload is still served")
	}
	if got := hosts(cc.last()); !slices.Equal(got, []string{"long.example"}) {
		t.Errorf("after expiry the cache was synced with %v, want long.example only", got)
	}
}

// TestRemoveCertByPrefix: the CLI's table shows 16 characters of an id,
// which is enough to remove it; fewer than 8 are not.
func TestRemoveCertByPrefix(t *testing.T) {
	h := newHarness(t)
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Domains: []string{"one.example"}}); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSignedPEM(t, "one.example")
	up, err := h.e.UploadCert("app", CertInput{Cert: certPEM, Key: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.e.RemoveCert("app", up.ID[:7]); StatusOf(err) != 404 {
		t.Errorf("a 7-character prefix: %v, want 404", err)
	}
	if err := h.e.RemoveCert("app", "0123456789abcdef"); StatusOf(err) != 404 && up.ID[:16] != "0123456789abcdef" {
		t.Errorf("an unknown id: %v, want 404", err)
	}
	if err := h.e.RemoveCert("app", up.ID[:16]); err != nil {
		t.Fatalf("a 16-character prefix: %v", err)
	}
	if list, _ := h.e.Certs("app"); len(list) != 0 || h.e.CertificateFor("one.example") != nil {
		t.Errorf("after removal: %v still listed or served", list)
	}
}
