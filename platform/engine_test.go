package platform

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/storage"
)

const testBase = "apps.test"

// harness is an engine over a real bbolt store in a temporary directory
// and the fake runtime.
type harness struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	db    *storage.DB
	store *Store
	rt    *fakeRuntime
	cfg   Config
	e     *Engine
	logs  *observer.ObservedLogs
}

func newHarness(t *testing.T, mods ...func(*Config)) *harness {
	t.Helper()
	h := newStoppedHarness(t, mods...)
	h.start()
	return h
}

// start starts the engine and waits until its startup pass (recovery of
// interrupted deploys, first reconcile) is done, which the engine runs in
// the background: it subscribes to events right after.
func (h *harness) start() {
	h.t.Helper()
	h.rt.mu.Lock()
	calls := h.rt.eventCalls
	h.rt.mu.Unlock()
	if err := h.e.Start(); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	waitFor(h.t, 10*time.Second, "the engine's startup pass", func() bool {
		h.rt.mu.Lock()
		defer h.rt.mu.Unlock()
		return h.rt.eventCalls > calls
	})
}

// newStoppedHarness is newHarness without Start, for tests that prepare
// the store first.
func newStoppedHarness(t *testing.T, mods ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	sealer, err := storage.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	rt := newFakeRuntime(t)
	rt.addImage("hello:v1", fakeImage{})
	rt.addImage("hello:v2", fakeImage{})
	rt.addImage("hello:v3", fakeImage{})
	cfg := Config{
		BaseDomain:        testBase,
		HealthTimeout:     3 * time.Second,
		DrainTimeout:      2 * time.Second,
		StopTimeout:       100 * time.Millisecond,
		ReconcileInterval: time.Hour,
	}
	for _, m := range mods {
		m(&cfg)
	}
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{
		t: t, ctx: context.Background(), dir: dir, db: db, store: NewStore(db, sealer),
		rt: rt, cfg: cfg, logs: logs,
	}
	h.e = NewEngine(cfg, h.store, rt, zap.New(core))
	// Registered after the fake's cleanup, so it runs before it.
	t.Cleanup(func() {
		h.e.Close()
		db.Close()
	})
	return h
}

// restart closes the engine and starts a new one over the same store and
// containers, as after a process restart.
func (h *harness) restart() {
	h.t.Helper()
	h.e.Close()
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	h.e = NewEngine(h.cfg, h.store, h.rt, zap.New(core))
	h.start()
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitDeployment(app, id string) *Deployment {
	h.t.Helper()
	var d *Deployment
	waitFor(h.t, 15*time.Second, "deployment "+id+" of "+app+" to finish", func() bool {
		var err error
		d, err = h.e.Deployment(app, id)
		if err != nil {
			h.t.Fatalf("Deployment(%s, %s): %v", app, id, err)
		}
		return d.Status.Finished()
	})
	return d
}

// waitLive waits until a deployment is live and its replicas serve: the
// engine records live just before it swaps the routing table.
func (h *harness) waitLive(app, id string) *Deployment {
	h.t.Helper()
	d := h.waitDeployment(app, id)
	if d.Status != StatusLive {
		h.t.Fatalf("deployment %s of %s ended %s (%s), want live", id, app, d.Status, d.Reason)
	}
	waitFor(h.t, 10*time.Second, "the replicas of "+id+" to serve", func() bool {
		route := h.e.Table().Route(app)
		if route == nil {
			return false
		}
		n := 0
		for _, r := range route.Replicas() {
			if r.Deployment != id || r.State() != ReplicaReady {
				return false
			}
			n++
		}
		return n == d.Replicas
	})
	return d
}

func (h *harness) route(app string) *AppRoute {
	h.t.Helper()
	r := h.e.Table().Lookup(app + "." + testBase)
	if r == nil {
		h.t.Fatalf("no route for %s.%s", app, testBase)
	}
	return r
}

// createLive creates an app with an image and waits for its first
// deployment to be live.
func (h *harness) createLive(in AppInput) (*AppView, *Deployment) {
	h.t.Helper()
	v, err := h.e.CreateApp(h.ctx, in)
	if err != nil {
		h.t.Fatalf("CreateApp(%s): %v", in.Name, err)
	}
	if v.Deployment == "" {
		h.t.Fatalf("CreateApp(%s) with an image started no deployment", in.Name)
	}
	return v, h.waitLive(in.Name, v.Deployment)
}

func (h *harness) deploy(app string, in DeployInput) *Deployment {
	h.t.Helper()
	d, err := h.e.Deploy(h.ctx, app, in)
	if err != nil {
		h.t.Fatalf("Deploy(%s): %v", app, err)
	}
	return d
}

// replicaIDs are the container ids of an app's serving set, sorted.
func replicaIDs(r *AppRoute) []string {
	var out []string
	for _, rep := range r.Replicas() {
		out = append(out, rep.ContainerID)
	}
	sort.Strings(out)
	return out
}

// waitSettled waits until the app's containers are exactly its serving
// replicas: drains done, failed replicas removed.
func (h *harness) waitSettled(app string) {
	h.t.Helper()
	waitFor(h.t, 10*time.Second, "the containers of "+app+" to be only its serving replicas", func() bool {
		route := h.e.Table().Route(app)
		var want []string
		if route != nil {
			want = replicaIDs(route)
		}
		return slices.Equal(h.rt.appContainers(app, false), want)
	})
}

func ptr[T any](v T) *T { return &v }

func wantErrStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want status %d", what, status)
	}
	if got := StatusOf(err); got != status {
		t.Fatalf("%s: %v (status %d), want status %d", what, err, got, status)
	}
}

func TestEngineConfigureDefaults(t *testing.T) {
	h := newStoppedHarness(t)
	e := NewEngine(Config{}, h.store, h.rt, nil)
	defer e.Close()
	cfg := e.config()
	if cfg.UpstreamMode != UpstreamHost || cfg.HealthTimeout <= 0 || cfg.DrainTimeout <= 0 ||
		cfg.StopTimeout <= 0 || cfg.ReconcileInterval <= 0 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if e.log() == nil {
		t.Error("nil logger not replaced")
	}
	if e.Attachments() != 1 {
		t.Errorf("Attachments = %d, want 1", e.Attachments())
	}
	e.Configure(Config{BaseDomain: "other.test", HealthTimeout: time.Second}, zap.NewNop())
	if e.Attachments() != 2 || e.config().BaseDomain != "other.test" || e.config().HealthTimeout != time.Second {
		t.Errorf("Configure did not apply: attachments %d, %+v", e.Attachments(), e.config())
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Errorf("second Start = %v, want nil", err)
	}
}

func TestEngineCreateAppDeploysAndGoesLive(t *testing.T) {
	h := newHarness(t)
	v, err := h.e.CreateApp(h.ctx, AppInput{
		Name:    "hello",
		Image:   "hello:v1",
		Port:    ptr(3000),
		Env:     map[string]string{"GREETING": "hi there", "EMPTY": ""},
		Domains: []string{"WWW.Hello.Example."},
	})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if v.Status != AppDeploying || v.Deployment == "" {
		t.Errorf("CreateApp view: status %q deployment %q, want deploying with an id", v.Status, v.Deployment)
	}
	if want := []string{"hello.apps.test", "www.hello.example"}; !reflect.DeepEqual(v.Hosts, want) {
		t.Errorf("hosts = %v, want %v", v.Hosts, want)
	}
	if want := []string{"www.hello.example"}; !reflect.DeepEqual(v.Domains, want) {
		t.Errorf("domains = %v, want %v", v.Domains, want)
	}
	if want := map[string]string{"GREETING": MaskedValue, "EMPTY": MaskedValue}; !reflect.DeepEqual(v.Env, want) {
		t.Errorf("view env = %v, want masked %v", v.Env, want)
	}

	d := h.waitLive("hello", v.Deployment)
	if d.Version != 1 || d.Image != "hello:v1" || d.Port != 3000 || d.Replicas != 1 {
		t.Errorf("deployment = %+v", d)
	}
	if d.StartedAt == nil || d.FinishedAt == nil || d.FinishedAt.Before(*d.StartedAt) {
		t.Errorf("deployment times: started %v finished %v", d.StartedAt, d.FinishedAt)
	}

	route := h.route("hello")
	if h.e.Table().Lookup("www.hello.example") != route || h.e.Table().Lookup("WWW.hello.example:443") != route {
		t.Error("the custom domain does not route to the app")
	}
	if route.Ready() != 1 {
		t.Fatalf("ready replicas = %d, want 1", route.Ready())
	}

	specs := h.rt.specsOf(d.ID)
	if len(specs) != 1 {
		t.Fatalf("%d containers created for the deployment, want 1", len(specs))
	}
	spec := specs[0]
	if spec.Image != "hello:v1" || spec.Port != 3000 || spec.Network != "" {
		t.Errorf("spec = %+v", spec)
	}
	for _, kv := range []string{"GREETING=hi there", "EMPTY=", "PORT=3000"} {
		if !slices.Contains(spec.Env, kv) {
			t.Errorf("container env %q lacks %q", spec.Env, kv)
		}
	}
	if len(spec.Env) != 3 {
		t.Errorf("container env = %q, want 3 entries", spec.Env)
	}
	if spec.Labels[containers.LabelApp] != "hello" || spec.Labels[containers.LabelDeployment] != d.ID ||
		spec.Labels[containers.LabelInstance] == "" || spec.Labels[containers.LabelInstance] != h.e.instance {
		t.Errorf("labels = %v", spec.Labels)
	}
	if !strings.HasPrefix(spec.Name, "paas-hello-"+d.ID+"-") {
		t.Errorf("container name = %q", spec.Name)
	}

	rep := route.Replicas()[0]
	if rep.Deployment != d.ID || rep.State() != ReplicaReady {
		t.Errorf("replica = %+v (state %s)", rep, rep.State())
	}
	if addr := h.rt.containerAddr(rep.ContainerID); addr == "" || rep.Addr != addr {
		t.Errorf("replica addr %q, container addr %q", rep.Addr, addr)
	}
	resp, err := http.Get("http://" + rep.Addr + "/ping")
	if err != nil {
		t.Fatalf("GET the replica: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := rep.ContainerID + " /ping"; string(body) != want {
		t.Errorf("replica answered %q, want %q", body, want)
	}

	got, err := h.e.App("hello")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != AppRunning || got.ReadyReplicas != 1 || got.Current != d.ID || got.Image != "hello:v1" {
		t.Errorf("App view = %+v", got)
	}
	if !h.e.HostAllowed("hello.apps.test") || !h.e.HostAllowed("WWW.HELLO.EXAMPLE.") {
		t.Error("HostAllowed refuses the app's hosts")
	}
	if h.e.HostAllowed("other.apps.test") || h.e.HostAllowed("apps.test") {
		t.Error("HostAllowed accepts hosts of no app")
	}
	if st := h.e.Status(); st.Apps != 1 {
		t.Errorf("Status = %+v, want 1 app", st)
	}
	apps, err := h.e.Apps()
	if err != nil || len(apps) != 1 || apps[0].Name != "hello" {
		t.Errorf("Apps = %v, %v", apps, err)
	}
}

func TestEngineReplicas(t *testing.T) {
	h := newHarness(t)
	_, d := h.createLive(AppInput{Name: "multi", Image: "hello:v1", Replicas: ptr(3)})
	route := h.route("multi")
	if route.Ready() != 3 {
		t.Fatalf("ready = %d, want 3", route.Ready())
	}
	names := map[string]bool{}
	for _, s := range h.rt.specsOf(d.ID) {
		names[s.Name] = true
	}
	if len(names) != 3 {
		t.Errorf("container names %v, want 3 distinct", names)
	}
	addrs := map[string]bool{}
	for _, r := range route.Replicas() {
		addrs[r.Addr] = true
	}
	if len(addrs) != 3 {
		t.Errorf("replica addresses %v, want 3 distinct", addrs)
	}
	// Scaling down is a deploy; afterwards only the new replica runs.
	v, err := h.e.UpdateApp(h.ctx, "multi", AppPatch{Replicas: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	h.waitLive("multi", v.Deployment)
	h.waitSettled("multi")
	if route.Ready() != 1 || len(h.rt.appContainers("multi", false)) != 1 {
		t.Errorf("after scaling to 1: ready %d, containers %v", route.Ready(), h.rt.appContainers("multi", false))
	}
}

func TestEngineNetworkMode(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.UpstreamMode = UpstreamNetwork; c.Network = "paas-net" })
	_, d := h.createLive(AppInput{Name: "net", Image: "hello:v1"})
	specs := h.rt.specsOf(d.ID)
	if len(specs) != 1 || specs[0].Network != "paas-net" {
		t.Errorf("specs = %+v, want network paas-net", specs)
	}
	h.rt.mu.Lock()
	networks := append([]string(nil), h.rt.networks...)
	h.rt.mu.Unlock()
	if !slices.Contains(networks, "paas-net") {
		t.Errorf("networks ensured = %v, want paas-net", networks)
	}
}

func TestEngineDockerHealthcheck(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HealthTimeout = 30 * time.Second })
	// The app answers 500 on its health path, but the image has a
	// HEALTHCHECK: Docker's verdict counts, not the HTTP probe.
	h.rt.addImage("hc:1", fakeImage{healthcheck: true, health: "starting", status: http.StatusInternalServerError})
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "hc", Image: "hc:1", HealthPath: ptr("/healthz")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replica to be created", func() bool { return len(h.rt.appContainers("hc", true)) == 1 })
	time.Sleep(150 * time.Millisecond)
	d, err := h.e.Deployment("hc", v.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusStarting {
		t.Fatalf("deployment is %s while Docker says starting, want starting", d.Status)
	}
	if got, _ := h.e.App("hc"); got.Status != AppDeploying {
		t.Errorf("app status = %q during the deploy, want deploying", got.Status)
	}
	if h.route("hc").Ready() != 0 {
		t.Error("a replica that is not healthy yet takes requests")
	}
	h.rt.setHealth("hc:1", "healthy")
	h.waitLive("hc", v.Deployment)
	if h.route("hc").Ready() != 1 {
		t.Error("healthy replica does not take requests")
	}
}

func TestEngineFailedDeployKeepsPrevious(t *testing.T) {
	for _, tc := range []struct {
		name       string
		image      fakeImage
		healthPath string
		reason     string
	}{
		{name: "exits at start", image: fakeImage{exitAtStart: true, exitCode: 2}, reason: "exited with code 2"},
		{name: "health path fails", image: fakeImage{status: http.StatusInternalServerError}, healthPath: "/healthz", reason: "did not become healthy"},
		{name: "docker unhealthy", image: fakeImage{healthcheck: true, health: "unhealthy"}, reason: "did not become healthy"},
		{name: "create fails", image: fakeImage{createErr: fmt.Errorf("no space left on device")}, reason: "no space left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.rt.addImage("bad:1", tc.image)
			in := AppInput{Name: "app", Image: "hello:v1", Replicas: ptr(2)}
			if tc.healthPath != "" {
				in.HealthPath = ptr(tc.healthPath)
			}
			_, live := h.createLive(in)
			route := h.route("app")
			before := append([]*Replica(nil), route.Replicas()...)
			liveContainers := h.rt.appContainers("app", false)

			// Fail fast from here on; the good deploy above had time.
			cfg := h.cfg
			cfg.HealthTimeout = 400 * time.Millisecond
			h.e.Configure(cfg, h.e.log())
			bad := h.deploy("app", DeployInput{Image: "bad:1"})
			d := h.waitDeployment("app", bad.ID)
			if d.Status != StatusFailed {
				t.Fatalf("bad deployment ended %s, want failed", d.Status)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reason)
			}
			if d.FinishedAt == nil {
				t.Error("failed deployment has no finish time")
			}
			a, err := h.e.App("app")
			if err != nil {
				t.Fatal(err)
			}
			if a.Current != live.ID || a.Status != AppRunning || a.ReadyReplicas != 2 {
				t.Errorf("after the failed deploy the app is %+v, want the previous deployment running", a)
			}
			prev, err := h.e.Deployment("app", live.ID)
			if err != nil || prev.Status != StatusLive {
				t.Errorf("previous deployment = %+v, %v, want live", prev, err)
			}
			got := route.Replicas()
			if len(got) != len(before) {
				t.Fatalf("serving set has %d replicas, want %d", len(got), len(before))
			}
			for i := range got {
				if got[i] != before[i] || got[i].State() != ReplicaReady {
					t.Errorf("replica %d changed or is not ready after the failed deploy", i)
				}
			}
			// Nothing of the failed deployment is left behind.
			if got := h.rt.appContainers("app", false); !slices.Equal(got, liveContainers) {
				t.Errorf("containers after the failed deploy = %v, want %v", got, liveContainers)
			}
		})
	}
}

func TestEngineUnknownImage(t *testing.T) {
	h := newHarness(t)
	_, live := h.createLive(AppInput{Name: "app", Image: "hello:v1"})

	_, err := h.e.Deploy(h.ctx, "app", DeployInput{Image: "missing:1"})
	wantErrStatus(t, err, http.StatusBadRequest, "Deploy of a missing image")
	if !slices.Contains(h.rt.pulled(), "missing:1") {
		t.Errorf("a missing image was not tried from its registry; pulls %v", h.rt.pulled())
	}
	list, err := h.e.Deployments("app")
	if err != nil || len(list) != 1 || list[0].ID != live.ID {
		t.Errorf("deployments after the refused deploy = %v, %v, want only the first", list, err)
	}
	if a, _ := h.e.App("app"); a.Image != "hello:v1" {
		t.Errorf("app image = %q after the refused deploy, want hello:v1", a.Image)
	}
	if _, err := h.e.UpdateApp(h.ctx, "app", AppPatch{Image: ptr("missing:1")}); StatusOf(err) != http.StatusBadRequest {
		t.Errorf("UpdateApp to a missing image = %v, want 400", err)
	}
	if list, _ := h.e.Deployments("app"); len(list) != 1 {
		t.Errorf("%d deployments after the refused update, want 1", len(list))
	}

	_, err = h.e.CreateApp(h.ctx, AppInput{Name: "other", Image: "missing:2"})
	wantErrStatus(t, err, http.StatusBadRequest, "CreateApp with a missing image")
	if _, err := h.e.App("other"); StatusOf(err) != http.StatusNotFound {
		t.Errorf("App(other) after a refused create = %v, want 404", err)
	}
	if h.e.Table().Lookup("other."+testBase) != nil {
		t.Error("a refused app got a route")
	}

	// An image that a pull brings is fine.
	h.rt.mu.Lock()
	h.rt.pullable["remote:1"] = fakeImage{}
	h.rt.mu.Unlock()
	d := h.deploy("app", DeployInput{Image: "remote:1"})
	h.waitLive("app", d.ID)
}

func TestEngineCreateAppRefusesInvalidInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   AppInput
	}{
		{name: "bad name", in: AppInput{Name: "x; touch M", Image: "hello:v1"}},
		{name: "uppercase name", in: AppInput{Name: "Hello", Image: "hello:v1"}},
		{name: "bad image", in: AppInput{Name: "app", Image: "$(id)"}},
		{name: "bad port", in: AppInput{Name: "app", Image: "hello:v1", Port: ptr(70000)}},
		{name: "zero replicas", in: AppInput{Name: "app", Image: "hello:v1", Replicas: ptr(0)}},
		{name: "too many replicas", in: AppInput{Name: "app", Image: "hello:v1", Replicas: ptr(MaxReplicas + 1)}},
		{name: "bad health path", in: AppInput{Name: "app", Image: "hello:v1", HealthPath: ptr("health")}},
		{name: "bad env key", in: AppInput{Name: "app", Image: "hello:v1", Env: map[string]string{"A-B": "x"}}},
		{name: "1 MB env value", in: AppInput{Name: "app", Image: "hello:v1", Env: map[string]string{"BIG": strings.Repeat("x", 1<<20)}}},
		{name: "placeholder domain", in: AppInput{Name: "app", Image: "hello:v1", Domains: []string{"{env.SECRET}"}}},
		{name: "wildcard domain", in: AppInput{Name: "app", Image: "hello:v1", Domains: []string{"*.example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.e.CreateApp(h.ctx, tc.in)
			wantErrStatus(t, err, http.StatusBadRequest, "CreateApp")
			apps, err := h.e.Apps()
			if err != nil || len(apps) != 0 {
				t.Errorf("Apps after a refused create = %v, %v", apps, err)
			}
			if h.e.Table().Len() != 0 {
				t.Errorf("table has %d apps after a refused create", h.e.Table().Len())
			}
			if n := len(h.rt.allSpecs()); n != 0 {
				t.Errorf("%d containers were created for a refused app", n)
			}
		})
	}
}

func TestEngineDuplicateApp(t *testing.T) {
	h := newHarness(t)
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "dup"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.e.CreateApp(h.ctx, AppInput{Name: "dup", Image: "hello:v1"})
	wantErrStatus(t, err, http.StatusConflict, "second CreateApp")
	a, err := h.e.App("dup")
	if err != nil || a.Image != "" || a.Status != AppNew {
		t.Errorf("the first app changed: %+v, %v", a, err)
	}
	if n := len(h.rt.allSpecs()); n != 0 {
		t.Errorf("%d containers created by a refused duplicate", n)
	}
}

func TestEngineDomainTaken(t *testing.T) {
	h := newHarness(t)
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "a", Domains: []string{"www.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "b", Domains: []string{"b.example.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{name: "create with a taken domain", do: func() error {
			_, err := h.e.CreateApp(h.ctx, AppInput{Name: "c", Domains: []string{"WWW.Example.com."}})
			return err
		}},
		{name: "create with another app's base host", do: func() error {
			_, err := h.e.CreateApp(h.ctx, AppInput{Name: "d", Domains: []string{"a." + testBase}})
			return err
		}},
		{name: "create an app whose base host is taken", do: func() error {
			if _, err := h.e.UpdateApp(h.ctx, "a", AppPatch{Domains: &[]string{"www.example.com", "e." + testBase}}); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err := h.e.CreateApp(h.ctx, AppInput{Name: "e"})
			return err
		}},
		{name: "update to a taken domain", do: func() error {
			_, err := h.e.UpdateApp(h.ctx, "b", AppPatch{Domains: &[]string{"b.example.com", "www.example.com"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			wantErrStatus(t, err, http.StatusConflict, tc.name)
			if !strings.Contains(err.Error(), "already belongs to app") {
				t.Errorf("error %q does not say who has the domain", err)
			}
		})
	}
	// Nothing moved.
	if r := h.e.Table().Lookup("www.example.com"); r == nil || r.App != "a" {
		t.Errorf("www.example.com routes to %s, want a", routeName(r))
	}
	if r := h.e.Table().Lookup("b.example.com"); r == nil || r.App != "b" {
		t.Errorf("b.example.com routes to %s, want b", routeName(r))
	}
	if b, _ := h.e.App("b"); !reflect.DeepEqual(b.Domains, []string{"b.example.com"}) {
		t.Errorf("b's domains = %v after a refused update", b.Domains)
	}
	for _, name := range []string{"c", "d", "e"} {
		if _, err := h.e.App(name); StatusOf(err) != http.StatusNotFound {
			t.Errorf("App(%s) = %v, want 404", name, err)
		}
	}
	// A domain given up by one app can be taken by another.
	if _, err := h.e.UpdateApp(h.ctx, "a", AppPatch{Domains: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.UpdateApp(h.ctx, "b", AppPatch{Domains: &[]string{"www.example.com"}}); err != nil {
		t.Fatalf("taking a released domain: %v", err)
	}
	if r := h.e.Table().Lookup("www.example.com"); r == nil || r.App != "b" {
		t.Errorf("www.example.com routes to %s, want b", routeName(r))
	}
}

func TestEngineRollback(t *testing.T) {
	h := newHarness(t)
	_, d1 := h.createLive(AppInput{Name: "app", Image: "hello:v1", Env: map[string]string{"A": "1"}})
	d2 := h.deploy("app", DeployInput{Image: "hello:v2", Env: map[string]*string{"A": ptr("2"), "B": ptr("b")}})
	h.waitLive("app", d2.ID)

	d3, err := h.e.Rollback(h.ctx, "app", d1.ID)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if d3.RollbackOf != d1.ID || d3.Image != "hello:v1" || d3.Version != 3 || d3.ID == d1.ID {
		t.Errorf("rollback deployment = %+v", d3)
	}
	h.waitLive("app", d3.ID)
	got, err := h.e.Deployment("app", d3.ID)
	if err != nil || got.RollbackOf != d1.ID {
		t.Errorf("stored rollback deployment = %+v, %v", got, err)
	}
	a, _ := h.e.App("app")
	if a.Image != "hello:v1" || a.Current != d3.ID {
		t.Errorf("app after rollback = %+v", a)
	}
	if want := map[string]string{"A": MaskedValue}; !reflect.DeepEqual(a.Env, want) {
		t.Errorf("app env keys after rollback = %v, want %v", a.Env, want)
	}
	specs := h.rt.specsOf(d3.ID)
	if len(specs) != 1 || specs[0].Image != "hello:v1" || !slices.Contains(specs[0].Env, "A=1") || slices.Contains(specs[0].Env, "B=b") {
		t.Errorf("rollback container spec = %+v", specs)
	}
	if old, _ := h.e.Deployment("app", d2.ID); old.Status != StatusSuperseded {
		t.Errorf("d2 status = %s, want superseded", old.Status)
	}
	h.waitSettled("app")
	if ids := replicaIDs(h.route("app")); len(ids) != 1 {
		t.Errorf("replicas after rollback = %v", ids)
	}

	_, err = h.e.Rollback(h.ctx, "app", "")
	wantErrStatus(t, err, http.StatusBadRequest, "Rollback without a target")
	_, err = h.e.Rollback(h.ctx, "app", "ffffffffffff")
	wantErrStatus(t, err, http.StatusNotFound, "Rollback to an unknown deployment")
	_, err = h.e.Rollback(h.ctx, "nope", d1.ID)
	wantErrStatus(t, err, http.StatusNotFound, "Rollback of an unknown app")
	if list, _ := h.e.Deployments("app"); len(list) != 3 {
		t.Errorf("%d deployments after refused rollbacks, want 3", len(list))
	}
}

func TestEngineUpdateAppDomainsOnlyRoutes(t *testing.T) {
	h := newHarness(t)
	_, d := h.createLive(AppInput{Name: "shop", Image: "hello:v1"})
	route := h.route("shop")
	replicas := append([]*Replica(nil), route.Replicas()...)
	specsBefore := len(h.rt.allSpecs())

	steps := []struct {
		domains []string
		present []string
		absent  []string
	}{
		{domains: []string{"Shop.Example.com", "www.shop.example"}, present: []string{"shop.example.com", "www.shop.example"}},
		{domains: []string{"new.example.com"}, present: []string{"new.example.com"}, absent: []string{"shop.example.com", "www.shop.example"}},
		{domains: []string{}, absent: []string{"new.example.com", "shop.example.com"}},
	}
	for i, st := range steps {
		v, err := h.e.UpdateApp(h.ctx, "shop", AppPatch{Domains: &st.domains})
		if err != nil {
			t.Fatalf("step %d: UpdateApp: %v", i, err)
		}
		if v.Deployment != "" {
			t.Errorf("step %d: a domain change started deployment %s", i, v.Deployment)
		}
		for _, host := range append(st.present, "shop."+testBase) {
			if got := h.e.Table().Lookup(host); got != route {
				t.Errorf("step %d: %s routes to %s, want shop", i, host, routeName(got))
			}
		}
		for _, host := range st.absent {
			if got := h.e.Table().Lookup(host); got != nil {
				t.Errorf("step %d: %s still routes to %s", i, host, routeName(got))
			}
		}
	}
	if list, _ := h.e.Deployments("shop"); len(list) != 1 || list[0].ID != d.ID {
		t.Errorf("deployments after domain changes = %d, want the first only", len(list))
	}
	if len(h.rt.allSpecs()) != specsBefore {
		t.Error("a domain change created containers")
	}
	if got := route.Replicas(); len(got) != len(replicas) || got[0] != replicas[0] {
		t.Error("a domain change replaced the replicas")
	}

	_, err := h.e.UpdateApp(h.ctx, "shop", AppPatch{Domains: &[]string{"ok.example.com", "*.example.com"}})
	wantErrStatus(t, err, http.StatusBadRequest, "UpdateApp with a wildcard")
	if h.e.Table().Lookup("ok.example.com") != nil {
		t.Error("part of a refused domain list was routed")
	}
}

func TestEngineUpdateAppRedeploys(t *testing.T) {
	h := newHarness(t)
	_, d1 := h.createLive(AppInput{Name: "app", Image: "hello:v1", Env: map[string]string{"A": "1", "B": "2"}})

	// Nothing that containers run changed: no deploy.
	v, err := h.e.UpdateApp(h.ctx, "app", AppPatch{Image: ptr("hello:v1"), Port: ptr(8080)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Deployment != "" {
		t.Errorf("an update with no change started deployment %s", v.Deployment)
	}

	v, err = h.e.UpdateApp(h.ctx, "app", AppPatch{Env: map[string]*string{"A": ptr("one"), "B": nil, "C": ptr("3")}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Deployment == "" {
		t.Fatal("an env change started no deployment")
	}
	if want := map[string]string{"A": MaskedValue, "C": MaskedValue}; !reflect.DeepEqual(v.Env, want) {
		t.Errorf("view env = %v, want %v", v.Env, want)
	}
	d2 := h.waitLive("app", v.Deployment)
	spec := h.rt.specsOf(d2.ID)[0]
	if want := []string{"A=one", "C=3", "PORT=8080"}; !reflect.DeepEqual(spec.Env, want) {
		t.Errorf("container env = %q, want %q", spec.Env, want)
	}
	if old, _ := h.e.Deployment("app", d1.ID); old.Status != StatusSuperseded {
		t.Errorf("first deployment = %s, want superseded", old.Status)
	}

	for _, tc := range []struct {
		name string
		p    AppPatch
	}{
		{name: "replicas 0", p: AppPatch{Replicas: ptr(0)}},
		{name: "port 0", p: AppPatch{Port: ptr(0)}},
		{name: "bad health path", p: AppPatch{HealthPath: ptr("no-slash")}},
		{name: "bad env key", p: AppPatch{Env: map[string]*string{"1X": ptr("v")}}},
		{name: "bad image", p: AppPatch{Image: ptr("UPPER")}},
	} {
		_, err := h.e.UpdateApp(h.ctx, "app", tc.p)
		wantErrStatus(t, err, http.StatusBadRequest, "UpdateApp "+tc.name)
	}
	if list, _ := h.e.Deployments("app"); len(list) != 2 {
		t.Errorf("%d deployments after refused updates, want 2", len(list))
	}
	a, _ := h.e.App("app")
	if a.Replicas != 1 || a.Port != 8080 || a.HealthPath != "" || a.Image != "hello:v1" {
		t.Errorf("app changed by refused updates: %+v", a)
	}
	_, err = h.e.UpdateApp(h.ctx, "nope", AppPatch{Port: ptr(1)})
	wantErrStatus(t, err, http.StatusNotFound, "UpdateApp of an unknown app")
}

func TestEngineDeleteApp(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "gone", Image: "hello:v1", Replicas: ptr(2), Domains: []string{"gone.example.com"}})
	h.createLive(AppInput{Name: "stay", Image: "hello:v1"})
	stay := h.rt.appContainers("stay", false)
	if n := len(h.rt.appContainers("gone", false)); n != 2 {
		t.Fatalf("%d containers before delete, want 2", n)
	}

	if err := h.e.DeleteApp(h.ctx, "gone"); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	if got := h.rt.appContainers("gone", false); len(got) != 0 {
		t.Errorf("containers left after DeleteApp: %v", got)
	}
	for _, host := range []string{"gone." + testBase, "gone.example.com"} {
		if h.e.Table().Lookup(host) != nil || h.e.HostAllowed(host) {
			t.Errorf("%s still routes after DeleteApp", host)
		}
	}
	if h.e.Table().Len() != 1 {
		t.Errorf("table Len = %d, want 1", h.e.Table().Len())
	}
	if _, err := h.e.App("gone"); StatusOf(err) != http.StatusNotFound {
		t.Errorf("App after delete = %v, want 404", err)
	}
	if _, err := h.e.Deployments("gone"); StatusOf(err) != http.StatusNotFound {
		t.Errorf("Deployments after delete = %v, want 404", err)
	}
	if got := h.rt.appContainers("stay", false); !slices.Equal(got, stay) {
		t.Errorf("another app's containers changed: %v -> %v", stay, got)
	}
	if h.route("stay").Ready() != 1 {
		t.Error("another app lost its replica")
	}
	wantErrStatus(t, h.e.DeleteApp(h.ctx, "gone"), http.StatusNotFound, "second DeleteApp")
	wantErrStatus(t, h.e.DeleteApp(h.ctx, "$(id)"), http.StatusNotFound, "DeleteApp of an invalid name")

	// The name can be used again, from a clean slate.
	_, d := h.createLive(AppInput{Name: "gone", Image: "hello:v2"})
	if d.Version != 1 {
		t.Errorf("re-created app's first deployment has version %d, want 1", d.Version)
	}
	if list, _ := h.e.Deployments("gone"); len(list) != 1 {
		t.Errorf("re-created app has %d deployments, want 1", len(list))
	}
}

func TestEngineDeleteAppCancelsDeploy(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HealthTimeout = 30 * time.Second })
	h.rt.addImage("slow:1", fakeImage{healthcheck: true, health: "starting"})
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "slow", Image: "slow:1"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the deploy to start a replica", func() bool { return len(h.rt.appContainers("slow", false)) == 1 })
	start := time.Now()
	if err := h.e.DeleteApp(h.ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("DeleteApp took %s: the deploy in progress was not canceled", d)
	}
	if got := h.rt.appContainers("slow", false); len(got) != 0 {
		t.Errorf("containers left after deleting an app mid-deploy: %v", got)
	}
	if _, err := h.e.Deployment("slow", v.Deployment); StatusOf(err) != http.StatusNotFound {
		t.Errorf("deployment of a deleted app = %v, want 404", err)
	}
	if h.e.Table().Lookup("slow."+testBase) != nil {
		t.Error("deleted app still routes")
	}
	// Nothing comes back later.
	time.Sleep(100 * time.Millisecond)
	if got := h.rt.appContainers("slow", false); len(got) != 0 {
		t.Errorf("containers came back after delete: %v", got)
	}
}

func TestEngineStopStart(t *testing.T) {
	h := newHarness(t)
	_, d := h.createLive(AppInput{Name: "app", Image: "hello:v1", Replicas: ptr(2)})
	route := h.route("app")

	v, err := h.e.StopApp(h.ctx, "app")
	if err != nil {
		t.Fatalf("StopApp: %v", err)
	}
	if v.Status != AppStopped || v.ReadyReplicas != 0 {
		t.Errorf("StopApp view: status %q ready %d", v.Status, v.ReadyReplicas)
	}
	if h.e.Table().Lookup("app."+testBase) != route || !h.e.HostAllowed("app."+testBase) {
		t.Error("a stopped app's host must still be known (it answers 503)")
	}
	if route.Ready() != 0 {
		t.Errorf("stopped app has %d ready replicas", route.Ready())
	}
	if r := route.Pick(nil); r != nil {
		t.Errorf("Pick on a stopped app returned %s", r.ContainerID)
	}
	waitFor(t, 10*time.Second, "the stopped app's containers to be removed", func() bool {
		return len(h.rt.appContainers("app", false)) == 0
	})
	// Stopping is idempotent.
	if v, err := h.e.StopApp(h.ctx, "app"); err != nil || v.Status != AppStopped {
		t.Errorf("second StopApp = %+v, %v", v, err)
	}

	v, err = h.e.StartApp(h.ctx, "app")
	if err != nil {
		t.Fatalf("StartApp: %v", err)
	}
	if v.Status != AppRunning || v.ReadyReplicas != 2 || v.Current != d.ID {
		t.Errorf("StartApp view = %+v", v)
	}
	if route.Ready() != 2 || len(h.rt.appContainers("app", true)) != 2 {
		t.Errorf("after StartApp: ready %d, running containers %v", route.Ready(), h.rt.appContainers("app", true))
	}
	if list, _ := h.e.Deployments("app"); len(list) != 1 {
		t.Errorf("stop and start made deployments: %d, want 1", len(list))
	}
	for _, s := range h.rt.specsOf(d.ID) {
		if s.Image != "hello:v1" {
			t.Errorf("restarted replica runs %s", s.Image)
		}
	}

	_, err = h.e.StopApp(h.ctx, "nope")
	wantErrStatus(t, err, http.StatusNotFound, "StopApp of an unknown app")
	_, err = h.e.StartApp(h.ctx, "nope")
	wantErrStatus(t, err, http.StatusNotFound, "StartApp of an unknown app")
}

func TestEngineAppWithoutImage(t *testing.T) {
	h := newHarness(t)
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != AppNew || v.Deployment != "" || v.Port != 8080 || v.Replicas != 1 {
		t.Errorf("view = %+v, want a new app with defaults", v)
	}
	if h.e.Table().Lookup("empty."+testBase) == nil {
		t.Error("an app without an image has no route (its host should answer 503)")
	}
	_, err = h.e.Deploy(h.ctx, "empty", DeployInput{})
	wantErrStatus(t, err, http.StatusBadRequest, "Deploy with no image")
	_, err = h.e.StartApp(h.ctx, "empty")
	wantErrStatus(t, err, http.StatusConflict, "StartApp of a never-deployed app")
	if list, err := h.e.Deployments("empty"); err != nil || list == nil || len(list) != 0 {
		t.Errorf("Deployments = %v, %v, want an empty list", list, err)
	}
	d := h.deploy("empty", DeployInput{Image: "hello:v1"})
	h.waitLive("empty", d.ID)
	// A deploy with no input runs the app's current spec again.
	d2 := h.deploy("empty", DeployInput{})
	if d2.Image != "hello:v1" || d2.Version != 2 {
		t.Errorf("redeploy = %+v", d2)
	}
	h.waitLive("empty", d2.ID)
	h.waitSettled("empty")
}

func TestEngineNotFound(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"App unknown", func() error { _, err := h.e.App("nope"); return err }},
		{"App invalid name", func() error { _, err := h.e.App("../etc"); return err }},
		{"Deploy unknown", func() error { _, err := h.e.Deploy(h.ctx, "nope", DeployInput{Image: "hello:v1"}); return err }},
		{"Deploy invalid name", func() error { _, err := h.e.Deploy(h.ctx, "x; touch M", DeployInput{}); return err }},
		{"Deployments unknown", func() error { _, err := h.e.Deployments("nope"); return err }},
		{"Deployment unknown app", func() error { _, err := h.e.Deployment("nope", "x"); return err }},
		{"Deployment unknown id", func() error { _, err := h.e.Deployment("app", "nope"); return err }},
		{"UpdateApp invalid name", func() error { _, err := h.e.UpdateApp(h.ctx, "A", AppPatch{}); return err }},
	} {
		if got := StatusOf(tc.err()); got != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", tc.name, got)
		}
	}
}

func TestEngineDrainWaitsForInFlight(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DrainTimeout = 20 * time.Second })
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	route := h.route("app")
	held := route.Pick(nil) // a request in flight on the old replica
	if held == nil {
		t.Fatal("no replica to pick")
	}
	d2 := h.deploy("app", DeployInput{Image: "hello:v2"})
	h.waitLive("app", d2.ID)

	// The old set is swapped out first, then marked draining.
	waitFor(t, 10*time.Second, "the old replica to be draining", func() bool { return held.State() == ReplicaDraining })
	r := route.Pick(nil)
	if r == nil || r == held || r.Deployment != d2.ID {
		t.Fatalf("Pick after the swap = %v, want the new replica", r)
	}
	r.Release()
	time.Sleep(200 * time.Millisecond)
	if !h.rt.has(held.ContainerID) {
		t.Fatal("the old replica was removed while a request was in flight")
	}
	held.Release()
	waitFor(t, 10*time.Second, "the drained replica to be removed", func() bool { return !h.rt.has(held.ContainerID) })
	h.rt.mu.Lock()
	stopped := slices.Contains(h.rt.stopped, held.ContainerID)
	h.rt.mu.Unlock()
	if !stopped {
		t.Error("the drained replica was removed without a graceful stop")
	}
}

func TestEngineDrainTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DrainTimeout = 300 * time.Millisecond })
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	held := h.route("app").Pick(nil)
	defer held.Release()
	d2 := h.deploy("app", DeployInput{Image: "hello:v2"})
	h.waitLive("app", d2.ID)
	waitFor(t, 10*time.Second, "a stuck replica to be removed after the drain timeout", func() bool {
		return !h.rt.has(held.ContainerID)
	})
}

func TestEngineConcurrentDeploys(t *testing.T) {
	h := newHarness(t)
	_, first := h.createLive(AppInput{Name: "app", Image: "hello:v1"})

	// Watch the store while deploys run: never two in progress at once.
	stop := make(chan struct{})
	overlap := make(chan string, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			default:
			}
			list, err := h.e.Deployments("app")
			if err != nil {
				continue
			}
			var busy []string
			for _, d := range list {
				if d.Status == StatusBuilding || d.Status == StatusStarting {
					busy = append(busy, fmt.Sprintf("%d:%s", d.Version, d.Status))
				}
			}
			if len(busy) > 1 {
				select {
				case overlap <- strings.Join(busy, ", "):
				default:
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	const n = 20
	type result struct {
		d   *Deployment
		err error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			img := "hello:v2"
			if i%2 == 1 {
				img = "hello:v3"
			}
			d, err := h.e.Deploy(h.ctx, "app", DeployInput{Image: img, Env: map[string]*string{"N": ptr(fmt.Sprint(i))}})
			results <- result{d, err}
		}()
	}
	ids := map[string]bool{}
	versions := map[int]bool{}
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("Deploy: %v", r.err)
		}
		ids[r.d.ID] = true
		versions[r.d.Version] = true
	}
	if len(ids) != n || len(versions) != n {
		t.Fatalf("%d ids and %d versions for %d deploys, want all distinct", len(ids), len(versions), n)
	}
	for id := range ids {
		h.waitDeployment("app", id)
	}
	close(stop)
	<-watched
	select {
	case s := <-overlap:
		t.Errorf("two deploys of one app were in progress at once: %s", s)
	default:
	}

	list, err := h.e.Deployments("app")
	if err != nil || len(list) != n+1 {
		t.Fatalf("Deployments = %d, %v, want %d", len(list), err, n+1)
	}
	var live []*Deployment
	for _, d := range list {
		switch d.Status {
		case StatusLive:
			live = append(live, d)
		case StatusSuperseded:
		default:
			t.Errorf("deployment %d ended %s (%s), want live or superseded", d.Version, d.Status, d.Reason)
		}
	}
	if len(live) != 1 {
		t.Fatalf("%d live deployments, want 1", len(live))
	}
	if prev, _ := h.e.Deployment("app", first.ID); prev.Status != StatusSuperseded {
		t.Errorf("first deployment is %s, want superseded", prev.Status)
	}
	a, err := h.e.App("app")
	if err != nil {
		t.Fatal(err)
	}
	if a.Current != live[0].ID {
		t.Errorf("app's current deployment %s is not the live one %s", a.Current, live[0].ID)
	}
	// The last request wins: the live deployment is the last recorded one
	// (list is newest first), and it runs what the app now says.
	if list[0].ID != live[0].ID {
		t.Errorf("live deployment is version %d, want the last recorded, version %d (%s)", live[0].Version, list[0].Version, list[0].Status)
	}
	stored, err := h.store.GetApp("app")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Image != live[0].Image || stored.Env["N"] != live[0].Env["N"] {
		t.Errorf("app spec (image %s, N=%s) differs from the live deployment's (image %s, N=%s)",
			stored.Image, stored.Env["N"], live[0].Image, live[0].Env["N"])
	}
	h.waitSettled("app")
	route := h.route("app")
	if route.Ready() != 1 {
		t.Errorf("ready replicas = %d, want 1", route.Ready())
	}
	for _, r := range route.Replicas() {
		if r.Deployment != live[0].ID {
			t.Errorf("serving replica %s belongs to deployment %s, not the live %s", r.ContainerID, r.Deployment, live[0].ID)
		}
	}
	if got := h.rt.appContainers("app", false); len(got) != 1 {
		t.Errorf("containers left: %v, want only the live replica", got)
	}
}

// recordDeployment writes a deployment of app straight to the store, as a
// process that was killed left it.
func (h *harness) recordDeployment(app, image string, status DeploymentStatus) *Deployment {
	h.t.Helper()
	var d *Deployment
	err := h.store.Update(func(tx *StoreTx) error {
		a, err := tx.App(app)
		if err != nil {
			return err
		}
		a.Image = image
		if err := tx.PutApp(a); err != nil {
			return err
		}
		d = deploymentFor(a)
		if err := tx.NewDeployment(d); err != nil {
			return err
		}
		if status != StatusPending {
			d.Status = status
			return tx.PutDeployment(d)
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("recording a deployment: %v", err)
	}
	return d
}

func TestEngineRestartFailsInterruptedDeploys(t *testing.T) {
	for _, status := range []DeploymentStatus{StatusBuilding, StatusStarting} {
		t.Run(string(status), func(t *testing.T) {
			h := newHarness(t)
			_, live := h.createLive(AppInput{Name: "app", Image: "hello:v1"})
			liveContainers := h.rt.appContainers("app", false)
			h.e.Close()

			// The killed process had recorded a new deployment and started
			// one of its containers.
			d := h.recordDeployment("app", "hello:v2", status)
			orphan := h.rt.addContainer(map[string]string{
				containers.LabelApp: "app", containers.LabelDeployment: d.ID, containers.LabelInstance: h.e.instance,
			}, "hello:v2")

			h.restart()
			got := h.waitDeployment("app", d.ID)
			if got.Status != StatusFailed || !strings.Contains(got.Reason, "interrupted") || got.FinishedAt == nil {
				t.Errorf("interrupted deployment = %s (%q), want failed as interrupted", got.Status, got.Reason)
			}
			waitFor(t, 10*time.Second, "the orphan container to be removed", func() bool { return !h.rt.has(orphan) })
			waitFor(t, 10*time.Second, "the live replica to be adopted", func() bool { return h.route("app").Ready() == 1 })
			if ids := replicaIDs(h.route("app")); !slices.Equal(ids, liveContainers) {
				t.Errorf("serving %v after restart, want the adopted %v", ids, liveContainers)
			}
			a, _ := h.e.App("app")
			if a.Current != live.ID || a.Status != AppRunning {
				t.Errorf("app after restart = %+v, want the previous deployment running", a)
			}
			if prev, _ := h.e.Deployment("app", live.ID); prev.Status != StatusLive {
				t.Errorf("previous deployment = %s, want live", prev.Status)
			}
			h.waitSettled("app")
		})
	}
}

func TestEngineRestartRunsPendingDeploy(t *testing.T) {
	h := newHarness(t)
	_, live := h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	old := h.rt.appContainers("app", false)
	h.e.Close()

	d := h.recordDeployment("app", "hello:v2", StatusPending)
	h.restart()
	got := h.waitLive("app", d.ID)
	if got.Image != "hello:v2" {
		t.Errorf("resumed deployment image = %s", got.Image)
	}
	if prev, _ := h.e.Deployment("app", live.ID); prev.Status != StatusSuperseded {
		t.Errorf("previous deployment = %s, want superseded", prev.Status)
	}
	h.waitSettled("app")
	for _, id := range old {
		if h.rt.has(id) {
			t.Errorf("old container %s still exists", id)
		}
	}
	if r := h.route("app").Replicas(); len(r) != 1 || r[0].Deployment != d.ID {
		t.Errorf("serving replicas after the resumed deploy: %v", r)
	}
}

func TestEngineRestartAdoptsReplicas(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "a", Image: "hello:v1", Replicas: ptr(2), Domains: []string{"a.example.com"}})
	h.createLive(AppInput{Name: "b", Image: "hello:v2"})
	before := map[string][]string{"a": h.rt.appContainers("a", false), "b": h.rt.appContainers("b", false)}
	specs := len(h.rt.allSpecs())

	h.restart()
	// Hosts are routed at once, before the reconciler has run.
	if h.e.Table().Lookup("a.example.com") == nil || h.e.Table().Lookup("b."+testBase) == nil {
		t.Fatal("hosts are not routed right after Start")
	}
	for app, ids := range before {
		waitFor(t, 10*time.Second, "app "+app+" to serve again", func() bool {
			return slices.Equal(replicaIDs(h.route(app)), ids) && h.route(app).Ready() == len(ids)
		})
	}
	if n := len(h.rt.allSpecs()); n != specs {
		t.Errorf("restart created %d containers, want none (adopt the running ones)", n-specs)
	}
}

func TestEngineRemovesOrphanContainers(t *testing.T) {
	h := newStoppedHarness(t)
	ghost := h.rt.addContainer(map[string]string{
		containers.LabelApp: "ghost", containers.LabelDeployment: "x", containers.LabelInstance: h.e.instance,
	}, "hello:v1")
	// Containers of another caddy-paas on the same Docker engine, with or
	// without an app of the same name here, are not ours to remove.
	foreign := h.rt.addContainer(map[string]string{
		containers.LabelApp: "ghost", containers.LabelDeployment: "x", containers.LabelInstance: "someone-else",
	}, "hello:v1")
	foreignSameApp := h.rt.addContainer(map[string]string{
		containers.LabelApp: "app", containers.LabelDeployment: "y", containers.LabelInstance: "someone-else",
	}, "hello:v1")
	unlabeled := h.rt.addContainer(map[string]string{containers.LabelApp: "ghost"}, "hello:v1")
	h.start()
	waitFor(t, 10*time.Second, "the container of an unknown app to be removed", func() bool { return !h.rt.has(ghost) })
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	if h.e.Table().Lookup("ghost."+testBase) != nil {
		t.Error("an orphan created a route")
	}
	for _, id := range []string{foreign, foreignSameApp, unlabeled} {
		if !h.rt.has(id) {
			t.Errorf("container %s of another instance was removed", id)
		}
	}
	for _, r := range h.route("app").Replicas() {
		if r.ContainerID == foreignSameApp {
			t.Error("a container of another instance was adopted")
		}
	}
	// A die event of another instance's container does not touch the app.
	ready := replicaIDs(h.route("app"))
	h.rt.emit(containers.Event{ContainerID: ready[0], Action: "die", Labels: map[string]string{
		containers.LabelApp: "app", containers.LabelInstance: "someone-else",
	}})
	time.Sleep(50 * time.Millisecond)
	if got := replicaIDs(h.route("app")); !slices.Equal(got, ready) {
		t.Errorf("an event of another instance changed the serving set: %v -> %v", ready, got)
	}
}

func TestEngineReplacesCrashedReplica(t *testing.T) {
	h := newHarness(t)
	_, d := h.createLive(AppInput{Name: "app", Image: "hello:v1", Replicas: ptr(2)})
	route := h.route("app")
	ids := replicaIDs(route)
	victim := ids[0]

	h.rt.crash(victim)
	waitFor(t, 10*time.Second, "the crashed replica to be replaced", func() bool {
		got := replicaIDs(route)
		return route.Ready() == 2 && len(got) == 2 && !slices.Contains(got, victim)
	})
	for _, r := range route.Replicas() {
		if r.Deployment != d.ID {
			t.Errorf("replacement replica belongs to %s, want %s", r.Deployment, d.ID)
		}
	}
	if !slices.Contains(replicaIDs(route), ids[1]) {
		t.Error("the healthy replica was replaced too")
	}
	waitFor(t, 10*time.Second, "the crashed container to be removed", func() bool { return !h.rt.has(victim) })
	if list, _ := h.e.Deployments("app"); len(list) != 1 {
		t.Errorf("replacing a replica made %d deployments, want 1", len(list))
	}
	// Events of other apps or without our label change nothing.
	inst := h.e.instance
	h.rt.emit(containers.Event{ContainerID: ids[1], Action: "die", Labels: map[string]string{containers.LabelApp: "other", containers.LabelInstance: inst}})
	h.rt.emit(containers.Event{ContainerID: ids[1], Action: "die"})
	h.rt.emit(containers.Event{ContainerID: ids[1], Action: "start", Labels: map[string]string{containers.LabelApp: "app", containers.LabelInstance: inst}})
	time.Sleep(50 * time.Millisecond)
	if route.Ready() != 2 || !slices.Contains(replicaIDs(route), ids[1]) {
		t.Error("an unrelated event changed the serving set")
	}
}

func TestEngineDeployRestartsStoppedApp(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	if _, err := h.e.StopApp(h.ctx, "app"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the stopped app's containers to go", func() bool { return len(h.rt.appContainers("app", false)) == 0 })
	d := h.deploy("app", DeployInput{Image: "hello:v2"})
	h.waitLive("app", d.ID)
	a, err := h.e.App("app")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != AppRunning || a.ReadyReplicas != 1 || a.Current != d.ID {
		t.Errorf("after deploying a stopped app: %+v, want it running the new deployment", a)
	}
	// An update of a stopped app changes its spec but deploys nothing.
	if _, err := h.e.StopApp(h.ctx, "app"); err != nil {
		t.Fatal(err)
	}
	v, err := h.e.UpdateApp(h.ctx, "app", AppPatch{Image: ptr("hello:v3")})
	if err != nil {
		t.Fatal(err)
	}
	if v.Deployment != "" || v.Status != AppStopped || v.Image != "hello:v3" {
		t.Errorf("update of a stopped app = %+v, want no deployment", v)
	}
}

func TestEngineDeploysOfAppsRunConcurrently(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HealthTimeout = 20 * time.Second })
	h.rt.addImage("slow:1", fakeImage{healthcheck: true, health: "starting"})
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "slow", Image: "slow:1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the slow deploy to start", func() bool { return len(h.rt.appContainers("slow", false)) == 1 })
	start := time.Now()
	h.createLive(AppInput{Name: "fast", Image: "hello:v1"})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a deploy of another app waited %s behind a slow deploy", d)
	}
	if got, _ := h.e.App("slow"); got.Status != AppDeploying {
		t.Errorf("slow app status = %s, want deploying", got.Status)
	}
}
