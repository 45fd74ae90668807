package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/containers"
)

// fakeImage is how containers of one image behave in the fake runtime.
type fakeImage struct {
	// healthcheck makes the image have a Docker HEALTHCHECK; its
	// containers report health (default "healthy").
	healthcheck bool
	health      string
	// exitAtStart makes a container exit at once with exitCode.
	exitAtStart bool
	exitCode    int
	// status is what the app answers on every path (default 200).
	status int
	// createErr makes CreateAndStart fail.
	createErr error
}

// fakeContainer is one container of the fake runtime. Running containers
// serve HTTP on a real loopback listener, so the engine's health probe and
// the replica's Addr work as with Docker.
type fakeContainer struct {
	c    containers.Container
	spec containers.Spec
	srv  *httptest.Server
}

// fakeRuntime is an in-memory platform.Runtime.
type fakeRuntime struct {
	t *testing.T

	mu         sync.Mutex
	images     map[string]fakeImage
	containers map[string]*fakeContainer
	specs      []containers.Spec
	networks   []string
	removed    []string
	stopped    []string
	seq        int
	events     chan containers.Event
	eventCalls int
	// pullable images appear on PullImage.
	pullable map[string]fakeImage
	pulls    []string
	// usageCalls counts Usage samples.
	usageCalls int
}

func newFakeRuntime(t *testing.T) *fakeRuntime {
	f := &fakeRuntime{
		t:          t,
		images:     map[string]fakeImage{},
		containers: map[string]*fakeContainer{},
		pullable:   map[string]fakeImage{},
	}
	t.Cleanup(f.closeAll)
	return f
}

func (f *fakeRuntime) addImage(ref string, img fakeImage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = img
}

func (f *fakeRuntime) closeAll() {
	f.mu.Lock()
	var srvs []*httptest.Server
	for _, c := range f.containers {
		if c.srv != nil {
			srvs = append(srvs, c.srv)
			c.srv = nil
		}
	}
	f.mu.Unlock()
	for _, s := range srvs {
		s.Close()
	}
}

func (f *fakeRuntime) InspectImage(ctx context.Context, ref string) (containers.ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[ref]
	if !ok {
		return containers.ImageInfo{}, fmt.Errorf("%w: %s", containers.ErrImageNotFound, ref)
	}
	return containers.ImageInfo{ID: "sha256:" + ref, HasHealthcheck: img.healthcheck}, nil
}

func (f *fakeRuntime) PullImage(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, ref)
	img, ok := f.pullable[ref]
	if !ok {
		return fmt.Errorf("%w: pulling %s: no registry", containers.ErrImageNotFound, ref)
	}
	f.images[ref] = img
	return nil
}

func (f *fakeRuntime) EnsureNetwork(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks = append(f.networks, name)
	return nil
}

func (f *fakeRuntime) CreateAndStart(ctx context.Context, spec containers.Spec) (containers.Container, error) {
	if err := ctx.Err(); err != nil {
		return containers.Container{}, err
	}
	f.mu.Lock()
	img, ok := f.images[spec.Image]
	f.specs = append(f.specs, cloneSpec(spec))
	if !ok {
		f.mu.Unlock()
		return containers.Container{}, fmt.Errorf("creating container %s: no such image %s", spec.Name, spec.Image)
	}
	if img.createErr != nil {
		f.mu.Unlock()
		return containers.Container{}, img.createErr
	}
	f.seq++
	id := fmt.Sprintf("c%04d", f.seq)
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	fc := &fakeContainer{
		spec: cloneSpec(spec),
		c: containers.Container{
			ID: id, Name: spec.Name, Image: spec.Image, Labels: labels, Running: true,
		},
	}
	f.containers[id] = fc
	f.mu.Unlock()

	if img.exitAtStart {
		f.mu.Lock()
		fc.c.Running = false
		fc.c.ExitCode = img.exitCode
		c := fc.c
		f.mu.Unlock()
		return c, nil
	}
	status := img.status
	if status == 0 {
		status = http.StatusOK
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s %s", id, r.URL.Path)
	}))
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, still := f.containers[id]; !still {
		// Removed while starting.
		go srv.Close()
		return containers.Container{}, fmt.Errorf("container %s was removed while starting", id)
	}
	fc.srv = srv
	fc.c.Addr = srv.Listener.Addr().String()
	if img.healthcheck {
		fc.c.Health = img.health
		if fc.c.Health == "" {
			fc.c.Health = "healthy"
		}
	}
	return fc.c, nil
}

func cloneSpec(s containers.Spec) containers.Spec {
	s.Env = append([]string(nil), s.Env...)
	labels := make(map[string]string, len(s.Labels))
	for k, v := range s.Labels {
		labels[k] = v
	}
	s.Labels = labels
	return s
}

func (f *fakeRuntime) Inspect(ctx context.Context, id string) (containers.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, ok := f.containers[id]
	if !ok {
		return containers.Container{}, fmt.Errorf("inspecting container %s: no such container", id)
	}
	c := fc.c
	c.Labels = copyLabels(fc.c.Labels)
	return c, nil
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stopLocked marks a container exited and closes its server; the caller
// closes the returned server outside the lock.
func (f *fakeRuntime) stopLocked(fc *fakeContainer, code int) *httptest.Server {
	fc.c.Running = false
	fc.c.ExitCode = code
	fc.c.Addr = ""
	srv := fc.srv
	fc.srv = nil
	return srv
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	f.stopped = append(f.stopped, id)
	fc, ok := f.containers[id]
	var srv *httptest.Server
	if ok {
		srv = f.stopLocked(fc, 0)
	}
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	fc, ok := f.containers[id]
	var srv *httptest.Server
	if ok {
		srv = f.stopLocked(fc, 137)
		delete(f.containers, id)
		f.removed = append(f.removed, id)
	}
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	return nil
}

func (f *fakeRuntime) List(ctx context.Context, labels map[string]string) ([]containers.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []containers.Container
	for _, fc := range f.containers {
		if _, ok := fc.c.Labels[containers.LabelApp]; !ok {
			continue
		}
		match := true
		for k, v := range labels {
			if fc.c.Labels[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		// Like Docker's list: no address, no health.
		out = append(out, containers.Container{
			ID: fc.c.ID, Name: fc.c.Name, Image: fc.c.Image,
			Labels: copyLabels(fc.c.Labels), Running: fc.c.Running,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) Events(ctx context.Context) (<-chan containers.Event, <-chan error) {
	ch := make(chan containers.Event)
	errs := make(chan error, 1)
	f.mu.Lock()
	f.events = ch
	f.eventCalls++
	f.mu.Unlock()
	return ch, errs
}

// emit delivers an event to the engine's current event stream.
func (f *fakeRuntime) emit(ev containers.Event) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		ch := f.events
		f.mu.Unlock()
		if ch != nil {
			select {
			case ch <- ev:
				return
			case <-time.After(5 * time.Second):
				f.t.Fatalf("the engine did not read event %+v", ev)
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatal("the engine never subscribed to events")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// crash makes a running container exit as if it died, and sends the die
// event Docker would send.
func (f *fakeRuntime) crash(id string) {
	f.t.Helper()
	f.mu.Lock()
	fc, ok := f.containers[id]
	if !ok {
		f.mu.Unlock()
		f.t.Fatalf("crash: no container %s", id)
	}
	srv := f.stopLocked(fc, 1)
	labels := copyLabels(fc.c.Labels)
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	f.emit(containers.Event{ContainerID: id, Action: "die", Labels: labels})
}

// setHealth changes the Docker health status of an image's running
// containers and of those it starts later.
func (f *fakeRuntime) setHealth(image, health string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.images[image]
	img.health = health
	f.images[image] = img
	for _, fc := range f.containers {
		if fc.c.Image == image && fc.c.Running {
			fc.c.Health = health
		}
	}
}

// addContainer puts a running container in place, as one left by an
// earlier process.
func (f *fakeRuntime) addContainer(labels map[string]string, image string) string {
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("c%04d", f.seq)
	f.mu.Unlock()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", id, r.URL.Path)
	}))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[id] = &fakeContainer{
		srv: srv,
		c: containers.Container{
			ID: id, Name: "left-" + id, Image: image, Labels: copyLabels(labels),
			Running: true, Addr: srv.Listener.Addr().String(),
		},
	}
	return id
}

// appContainers lists the ids of an app's containers, sorted; running
// only if asked.
func (f *fakeRuntime) appContainers(app string, runningOnly bool) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, fc := range f.containers {
		if fc.c.Labels[containers.LabelApp] == app && (!runningOnly || fc.c.Running) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func (f *fakeRuntime) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.containers[id]
	return ok
}

func (f *fakeRuntime) containerAddr(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fc, ok := f.containers[id]; ok {
		return fc.c.Addr
	}
	return ""
}

// specsOf returns the specs the engine asked for, for one deployment.
func (f *fakeRuntime) specsOf(deployment string) []containers.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []containers.Spec
	for _, s := range f.specs {
		if s.Labels[containers.LabelDeployment] == deployment {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeRuntime) allSpecs() []containers.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]containers.Spec(nil), f.specs...)
}

func (f *fakeRuntime) pulled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pulls...)
}

// TestFakeRuntime checks the fake itself, so that engine tests stand on
// something that behaves like Docker.
func TestFakeRuntime(t *testing.T) {
	ctx := context.Background()
	f := newFakeRuntime(t)
	f.addImage("ok:1", fakeImage{})
	f.addImage("exit:1", fakeImage{exitAtStart: true, exitCode: 3})
	f.addImage("hc:1", fakeImage{healthcheck: true, health: "starting"})

	if _, err := f.InspectImage(ctx, "nope:1"); !errors.Is(err, containers.ErrImageNotFound) {
		t.Errorf("InspectImage of a missing image = %v, want ErrImageNotFound", err)
	}
	if info, err := f.InspectImage(ctx, "hc:1"); err != nil || !info.HasHealthcheck {
		t.Errorf("InspectImage(hc:1) = (%+v, %v), want a healthcheck", info, err)
	}
	labels := map[string]string{containers.LabelApp: "a", containers.LabelDeployment: "d"}
	c, err := f.CreateAndStart(ctx, containers.Spec{Name: "n", Image: "ok:1", Labels: labels, Port: 8080})
	if err != nil || !c.Running || c.Addr == "" {
		t.Fatalf("CreateAndStart(ok) = (%+v, %v), want a running container with an address", c, err)
	}
	resp, err := http.Get("http://" + c.Addr + "/x")
	if err != nil {
		t.Fatalf("GET the fake container: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("fake container answered %d", resp.StatusCode)
	}
	ex, err := f.CreateAndStart(ctx, containers.Spec{Name: "e", Image: "exit:1", Labels: labels})
	if err != nil || ex.Running || ex.ExitCode != 3 {
		t.Errorf("CreateAndStart(exit) = (%+v, %v), want an exited container", ex, err)
	}
	hc, err := f.CreateAndStart(ctx, containers.Spec{Name: "h", Image: "hc:1", Labels: map[string]string{containers.LabelApp: "b"}})
	if err != nil || hc.Health != "starting" {
		t.Errorf("CreateAndStart(hc) = (%+v, %v), want health starting", hc, err)
	}
	if got := f.appContainers("a", false); len(got) != 2 {
		t.Errorf("containers of a = %v, want 2", got)
	}
	list, _ := f.List(ctx, map[string]string{containers.LabelApp: "b"})
	if len(list) != 1 || list[0].ID != hc.ID {
		t.Errorf("List(app=b) = %+v", list)
	}
	if err := f.Stop(ctx, c.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Inspect(ctx, c.ID); got.Running || got.Addr != "" {
		t.Errorf("stopped container = %+v, want not running", got)
	}
	if _, err := http.Get("http://" + c.Addr + "/x"); err == nil {
		t.Error("a stopped container still answers")
	}
	if err := f.Remove(ctx, c.ID); err != nil || f.has(c.ID) {
		t.Errorf("Remove = %v; still there: %v", err, f.has(c.ID))
	}
	if err := f.Remove(ctx, c.ID); err != nil {
		t.Errorf("Remove of a missing container = %v, want nil", err)
	}
	if _, err := f.Inspect(ctx, c.ID); err == nil || !strings.Contains(err.Error(), "no such container") {
		t.Errorf("Inspect of a removed container = %v", err)
	}
}

// The build side of the runtime: the fake builds nothing; tests of builds
// run against the real engine in integration/.
func (f *fakeRuntime) BuildImage(ctx context.Context, contextTar io.Reader, spec containers.BuildSpec, log io.Writer) (string, error) {
	_, _ = io.Copy(io.Discard, contextTar)
	return "", errors.New("the fake runtime does not build images")
}

func (f *fakeRuntime) ImageTags(ctx context.Context, app string) ([]string, error) { return nil, nil }

func (f *fakeRuntime) RemoveImage(ctx context.Context, ref string) error { return nil }

func (f *fakeRuntime) RunOnce(ctx context.Context, spec containers.Spec, cmd []string, log io.Writer) (int, error) {
	return 0, nil
}

// Logs writes two lines naming the container and its env VERSION.
func (f *fakeRuntime) Logs(ctx context.Context, id string, opts containers.LogOptions, w io.Writer) error {
	f.mu.Lock()
	c, ok := f.containers[id]
	f.mu.Unlock()
	if !ok {
		return errors.New("no such container")
	}
	_, err := fmt.Fprintf(w, "line 1 of %s\nline 2 of %s\n", c.spec.Name, c.spec.Name)
	return err
}

// Exec runs nothing: the fake's TTY echoes what it is sent.
func (f *fakeRuntime) Exec(ctx context.Context, id string, cmd []string) (*containers.ExecSession, error) {
	f.mu.Lock()
	_, ok := f.containers[id]
	f.mu.Unlock()
	if !ok {
		return nil, errors.New("no such container")
	}
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(b, b) }()
	return &containers.ExecSession{Stream: a, Resize: func(context.Context, uint, uint) error { return nil }}, nil
}

// Usage reports a growing CPU time and a fixed memory use.
func (f *fakeRuntime) Usage(ctx context.Context, id string) (containers.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; !ok {
		return containers.Usage{}, errors.New("no such container")
	}
	f.usageCalls++
	n := uint64(f.usageCalls)
	return containers.Usage{CPUTotal: n * 5e8, SystemTotal: n * 2e9, OnlineCPUs: 2, MemoryBytes: 10 << 20, MemoryLimit: 1 << 30}, nil
}
