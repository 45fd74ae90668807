package platform

import (
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ReplicaState is where a replica is in its life. Transitions:
// starting -> ready (healthy, takes requests) -> draining (finishes what it
// has, takes nothing new) -> gone. A replica that fails its start goes from
// starting straight to gone.
type ReplicaState int32

// Replica states.
const (
	ReplicaStarting ReplicaState = iota
	ReplicaReady
	ReplicaDraining
)

func (s ReplicaState) String() string {
	switch s {
	case ReplicaStarting:
		return "starting"
	case ReplicaReady:
		return "ready"
	case ReplicaDraining:
		return "draining"
	}
	return "unknown"
}

// Replica is one running container of an app's deployment, as the router
// sees it.
type Replica struct {
	ContainerID string
	Deployment  string
	// Addr is the host:port the proxy dials.
	Addr string

	state    atomic.Int32
	inflight atomic.Int64
}

// NewReplica returns a replica in state starting.
func NewReplica(containerID, deployment, addr string) *Replica {
	return &Replica{ContainerID: containerID, Deployment: deployment, Addr: addr}
}

// State returns the replica's state.
func (r *Replica) State() ReplicaState { return ReplicaState(r.state.Load()) }

// SetState moves the replica to s.
func (r *Replica) SetState(s ReplicaState) { r.state.Store(int32(s)) }

// InFlight is the number of requests the replica is serving now.
func (r *Replica) InFlight() int64 { return r.inflight.Load() }

// Release ends one request that Pick counted.
func (r *Replica) Release() { r.inflight.Add(-1) }

// AppRoute is the router's view of one app: the replicas that serve it. The
// replica set is swapped atomically; readers never lock.
type AppRoute struct {
	App string

	replicas atomic.Pointer[[]*Replica]
	next     atomic.Uint32
	policy   atomic.Pointer[EdgePolicy]
	// hosts are the app's hosts in the table; guarded by the table's mu.
	hosts []string
}

// Policy returns the app's edge policy (redirects, maintenance, HSTS), or
// nil when it has none.
func (a *AppRoute) Policy() *EdgePolicy { return a.policy.Load() }

// SetPolicy swaps the app's edge policy.
func (a *AppRoute) SetPolicy(p *EdgePolicy) { a.policy.Store(p) }

// Replicas returns the current serving set (do not modify it).
func (a *AppRoute) Replicas() []*Replica {
	if p := a.replicas.Load(); p != nil {
		return *p
	}
	return nil
}

// SetReplicas swaps the serving set and returns the previous one.
func (a *AppRoute) SetReplicas(list []*Replica) []*Replica {
	cp := append([]*Replica(nil), list...)
	old := a.replicas.Swap(&cp)
	if old == nil {
		return nil
	}
	return *old
}

// Ready reports how many replicas take requests.
func (a *AppRoute) Ready() int {
	n := 0
	for _, r := range a.Replicas() {
		if r.State() == ReplicaReady {
			n++
		}
	}
	return n
}

// Pick chooses the ready replica with the fewest requests in flight
// (rotating among ties), skipping those in avoid, and counts one request on
// it; the caller must Release it. It returns nil when no replica is ready.
//
// The count is taken before the state is checked again: a drainer marks a
// replica draining and then waits for its count to reach zero, so either
// this request sees the draining state and picks again, or the drainer sees
// the request and waits for it. No request reaches a stopped replica.
func (a *AppRoute) Pick(avoid []*Replica) *Replica {
	for attempt := 0; attempt < 4; attempt++ {
		list := a.Replicas()
		n := len(list)
		if n == 0 {
			return nil
		}
		start := int(a.next.Add(1)) % n
		var best *Replica
		for i := 0; i < n; i++ {
			r := list[(start+i)%n]
			if r.State() != ReplicaReady || contains(avoid, r) {
				continue
			}
			if best == nil || r.inflight.Load() < best.inflight.Load() {
				best = r
			}
		}
		if best == nil {
			if len(avoid) > 0 {
				// Every ready replica was tried: allow a second try.
				avoid = nil
				continue
			}
			return nil
		}
		best.inflight.Add(1)
		if best.State() == ReplicaReady {
			return best
		}
		best.inflight.Add(-1)
	}
	return nil
}

func contains(list []*Replica, r *Replica) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

// RoutingTable maps request hosts to apps. Lookups are lock-free; writers
// (deploys, app and domain changes) serialize on a mutex and touch only the
// entries they change, so a change costs the same with 10 apps or 10,000.
type RoutingTable struct {
	hosts sync.Map // host -> *AppRoute

	mu    sync.Mutex
	apps  map[string]*AppRoute
	count atomic.Int64
}

// NewRoutingTable returns an empty table.
func NewRoutingTable() *RoutingTable {
	return &RoutingTable{apps: map[string]*AppRoute{}}
}

// Lookup returns the route for a request host (any port is ignored, case
// does not matter), or nil.
func (t *RoutingTable) Lookup(host string) *AppRoute {
	if v, ok := t.hosts.Load(host); ok {
		return v.(*AppRoute)
	}
	h := NormalizeHost(host)
	if h == host {
		return nil
	}
	if v, ok := t.hosts.Load(h); ok {
		return v.(*AppRoute)
	}
	return nil
}

// NormalizeHost strips a port and a trailing dot and lowercases.
func NormalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// Route returns the route of an app, or nil.
func (t *RoutingTable) Route(app string) *AppRoute {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.apps[app]
}

// EnsureRoute returns the route of app, creating it (with no hosts) when
// missing.
func (t *RoutingTable) EnsureRoute(app string) *AppRoute {
	t.mu.Lock()
	defer t.mu.Unlock()
	route := t.apps[app]
	if route == nil {
		route = &AppRoute{App: app}
		t.apps[app] = route
		t.count.Add(1)
	}
	return route
}

// SetHosts makes exactly hosts route to app, creating the app's route when
// new, and returns the route.
func (t *RoutingTable) SetHosts(app string, hosts []string) *AppRoute {
	t.mu.Lock()
	defer t.mu.Unlock()
	route := t.apps[app]
	if route == nil {
		route = &AppRoute{App: app}
		t.apps[app] = route
		t.count.Add(1)
	}
	// An app has a few hosts: lists beat a map here, and a route change
	// touches no per-table structure but the host map itself.
	for _, h := range route.hosts {
		if !slices.Contains(hosts, h) {
			t.hosts.CompareAndDelete(h, route)
		}
	}
	for _, h := range hosts {
		t.hosts.Store(h, route)
	}
	route.hosts = append(route.hosts[:0:0], hosts...)
	return route
}

// Remove drops an app and its hosts, returning its last replicas.
func (t *RoutingTable) Remove(app string) []*Replica {
	t.mu.Lock()
	defer t.mu.Unlock()
	route := t.apps[app]
	if route == nil {
		return nil
	}
	for _, h := range route.hosts {
		t.hosts.CompareAndDelete(h, route)
	}
	delete(t.apps, app)
	t.count.Add(-1)
	return route.SetReplicas(nil)
}

// Len is the number of apps in the table.
func (t *RoutingTable) Len() int { return int(t.count.Load()) }

// HasHost reports whether a host routes to an app.
func (t *RoutingTable) HasHost(host string) bool { return t.Lookup(host) != nil }
