package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The TLS handshake row: full handshakes per second against a certificate
// uploaded to caddy-paas (served by tls.get_certificate.paas), and against
// stock Caddy holding the same certificate in its cache (load_files).
const (
	// tlsServerName is the app's domain and the certificate's only name.
	tlsServerName = "bench.example"
	// tlsWorkers is how many handshakes are in flight at once.
	tlsWorkers = 32
	// tlsRounds and tlsSampleLen: many short samples taken in turn, so that
	// the two samples of a pair see the same machine (other work on a
	// shared machine comes in bursts of seconds) and the median ratio has
	// many pairs to choose from. The rounds take 42 s.
	tlsRounds    = 14
	tlsSampleLen = 1500 * time.Millisecond
	// tlsTimeout bounds one dial and handshake.
	tlsTimeout = 5 * time.Second
)

// tlsMaterial is the bench's own CA and a leaf for tlsServerName that it
// signed, as PEM files and as what a client checks against.
type tlsMaterial struct {
	roots             *x509.CertPool
	leafDER           []byte
	serial            *big.Int
	certPEM, keyPEM   []byte
	certPath, keyPath string
}

// makeTLSMaterial generates an ECDSA P-256 CA and leaf and writes the
// leaf's PEM certificate and key into dir.
func makeTLSMaterial(dir string) (*tlsMaterial, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "caddy-paas bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("making the CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parsing the CA certificate: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the leaf key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("drawing a serial number: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: tlsServerName},
		DNSNames:     []string{tlsServerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("making the leaf certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the leaf key: %w", err)
	}
	m := &tlsMaterial{
		roots:    x509.NewCertPool(),
		leafDER:  leafDER,
		serial:   serial,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		certPath: filepath.Join(dir, "bench.example.crt"),
		keyPath:  filepath.Join(dir, "bench.example.key"),
	}
	m.roots.AddCert(ca)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.WriteFile(m.certPath, m.certPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing the certificate: %w", err)
	}
	if err := os.WriteFile(m.keyPath, m.keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing the key: %w", err)
	}
	return m, nil
}

// tlsServer is an HTTPS server on one loopback address with the default
// connection policy and no automatic HTTPS.
func tlsServer(listen string, routes []any) object {
	return object{
		"listen":                  []string{listen},
		"tls_connection_policies": []any{object{}},
		"automatic_https":         object{"disable": true},
		"routes":                  routes,
	}
}

// tlsPaasApps is the caddy-paas side: the paas app, uploaded certificates
// (in Caddy's certificate cache, or from get_certificate paas), then
// on-demand certificates from Caddy's internal CA for the apps' hosts, and
// paas_apps behind HTTPS.
func tlsPaasApps(dir, listen string) object {
	return object{
		"paas": paasAppConfig(dir),
		"pki":  object{"certificate_authorities": object{"local": object{"install_trust": false}}},
		"tls": object{"automation": object{
			"on_demand": object{"permission": object{"module": "paas"}},
			"policies": []any{object{
				"get_certificate": []any{object{"via": "paas"}},
				"on_demand":       true,
				"issuers":         []any{object{"module": "internal"}},
			}},
		}},
		"http": object{"servers": object{"paas": tlsServer(listen, paasRoutes())}},
	}
}

// tlsStockApps is the baseline: stock Caddy with the same certificate
// loaded from its files into certmagic's cache, answering "ok".
func tlsStockApps(m *tlsMaterial, listen string) object {
	return object{
		"tls": object{"certificates": object{"load_files": []any{
			object{"certificate": m.certPath, "key": m.keyPath},
		}}},
		"http": object{"servers": object{"stock": tlsServer(listen, []any{
			object{"handle": []any{object{"handler": "static_response", "body": "ok"}}},
		})}},
	}
}

// tlsAdmin sends one admin request with a JSON body (or none) and decodes
// the answer into out (unless nil); any status but want is an error.
func tlsAdmin(ctx context.Context, p *caddyProcess, method, path string, in any, want int, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := p.do(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, truncate(strings.TrimSpace(string(raw)), 400))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// tlsConfigLoads reads how many Caddy configs the paas engine has been
// provisioned by (GET /paas/status): an upload that reloaded the config
// would add one.
func tlsConfigLoads(ctx context.Context, p *caddyProcess) (int64, error) {
	var st struct {
		ConfigLoads int64 `json:"config_loads"`
	}
	err := tlsAdmin(ctx, p, http.MethodGet, "/paas/status", nil, http.StatusOK, &st)
	return st.ConfigLoads, err
}

// tlsHandshake dials addr, does one full TLS handshake for tlsServerName
// with a fresh client config (no session cache, no tickets), verifying
// the chain against the bench's CA, checks that the server sent the
// bench's leaf and did not resume, and closes the connection.
func tlsHandshake(addr string, m *tlsMaterial) (tls.ConnectionState, error) {
	conn, err := net.DialTimeout("tcp", addr, tlsTimeout)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(tlsTimeout)); err != nil {
		return tls.ConnectionState{}, err
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName:             tlsServerName,
		RootCAs:                m.roots,
		SessionTicketsDisabled: true,
		ClientSessionCache:     nil,
	})
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	st := tc.ConnectionState()
	_ = tc.Close()
	switch {
	case st.DidResume:
		return st, errors.New("the handshake resumed a session")
	case len(st.PeerCertificates) == 0 || !bytes.Equal(st.PeerCertificates[0].Raw, m.leafDER):
		return st, errors.New("the server did not send the bench's certificate")
	}
	return st, nil
}

// tlsSample is one load run's figures.
type tlsSample struct {
	rate, cpuPer float64 // handshakes/s, µs of server CPU per handshake
	errors       int64
	firstErr     error
}

// tlsLoad runs tlsWorkers handshake loops against addr for d and reads
// the CPU time the server process pid used meanwhile.
func tlsLoad(ctx context.Context, addr string, pid int, m *tlsMaterial, d time.Duration) (tlsSample, error) {
	var s tlsSample
	if err := checkLoopback(addr); err != nil {
		return s, err
	}
	_, before, err := procStatCPU(pid)
	if err != nil {
		return s, fmt.Errorf("reading the CPU time of caddy: %w", err)
	}
	var ok, failed atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i := 0; i < tlsWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				if _, err := tlsHandshake(addr, m); err != nil {
					failed.Add(1)
					once.Do(func() { s.firstErr = err })
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	_, after, err := procStatCPU(pid)
	if err != nil {
		return s, fmt.Errorf("reading the CPU time of caddy: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	n := ok.Load()
	s.errors = failed.Load()
	if n == 0 {
		return s, fmt.Errorf("no handshake with %s succeeded: %v", addr, s.firstErr)
	}
	s.rate = float64(n) / elapsed.Seconds()
	// Clock ticks are 10 ms (USER_HZ is 100).
	s.cpuPer = float64(after-before) * 10e3 / float64(n)
	return s, nil
}

// tlsPhase measures full TLS handshakes per second with a cached
// certificate: uploaded to caddy-paas, and loaded into stock Caddy, both
// the repository's Caddy binary in processes of their own, taking turns.
func (b *bench) tlsPhase(ctx context.Context) error {
	bin := filepath.Join(b.tmp, "bin", "caddy")
	if _, err := os.Stat(bin); err != nil { // the memory phase did not build it
		b.progress("building ./cmd/caddy")
		if bin, err = buildCaddy(ctx, filepath.Join(b.tmp, "bin")); err != nil {
			return err
		}
	}
	m, err := makeTLSMaterial(filepath.Join(b.tmp, "tls-certs"))
	if err != nil {
		return err
	}

	// Side A: caddy-paas, the certificate uploaded through the admin API.
	paasAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	paasDir := filepath.Join(b.tmp, "tls-paas")
	b.progress("TLS handshakes: starting caddy-paas with HTTPS on " + paasAddr)
	paas, err := startCaddyProcess(ctx, bin, paasDir, processConfig(paasDir, tlsPaasApps(paasDir, paasAddr)))
	if err != nil {
		return fmt.Errorf("caddy-paas with HTTPS: %w", err)
	}
	defer paas.stop()
	if err := waitTCP(ctx, paasAddr, 30*time.Second); err != nil {
		return err
	}
	// No handshake for tlsServerName before the upload: the row measures
	// the upload alone (an upload would evict a cached automatic
	// certificate anyway).
	if err := tlsAdmin(ctx, paas, http.MethodPost, "/paas/apps",
		object{"name": "bench", "domains": []string{tlsServerName}}, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("creating the app: %w; caddy's log: %s", err, paas.logTail())
	}
	loadsBefore, err := tlsConfigLoads(ctx, paas)
	if err != nil {
		return err
	}
	var up struct {
		Hosts   []string `json:"hosts"`
		Warning string   `json:"warning"`
	}
	if err := tlsAdmin(ctx, paas, http.MethodPost, "/paas/apps/bench/certs",
		object{"cert": string(m.certPEM), "key": string(m.keyPEM)}, http.StatusCreated, &up); err != nil {
		return fmt.Errorf("uploading the certificate: %w; caddy's log: %s", err, paas.logTail())
	}
	uploaded := time.Now()
	first, firstErr := tlsHandshake(paasAddr, m)
	firstAfter := time.Since(uploaded)
	loadsAfter, err := tlsConfigLoads(ctx, paas)
	if err != nil {
		return err
	}
	if firstErr != nil {
		return fmt.Errorf("the first handshake with caddy-paas after the upload: %w (the row would measure something else); caddy's log: %s", firstErr, paas.logTail())
	}
	reload := "no reload: the paas engine's config_loads stayed at " + fmt.Sprint(loadsBefore)
	if loadsAfter != loadsBefore {
		reload = fmt.Sprintf("**config_loads went from %d to %d: the upload reloaded the config**", loadsBefore, loadsAfter)
	}
	warning := ""
	if up.Warning != "" {
		warning = fmt.Sprintf(" The upload warned: %q.", up.Warning)
	}
	b.rep.note("TLS: the first handshake with caddy-paas, %s after the upload's 201 (covering %s), got the uploaded certificate (serial %x, verified against the bench's CA), with %s.%s",
		fmtDur(firstAfter), strings.Join(up.Hosts, ", "), m.serial, reload, warning)

	// Side B: stock Caddy in the same binary, the same certificate loaded
	// from its files.
	stockAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	stockDir := filepath.Join(b.tmp, "tls-stock")
	b.progress("TLS handshakes: starting stock Caddy with HTTPS on " + stockAddr)
	stock, err := startCaddyProcess(ctx, bin, stockDir, processConfig(stockDir, tlsStockApps(m, stockAddr)))
	if err != nil {
		return fmt.Errorf("stock Caddy with HTTPS: %w", err)
	}
	defer stock.stop()
	if err := waitTCP(ctx, stockAddr, 30*time.Second); err != nil {
		return err
	}
	if _, err := tlsHandshake(stockAddr, m); err != nil {
		return fmt.Errorf("a handshake with stock Caddy: %w; caddy's log: %s", err, stock.logTail())
	}
	paas.client.CloseIdleConnections()
	stock.client.CloseIdleConnections()

	sides := []struct {
		name, addr string
		pid        int
	}{
		{"caddy-paas", paasAddr, paas.proc.cmd.Process.Pid},
		{"stock", stockAddr, stock.proc.cmd.Process.Pid},
	}
	for _, s := range sides {
		if _, err := tlsLoad(ctx, s.addr, s.pid, m, time.Second); err != nil {
			return fmt.Errorf("warming up %s: %w", s.name, err)
		}
	}
	rounds := tlsRounds
	rates := map[string][]float64{}
	cpus := map[string][]float64{}
	errs := map[string]int64{}
	firstErrs := map[string]error{}
	for round := 0; round < rounds; round++ {
		for i := range sides {
			s := sides[i]
			if round%2 == 1 {
				s = sides[len(sides)-1-i]
			}
			x, err := tlsLoad(ctx, s.addr, s.pid, m, tlsSampleLen)
			if err != nil {
				return fmt.Errorf("TLS handshakes with %s: %w", s.name, err)
			}
			rates[s.name] = append(rates[s.name], x.rate)
			cpus[s.name] = append(cpus[s.name], x.cpuPer)
			if x.errors > 0 {
				if errs[s.name] == 0 {
					firstErrs[s.name] = x.firstErr
				}
				errs[s.name] += x.errors
			}
			b.progress(fmt.Sprintf("round %d/%d %-10s %6.0f handshakes/s %5.0f µs CPU/handshake", round+1, rounds, s.name, x.rate, x.cpuPer))
		}
	}
	for _, p := range []*caddyProcess{paas, stock} {
		if p.proc.exited() {
			return fmt.Errorf("caddy exited during the TLS rounds: %v; its log: %s", p.proc.err, p.logTail())
		}
	}

	describe := func(name string) string {
		return fmt.Sprintf("%s handshakes/s (%s), %s µs CPU/handshake",
			fmtInt(median(rates[name])), spread(rates[name]), fmtInt(median(cpus[name])))
	}
	ratio := pairedRatio(rates["caddy-paas"], rates["stock"])
	b.rep.add(row{
		measure:  fmt.Sprintf("Full TLS handshakes/s, cached certificate, %d concurrent handshakes", tlsWorkers),
		paas:     "paas_apps, the certificate uploaded through the admin API (held in Caddy's certificate cache): " + describe("caddy-paas"),
		baseline: "stock Caddy, same binary, the same certificate in load_files, static_response: " + describe("stock"),
		result:   fmt.Sprintf("%.2f (CPU efficiency %.2f)", ratio, pairedRatio(cpus["stock"], cpus["caddy-paas"])),
		target:   verdict("≥ 0.95", ratio >= 0.95),
	})
	version := tls.VersionName(first.Version)
	curve := first.CurveID.String()
	b.rep.note("TLS: %d handshake loops in the bench process, each dialing 127.0.0.1, a full handshake (%s, %s, %s; a fresh client config with no session cache and tickets disabled; the chain verified against the bench's CA and the leaf compared with the uploaded one) and a close; "+
		"the sides take turns (A B, B A, ...) for %d rounds of %s; CPU/handshake is the Caddy process's CPU time (from /proc) per handshake, and the client's runs on the same cores.",
		tlsWorkers, version, curve, tls.CipherSuiteName(first.CipherSuite), rounds, tlsSampleLen)
	for _, name := range []string{"caddy-paas", "stock"} {
		if n := errs[name]; n > 0 {
			b.rep.note("TLS: %s handshakes with %s failed during its samples (the first: %v).", fmtInt(float64(n)), name, firstErrs[name])
		}
	}
	return nil
}
