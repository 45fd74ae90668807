package platform

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-paas/caddy-paas/containers"
)

// AppUsage is an app's resource use, summed over its running replicas, as
// of the last sample.
type AppUsage struct {
	// CPUPercent is the share of one CPU used since the previous sample
	// (200 means two CPUs' worth).
	CPUPercent float64 `json:"cpu_percent"`
	// MemoryBytes is the memory in use.
	MemoryBytes uint64 `json:"memory_bytes"`
	// Replicas is how many replicas were sampled.
	Replicas int `json:"replicas"`
	// SampledAt is when the sample was taken.
	SampledAt time.Time `json:"sampled_at"`
}

// usageSampler keeps the last resource sample of every app.
type usageSampler struct {
	mu   sync.Mutex
	apps map[string]AppUsage
	prev map[string]containers.Usage // by container id
}

const defaultUsageInterval = 10 * time.Second

// sampleUsage samples the running replicas' CPU and memory every interval,
// so that views show them without asking Docker on every request.
func (e *Engine) sampleUsage() {
	defer e.wg.Done()
	interval := e.config().UsageInterval
	if interval <= 0 {
		interval = defaultUsageInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		e.sampleOnce(e.ctx)
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Engine) sampleOnce(ctx context.Context) {
	list, err := e.rt.List(ctx, e.labels(nil))
	if err != nil {
		return
	}
	type sample struct {
		app string
		id  string
		u   containers.Usage
		err error
	}
	var running []containers.Container
	for _, c := range list {
		if c.Running && c.Labels[containers.LabelApp] != "" {
			running = append(running, c)
		}
	}
	out := make([]sample, len(running))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			u, err := e.rt.Usage(sctx, c.ID)
			out[i] = sample{app: c.Labels[containers.LabelApp], id: c.ID, u: u, err: err}
		}()
	}
	wg.Wait()
	now := time.Now().UTC()
	s := &e.usage
	s.mu.Lock()
	defer s.mu.Unlock()
	apps := map[string]AppUsage{}
	prev := map[string]containers.Usage{}
	for _, smp := range out {
		if smp.err != nil {
			continue
		}
		a := apps[smp.app]
		a.Replicas++
		a.MemoryBytes += smp.u.MemoryBytes
		if p, ok := s.prev[smp.id]; ok && smp.u.SystemTotal > p.SystemTotal && smp.u.CPUTotal >= p.CPUTotal {
			cpus := float64(smp.u.OnlineCPUs)
			if cpus == 0 {
				cpus = 1
			}
			a.CPUPercent += float64(smp.u.CPUTotal-p.CPUTotal) / float64(smp.u.SystemTotal-p.SystemTotal) * cpus * 100
		}
		a.SampledAt = now
		apps[smp.app] = a
		prev[smp.id] = smp.u
	}
	s.apps, s.prev = apps, prev
}

// usageOf is an app's last sample, or nil.
func (e *Engine) usageOf(app string) *AppUsage {
	e.usage.mu.Lock()
	defer e.usage.mu.Unlock()
	u, ok := e.usage.apps[app]
	if !ok {
		return nil
	}
	return &u
}
