package containers

import "testing"

// Every container gets a pids limit; memory and CPU only when given.
func TestLimitsResources(t *testing.T) {
	for _, tc := range []struct {
		in                     Limits
		memory, nanoCPUs, pids int64
	}{
		{Limits{}, 0, 0, DefaultPidsLimit},
		{Limits{MemoryBytes: 512 << 20, NanoCPUs: 5e8}, 512 << 20, 5e8, DefaultPidsLimit},
		{Limits{PidsLimit: 100}, 0, 0, 100},
		{Limits{PidsLimit: -1}, 0, 0, DefaultPidsLimit},
	} {
		r := tc.in.resources()
		if r.Memory != tc.memory || r.NanoCPUs != tc.nanoCPUs || r.PidsLimit == nil || *r.PidsLimit != tc.pids {
			t.Errorf("%+v: memory %d, nano CPUs %d, pids %v; want %d, %d, %d", tc.in, r.Memory, r.NanoCPUs, r.PidsLimit, tc.memory, tc.nanoCPUs, tc.pids)
		}
	}
}
