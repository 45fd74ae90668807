package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what one load run measured.
type loadResult struct {
	RPS float64
	// Errors counts failed requests: socket errors and non-2xx answers.
	Errors int64
}

// loadGen sends load to a loopback address.
type loadGen struct {
	// wrk is the path of wrk, or "" to use the Go load generator.
	wrk     string
	conns   int
	threads int
}

// Name says which load generator runs.
func (g *loadGen) Name() string {
	if g.wrk != "" {
		return fmt.Sprintf("wrk, %d connections, %d threads", g.conns, g.threads)
	}
	return fmt.Sprintf("the bench's Go load generator in its own process (no wrk), %d connections", g.conns)
}

// run sends GET / with the Host header host to addr for d and returns the
// rate of successful requests.
func (g *loadGen) run(ctx context.Context, addr, host string, d time.Duration) (loadResult, error) {
	if err := checkLoopback(addr); err != nil {
		return loadResult{}, err
	}
	if g.wrk != "" {
		return g.runWrk(ctx, addr, host, d)
	}
	cmd, err := selfCommand(ctx, roleLoad, addr, host, strconv.Itoa(g.conns), d.String())
	if err != nil {
		return loadResult{}, err
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("running the Go load generator against %s: %w", addr, err)
	}
	var res loadResult
	if _, err := fmt.Sscanf(out.String(), "%g %d", &res.RPS, &res.Errors); err != nil {
		return loadResult{}, fmt.Errorf("reading the Go load generator's output %q: %w", out.String(), err)
	}
	return res, nil
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkSocketEr = regexp.MustCompile(`Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

func (g *loadGen) runWrk(ctx context.Context, addr, host string, d time.Duration) (loadResult, error) {
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	cmd := exec.CommandContext(ctx, g.wrk,
		"-t", strconv.Itoa(g.threads), "-c", strconv.Itoa(g.conns), "-d", strconv.Itoa(secs)+"s",
		"--timeout", "5s", "-H", "Host: "+host, "http://"+addr+"/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("running wrk against %s: %w: %s", addr, err, truncate(string(out), 400))
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return loadResult{}, fmt.Errorf("wrk printed no Requests/sec: %s", truncate(string(out), 400))
	}
	var res loadResult
	if res.RPS, err = strconv.ParseFloat(string(m[1]), 64); err != nil {
		return loadResult{}, fmt.Errorf("reading wrk's Requests/sec: %w", err)
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		res.Errors += n
	}
	if m := wrkSocketEr.FindSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(string(s), 10, 64)
			res.Errors += n
		}
	}
	return res, nil
}

// checkLoopback refuses to send load anywhere but a loopback address.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("load target %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("load target %q is not a loopback address", addr)
	}
	return nil
}

// runLoadRole is the Go load generator, run in its own process when wrk is
// missing: conns keep-alive connections each send GET / back to back for the
// duration. It prints the rate of successful requests and the error count.
func runLoadRole(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("load: want addr host conns duration, got %q", args)
	}
	addr, host := args[0], args[1]
	if err := checkLoopback(addr); err != nil {
		return err
	}
	conns, err := strconv.Atoi(args[2])
	if err != nil || conns < 1 {
		return fmt.Errorf("load: bad connection count %q", args[2])
	}
	d, err := time.ParseDuration(args[3])
	if err != nil {
		return fmt.Errorf("load: bad duration: %w", err)
	}
	transport := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
				if err != nil {
					failed.Add(1)
					return
				}
				req.Host = host
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	_, err = fmt.Fprintf(os.Stdout, "%g %d\n", float64(ok.Load())/elapsed, failed.Load())
	return err
}
