package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Hidden first arguments that make the bench binary one of its own helper
// processes. A helper runs in its own process so that its CPU time and
// garbage collection never count as the proxy's.
const (
	roleBackend = "internal-backend"
	roleLoad    = "internal-load"
)

// backendBody is what the backend answers to every request: small, so that
// the proxies, not the backend, are what is measured.
const backendBody = "hello from the bench backend\n"

// backendStatsPath is where the backend tells how many connections it
// has accepted. Only the bench asks for it, directly; the load never does.
const backendStatsPath = "/.bench/connections"

// runBackend is the backend role: a plain net/http server on a loopback
// ephemeral port that answers every request with backendBody. It counts
// the connections it accepts, which shows how many a proxy opens. It
// prints its address as its first line of output and exits when its
// standard input closes, so it never outlives the bench.
func runBackend() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("backend: listening: %w", err)
	}
	body := []byte(backendBody)
	length := []string{strconv.Itoa(len(body))}
	var accepted atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == backendStatsPath {
				fmt.Fprintln(w, accepted.Load())
				return
			}
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = length
			_, _ = w.Write(body)
		}),
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				accepted.Add(1)
			}
		},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("backend: serving: %w", err)
	}
	return nil
}

// backendConnections asks the backend at addr how many connections it has
// accepted so far.
func backendConnections(ctx context.Context, addr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+backendStatsPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := statsClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("asking the backend for its connection count: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("reading the backend's connection count: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading the backend's connection count %q: %w", b, err)
	}
	return n, nil
}

// statsClient keeps one connection to the backend for the counts, so that
// asking does not change them by more than one.
var statsClient = &http.Client{Timeout: 10 * time.Second}

// child is a helper process the bench started and must stop.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// startChild starts cmd. When readLine is true it returns the first line
// the child prints on its standard output (a helper's address); the rest
// of the output is discarded. The child gets SIGTERM if the bench dies.
func startChild(ctx context.Context, name string, cmd *exec.Cmd, readLine bool) (*child, string, error) {
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	c.stdin = stdin
	var stdout io.ReadCloser
	if readLine {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, "", fmt.Errorf("starting %s: %w", name, err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	if !readLine {
		return c, "", nil
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok || line == "" {
			c.stop()
			return nil, "", fmt.Errorf("%s exited before it was ready: %v", name, c.err)
		}
		return c, line, nil
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, "", fmt.Errorf("%s printed nothing within 30s", name)
	case <-ctx.Done():
		c.stop()
		return nil, "", ctx.Err()
	}
}

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the child to end (SIGTERM, standard input closed) and kills it
// if it has not ended within 10 seconds.
func (c *child) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	if c.stdin != nil {
		_ = c.stdin.Close()
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// selfCommand returns a command that runs this bench binary in a helper
// role.
func selfCommand(ctx context.Context, role string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the bench executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{role}, args...)...)
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// startBackend starts the backend helper and returns it with its address.
func startBackend(ctx context.Context) (*child, string, error) {
	cmd, err := selfCommand(ctx, roleBackend)
	if err != nil {
		return nil, "", err
	}
	return startChild(ctx, "backend", cmd, true)
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	return addr, nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkServes sends one request for host to addr and checks that the
// backend answered it: a figure measured through a broken route would be a
// figure of error pages.
func checkServes(ctx context.Context, addr, host string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	req.Host = host
	// A fresh connection each time: an idle one kept from before a config
	// reload may have been closed by the old server.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("checking %s (Host %s): %w", addr, host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("checking %s (Host %s): reading the answer: %w", addr, host, err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != backendBody {
		return fmt.Errorf("checking %s (Host %s): got status %d and %q, want the backend's answer", addr, host, resp.StatusCode, truncate(string(body), 120))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
