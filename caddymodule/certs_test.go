package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/platform"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "caddy-paas test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a certificate for names, valid from notBefore to notAfter,
// and returns its PEM chain, its PEM key and its serial.
func (ca *testCA) leaf(t *testing.T, names []string, notBefore, notAfter time.Time) (string, string, *big.Int) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), serial
}

// TestUploadedCertificateServedWithoutReload uploads a certificate for an
// app's domain to a running Caddy and sees it on the next handshake, also
// when Caddy already holds an automatic certificate for that domain.
func TestUploadedCertificateServedWithoutReload(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	// A certificate the operator loads in the config: an upload for its
	// host cannot win over it, and says so.
	loadedPEM, loadedKey, _ := ca.leaf(t, []string{"loaded.example"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	storage := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": storage},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"paas": map[string]any{
				"data_dir": t.TempDir(), "base_domain": "certs.test",
				"docker_host": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
			},
			"pki": map[string]any{"certificate_authorities": map[string]any{"local": map[string]any{"install_trust": false}}},
			"tls": map[string]any{"certificates": map[string]any{"load_pem": []any{map[string]any{"certificate": loadedPEM, "key": loadedKey}}}, "automation": map[string]any{
				"on_demand": map[string]any{"permission": map[string]any{"module": "paas"}},
				"policies": []any{map[string]any{
					"get_certificate": []any{map[string]any{"via": "paas"}},
					"on_demand":       true,
					"issuers":         []any{map[string]any{"module": "internal"}},
				}},
			}},
			"http": map[string]any{"servers": map[string]any{"s": map[string]any{
				"listen":                  []string{addr},
				"routes":                  []any{map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}}},
				"tls_connection_policies": []any{map[string]any{}},
				"automatic_https":         map[string]any{"disable": true},
			}}},
		},
	})
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	mod, _ := caddy.ActiveContext().App("paas")
	e := mod.(*App).Engine()
	if _, err := e.CreateApp(t.Context(), platform.AppInput{Name: "blog", Domains: []string{"blog.example", "loaded.example"}}); err != nil {
		t.Fatal(err)
	}
	loads := e.Attachments()

	handshake := func(name string) (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}

	// Caddy issues an automatic certificate on the first handshake and
	// caches it; the upload replaces it from the next handshake on.
	auto, err := handshake("blog.example")
	if err != nil {
		t.Fatal(err)
	}
	if auto.Issuer.CommonName == ca.cert.Subject.CommonName {
		t.Fatalf("before any upload, blog.example got %v", auto.Issuer)
	}
	certPEM, keyPEM, serial := ca.leaf(t, []string{"blog.example", "www.blog.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	up, err := e.UploadCert("blog", platform.CertInput{Cert: certPEM, Key: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Hosts) != 1 || up.Hosts[0] != "blog.example" || up.Issuer != "caddy-paas test CA" || up.Warning != "" {
		t.Errorf("upload answer %+v", up)
	}
	got, err := handshake("blog.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("served serial %v, want the uploaded %v (the cached automatic one is %v)", got.SerialNumber, serial, auto.SerialNumber)
	}
	if _, err := got.Verify(x509.VerifyOptions{Roots: ca.pool, DNSName: "blog.example"}); err != nil {
		t.Errorf("served chain does not verify: %v", err)
	}
	// Another host of the app is not covered by it: the issuer serves it.
	if other, err := handshake("blog.certs.test"); err != nil || other.SerialNumber.Cmp(serial) == 0 {
		t.Errorf("blog.certs.test: %v, %v; want an issued certificate, not the upload", other, err)
	}
	if e.Attachments() != loads {
		t.Error("the upload reloaded the config")
	}

	// Bad uploads are refused with clear errors.
	_, otherKey, _ := ca.leaf(t, []string{"blog.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredKey, _ := ca.leaf(t, []string{"blog.example"}, now.Add(-48*time.Hour), now.Add(-time.Hour))
	wrong, wrongKey, _ := ca.leaf(t, []string{"elsewhere.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	for name, tc := range map[string]struct {
		in   platform.CertInput
		want string
	}{
		"mismatched key": {platform.CertInput{Cert: certPEM, Key: otherKey}, "does not match"},
		"expired":        {platform.CertInput{Cert: expired, Key: expiredKey}, "expired"},
		"wrong domain":   {platform.CertInput{Cert: wrong, Key: wrongKey}, "covers none"},
		"not PEM":        {platform.CertInput{Cert: "hello", Key: "world"}, "not a valid PEM"},
	} {
		_, err := e.UploadCert("blog", tc.in)
		if platform.StatusOf(err) != 400 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want 400 containing %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error shows the key", name)
		}
	}
	list, err := e.Certs("blog")
	if err != nil || len(list) != 1 {
		t.Fatalf("certs: %v %v", list, err)
	}

	// Removing it: the next handshake for that name is the issuer's.
	if err := e.RemoveCert("blog", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if after, err := handshake("blog.example"); err != nil || after.SerialNumber.Cmp(serial) == 0 {
		t.Errorf("after removal: %v, %v; want an issued certificate", after, err)
	}
	// Uploaded again, while the automatic certificate is cached once more.
	if _, err := e.UploadCert("blog", platform.CertInput{Cert: certPEM, Key: keyPEM}); err != nil {
		t.Fatal(err)
	}
	if again, err := handshake("blog.example"); err != nil || again.SerialNumber.Cmp(serial) != 0 {
		t.Errorf("after a second upload: %v, %v; want the uploaded serial %v", again, err, serial)
	}

	// The operator's certificate for loaded.example stays, and the upload
	// says it cannot take over.
	shadowPEM, shadowKey, _ := ca.leaf(t, []string{"loaded.example"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	sh, err := e.UploadCert("blog", platform.CertInput{Cert: shadowPEM, Key: shadowKey})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sh.Warning, "loaded.example") {
		t.Errorf("upload under a loaded certificate: warning %q", sh.Warning)
	}
}

// TestUploadsHeldInCaddysCache checks which uploads Caddy's own cache
// holds (those whose every name is a host they serve), that an exact
// upload wins over a cached wildcard, and that removal takes it out again.
func TestUploadsHeldInCaddysCache(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	wildPEM, wildKey, wildSerial := ca.leaf(t, []string{"*.wild.example"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": t.TempDir()},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"paas": map[string]any{
				"data_dir": t.TempDir(), "base_domain": "certs.test",
				"docker_host": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
			},
			"pki": map[string]any{"certificate_authorities": map[string]any{"local": map[string]any{"install_trust": false}}},
			"tls": map[string]any{
				"certificates": map[string]any{"load_pem": []any{map[string]any{"certificate": wildPEM, "key": wildKey}}},
				"automation": map[string]any{
					"on_demand": map[string]any{"permission": map[string]any{"module": "paas"}},
					"policies": []any{map[string]any{
						"get_certificate": []any{map[string]any{"via": "paas"}},
						"on_demand":       true,
						"issuers":         []any{map[string]any{"module": "internal"}},
					}},
				}},
			"http": map[string]any{"servers": map[string]any{"s": map[string]any{
				"listen":                  []string{addr},
				"routes":                  []any{map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}}},
				"tls_connection_policies": []any{map[string]any{}},
				"automatic_https":         map[string]any{"disable": true},
			}}},
		},
	})
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	mod, _ := caddy.ActiveContext().App("paas")
	e := mod.(*App).Engine()
	if _, err := e.CreateApp(t.Context(), platform.AppInput{Name: "shop", Domains: []string{"shop.example", "a.wild.example"}}); err != nil {
		t.Fatal(err)
	}
	serial := func(name string) *big.Int {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("handshake for %s: %v", name, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	held := func(name string) bool {
		caddyCertCacheMu.RLock()
		defer caddyCertCacheMu.RUnlock()
		for _, c := range caddyCertCache.AllMatchingCertificates(name) {
			if c.HasTag(uploadTag) && slices.Contains(c.Names, name) {
				return true
			}
		}
		return false
	}

	if s := serial("a.wild.example"); s.Cmp(wildSerial) != 0 {
		t.Fatalf("before the upload a.wild.example got %v, want the loaded wildcard", s)
	}
	exactPEM, exactKey, exactSerial := ca.leaf(t, []string{"a.wild.example"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	up, err := e.UploadCert("shop", platform.CertInput{Cert: exactPEM, Key: exactKey})
	if err != nil {
		t.Fatal(err)
	}
	if up.Warning != "" || !held("a.wild.example") {
		t.Errorf("exact upload under a wildcard: warning %q, held %v; want none and held", up.Warning, held("a.wild.example"))
	}
	if s := serial("a.wild.example"); s.Cmp(exactSerial) != 0 {
		t.Errorf("a.wild.example got %v, want the upload %v over the wildcard", s, exactSerial)
	}
	if s := serial("b.wild.example"); s.Cmp(wildSerial) != 0 {
		t.Errorf("b.wild.example got %v, want the wildcard still", s)
	}

	// An upload with a name that is not one of the app's hosts stays out of
	// the cache (it would answer for that name) and is served anyway.
	shopPEM, shopKey, shopSerial := ca.leaf(t, []string{"shop.example", "elsewhere.example"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	if _, err := e.UploadCert("shop", platform.CertInput{Cert: shopPEM, Key: shopKey}); err != nil {
		t.Fatal(err)
	}
	if held("shop.example") || held("elsewhere.example") {
		t.Error("an upload naming another host was put in Caddy's cache")
	}
	if s := serial("shop.example"); s.Cmp(shopSerial) != 0 {
		t.Errorf("shop.example got %v, want the upload %v", s, shopSerial)
	}
	if conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "elsewhere.example", InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Error("elsewhere.example, no host of any app, got a certificate")
	}

	// HSTS, an app option, is sent on HTTPS answers of that app only.
	on := true
	if _, err := e.UpdateApp(t.Context(), "shop", platform.AppPatch{HSTS: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateApp(t.Context(), platform.AppInput{Name: "plain", Domains: []string{"plain.example"}}); err != nil {
		t.Fatal(err)
	}
	httpsClient := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}}
	for host, want := range map[string]string{"shop.example": "max-age=31536000; includeSubDomains", "plain.example": ""} {
		resp, err := httpsClient.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET https://%s/: %v", host, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != want {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", host, got, want)
		}
	}

	// Removed: out of the cache, the wildcard answers again.
	list, err := e.Certs("shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Names[0] == "a.wild.example" {
			if err := e.RemoveCert("shop", c.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if held("a.wild.example") {
		t.Error("a removed upload is still in Caddy's cache")
	}
	if s := serial("a.wild.example"); s.Cmp(wildSerial) != 0 {
		t.Errorf("after removal a.wild.example got %v, want the wildcard", s)
	}
}
