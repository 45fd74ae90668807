package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is one side of a throughput comparison: an address, the Host
// header its requests carry, and how to read the CPU time of the proxy
// that serves it.
type target struct {
	name string
	addr string
	host string
	cpu  func() (time.Duration, error)
}

// throughput is what interleaved load runs measured for each target. Every
// slice has one value per round, in round order, so that values of two
// targets at the same index were measured seconds apart.
type throughput struct {
	// samples holds requests/s.
	samples map[string][]float64
	// cpuPerReq holds the proxy's CPU time per request, in microseconds:
	// unlike requests/s it hardly depends on what else the machine runs.
	cpuPerReq map[string][]float64
	// connRates holds the connections per second that the backend
	// accepted: a proxy that keeps its upstream connections opens
	// (almost) none after its warm-up.
	connRates map[string][]float64
	errors    map[string]int64
}

// describe tells a target's median requests/s with their spread, its CPU
// per request and its rate of new upstream connections.
func (t *throughput) describe(name string) string {
	return fmt.Sprintf("%s req/s (%s), %s µs CPU/req, %s new upstream conns/s",
		fmtInt(t.median(name)), spread(t.samples[name]), fmtInt(median(t.cpuPerReq[name])), fmtInt(median(t.connRates[name])))
}

// median returns the median requests/s of a target.
func (t *throughput) median(name string) float64 { return median(t.samples[name]) }

// ratio returns the median over rounds of a's requests/s divided by b's
// in the same round: pairing samples taken seconds apart cancels most of
// the drift of a shared machine.
func (t *throughput) ratio(a, b string) float64 { return pairedRatio(t.samples[a], t.samples[b]) }

// cpuRatio is like ratio for CPU per request, inverted so that above 1
// means a needs less CPU per request than b.
func (t *throughput) cpuRatio(a, b string) float64 {
	return pairedRatio(t.cpuPerReq[b], t.cpuPerReq[a])
}

func pairedRatio(a, b []float64) float64 {
	var rs []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return median(rs)
}

// measureInterleaved runs load against every target in turn, rounds times,
// so that each figure and its baseline are measured seconds apart and any
// drift of the machine hits both sides alike. The order reverses every
// round (A B C D, D C B A, ...), so targets listed next to each other are
// always measured back to back and neither is always first: list the two
// sides of each ratio next to each other. Each target first gets a short
// unrecorded warm-up that fills its connection pools.
//
// With profileDir set, this process (the in-process Caddy) is CPU-profiled
// during each sample into profileDir/<target>-<round>.pprof; profiling
// costs throughput, so such a run is for diagnosis, not for the figures.
func measureInterleaved(ctx context.Context, gen *loadGen, backend string, targets []target, rounds int, d time.Duration, profileDir string, progress func(string)) (*throughput, error) {
	for _, t := range targets {
		if err := checkServes(ctx, t.addr, t.host); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	warm := d / 4
	if warm < time.Second {
		warm = time.Second
	}
	for _, t := range targets {
		if _, err := gen.run(ctx, t.addr, t.host, warm); err != nil {
			return nil, fmt.Errorf("warming up %s: %w", t.name, err)
		}
	}
	res := &throughput{
		samples:   map[string][]float64{},
		cpuPerReq: map[string][]float64{},
		connRates: map[string][]float64{},
		errors:    map[string]int64{},
	}
	for round := 0; round < rounds; round++ {
		for i := range targets {
			t := targets[i]
			if round%2 == 1 {
				t = targets[len(targets)-1-i]
			}
			s, err := measureOnce(ctx, gen, backend, t, d, profileDir, round)
			if err != nil {
				return nil, fmt.Errorf("measuring %s: %w", t.name, err)
			}
			res.samples[t.name] = append(res.samples[t.name], s.rps)
			res.cpuPerReq[t.name] = append(res.cpuPerReq[t.name], s.cpuPerReq)
			res.connRates[t.name] = append(res.connRates[t.name], s.connRate)
			res.errors[t.name] += s.errors
			progress(fmt.Sprintf("round %d/%d %-14s %7.0f req/s %5.0f µs CPU/req %6.0f new upstream conns/s",
				round+1, rounds, t.name, s.rps, s.cpuPerReq, s.connRate))
		}
	}
	return res, nil
}

// sample is one load run's figures.
type sample struct {
	rps       float64
	cpuPerReq float64
	connRate  float64
	errors    int64
}

func measureOnce(ctx context.Context, gen *loadGen, backend string, t target, d time.Duration, profileDir string, round int) (sample, error) {
	var s sample
	connsBefore, err := backendConnections(ctx, backend)
	if err != nil {
		return s, err
	}
	cpuBefore, err := t.cpu()
	if err != nil {
		return s, err
	}
	stopProfile, err := startProfile(profileDir, fmt.Sprintf("%s-%d", t.name, round+1))
	if err != nil {
		return s, err
	}
	start := time.Now()
	r, err := gen.run(ctx, t.addr, t.host, d)
	elapsed := time.Since(start)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return s, err
	}
	cpuAfter, err := t.cpu()
	if err != nil {
		return s, err
	}
	connsAfter, err := backendConnections(ctx, backend)
	if err != nil {
		return s, err
	}
	s.rps, s.errors = r.RPS, r.Errors
	s.connRate = float64(connsAfter-connsBefore) / elapsed.Seconds()
	if requests := r.RPS * elapsed.Seconds(); requests > 0 {
		s.cpuPerReq = float64(cpuAfter-cpuBefore) / float64(time.Microsecond) / requests
	}
	return s, nil
}

// selfCPU returns the CPU time this process (the in-process Caddy) has
// used. The bench's own goroutines sleep while load runs.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("reading this process's CPU time: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// processTreeCPU returns the CPU time of process pid and of its children
// (nginx's master and its workers), from /proc.
func processTreeCPU(pid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing processes: %w", err)
	}
	var ticks uint64
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, t, err := procStatCPU(p)
		if err != nil {
			continue // it ended meanwhile, or it is not ours to read
		}
		if p == pid || ppid == pid {
			ticks += t
		}
	}
	// Linux reports these times in USER_HZ, 100 per second on every
	// architecture Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// procStatCPU reads a process's parent and its user+system CPU time, with
// that of its reaped children, in clock ticks.
func procStatCPU(pid int) (ppid int, ticks uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	for _, field := range f[11:15] {
		n, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return ppid, ticks, nil
}

// startProfile starts a CPU profile of this process into dir/name.pprof
// and returns the function that ends it; with no dir it does nothing.
func startProfile(dir, name string) (func() error, error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the profile folder: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pprof"))
	if err != nil {
		return nil, fmt.Errorf("creating a profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting a CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// median returns the median of xs, or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread describes the samples of one target as min-max, to show noise.
func spread(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return fmt.Sprintf("%s-%s", fmtInt(s[0]), fmtInt(s[len(s)-1]))
}
