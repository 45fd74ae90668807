// Command bench measures caddy-paas against stock Caddy, and nginx when it
// is installed, and prints one markdown table in which every figure was
// measured in the same run as its baseline. `make bench` runs it as
//
//	go run ./bench
//
// from the repository root. It sends traffic only to loopback addresses:
// the backend is this program run again as a small HTTP server, the
// proxies are Caddy in this process (caddy.Load) and nginx, and the memory
// figures come from the repository's Caddy built into a temporary folder
// and run as separate processes. Only the build rows (builds.go) need a
// Docker engine; without one they say they were skipped.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-paas/caddy-paas"
)

// options are the bench's flags.
type options struct {
	duration      time.Duration
	shortDuration time.Duration
	rounds        int
	conns         int
	threads       int
	apps          int
	stockHosts    int
	changes       int
	clients       int
	createLimit   time.Duration
	settle        time.Duration
	wrk           string
	nginx         string
	phases        map[string]bool
	profileDir    string
	builds        bool
	buildRounds   int
}

func main() {
	if len(os.Args) > 1 {
		if handled, err := runRole(os.Args[1], os.Args[2:]); handled {
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			return
		}
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of one throughput sample")
	flag.DurationVar(&o.shortDuration, "short-duration", 2*time.Second, "length of one throughput sample in the last-of-many-apps comparison")
	flag.IntVar(&o.rounds, "rounds", 9, "samples per side of each comparison, taken in turn; the median is reported")
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections of the load")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.apps, "apps", 10000, "most apps in the routing table and in the memory test")
	flag.IntVar(&o.stockHosts, "stock-hosts", 5000, "host routes of the stock Caddy baseline for the last-app test")
	flag.IntVar(&o.changes, "changes", 5000, "route changes timed per table size")
	flag.IntVar(&o.clients, "clients", 4, "concurrent admin API clients creating apps in the memory test")
	flag.DurationVar(&o.createLimit, "create-limit", 4*time.Minute, "give up creating apps through the admin API after this long")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before a process's RSS is read")
	flag.StringVar(&o.wrk, "wrk", "", "path of wrk (default: wrk on PATH); \"none\" or no wrk runs a Go load generator instead")
	flag.StringVar(&o.nginx, "nginx", "", "path of nginx (default: nginx on PATH or /usr/sbin/nginx); \"none\" or no nginx leaves the nginx row out")
	phases := flag.String("phases", "proxy,reload,auth,memory,tls", "phases to run: proxy (throughput, route changes), reload (caddy.Load), auth (the public API's authentication and login), memory (separate processes), tls (TLS handshakes, separate processes)")
	flag.StringVar(&o.profileDir, "cpuprofile", "", "diagnosis: write a CPU profile of the in-process Caddy for each throughput sample, and for the auth phase's timed requests, into this folder")
	flag.BoolVar(&o.builds, "builds", true, "time deploys from git and uploads on the machine's Docker engine (skipped, and said so, when no engine answers)")
	flag.IntVar(&o.buildRounds, "build-rounds", 3, "rounds of the build rows (each: a cold and a warm git deploy and an upload, and the same by hand)")
	flag.Parse()
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "proxy", "reload", "auth", "memory", "tls":
			o.phases[p] = true
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown phase %q\n", p)
			os.Exit(2)
		}
	}
	if o.apps < 1000 || o.stockHosts < 2 || o.rounds < 1 || o.conns < 1 || o.threads < 1 || o.changes < 100 || o.clients < 1 || o.buildRounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -apps must be at least 1000, -stock-hosts 2, -changes 100, the others 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		if werr := rep.write(os.Stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runRole runs the bench as one of its helper processes when role names
// one.
func runRole(role string, args []string) (bool, error) {
	switch role {
	case roleBackend:
		return true, runBackend()
	case roleLoad:
		return true, runLoadRole(args)
	}
	return false, nil
}

// bench holds what the phases share.
type bench struct {
	o         options
	tmp       string
	start     time.Time
	gen       *loadGen
	backend   string
	nginx     string // nginx's listen address, or ""
	nginxProc *child
	rep       *report
	changes   []routeChange
	reloads   map[int]reload
}

func (b *bench) progress(msg string) {
	fmt.Fprintf(os.Stderr, "[%4.0fs] %s\n", time.Since(b.start).Seconds(), msg)
}

// run runs every phase and returns the report, partial if a phase failed.
func run(ctx context.Context, o options) (*report, error) {
	b := &bench{o: o, start: time.Now(), rep: &report{date: time.Now()}}
	defer func() { b.rep.elapsed = time.Since(b.start) }()
	tmp, err := os.MkdirTemp("", "caddy-paas-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	b.tmp = tmp
	// Caddy's own data and config folders, for this process and its
	// children, go to the temporary folder too.
	for k, dir := range map[string]string{"XDG_DATA_HOME": "xdg-data", "XDG_CONFIG_HOME": "xdg-config"} {
		if err := os.Setenv(k, filepath.Join(tmp, dir)); err != nil {
			return nil, fmt.Errorf("setting %s: %w", k, err)
		}
	}

	b.gen = &loadGen{wrk: o.wrk, conns: o.conns, threads: o.threads}
	switch b.gen.wrk {
	case "":
		b.gen.wrk, _ = exec.LookPath("wrk")
	case "none":
		b.gen.wrk = ""
	}
	b.rep.header = []string{
		"machine: " + machine(),
		"machine load before the run: " + machineLoad(),
		"Caddy " + caddyVersionShort() + ", caddy-paas in the same binary",
		fmt.Sprintf("load: %s; the sides of a comparison take turns (A B C, C B A, ...) for %d rounds of %s samples (%s with %s apps); "+
			"figures are medians with min-max in parentheses, ratios the median of the rounds' ratios; CPU/req is the proxy process's CPU time per request",
			b.gen.Name(), o.rounds, o.duration, o.shortDuration, fmtInt(float64(o.apps))),
		fmt.Sprintf("backend: a Go net/http server in its own process on loopback, answering every request with a fixed %d-byte body", len(backendBody)),
	}

	backend, backendAddr, err := startBackend(ctx)
	if err != nil {
		return b.rep, err
	}
	defer backend.stop()
	b.backend = backendAddr
	b.progress("backend listening on " + backendAddr)

	if bin := findNginx(o.nginx); bin != "" {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return b.rep, err
		}
		ngx, err := startNginx(ctx, bin, filepath.Join(tmp, "nginx"), addr, backendAddr)
		if err != nil {
			return b.rep, err
		}
		defer ngx.stop()
		b.nginx, b.nginxProc = addr, ngx
		b.progress("nginx listening on " + addr)
	} else {
		b.rep.note("nginx was not found (or -nginx none): the nginx row is left out.")
	}

	defer func() { _ = caddy.Stop() }()
	if o.phases["proxy"] {
		if err := b.proxyPhases(ctx); err != nil {
			return b.rep, err
		}
	}
	if o.phases["reload"] {
		if err := b.reloadPhase(ctx); err != nil {
			return b.rep, err
		}
	}
	b.routeChangeRows()
	if o.phases["auth"] {
		if err := b.authPhase(ctx); err != nil {
			return b.rep, fmt.Errorf("auth: %w", err)
		}
	}
	if err := caddy.Stop(); err != nil {
		return b.rep, fmt.Errorf("stopping the in-process Caddy: %w", err)
	}
	if o.phases["memory"] {
		if err := b.memoryPhase(ctx); err != nil {
			return b.rep, err
		}
	}
	if o.phases["tls"] {
		if err := b.tlsPhase(ctx); err != nil {
			return b.rep, fmt.Errorf("tls: %w", err)
		}
	}
	if o.builds {
		if err := b.buildsPhase(ctx); err != nil {
			return b.rep, fmt.Errorf("builds: %w", err)
		}
	} else {
		b.rep.note("The build rows were left out (-builds=false).")
	}
	b.rep.header = append(b.rep.header, "machine load after the run: "+machineLoad())
	b.progress("done")
	return b.rep, nil
}
