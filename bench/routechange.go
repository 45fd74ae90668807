package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/platform"
)

// latency summarizes the timings of many runs of one operation.
type latency struct {
	median time.Duration
	p99    time.Duration
	max    time.Duration
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return latency{
		median: s[len(s)/2],
		p99:    s[len(s)*99/100],
		max:    s[len(s)-1],
	}
}

// routeChange is what one table size measured.
type routeChange struct {
	apps int
	// deploy is swapping an app's replica set as step 5 of a deploy does:
	// SetHosts, SetReplicas, and the old replicas marked draining.
	deploy latency
	// addHosts is a new app's hosts entering the table.
	addHosts latency
}

// changeBatch is how many operations of one kind run on one table before
// the next table takes its turn.
const changeBatch = 100

// measureRouteChanges times route changes on tables of different sizes:
// tables[i] holds sizes[i] apps. The tables take turns in batches, in
// A B C, C B A order, so that all sizes share whatever else the machine
// was doing: measured one size after the other, a burst of other work
// during one of them would pass for a cost of the table's size. Each
// operation is timed on its own; the new replicas a deploy swaps in are
// made before the clock starts, as the deploy pipeline makes them while
// the replicas start.
func measureRouteChanges(tables []*platform.RoutingTable, sizes []int, iters int, backend string) []routeChange {
	deploys := make([][]time.Duration, len(tables))
	adds := make([][]time.Duration, len(tables))
	op := 0
	for round := 0; round*changeBatch < iters; round++ {
		for j := range tables {
			i := j
			if round%2 == 1 {
				i = len(tables) - 1 - j
			}
			table, n := tables[i], sizes[i]
			name, hosts := appName(n), []string{appHost(n)}
			for k := 0; k < changeBatch; k++ {
				op++
				r := platform.NewReplica(fmt.Sprintf("bench-swap-%d", op), fmt.Sprintf("bench-deploy-%d", op), backend)
				r.SetState(platform.ReplicaReady)
				next := []*platform.Replica{r}
				start := time.Now()
				route := table.SetHosts(name, hosts)
				for _, old := range route.SetReplicas(next) {
					old.SetState(platform.ReplicaDraining)
				}
				deploys[i] = append(deploys[i], time.Since(start))
			}
			for k := 0; k < changeBatch; k++ {
				op++
				newApp := fmt.Sprintf("new%d", op)
				newHosts := []string{newApp + "." + baseDomain}
				start := time.Now()
				table.SetHosts(newApp, newHosts)
				adds[i] = append(adds[i], time.Since(start))
				table.Remove(newApp)
			}
		}
	}
	out := make([]routeChange, len(tables))
	for i := range tables {
		out[i] = routeChange{apps: sizes[i], deploy: summarize(deploys[i]), addHosts: summarize(adds[i])}
	}
	return out
}

// reload is what reloading a static stock Caddy config measured.
type reload struct {
	apps   int
	loads  int
	median time.Duration
	max    time.Duration
	// allocMB is the memory allocated per load, in MB (10^6 bytes): garbage
	// the collector must then reclaim.
	allocMB float64
}

// measureReload times caddy.Load of a static config with apps host routes
// and a reverse_proxy each, the way stock Caddy deploys: the running config
// is one of the same size, and each load changes one route's upstream (a
// new container port; nothing dials it). The first load, from whatever ran
// before, is not timed.
func measureReload(tmp, listen string, apps, loads int, backend string) (reload, error) {
	res := reload{apps: apps, loads: loads}
	config := func(changedDial string) ([]byte, error) {
		cfg := caddyConfig(tmp, object{"http": object{"servers": object{
			"static": httpServer(listen, hostRoutes(apps, backend, apps/2+1, changedDial)),
		}}})
		return json.Marshal(cfg)
	}
	raw, err := config(backend)
	if err != nil {
		return res, fmt.Errorf("encoding a static config of %d routes: %w", apps, err)
	}
	if err := caddy.Load(raw, true); err != nil {
		return res, fmt.Errorf("loading a static config of %d routes: %w", apps, err)
	}
	var times []time.Duration
	var alloc uint64
	for k := 0; k < loads; k++ {
		// A new port for each deploy, as a new container would have.
		raw, err := config(fmt.Sprintf("127.0.0.1:%d", 40000+k))
		if err != nil {
			return res, fmt.Errorf("encoding a static config of %d routes: %w", apps, err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		if err := caddy.Load(raw, true); err != nil {
			return res, fmt.Errorf("reloading a static config of %d routes: %w", apps, err)
		}
		times = append(times, time.Since(start))
		runtime.ReadMemStats(&after)
		alloc += after.TotalAlloc - before.TotalAlloc
	}
	s := summarize(times)
	res.median, res.max = s.median, s.max
	res.allocMB = float64(alloc) / float64(loads) / 1e6
	return res, nil
}
