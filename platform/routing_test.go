package platform

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNormalizeHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"example.com:443", "example.com"},
		{"EXAMPLE.com.:8080", "example.com"},
		{"example.com.", "example.com"},
		{"[::1]:80", "::1"},
		{"127.0.0.1:2019", "127.0.0.1"},
		{"", ""},
	} {
		if got := NormalizeHost(tc.in); got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRoutingTableLookup(t *testing.T) {
	tbl := NewRoutingTable()
	hello := tbl.SetHosts("hello", []string{"hello.apps.test", "www.example.com"})
	other := tbl.SetHosts("other", []string{"other.apps.test"})
	if hello == nil || other == nil || hello == other {
		t.Fatalf("SetHosts returned %p and %p, want two routes", hello, other)
	}
	if hello.App != "hello" || other.App != "other" {
		t.Errorf("route apps = %q, %q", hello.App, other.App)
	}
	for _, tc := range []struct {
		host string
		want *AppRoute
	}{
		{"hello.apps.test", hello},
		{"HELLO.apps.test", hello},
		{"hello.apps.test:443", hello},
		{"hello.apps.test.", hello},
		{"Hello.Apps.Test.:8443", hello},
		{"www.example.com", hello},
		{"WWW.EXAMPLE.COM:80", hello},
		{"other.apps.test", other},
		{"unknown.apps.test", nil},
		{"apps.test", nil},
		{"", nil},
		{"example.com", nil},
		{"hello.apps.test.evil", nil},
		{"xhello.apps.test", nil},
	} {
		if got := tbl.Lookup(tc.host); got != tc.want {
			t.Errorf("Lookup(%q) = %v, want %v", tc.host, routeName(got), routeName(tc.want))
		}
		if got, want := tbl.HasHost(tc.host), tc.want != nil; got != want {
			t.Errorf("HasHost(%q) = %v, want %v", tc.host, got, want)
		}
	}
	if tbl.Route("hello") != hello || tbl.Route("other") != other || tbl.Route("nope") != nil {
		t.Error("Route does not return the routes by app name")
	}
	if tbl.Len() != 2 {
		t.Errorf("Len = %d, want 2", tbl.Len())
	}
}

func routeName(r *AppRoute) string {
	if r == nil {
		return "<nil>"
	}
	return r.App
}

func TestRoutingTableSetHostsReplaces(t *testing.T) {
	tbl := NewRoutingTable()
	first := tbl.SetHosts("app", []string{"a.test", "b.test"})
	rep := NewReplica("c1", "d1", "127.0.0.1:1")
	rep.SetState(ReplicaReady)
	first.SetReplicas([]*Replica{rep})

	second := tbl.SetHosts("app", []string{"b.test", "c.test"})
	if second != first {
		t.Fatal("SetHosts of a known app made a new route; its replicas would be lost")
	}
	if len(second.Replicas()) != 1 || second.Replicas()[0] != rep {
		t.Error("SetHosts dropped the route's replicas")
	}
	for _, tc := range []struct {
		host string
		want bool
	}{{"a.test", false}, {"b.test", true}, {"c.test", true}} {
		if got := tbl.Lookup(tc.host) != nil; got != tc.want {
			t.Errorf("after SetHosts, Lookup(%q) found=%v, want %v", tc.host, got, tc.want)
		}
	}
	if tbl.Len() != 1 {
		t.Errorf("Len = %d, want 1", tbl.Len())
	}

	// No hosts at all: the app keeps its route but answers on nothing.
	tbl.SetHosts("app", nil)
	for _, h := range []string{"a.test", "b.test", "c.test"} {
		if tbl.Lookup(h) != nil {
			t.Errorf("Lookup(%q) still finds the app after SetHosts(nil)", h)
		}
	}
	if tbl.Route("app") != first || tbl.Len() != 1 {
		t.Error("SetHosts(nil) dropped the app's route")
	}
}

func TestRoutingTableHostMovesBetweenApps(t *testing.T) {
	tbl := NewRoutingTable()
	a := tbl.SetHosts("a", []string{"shared.test", "a.test"})
	b := tbl.SetHosts("b", []string{"shared.test", "b.test"})
	if got := tbl.Lookup("shared.test"); got != b {
		t.Fatalf("shared host routes to %s, want b", routeName(got))
	}
	// a gives up the host: it must not take it away from b.
	tbl.SetHosts("a", []string{"a.test"})
	if got := tbl.Lookup("shared.test"); got != b {
		t.Errorf("after a dropped the shared host it routes to %s, want b", routeName(got))
	}
	// Removing a must not take b's hosts either.
	tbl.Remove("a")
	if got := tbl.Lookup("shared.test"); got != b {
		t.Errorf("after removing a the shared host routes to %s, want b", routeName(got))
	}
	if tbl.Lookup("a.test") != nil {
		t.Error("a.test still routes after a was removed")
	}
	if tbl.Lookup("b.test") != b {
		t.Error("b.test lost its route")
	}
	_ = a
}

func TestRoutingTableRemove(t *testing.T) {
	tbl := NewRoutingTable()
	route := tbl.SetHosts("app", []string{"app.test", "www.app.test"})
	tbl.SetHosts("keep", []string{"keep.test"})
	r1 := NewReplica("c1", "d1", "127.0.0.1:1")
	r2 := NewReplica("c2", "d1", "127.0.0.1:2")
	route.SetReplicas([]*Replica{r1, r2})

	old := tbl.Remove("app")
	if len(old) != 2 || old[0] != r1 || old[1] != r2 {
		t.Errorf("Remove returned %v, want the app's last replicas", old)
	}
	if len(route.Replicas()) != 0 {
		t.Error("the removed route still has replicas")
	}
	for _, h := range []string{"app.test", "www.app.test"} {
		if tbl.Lookup(h) != nil {
			t.Errorf("Lookup(%q) after Remove found a route", h)
		}
	}
	if tbl.Route("app") != nil {
		t.Error("Route(app) after Remove is not nil")
	}
	if tbl.Len() != 1 {
		t.Errorf("Len after Remove = %d, want 1", tbl.Len())
	}
	if got := tbl.Remove("app"); got != nil || tbl.Len() != 1 {
		t.Errorf("second Remove = %v with Len %d, want nil and 1", got, tbl.Len())
	}
	if tbl.Remove("never") != nil || tbl.Len() != 1 {
		t.Error("Remove of an unknown app changed the table")
	}
	// The app can come back with a fresh route.
	again := tbl.SetHosts("app", []string{"app.test"})
	if again == route || tbl.Lookup("app.test") != again || tbl.Len() != 2 {
		t.Error("an app added again after Remove does not get a fresh, routed entry")
	}
}

func TestRoutingTableLen(t *testing.T) {
	tbl := NewRoutingTable()
	if tbl.Len() != 0 {
		t.Fatalf("empty table Len = %d", tbl.Len())
	}
	for i := 0; i < 10; i++ {
		tbl.SetHosts(fmt.Sprintf("app%d", i), []string{fmt.Sprintf("app%d.test", i)})
		tbl.SetHosts(fmt.Sprintf("app%d", i), []string{fmt.Sprintf("app%d.test", i), "x.test"})
	}
	if tbl.Len() != 10 {
		t.Errorf("Len = %d, want 10", tbl.Len())
	}
	for i := 0; i < 4; i++ {
		tbl.Remove(fmt.Sprintf("app%d", i))
	}
	if tbl.Len() != 6 {
		t.Errorf("Len after 4 removals = %d, want 6", tbl.Len())
	}
}

func readyReplica(id string, inflight int64) *Replica {
	r := NewReplica(id, "d", "127.0.0.1:1")
	r.SetState(ReplicaReady)
	r.inflight.Store(inflight)
	return r
}

func TestReplicaState(t *testing.T) {
	r := NewReplica("c", "d", "")
	if r.State() != ReplicaStarting {
		t.Errorf("new replica state = %s, want starting", r.State())
	}
	for _, s := range []ReplicaState{ReplicaReady, ReplicaDraining, ReplicaStarting} {
		r.SetState(s)
		if r.State() != s {
			t.Errorf("State = %s after SetState(%s)", r.State(), s)
		}
	}
	for _, tc := range []struct {
		s    ReplicaState
		want string
	}{{ReplicaStarting, "starting"}, {ReplicaReady, "ready"}, {ReplicaDraining, "draining"}, {ReplicaState(42), "unknown"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("ReplicaState(%d).String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestAppRoutePick(t *testing.T) {
	draining := func(id string) *Replica {
		r := readyReplica(id, 0)
		r.SetState(ReplicaDraining)
		return r
	}
	starting := func(id string) *Replica { return NewReplica(id, "d", "127.0.0.1:1") }

	for _, tc := range []struct {
		name     string
		replicas []*Replica
		avoid    []string
		want     string // "" means nil
	}{
		{name: "no replicas", replicas: nil, want: ""},
		{name: "one ready", replicas: []*Replica{readyReplica("a", 0)}, want: "a"},
		{name: "least in flight", replicas: []*Replica{readyReplica("a", 3), readyReplica("b", 1), readyReplica("c", 2)}, want: "b"},
		{name: "least in flight last", replicas: []*Replica{readyReplica("a", 5), readyReplica("b", 5), readyReplica("c", 0)}, want: "c"},
		{name: "skips draining", replicas: []*Replica{draining("a"), readyReplica("b", 10)}, want: "b"},
		{name: "skips starting", replicas: []*Replica{starting("a"), readyReplica("b", 10)}, want: "b"},
		{name: "only draining", replicas: []*Replica{draining("a"), draining("b")}, want: ""},
		{name: "only starting", replicas: []*Replica{starting("a")}, want: ""},
		{name: "avoid", replicas: []*Replica{readyReplica("a", 0), readyReplica("b", 9)}, avoid: []string{"a"}, want: "b"},
		{name: "avoid two of three", replicas: []*Replica{readyReplica("a", 0), readyReplica("b", 0), readyReplica("c", 9)}, avoid: []string{"a", "b"}, want: "c"},
		{name: "avoid every ready one retries them", replicas: []*Replica{readyReplica("a", 0), draining("b")}, avoid: []string{"a"}, want: "a"},
		{name: "avoid with none ready", replicas: []*Replica{draining("a")}, avoid: []string{"a"}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route := &AppRoute{App: "app"}
			route.SetReplicas(tc.replicas)
			byID := map[string]*Replica{}
			before := map[*Replica]int64{}
			for _, r := range tc.replicas {
				byID[r.ContainerID] = r
				before[r] = r.InFlight()
			}
			var avoid []*Replica
			for _, id := range tc.avoid {
				avoid = append(avoid, byID[id])
			}
			got := route.Pick(avoid)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("Pick = %s, want nil", got.ContainerID)
				}
				for r, n := range before {
					if r.InFlight() != n {
						t.Errorf("replica %s in flight %d -> %d although nothing was picked", r.ContainerID, n, r.InFlight())
					}
				}
				return
			}
			if got == nil || got.ContainerID != tc.want {
				t.Fatalf("Pick = %v, want %s", got, tc.want)
			}
			if got.InFlight() != before[got]+1 {
				t.Errorf("picked replica in flight = %d, want %d", got.InFlight(), before[got]+1)
			}
			for r, n := range before {
				if r != got && r.InFlight() != n {
					t.Errorf("replica %s not picked but its count changed %d -> %d", r.ContainerID, n, r.InFlight())
				}
			}
			got.Release()
			if got.InFlight() != before[got] {
				t.Errorf("after Release in flight = %d, want %d", got.InFlight(), before[got])
			}
		})
	}
}

func TestAppRoutePickSpreadsTies(t *testing.T) {
	route := &AppRoute{App: "app"}
	list := []*Replica{readyReplica("a", 0), readyReplica("b", 0), readyReplica("c", 0)}
	route.SetReplicas(list)
	counts := map[string]int{}
	for i := 0; i < 300; i++ {
		r := route.Pick(nil)
		if r == nil {
			t.Fatal("Pick returned nil with ready replicas")
		}
		counts[r.ContainerID]++
		r.Release()
	}
	for _, r := range list {
		if counts[r.ContainerID] < 50 {
			t.Errorf("ties are not rotated: picks %v", counts)
			break
		}
	}
	// Requests held open spread over the replicas by load.
	var held []*Replica
	for i := 0; i < 9; i++ {
		held = append(held, route.Pick(nil))
	}
	for _, r := range list {
		if r.InFlight() != 3 {
			t.Errorf("replica %s has %d in flight after 9 held picks, want 3", r.ContainerID, r.InFlight())
		}
	}
	for _, r := range held {
		r.Release()
	}
}

func TestAppRouteSetReplicasAndReady(t *testing.T) {
	route := &AppRoute{App: "app"}
	if route.Replicas() != nil || route.Ready() != 0 {
		t.Fatal("a new route has replicas")
	}
	a, b, c := readyReplica("a", 0), readyReplica("b", 0), NewReplica("c", "d", "")
	in := []*Replica{a, b, c}
	if old := route.SetReplicas(in); old != nil {
		t.Errorf("first SetReplicas returned %v, want nil", old)
	}
	in[0] = nil // the route keeps its own copy
	if got := route.Replicas(); len(got) != 3 || got[0] != a {
		t.Error("SetReplicas does not copy the list it is given")
	}
	if route.Ready() != 2 {
		t.Errorf("Ready = %d, want 2", route.Ready())
	}
	b.SetState(ReplicaDraining)
	if route.Ready() != 1 {
		t.Errorf("Ready after draining one = %d, want 1", route.Ready())
	}
	old := route.SetReplicas([]*Replica{c})
	if len(old) != 3 || old[0] != a || old[1] != b || old[2] != c {
		t.Errorf("SetReplicas returned %v, want the previous set", old)
	}
	if route.Ready() != 0 {
		t.Errorf("Ready = %d, want 0", route.Ready())
	}
}

// TestAppRoutePickDrainRace checks the guarantee documented on Pick: once a
// drainer has marked a replica draining and then seen its in-flight count at
// zero, no Pick returns that replica. Run with -race.
func TestAppRoutePickDrainRace(t *testing.T) {
	const (
		rounds  = 20
		pickers = 4
		size    = 4
	)
	for round := 0; round < rounds; round++ {
		route := &AppRoute{App: "app"}
		var list []*Replica
		drained := map[*Replica]*atomic.Bool{}
		for i := 0; i < size; i++ {
			r := readyReplica(fmt.Sprintf("r%d", i), 0)
			list = append(list, r)
			drained[r] = new(atomic.Bool)
		}
		route.SetReplicas(list)

		var violations, picks atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for p := 0; p < pickers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var avoid []*Replica
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := route.Pick(avoid)
					if r == nil {
						runtime.Gosched()
						continue
					}
					picks.Add(1)
					if drained[r].Load() {
						violations.Add(1)
					}
					r.Release()
					runtime.Gosched()
					if len(avoid) == 0 {
						avoid = []*Replica{r}
					} else {
						avoid = nil
					}
				}
			}()
		}

		// Drain all but the last replica, one after the other, while the
		// pickers run: mark draining, wait for zero, then record that the
		// replica is stopped.
		for _, r := range list[:size-1] {
			for i := 0; i < 300; i++ {
				runtime.Gosched()
			}
			r.SetState(ReplicaDraining)
			deadline := time.Now().Add(5 * time.Second)
			for r.InFlight() != 0 {
				if time.Now().After(deadline) {
					close(stop)
					wg.Wait()
					t.Fatalf("replica %s never drained: %d in flight", r.ContainerID, r.InFlight())
				}
				runtime.Gosched()
			}
			drained[r].Store(true)
		}
		// Keep picking for a moment after the last drain.
		for i := 0; i < 300; i++ {
			runtime.Gosched()
		}
		close(stop)
		wg.Wait()

		if n := violations.Load(); n > 0 {
			t.Fatalf("round %d: %d picks returned a replica after its drain saw zero in flight", round, n)
		}
		if picks.Load() == 0 {
			t.Fatalf("round %d: no pick succeeded", round)
		}
		for _, r := range list {
			if r.InFlight() != 0 {
				t.Errorf("round %d: replica %s has %d in flight at the end", round, r.ContainerID, r.InFlight())
			}
		}
		last := list[size-1]
		if got := route.Pick(nil); got != last {
			t.Errorf("round %d: Pick after the drains = %v, want the last ready replica", round, got)
		} else {
			got.Release()
		}
	}
}
