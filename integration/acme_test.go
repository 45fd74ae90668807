package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/caddymodule"
	"github.com/caddy-paas/caddy-paas/platform"
)

// The ACME tests run a real ACME CA (pebble) and a real DNS server
// (pebble-challtestsrv) on loopback, with no container: the apps they
// create have no image, so the TLS handshake and the certificate are what
// is tested, and an HTTP answer of 503 proves the route reached the
// platform.

// pebbleVersion is the pebble release scripts/test-deps.sh installs; its
// module folder holds the test config and certificates the tests use.
const pebbleVersion = "v2.10.3"

// acmeBaseDomain is the paas base domain of the ACME tests.
const acmeBaseDomain = "paas.test"

// acmeTools are pebble's binaries and its test folder (config, certs).
type acmeTools struct {
	pebble, challtestsrv, testDir string
}

// requireACMETools finds pebble and pebble-challtestsrv in Go's bin folder
// or PATH. Without them the test is skipped on a developer machine and
// fails under CI=true.
func requireACMETools(t *testing.T) acmeTools {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + " (run scripts/test-deps.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + ": required under CI=true")
		}
		t.Skip(msg)
	}
	var tools acmeTools
	for _, tool := range []struct {
		name string
		path *string
	}{{"pebble", &tools.pebble}, {"pebble-challtestsrv", &tools.challtestsrv}} {
		p, err := findGoTool(tool.name)
		if err != nil {
			missing("no %s: %v", tool.name, err)
		}
		*tool.path = p
	}
	modCache := goEnv("GOMODCACHE")
	if modCache == "" {
		missing("go env GOMODCACHE is empty")
	}
	tools.testDir = filepath.Join(modCache, "github.com", "letsencrypt", "pebble", "v2@"+pebbleVersion, "test")
	if _, err := os.Stat(filepath.Join(tools.testDir, "config", "pebble-config.json")); err != nil {
		missing("no pebble %s test folder: %v", pebbleVersion, err)
	}
	return tools
}

// findGoTool looks for a `go install`ed command in GOBIN, in each
// GOPATH's bin folder, then in PATH.
func findGoTool(name string) (string, error) {
	var dirs []string
	if gobin := goEnv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, p := range filepath.SplitList(goEnv("GOPATH")) {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func goEnv(key string) string {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// acmeOutput collects a process's output for the test to read.
type acmeOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *acmeOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *acmeOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startACMEProcess runs a helper process until the test ends; its output is
// shown if the test fails.
func startACMEProcess(t *testing.T, env []string, name string, args ...string) *acmeOutput {
	t.Helper()
	out := new(acmeOutput)
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), acmeTail(out.String(), 6000))
		}
	})
	return out
}

func acmeTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// acmeWait polls f until it succeeds or timeout passes.
func acmeWait(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acmeEnv is a running pebble and challtestsrv, plus the ports and folders
// of the Caddy that uses them.
type acmeEnv struct {
	t          *testing.T
	tools      acmeTools
	minica     string // pebble's TLS root (for its own HTTPS), a PEM file
	challDNS   string // challtestsrv's DNS server
	challAPI   string // challtestsrv's management API, http://...
	pebbleDir  string // the ACME directory URL
	pebbleLog  *acmeOutput
	roots      *x509.CertPool // pebble's issuing root, which signs the chains
	httpPort   int            // Caddy's HTTP port, where pebble validates HTTP-01
	tlsPort    int            // Caddy's HTTPS port
	storageDir string         // Caddy's certificate storage
	logPath    string         // Caddy's log file
}

// startACME starts pebble-challtestsrv (DNS only, no default address) and
// pebble configured to validate at Caddy's ports.
func startACME(t *testing.T) *acmeEnv {
	t.Helper()
	tools := requireACMETools(t)
	a := &acmeEnv{
		t:          t,
		tools:      tools,
		minica:     filepath.Join(tools.testDir, "certs", "pebble.minica.pem"),
		httpPort:   freePort(t),
		tlsPort:    freePort(t),
		storageDir: t.TempDir(),
		logPath:    filepath.Join(t.TempDir(), "caddy.log"),
	}
	a.challDNS = fmt.Sprintf("127.0.0.1:%d", freeACMEDNSPort(t))
	a.challAPI = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	startACMEProcess(t, nil, tools.challtestsrv,
		"-dnsserver", a.challDNS,
		"-management", strings.TrimPrefix(a.challAPI, "http://"),
		// Only DNS: Caddy answers the challenges, not challtestsrv.
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		// No answer for names the test did not add.
		"-defaultIPv4", "", "-defaultIPv6", "")
	acmeWait(t, 10*time.Second, "challtestsrv", func() error {
		_, err := a.challtest("/dns-request-history", map[string]any{"host": "ready.test"})
		return err
	})

	// pebble's own test config, on free loopback ports; it validates
	// HTTP-01 and TLS-ALPN-01 at Caddy's ports.
	raw, err := os.ReadFile(filepath.Join(tools.testDir, "config", "pebble-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	pc := cfg["pebble"]
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pc["listenAddress"] = listen
	pc["managementListenAddress"] = mgmt
	pc["certificate"] = filepath.Join(tools.testDir, "certs", "localhost", "cert.pem")
	pc["privateKey"] = filepath.Join(tools.testDir, "certs", "localhost", "key.pem")
	pc["httpPort"] = a.httpPort
	pc["tlsPort"] = a.tlsPort
	// Clients poll pending authorizations and orders after Retry-After:
	// one second instead of three and five keeps the tests fast.
	pc["retryAfter"] = map[string]any{"authz": 1, "order": 1}
	cfgPath := filepath.Join(t.TempDir(), "pebble-config.json")
	if raw, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	a.pebbleLog = startACMEProcess(t, []string{
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // never reject a good nonce
		"PEBBLE_AUTHZREUSE=0",      // a fresh authorization for every order
	}, tools.pebble, "-config", cfgPath, "-dnsserver", a.challDNS)
	a.pebbleDir = "https://" + listen + "/dir"

	minicaPEM, err := os.ReadFile(a.minica)
	if err != nil {
		t.Fatal(err)
	}
	minica := x509.NewCertPool()
	if !minica.AppendCertsFromPEM(minicaPEM) {
		t.Fatal("no certificate in pebble.minica.pem")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: minica}}}
	get := func(url string) ([]byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return body, err
	}
	acmeWait(t, 10*time.Second, "pebble", func() error {
		if _, err := get(a.pebbleDir); err != nil {
			return err
		}
		// The chains pebble issues end at this root, not at minica.
		root, err := get("https://" + mgmt + "/roots/0")
		if err != nil {
			return err
		}
		a.roots = x509.NewCertPool()
		if !a.roots.AppendCertsFromPEM(root) {
			return fmt.Errorf("no certificate in /roots/0: %.100q", root)
		}
		return nil
	})
	return a
}

// freeACMEDNSPort returns a loopback port free for both UDP and TCP
// (challtestsrv serves DNS on both).
func freeACMEDNSPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		p := freePort(t)
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no free port for both UDP and TCP")
	return 0
}

// challtest calls challtestsrv's management API.
func (a *acmeEnv) challtest(path string, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post(a.challAPI+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("POST %s: %s: %s", path, resp.Status, out)
	}
	return out, err
}

// addA makes challtestsrv resolve names to 127.0.0.1.
func (a *acmeEnv) addA(names ...string) {
	a.t.Helper()
	for _, n := range names {
		if _, err := a.challtest("/add-a", map[string]any{"host": n, "addresses": []string{"127.0.0.1"}}); err != nil {
			a.t.Fatal(err)
		}
	}
}

// dnsQueries is how many DNS questions challtestsrv got for name: only
// pebble asks it, when it validates a challenge for that name.
func (a *acmeEnv) dnsQueries(name string) int {
	a.t.Helper()
	out, err := a.challtest("/dns-request-history", map[string]any{"host": name})
	if err != nil {
		a.t.Fatal(err)
	}
	var events []json.RawMessage
	if err := json.Unmarshal(out, &events); err != nil {
		a.t.Fatalf("dns-request-history: %v: %s", err, out)
	}
	return len(events)
}

// pebbleOrders counts the orders pebble accepted, from its log.
func (a *acmeEnv) pebbleOrders() int {
	return strings.Count(a.pebbleLog.String(), "Added order ")
}

// acmeIssuer is Caddy's ACME issuer for pebble, with challenges.
func (a *acmeEnv) acmeIssuer(challenges map[string]any) map[string]any {
	return map[string]any{
		"module":                  "acme",
		"ca":                      a.pebbleDir,
		"trusted_roots_pem_files": []string{a.minica},
		"challenges":              challenges,
	}
}

// httpChallenge solves HTTP-01 only, at Caddy's HTTP port.
func (a *acmeEnv) httpChallenge() map[string]any {
	return map[string]any{
		"http":     map[string]any{"alternate_port": a.httpPort},
		"tls-alpn": map[string]any{"disabled": true},
	}
}

// acmeConfig shapes caddyConfig's Caddy.
type acmeConfig struct {
	// policies go before the on-demand catch-all policy.
	policies []any
	// automate lists names Caddy manages from the start.
	automate []string
	// getCertificate puts the paas certificate manager (uploaded
	// certificates) in the on-demand policy, as the README's Caddyfile does.
	getCertificate bool
}

// caddyConfig is a Caddy with the paas app, on-demand TLS guarded by the
// paas permission, an HTTPS server for the apps and an HTTP server where
// Caddy answers HTTP-01 challenges.
func (a *acmeEnv) caddyConfig(o acmeConfig) []byte {
	a.t.Helper()
	onDemand := map[string]any{
		"on_demand": true,
		"issuers":   []any{a.acmeIssuer(a.httpChallenge())},
	}
	if o.getCertificate {
		onDemand["get_certificate"] = []any{map[string]any{"via": "paas"}}
	}
	policies := append(slices.Clone(o.policies), onDemand)
	apps := map[string]any{
		"paas": map[string]any{
			"data_dir": a.t.TempDir(), "base_domain": acmeBaseDomain,
			// No Docker is needed: these apps never run a container.
			"docker_host": "unix://" + filepath.Join(a.t.TempDir(), "no-docker.sock"),
		},
		"tls": map[string]any{
			"automation": map[string]any{
				"on_demand": map[string]any{"permission": map[string]any{"module": "paas"}},
				"policies":  policies,
			},
		},
		"http": map[string]any{
			"http_port":  a.httpPort,
			"https_port": a.tlsPort,
			"servers": map[string]any{
				"apps": map[string]any{
					"listen":                  []string{fmt.Sprintf("127.0.0.1:%d", a.tlsPort)},
					"routes":                  []any{map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}}},
					"tls_connection_policies": []any{map[string]any{}},
				},
				"challenges": map[string]any{
					"listen": []string{fmt.Sprintf("127.0.0.1:%d", a.httpPort)},
					"routes": []any{map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}}},
				},
			},
		},
	}
	if len(o.automate) > 0 {
		apps["tls"].(map[string]any)["certificates"] = map[string]any{"automate": o.automate}
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": a.storageDir},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{
			"level":   "DEBUG",
			"writer":  map[string]any{"output": "file", "filename": a.logPath},
			"encoder": map[string]any{"format": "json"},
		}}},
		"apps": apps,
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	return data
}

// startCaddy loads cfg into this process's Caddy until the test ends and
// returns the paas engine.
func (a *acmeEnv) startCaddy(cfg []byte) *platform.Engine {
	a.t.Helper()
	if err := caddy.Load(cfg, true); err != nil {
		a.t.Fatalf("loading config: %v", err)
	}
	a.t.Cleanup(func() {
		_ = caddy.Stop()
		if a.t.Failed() {
			a.t.Logf("caddy log:\n%s", acmeTail(a.caddyLog(), 8000))
		}
	})
	mod, err := caddy.ActiveContext().App("paas")
	if err != nil {
		a.t.Fatal(err)
	}
	return mod.(*caddymodule.App).Engine()
}

func (a *acmeEnv) caddyLog() string {
	data, _ := os.ReadFile(a.logPath)
	return string(data)
}

// caddyLogLines are the lines of Caddy's log that contain every part.
func (a *acmeEnv) caddyLogLines(parts ...string) []string {
	var out []string
	for line := range strings.SplitSeq(a.caddyLog(), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			out = append(out, line)
		}
	}
	return out
}

// handshake opens a TLS connection to Caddy's HTTPS server for name,
// trusting only pebble's issuing root.
func (a *acmeEnv) handshake(name string) (*tls.Conn, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config:    &tls.Config{ServerName: name, RootCAs: a.roots, NextProtos: []string{"http/1.1"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", a.tlsPort))
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// acmeGet sends one request for host over conn and returns the status.
func acmeGet(t *testing.T, conn *tls.Conn, host string) (int, string) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatalf("writing request for %s: %v", host, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("reading response for %s: %v", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// storedFor lists the paths in Caddy's storage whose name mentions name
// (certificate folders, locks, challenge tokens).
func (a *acmeEnv) storedFor(name string) []string {
	a.t.Helper()
	var found []string
	err := filepath.WalkDir(a.storageDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), name) {
			found = append(found, strings.TrimPrefix(p, a.storageDir))
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return found
}

// loopbackResolver resolves every name to 127.0.0.1, for the DNS check of
// an app's domain list (there is no outside DNS here).
type loopbackResolver struct{}

func (loopbackResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}, nil
}

// certStatusOf is the certificate status of one host in an app's domain
// list.
func certStatusOf(t *testing.T, e *platform.Engine, app, host string) platform.CertStatus {
	t.Helper()
	list, err := e.Domains(context.Background(), app)
	if err != nil {
		t.Fatalf("domains of %s: %v", app, err)
	}
	for _, d := range list {
		if d.Domain == host {
			return d.Certificate
		}
	}
	t.Fatalf("domains of %s: no %s in %+v", app, host, list)
	return platform.CertStatus{}
}

// TestOnDemandCertificateForNewAppDomain: an app created while Caddy runs
// gets a real certificate for its custom domain at the first handshake,
// with no config reload: Caddy asks the paas permission, orders it from
// pebble, answers pebble's HTTP-01 validation on its HTTP port, and
// serves the chain pebble signed.
func TestOnDemandCertificateForNewAppDomain(t *testing.T) {
	a := startACME(t)
	const domain = "blog.example.test"
	a.addA(domain)
	e := a.startCaddy(a.caddyConfig(acmeConfig{}))
	attachments := e.Attachments()

	if _, err := e.CreateApp(context.Background(), platform.AppInput{Name: "blog", Domains: []string{domain}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn, err := a.handshake(domain)
	if err != nil {
		t.Fatalf("handshake for %s after creating the app: %v", domain, err)
	}
	defer conn.Close()
	t.Logf("on-demand certificate for %s in %s", domain, time.Since(start).Round(time.Millisecond))
	state := conn.ConnectionState()
	leaf := state.PeerCertificates[0]
	if !slices.Contains(leaf.DNSNames, domain) {
		t.Errorf("leaf certificate names %v, want %s", leaf.DNSNames, domain)
	}
	if len(state.VerifiedChains) == 0 {
		t.Error("chain not verified against pebble's root")
	}
	if code, body := acmeGet(t, conn, domain); code != http.StatusServiceUnavailable {
		t.Errorf("GET https://%s/: %d %.200q, want 503 (the app has no replica)", domain, code, body)
	}

	// A real order, validated by pebble against Caddy's HTTP server.
	if n := a.pebbleOrders(); n != 1 {
		t.Errorf("pebble got %d orders, want 1", n)
	}
	if n := a.dnsQueries(domain); n == 0 {
		t.Errorf("pebble never resolved %s: no validation happened", domain)
	}
	if len(a.caddyLogLines("served key authentication", domain)) == 0 {
		t.Errorf("caddy did not answer pebble's HTTP-01 challenge for %s", domain)
	}
	if len(a.storedFor(domain)) == 0 {
		t.Errorf("no certificate for %s in caddy's storage", domain)
	}
	// The app's domain list shows the certificate Caddy obtained.
	e.SetResolver(loopbackResolver{})
	if st := certStatusOf(t, e, "blog", domain); st.Source != "automatic" || !strings.HasPrefix(st.Issuer, "Pebble Intermediate") || !st.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("certificate status of %s: %+v, want automatic from pebble, until %s", domain, st, leaf.NotAfter)
	}
	// No config was loaded: the same config still holds the engine.
	if got := e.Attachments(); got != attachments {
		t.Errorf("engine attachments went from %d to %d: the config was reloaded", attachments, got)
	}

	// The next handshake is served from the cache: no new order.
	conn2, err := a.handshake(domain)
	if err != nil {
		t.Fatalf("second handshake: %v", err)
	}
	conn2.Close()
	if !conn2.ConnectionState().PeerCertificates[0].Equal(leaf) {
		t.Error("second handshake got another certificate")
	}
	if n := a.pebbleOrders(); n != 1 {
		t.Errorf("pebble got %d orders after a second handshake, want 1", n)
	}
}

// TestOnDemandRefusesUnknownHost: a name that resolves to Caddy but
// belongs to no app gets no certificate, and no ACME order is placed for
// it: the paas permission refuses before certmagic talks to the CA. Once
// an app claims the name, the same name gets its certificate (a refusal is
// not remembered).
func TestOnDemandRefusesUnknownHost(t *testing.T) {
	a := startACME(t)
	const nobody = "nobody.example.test"
	a.addA(nobody)
	e := a.startCaddy(a.caddyConfig(acmeConfig{}))

	for range 2 {
		conn, err := a.handshake(nobody)
		if err == nil {
			conn.Close()
			t.Fatalf("handshake for %s succeeded: certificate names %v", nobody, conn.ConnectionState().PeerCertificates[0].DNSNames)
		}
		t.Logf("handshake for %s refused: %v", nobody, err)
	}
	if n := a.pebbleOrders(); n != 0 {
		t.Errorf("pebble got %d orders, want none", n)
	}
	if n := a.dnsQueries(nobody); n != 0 {
		t.Errorf("pebble resolved %s %d times, want never", nobody, n)
	}
	if found := a.storedFor(nobody); len(found) > 0 {
		t.Errorf("caddy's storage has %v for %s", found, nobody)
	}
	// The paas permission module is what refused.
	denied := a.caddyLogLines(nobody, "certificate not allowed by permission module")
	if len(denied) == 0 {
		t.Errorf("no log line says the permission module refused %s", nobody)
	} else {
		t.Logf("refusal: %s", denied[0])
	}

	// Once an app owns the name, it gets its certificate.
	if _, err := e.CreateApp(context.Background(), platform.AppInput{Name: "late", Domains: []string{nobody}}); err != nil {
		t.Fatal(err)
	}
	conn, err := a.handshake(nobody)
	if err != nil {
		t.Fatalf("handshake for %s once app late has it: %v", nobody, err)
	}
	defer conn.Close()
	if names := conn.ConnectionState().PeerCertificates[0].DNSNames; !slices.Contains(names, nobody) {
		t.Errorf("certificate names %v, want %s", names, nobody)
	}
	if code, body := acmeGet(t, conn, nobody); code != http.StatusServiceUnavailable {
		t.Errorf("GET https://%s/: %d %.200q, want 503", nobody, code, body)
	}
	if n := a.pebbleOrders(); n != 1 {
		t.Errorf("pebble got %d orders, want 1", n)
	}
}
