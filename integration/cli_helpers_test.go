package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-paas/caddy-paas/admin"
)

// cliEnv runs `caddy paas` commands of the built binary against one
// process, each with its own config directory (a user's HOME), and
// records which commands of the CLI's tree ran successfully.
type cliEnv struct {
	t   *testing.T
	p   *process
	bin string
	// server is the dashboard site's URL as a user gives it to login.
	server string
	// proxy is an HTTP proxy that carries the CLI's requests for the
	// dashboard host to the process's HTTP server: *.localhost names do
	// not resolve on every machine.
	proxy string
	tree  *cobra.Command

	mu      sync.Mutex
	covered map[string]bool
	timings []cliTiming
}

type cliTiming struct {
	cmd  string
	took time.Duration
}

// cliResult is one run of the CLI.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return "caddy paas " + strings.Join(r.args, " ") + ": exit " + strconvItoa(r.code) +
		"\n--- stdout:\n" + r.stdout + "\n--- stderr:\n" + r.stderr
}

func newCLIEnv(t *testing.T, p *process) *cliEnv {
	t.Helper()
	_, port, err := net.SplitHostPort(p.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := &cliEnv{
		t:       t,
		p:       p,
		bin:     caddyBinary(t),
		server:  "http://" + dashboardHost + ":" + port,
		proxy:   dashboardProxy(t, p.httpAddr),
		tree:    paasCommandTree(t),
		covered: map[string]bool{},
	}
	t.Cleanup(c.logTimings)
	return c
}

// paasCommandTree builds the `caddy paas` command tree as the binary does.
func paasCommandTree(t *testing.T) *cobra.Command {
	t.Helper()
	reg, ok := caddycmd.Commands()["paas"]
	if !ok || reg.CobraFunc == nil {
		t.Fatal("no `caddy paas` command registered")
	}
	root := &cobra.Command{Use: "paas"}
	reg.CobraFunc(root)
	return root
}

// runnableCommands lists the tree's commands that run something, by their
// path under paas ("apps create").
func runnableCommands(root *cobra.Command) []string {
	var out []string
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Runnable() && cmd != root {
			out = append(out, strings.TrimPrefix(cmd.CommandPath(), root.Name()+" "))
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	sort.Strings(out)
	return out
}

// commandOf names the command args run ("apps create").
func (c *cliEnv) commandOf(args []string) string {
	cmd, _, err := c.tree.Find(args)
	if err != nil || cmd == nil || cmd == c.tree {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), c.tree.Name()+" ")
}

func (c *cliEnv) cover(args []string, took time.Duration) {
	name := c.commandOf(args)
	c.mu.Lock()
	defer c.mu.Unlock()
	if name != "" {
		c.covered[name] = true
	}
	c.timings = append(c.timings, cliTiming{cmd: strings.Join(args, " "), took: took})
}

// checkCoverage fails for every runnable command no successful run covered.
func (c *cliEnv) checkCoverage() {
	c.t.Helper()
	all := runnableCommands(c.tree)
	if len(all) < 40 {
		c.t.Errorf("only %d runnable commands found in the tree: %v", len(all), all)
	}
	for _, name := range all {
		if !c.covered[name] {
			c.t.Errorf("`caddy paas %s` is not covered by TestCLIEveryCommand: add a case for it", name)
		}
	}
	c.t.Logf("%d commands covered: %s", len(all), strings.Join(all, ", "))
}

func (c *cliEnv) logTimings() {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := slices.Clone(c.timings)
	slices.SortFunc(list, func(a, b cliTiming) int { return int(b.took - a.took) })
	var total time.Duration
	for _, tm := range list {
		total += tm.took
	}
	var slow []string
	for _, tm := range list[:min(8, len(list))] {
		slow = append(slow, tm.took.Round(time.Millisecond).String()+" "+tm.cmd)
	}
	c.t.Logf("%d CLI runs took %s in all; slowest:\n  %s", len(list), total.Round(time.Millisecond), strings.Join(slow, "\n  "))
}

// home makes a user's home directory; the CLI keeps its credentials in
// its config directory.
func (c *cliEnv) home() string {
	h := c.t.TempDir()
	if err := os.MkdirAll(filepath.Join(h, ".config"), 0o700); err != nil {
		c.t.Fatal(err)
	}
	return h
}

// environ is the CLI's environment: the user's home and config
// directory, the proxy to the dashboard host, and none of the variables
// that would send it elsewhere.
func (c *cliEnv) environ(home string) []string {
	drop := map[string]bool{
		"HOME": true, "XDG_CONFIG_HOME": true, "CADDY_ADMIN": true, "CADDY_PAAS_SERVER": true, "CADDY_PAAS_TOKEN": true,
		"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true, "REQUEST_METHOD": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[strings.ToUpper(k)] {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"HTTP_PROXY="+c.proxy, "http_proxy="+c.proxy, "NO_PROXY=", "no_proxy=")
}

func (c *cliEnv) command(ctx context.Context, home string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"paas"}, args...)...)
	cmd.Env = c.environ(home)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// exec runs `caddy paas args...` with stdin, as the user of home.
func (c *cliEnv) exec(home, stdin string, args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.command(ctx, home, args)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := cliResult{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("running caddy paas %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("caddy paas %s: still running after 2 minutes\n%s", strings.Join(args, " "), r)
	}
	if r.code == 0 {
		c.cover(args, time.Since(start))
	}
	return r
}

// ok runs a command that must succeed.
func (c *cliEnv) ok(home, stdin string, args ...string) cliResult {
	c.t.Helper()
	r := c.exec(home, stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("%s", r)
	}
	return r
}

// local runs a command on the admin endpoint.
func (c *cliEnv) local(home string, args ...string) cliResult {
	c.t.Helper()
	return c.ok(home, "", append(args, "--address", c.p.adminAddr)...)
}

// fails runs a command that must exit 1 with want on stderr and nothing
// on stdout.
func (c *cliEnv) fails(home, stdin, want string, args ...string) cliResult {
	c.t.Helper()
	r := c.exec(home, stdin, args...)
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.TrimSpace(r.stdout) != "" {
		c.t.Errorf("want exit 1 with %q on stderr and nothing on stdout; got %s", want, r)
	} else {
		c.t.Logf("caddy paas %s: exit 1: %s", strings.Join(args, " "), strings.TrimSpace(r.stderr))
	}
	return r
}

// apiError is the message the admin API answers for a request that fails.
func (c *cliEnv) apiError(method, path string, in any) string {
	c.t.Helper()
	err := c.p.api.Do(context.Background(), method, path, in, nil)
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Message == "" {
		c.t.Fatalf("%s %s: want an API error, got %v", method, path, err)
	}
	return apiErr.Message
}

// decodeJSON decodes a command's whole stdout into T, strictly: its
// fields are the API type's and nothing follows it.
func decodeJSON[T any](r cliResult) (T, error) {
	var v T
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, errors.New("data after the JSON value")
	}
	return v, nil
}

// jsonOf decodes stdout into T, or fails the test.
func jsonOf[T any](t *testing.T, r cliResult) T {
	t.Helper()
	v, err := decodeJSON[T](r)
	if err != nil {
		t.Fatalf("--json output does not decode into %T: %v\n%s", v, err, r)
	}
	return v
}

// checkJSON decodes stdout into T, or marks the test failed and goes on.
func checkJSON[T any](t *testing.T, r cliResult) (T, bool) {
	t.Helper()
	v, err := decodeJSON[T](r)
	if err != nil {
		t.Errorf("--json output does not decode into %T: %v\n%s", v, err, r)
		return v, false
	}
	return v, true
}

// dashboardProxy is an HTTP proxy (for http:// URLs) that sends requests
// for the dashboard host to httpAddr with their Host kept; it refuses
// every other host.
func dashboardProxy(t *testing.T, httpAddr string) string {
	t.Helper()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = httpAddr
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Hostname()
		if !r.URL.IsAbs() || host != dashboardHost {
			http.Error(w, "this test proxy only reaches "+dashboardHost, http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// interactive runs a command whose stdin depends on what it prints: talk
// gets its stdin and readers of its stdout and stderr (both are also kept
// whole in the result).
func (c *cliEnv) interactive(home string, args []string, talk func(stdin io.WriteCloser, stdout, stderr io.Reader)) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.command(ctx, home, args)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	var out, errOut lockedBuffer
	stdout, stderr := io.TeeReader(stdoutPipe, &out), io.TeeReader(stderrPipe, &errOut)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	talk(stdin, stdout, stderr)
	_ = stdin.Close()
	// What talk did not read is kept too; Wait closes the pipes once
	// the command ends.
	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Go(func() { _, _ = io.Copy(io.Discard, r) })
	}
	wg.Wait()
	err = cmd.Wait()
	r := cliResult{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("running caddy paas %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	if r.code == 0 {
		c.cover(args, time.Since(start))
	}
	return r
}

// lockedBuffer is a bytes.Buffer that a reader goroutine writes while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
