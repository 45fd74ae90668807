package containers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/container"
)

// Usage is one sample of a container's resource use.
type Usage struct {
	// CPUTotal is the container's CPU time so far, in nanoseconds.
	CPUTotal uint64
	// SystemTotal is the host's CPU time so far, in nanoseconds (the
	// denominator of a CPU share between two samples).
	SystemTotal uint64
	// OnlineCPUs is the number of CPUs the host has online.
	OnlineCPUs uint32
	// MemoryBytes is the memory in use, page cache excluded where the
	// engine reports it.
	MemoryBytes uint64
	// MemoryLimit is the memory limit (the host's memory when none).
	MemoryLimit uint64
}

// Usage takes one sample of a running container's CPU and memory use.
func (d *Docker) Usage(ctx context.Context, id string) (Usage, error) {
	rc, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return Usage{}, fmt.Errorf("reading the stats of container %s: %w", shortID(id), err)
	}
	defer rc.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(rc.Body).Decode(&s); err != nil {
		return Usage{}, fmt.Errorf("decoding the stats of container %s: %w", shortID(id), err)
	}
	mem := s.MemoryStats.Usage
	// cgroup v2 reports inactive_file, v1 cache: memory that is only page
	// cache is not the app's.
	if v, ok := s.MemoryStats.Stats["inactive_file"]; ok && v < mem {
		mem -= v
	} else if v, ok := s.MemoryStats.Stats["cache"]; ok && v < mem {
		mem -= v
	}
	return Usage{
		CPUTotal: s.CPUStats.CPUUsage.TotalUsage, SystemTotal: s.CPUStats.SystemUsage,
		OnlineCPUs: s.CPUStats.OnlineCPUs, MemoryBytes: mem, MemoryLimit: s.MemoryStats.Limit,
	}, nil
}
