package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// buildCaddy builds the repository's Caddy (cmd/caddy, with the standard
// modules and caddy-paas) into dir, so that stock Caddy and caddy-paas are
// the same binary and differ only by their config.
func buildCaddy(ctx context.Context, dir string) (string, error) {
	return buildCaddyPackage(ctx, filepath.Join(dir, "caddy"), "./cmd/caddy")
}

// buildCaddyPackage builds pkg into bin from the module root, with the
// module's go.mod as it is and the flags of `make build` (what users run).
func buildCaddyPackage(ctx context.Context, bin, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run the bench from inside the caddy-paas module")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w: %s", pkg, err, truncate(string(out), 800))
	}
	return bin, nil
}

// caddyProcess is the built Caddy running as its own process, with its
// admin endpoint on a unix socket in its folder.
type caddyProcess struct {
	dir    string
	proc   *child
	client *http.Client
}

// adminSocket returns the admin socket path of a process folder.
func adminSocket(dir string) string { return filepath.Join(dir, "admin.sock") }

// processConfig is a config for the separate process: the admin endpoint
// on a unix socket (no port to collide with, no Origin to forge), no
// autosave, errors only in the log, and the given apps.
func processConfig(dir string, apps object) object {
	cfg := caddyConfig(dir, apps)
	cfg["admin"] = object{"listen": "unix/" + adminSocket(dir), "config": object{"persist": false}}
	return cfg
}

// startCaddyProcess runs bin with cfg from dir and waits until its admin
// endpoint answers. Caddy's own data and config folders are in dir too.
func startCaddyProcess(ctx context.Context, bin, dir string, cfg object) (*caddyProcess, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the process config: %w", err)
	}
	cfgPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		return nil, fmt.Errorf("writing the process config: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "caddy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the process log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	proc, _, err := startChild(ctx, "caddy", cmd, false)
	if err != nil {
		return nil, err
	}
	sock := adminSocket(dir)
	p := &caddyProcess{dir: dir, proc: proc, client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 64,
		},
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if proc.exited() {
			return nil, fmt.Errorf("caddy exited at start: %v; its log: %s", proc.err, p.logTail())
		}
		resp, err := p.do(ctx, http.MethodGet, "/config/", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("caddy's admin endpoint did not answer within 60s (last error: %v); its log: %s", err, p.logTail())
		}
		select {
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// do sends one request to the admin endpoint. Over a unix socket Caddy
// checks neither Host nor Origin.
func (p *caddyProcess) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return p.client.Do(req)
}

func (p *caddyProcess) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "caddy.log"))
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// stop ends the process (SIGTERM: Caddy's graceful exit).
func (p *caddyProcess) stop() {
	p.client.CloseIdleConnections()
	p.proc.stop()
}

// procStatusBytes reads one "kB" field of /proc/<pid>/status.
func procStatusBytes(pid int, field string) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field) {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, field))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", field, line)
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", field, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	return 0, fmt.Errorf("no %s in the status of process %d", field, pid)
}

// creation is how long creating apps through the admin API took.
type creation struct {
	apps    int
	clients int
	total   time.Duration
	// first and last are the time of the first and the last block of
	// blockSize apps: their ratio shows whether a create costs more as apps
	// accumulate.
	first, last time.Duration
	blockSize   int
}

// createApps creates apps app1..appN with no image (no container) through
// POST /paas/apps, from clients concurrent clients. It gives up after
// limit, reporting how many it created.
func (p *caddyProcess) createApps(ctx context.Context, n, clients int, limit time.Duration, progress func(string)) (creation, error) {
	res := creation{clients: clients, blockSize: n / 10}
	if res.blockSize < 1 {
		res.blockSize = 1
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var next, done atomic.Int64
	var mu sync.Mutex
	var firstErr error
	blockStart := time.Now()
	start := blockStart
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				body := fmt.Sprintf(`{"name":%q}`, appName(i))
				resp, err := p.do(ctx, http.MethodPost, "/paas/apps", []byte(body))
				if err == nil {
					msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating app %s: %w", appName(i), err)
					}
					mu.Unlock()
					cancel()
					return
				}
				if d := int(done.Add(1)); d%res.blockSize == 0 {
					mu.Lock()
					now := time.Now()
					took := now.Sub(blockStart)
					blockStart = now
					if d == res.blockSize {
						res.first = took
					}
					res.last = took
					mu.Unlock()
					progress(fmt.Sprintf("created %d/%d apps in %s (last %d in %s)", d, n, now.Sub(start).Round(100*time.Millisecond), res.blockSize, took.Round(10*time.Millisecond)))
				}
			}
		}()
	}
	wg.Wait()
	res.total = time.Since(start)
	res.apps = int(done.Load())
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}
