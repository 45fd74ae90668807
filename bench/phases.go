package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

// tableSizes are the routing table sizes that route changes and reloads
// are measured at.
func (b *bench) tableSizes() []int {
	sizes := []int{10, 1000}
	if b.o.apps > 1000 {
		sizes = append(sizes, b.o.apps)
	}
	return sizes
}

// proxyPhases measures throughput (one app; the last of many apps vs the
// first) and route changes with the in-process Caddy.
func (b *bench) proxyPhases(ctx context.Context) error {
	paasAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	stockAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	paasServer := httpServer(paasAddr, paasRoutes())
	err = loadConfig(caddyConfig(b.tmp, object{
		"paas": paasAppConfig(b.tmp),
		"http": object{"servers": object{
			"paas":  paasServer,
			"stock": httpServer(stockAddr, []any{object{"handle": []any{proxyHandler(b.backend)}}}),
		}},
	}))
	if err != nil {
		return err
	}
	engine, err := activeEngine()
	if err != nil {
		return err
	}
	table := engine.Table()
	routeApps(table, 1, 1, b.backend)

	// 1. One app: paas_apps vs stock reverse_proxy (vs nginx).
	b.progress("throughput with 1 app")
	targets := []target{
		{name: "paas_apps", addr: paasAddr, host: appHost(1), cpu: selfCPU},
		{name: "reverse_proxy", addr: stockAddr, host: appHost(1), cpu: selfCPU},
	}
	if b.nginx != "" {
		pid := b.nginxProc.cmd.Process.Pid
		targets = append(targets, target{name: "nginx", addr: b.nginx, host: appHost(1),
			cpu: func() (time.Duration, error) { return processTreeCPU(pid) }})
	}
	tp, err := measureInterleaved(ctx, b.gen, b.backend, targets, b.o.rounds, b.o.duration, b.o.profileDir, b.progress)
	if err != nil {
		return err
	}
	b.noteErrors(tp)
	ratio := tp.ratio("paas_apps", "reverse_proxy")
	b.rep.add(row{
		measure:  "Requests/s through the proxy, 1 app, " + fmt.Sprint(b.o.conns) + " connections",
		paas:     "paas_apps: " + tp.describe("paas_apps"),
		baseline: "stock reverse_proxy, static upstream: " + tp.describe("reverse_proxy"),
		result:   fmt.Sprintf("%.2f (CPU efficiency %.2f)", ratio, tp.cpuRatio("paas_apps", "reverse_proxy")),
		target:   verdict("≥ 1.00", ratio >= 1),
	})
	if b.nginx != "" {
		b.rep.add(row{
			measure:  "Requests/s through the proxy, 1 app, vs nginx",
			paas:     fmt.Sprintf("paas_apps: %s req/s", fmtInt(tp.median("paas_apps"))),
			baseline: "nginx proxy_pass, upstream keepalive 64: " + tp.describe("nginx"),
			result:   fmt.Sprintf("%.2f (CPU efficiency %.2f)", tp.ratio("paas_apps", "nginx"), tp.cpuRatio("paas_apps", "nginx")),
			target:   "none (reference)",
		})
	}

	// 3. Route changes. The largest size is the running engine's table;
	// the smaller ones are tables of the same type beside it, so that all
	// sizes can take turns.
	sizes := b.tableSizes()
	have := sizes[len(sizes)-1]
	routeApps(table, 2, have, b.backend)
	tables := make([]*platform.RoutingTable, len(sizes))
	for i, n := range sizes[:len(sizes)-1] {
		tables[i] = platform.NewRoutingTable()
		routeApps(tables[i], 1, n, b.backend)
	}
	tables[len(sizes)-1] = table
	b.progress(fmt.Sprintf("route changes with %v apps", sizes))
	b.changes = measureRouteChanges(tables, sizes, b.o.changes, b.backend)

	// 2. The last of many apps vs the first, next to stock Caddy with one
	// host route per app.
	hostsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	b.progress(fmt.Sprintf("loading stock Caddy with %d host routes beside paas_apps with %d apps", b.o.stockHosts, have))
	err = loadConfig(caddyConfig(b.tmp, object{
		"paas": paasAppConfig(b.tmp),
		"http": object{"servers": object{
			"paas":  paasServer,
			"hosts": httpServer(hostsAddr, hostRoutes(b.o.stockHosts, b.backend, 0, "")),
		}},
	}))
	if err != nil {
		return err
	}
	if engine2, err := activeEngine(); err != nil {
		return err
	} else if engine2.Table().Len() != have {
		return fmt.Errorf("the routing table has %d apps after a config load, want %d", engine2.Table().Len(), have)
	}
	b.progress(fmt.Sprintf("throughput to the last of %d apps vs the first", have))
	targets = []target{
		{name: "paas first", addr: paasAddr, host: appHost(1), cpu: selfCPU},
		{name: "paas last", addr: paasAddr, host: appHost(have), cpu: selfCPU},
		{name: "stock first", addr: hostsAddr, host: appHost(1), cpu: selfCPU},
		{name: "stock last", addr: hostsAddr, host: appHost(b.o.stockHosts), cpu: selfCPU},
	}
	tp, err = measureInterleaved(ctx, b.gen, b.backend, targets, b.o.rounds, b.o.shortDuration, b.o.profileDir, b.progress)
	if err != nil {
		return err
	}
	b.noteErrors(tp)
	paasRatio, stockRatio := tp.ratio("paas last", "paas first"), tp.ratio("stock last", "stock first")
	b.rep.add(row{
		measure: fmt.Sprintf("Requests/s to the last of %s apps vs the first", fmtInt(float64(have))),
		paas: fmt.Sprintf("%.2f; last: %s; first: %s", paasRatio,
			tp.describe("paas last"), tp.describe("paas first")),
		baseline: fmt.Sprintf("stock Caddy, one host route per app, %s apps: %.2f; last: %s; first: %s",
			fmtInt(float64(b.o.stockHosts)), stockRatio, tp.describe("stock last"), tp.describe("stock first")),
		result: fmt.Sprintf("%.2f (CPU efficiency %.2f)", paasRatio, tp.cpuRatio("paas last", "paas first")),
		target: verdict("≥ 0.95", paasRatio >= 0.95),
	})
	return nil
}

// noteErrors records failed requests, which would make a figure suspect.
func (b *bench) noteErrors(tp *throughput) {
	names := make([]string, 0, len(tp.errors))
	for name := range tp.errors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if n := tp.errors[name]; n > 0 {
			b.rep.note("%s: %s requests failed (socket errors or non-2xx answers) during its samples.", name, fmtInt(float64(n)))
		}
	}
}

// reloadPhase times caddy.Load of equivalent static configs and adds the
// route change rows beside them.
func (b *bench) reloadPhase(ctx context.Context) error {
	listen, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	reloads := map[int]reload{}
	for _, n := range b.tableSizes() {
		if err := ctx.Err(); err != nil {
			return err
		}
		loads := 5
		if n > 1000 {
			loads = 3
		}
		b.progress(fmt.Sprintf("caddy.Load of a static config with %d host routes, %d times", n, loads))
		r, err := measureReload(b.tmp, listen, n, loads, b.backend)
		if err != nil {
			return err
		}
		reloads[n] = r
	}
	b.reloads = reloads
	return nil
}

// routeChangeRows adds the rows of route changes beside reloads, for the
// table sizes that either phase measured.
func (b *bench) routeChangeRows() {
	if len(b.changes) == 0 && len(b.reloads) == 0 {
		return
	}
	changes := map[int]routeChange{}
	for _, rc := range b.changes {
		changes[rc.apps] = rc
	}
	var worst time.Duration
	for _, n := range b.tableSizes() {
		rc, measured := changes[n]
		r, reloaded := b.reloads[n]
		x := row{measure: fmt.Sprintf("One route change with %s apps (median, p99 of %s)", fmtInt(float64(n)), fmtInt(float64(b.o.changes)))}
		if measured {
			p99 := max(rc.deploy.p99, rc.addHosts.p99)
			worst = max(worst, rc.deploy.max, rc.addHosts.max)
			x.paas = fmt.Sprintf("deploy (swap replica set): %s, %s; add an app's hosts: %s, %s",
				fmtDur(rc.deploy.median), fmtDur(rc.deploy.p99), fmtDur(rc.addHosts.median), fmtDur(rc.addHosts.p99))
			x.result = "p99 " + fmtDur(p99)
			x.target = verdict("< 1 ms", p99 < time.Millisecond)
		}
		if reloaded {
			x.baseline = fmt.Sprintf("caddy.Load of a static config (a host route + reverse_proxy per app): %s (%.1f MB allocated per load, median of %d)",
				fmtDur(r.median), r.allocMB, r.loads)
		}
		if measured && reloaded {
			x.result += fmt.Sprintf("; the reload takes %s× as long as a deploy", fmtInt(float64(r.median)/float64(rc.deploy.median)))
		}
		b.rep.add(x)
	}
	sizes := b.tableSizes()
	small, big := sizes[0], sizes[len(sizes)-1]
	x := row{measure: fmt.Sprintf("Route change cost, %s apps vs %s (ratio of medians)", fmtInt(float64(big)), fmtInt(float64(small)))}
	if len(b.changes) > 0 {
		dep := float64(changes[big].deploy.median) / float64(changes[small].deploy.median)
		add := float64(changes[big].addHosts.median) / float64(changes[small].addHosts.median)
		x.paas = fmt.Sprintf("deploy %.2f×, add hosts %.2f×", dep, add)
		x.result = fmt.Sprintf("%.2f×", max(dep, add))
		target := fmt.Sprintf("flat (≤ 2× for %s× the apps)", fmtInt(float64(big)/float64(small)))
		var missed []string
		if dep > 2 {
			missed = append(missed, "deploy")
		}
		if add > 2 {
			missed = append(missed, "add hosts")
		}
		x.target = verdict(target, len(missed) == 0)
		if len(missed) > 0 {
			x.target += " (" + strings.Join(missed, ", ") + ")"
		}
		b.rep.note("Route changes were timed one by one, the table sizes taking turns in batches of %d; the slowest of all took %s (a garbage collection pause or preemption, not table work).", changeBatch, fmtDur(worst))
	}
	if len(b.reloads) > 0 {
		x.baseline = fmt.Sprintf("caddy.Load %s×", fmtInt(float64(b.reloads[big].median)/float64(b.reloads[small].median)))
	}
	b.rep.add(x)
}

// memoryPhase measures idle RSS of separate processes of the built Caddy.
func (b *bench) memoryPhase(ctx context.Context) error {
	b.progress("building ./cmd/caddy")
	bin, err := buildCaddy(ctx, filepath.Join(b.tmp, "bin"))
	if err != nil {
		return err
	}

	// Stock Caddy runs twice: in the same binary as caddy-paas (the
	// baseline), and as upstream's own cmd/caddy of the same version, which
	// shows how much of the floor is Caddy's.
	upstreamBin, err := buildCaddyPackage(ctx, filepath.Join(b.tmp, "bin", "caddy-upstream"), "github.com/caddyserver/caddy/v2/cmd/caddy")
	if err != nil {
		return err
	}
	var stock, upstream memory
	for _, side := range []struct {
		name string
		bin  string
		dst  *memory
	}{{"stock", bin, &stock}, {"upstream", upstreamBin, &upstream}} {
		b.progress(fmt.Sprintf("idle RSS of stock Caddy (%s binary)", side.name))
		dir := filepath.Join(b.tmp, "rss-"+side.name)
		listen, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		cfg := processConfig(dir, object{"http": object{"servers": object{
			"stock": httpServer(listen, []any{object{"handle": []any{proxyHandler(b.backend)}}}),
		}}})
		if *side.dst, _, err = b.idleRSS(ctx, side.bin, dir, cfg, 0, nil); err != nil {
			return fmt.Errorf("stock Caddy: %w", err)
		}
	}
	b.rep.note("Stock Caddy's idle RSS with the same config from upstream's own cmd/caddy %s binary (no caddy-paas inside): %s. "+
		"File-backed pages are the executable's code and data mapped in; anonymous memory is what the process allocated.", caddyVersionShort(), upstream)

	stockCell := "stock Caddy, same binary, one reverse_proxy route: " + stock.String()
	for _, n := range []int{100, b.o.apps} {
		dir := filepath.Join(b.tmp, fmt.Sprintf("rss-paas-%d", n))
		listen, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		cfg := processConfig(dir, object{
			"paas": paasAppConfig(dir),
			"http": object{"servers": object{"paas": httpServer(listen, paasRoutes())}},
		})
		b.progress(fmt.Sprintf("caddy-paas idle RSS with %d apps", n))
		var made creation
		idle, restarted, err := b.idleRSS(ctx, bin, dir, cfg, n, &made)
		if err != nil {
			return fmt.Errorf("caddy-paas with %d apps: %w", n, err)
		}
		limit := 60e6
		if n > 100 {
			limit = 150e6
		}
		apps := fmtInt(float64(made.apps))
		b.rep.add(row{
			measure:  fmt.Sprintf("Idle RSS, %s apps created through the admin API", apps),
			paas:     idle.String(),
			baseline: stockCell,
			result:   "RSS " + fmtDelta(idle.rss, stock.rss) + ", anonymous " + fmtDelta(idle.anon, stock.anon),
			target:   verdict(fmt.Sprintf("< %.0f MB", limit/1e6), float64(idle.rss) < limit && made.apps == n),
		})
		stockCell = "the same stock Caddy: " + fmtMB(stock.rss)
		if n <= 100 {
			continue
		}
		b.rep.add(row{
			measure:  fmt.Sprintf("Idle RSS, %s apps, after a restart", apps),
			paas:     restarted.String(),
			baseline: stockCell,
			result:   "RSS " + fmtDelta(restarted.rss, stock.rss) + ", anonymous " + fmtDelta(restarted.anon, stock.anon),
			target:   verdict(fmt.Sprintf("< %.0f MB", limit/1e6), float64(restarted.rss) < limit && made.apps == n),
		})
		result := fmtInt(float64(made.apps)/made.total.Seconds()) + " apps/s"
		if made.apps < n {
			result = fmt.Sprintf("stopped at the %s limit after %s apps", b.o.createLimit, apps)
		}
		b.rep.add(row{
			measure: fmt.Sprintf("Creating %s apps through the admin API, %d clients", fmtInt(float64(n)), made.clients),
			paas: fmt.Sprintf("%s; the first %s apps %s, the last %s", fmtDur(made.total),
				fmtInt(float64(made.blockSize)), fmtDur(made.first), fmtDur(made.last)),
			result: result,
			target: "none (reference)",
		})
	}
	return nil
}

// memory is one RSS reading of a process.
type memory struct {
	// rss is VmRSS; anon and file are its private (heap, stacks) and
	// file-backed (the executable's pages) parts.
	rss, anon, file uint64
	heapInuse       uint64
	// idleCPU is the share of one core the process used while it idled.
	idleCPU float64
}

// String describes a reading for the table.
func (m memory) String() string {
	return fmt.Sprintf("%s (anonymous %s + file-backed %s; Go heap in use %s; %.1f%% of a core while idle)",
		fmtMB(m.rss), fmtMB(m.anon), fmtMB(m.file), fmtMB(m.heapInuse), 100*m.idleCPU)
}

// idleRSS starts the built Caddy with cfg, creates apps apps through the
// admin API (recording how in made), waits b.o.settle, and reads the
// process's RSS. With apps > 100 it also restarts the process on the same
// data and reads its RSS again once idle.
func (b *bench) idleRSS(ctx context.Context, bin, dir string, cfg object, apps int, made *creation) (idle, restarted memory, err error) {
	p, err := startCaddyProcess(ctx, bin, dir, cfg)
	if err != nil {
		return idle, restarted, err
	}
	defer func() {
		if p != nil {
			p.stop()
		}
	}()
	if apps > 0 {
		*made, err = p.createApps(ctx, apps, b.o.clients, b.o.createLimit, b.progress)
		if err != nil {
			return idle, restarted, fmt.Errorf("%w; caddy's log: %s", err, p.logTail())
		}
		b.progress(fmt.Sprintf("created %d apps in %s", made.apps, made.total.Round(time.Millisecond)))
	}
	if idle, err = b.settleAndRead(ctx, p); err != nil {
		return idle, restarted, err
	}
	if apps <= 100 {
		return idle, restarted, nil
	}
	p.stop()
	b.progress("restarting caddy-paas on the same data")
	if p, err = startCaddyProcess(ctx, bin, dir, cfg); err != nil {
		return idle, restarted, err
	}
	restarted, err = b.settleAndRead(ctx, p)
	return idle, restarted, err
}

// settleAndRead waits b.o.settle with no traffic and reads the process's
// RSS and the CPU it used meanwhile, then its Go heap in use from
// /debug/vars (which forces no garbage collection).
func (b *bench) settleAndRead(ctx context.Context, p *caddyProcess) (memory, error) {
	var m memory
	p.client.CloseIdleConnections()
	pid := p.proc.cmd.Process.Pid
	_, before, err := procStatCPU(pid)
	if err != nil {
		return m, fmt.Errorf("reading the CPU time of caddy: %w", err)
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return m, ctx.Err()
	case <-time.After(b.o.settle):
	}
	_, after, err := procStatCPU(pid)
	if err != nil {
		return m, fmt.Errorf("reading the CPU time of caddy: %w", err)
	}
	// Clock ticks are 10 ms (USER_HZ is 100).
	m.idleCPU = float64(after-before) * 0.01 / time.Since(start).Seconds()
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"VmRSS:", &m.rss}, {"RssAnon:", &m.anon}, {"RssFile:", &m.file}} {
		if *f.dst, err = procStatusBytes(pid, f.name); err != nil {
			return m, err
		}
	}
	resp, err := p.do(ctx, http.MethodGet, "/debug/vars", nil)
	if err != nil {
		return m, fmt.Errorf("reading /debug/vars: %w", err)
	}
	defer resp.Body.Close()
	var vars struct {
		Memstats struct {
			HeapInuse uint64
		} `json:"memstats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return m, fmt.Errorf("decoding /debug/vars: %w", err)
	}
	m.heapInuse = vars.Memstats.HeapInuse
	return m, nil
}
