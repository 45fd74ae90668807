package integration

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/docker/docker/api/types/container"

	"github.com/caddy-paas/caddy-paas/platform"
)

func TestDeployServesByHost(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("hello")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "port": 8080, "env": map[string]string{"VERSION": "v1"},
		"memory": "64m", "cpus": 0.5})
	if v.Deployment == "" {
		t.Fatal("creating an app with an image started no deployment")
	}
	if v.Memory != 64<<20 || v.CPUs != 0.5 {
		t.Errorf("app view: memory %d, cpus %v; want %d, 0.5", v.Memory, v.CPUs, 64<<20)
	}
	p.waitLive(app, v.Deployment)

	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Fatalf("GET /: %d %q, want 200 \"hello from v1\"", code, body)
	}
	// Env reaches the container, and PORT is set for it.
	if _, body := p.mustGet(app, "/env/PORT"); body != "8080" {
		t.Errorf("PORT in container = %q, want 8080", body)
	}
	// Containers carry our labels.
	cs := p.containers(context.Background(), app)
	if len(cs) != 1 || cs[0].Labels["paas.deployment"] != v.Deployment {
		t.Fatalf("containers of %s: %+v, want one with paas.deployment=%s", app, cs, v.Deployment)
	}
	// The app's limits, and the pids limit every container gets.
	if info, err := dockerCli.ContainerInspect(context.Background(), cs[0].ID); err != nil {
		t.Errorf("inspecting the replica: %v", err)
	} else if hc := info.HostConfig; hc.Memory != 64<<20 || hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != 4096 {
		t.Errorf("replica limits: memory %d, nano CPUs %d, pids %v; want %d, 5e8, 4096", hc.Memory, hc.NanoCPUs, hc.PidsLimit, 64<<20)
	}
	// Env values are masked in the API.
	if got := v.Env["VERSION"]; got != platform.MaskedValue {
		t.Errorf("env value in API answer = %q, want masked", got)
	}

	if code, body := p.mustGet("nobody", "/"); code != http.StatusNotFound || !strings.Contains(body, "No app") {
		t.Errorf("unknown host: %d %q, want 404 page", code, body)
	}

	var stopped platform.AppView
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/stop", nil, &stopped); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.mustGet(app, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("stopped app: %d, want 503", code)
	}
	eventually(t, 20*time.Second, "stopped app has no running container", func() (bool, string) {
		n := 0
		for _, c := range p.containers(context.Background(), app) {
			if c.State == "running" {
				n++
			}
		}
		return n == 0, "still running"
	})
	var started platform.AppView
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/start", nil, &started); err != nil {
		t.Fatal(err)
	}
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Errorf("started app: %d %q", code, body)
	}

	// An app with no deployment answers 503, not 404: the host is its.
	empty := p.appName("empty")
	p.createApp(map[string]any{"name": empty})
	if code, _ := p.mustGet(empty, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("app with no deployment: %d, want 503", code)
	}

	if err := p.api.Do(context.Background(), http.MethodDelete, "/apps/"+app, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(p.containers(context.Background(), app)); n != 0 {
		t.Errorf("%d containers left after DELETE", n)
	}
	if code, _ := p.mustGet(app, "/"); code != http.StatusNotFound {
		t.Errorf("deleted app: %d, want 404", code)
	}
}

// TestRedeploysUnderLoadDropNothing is the promise: 10 redeploys while 8
// clients send requests, and not one request fails; no config load happens.
func TestRedeploysUnderLoadDropNothing(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("load")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "replicas": 2, "env": map[string]string{"VERSION": "v1"}})
	p.waitLive(app, v.Deployment)
	loadsBefore := p.status().Attachments
	cfgBefore := caddyConfig(t, p)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	seen := sync.Map{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := p.get(app, "/")
				if err != nil || code != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, struct {
						code int
						body string
						err  error
					}{code, body, err})
					continue
				}
				ok.Add(1)
				seen.Store(body, true)
			}
		}()
	}
	for i := 0; i < 10; i++ {
		img := imageV2
		if i%2 == 1 {
			img = imageV1
		}
		d := p.deploy(app, map[string]any{"image": img})
		p.waitLive(app, d.ID)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across 10 redeploys; first: %+v", n, n+ok.Load(), firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d requests made: the load did not run", ok.Load())
	}
	for _, want := range []string{"hello from v1\n", "hello v2 from v1\n"} {
		if _, found := seen.Load(want); !found {
			t.Errorf("never saw %q: the deploys did not change what serves", want)
		}
	}
	if after := p.status().Attachments; after != loadsBefore {
		t.Errorf("config loads went from %d to %d during deploys: a deploy reloaded the config", loadsBefore, after)
	}
	if after := caddyConfig(t, p); after != cfgBefore {
		t.Errorf("caddy's config changed during deploys")
	}
	t.Logf("%d requests, 0 failed, across 10 deploys", ok.Load())

	// Old replicas are drained, stopped and removed: only the live ones stay.
	eventually(t, 30*time.Second, "only the live replicas remain", func() (bool, string) {
		cs := p.containers(context.Background(), app)
		return len(cs) == 2, "containers: " + itoa(len(cs))
	})
}

func caddyConfig(t *testing.T, p *platformEnv) string {
	t.Helper()
	resp, err := http.Get("http://" + p.adminAddr + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return b.String()
}

func itoa(n int) string { return strconvItoa(n) }

// TestStreamSurvivesOtherAppsDeploys keeps a streaming response to app A
// open while app B deploys 10 times: no deploy touches A's connections.
func TestStreamSurvivesOtherAppsDeploys(t *testing.T) {
	p := startInProcess(t, envOptions{})
	a, b := p.appName("stream-a"), p.appName("stream-b")
	va := p.createApp(map[string]any{"name": a, "image": imageV1, "env": map[string]string{"VERSION": "a"}})
	vb := p.createApp(map[string]any{"name": b, "image": imageV1, "env": map[string]string{"VERSION": "b"}})
	p.waitLive(a, va.Deployment)
	p.waitLive(b, vb.Deployment)

	req, _ := http.NewRequest(http.MethodGet, "http://"+host(a)+"/stream", nil)
	client := &http.Client{Transport: p.apps.Transport} // no timeout: a long stream
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if s := sc.Text(); s != "" {
				lines <- s
			}
		}
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream to app A ended")
			}
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("the stream to app A stalled")
		}
		return ""
	}
	first := next()
	for i := 0; i < 10; i++ {
		img := imageV2
		if i%2 == 1 {
			img = imageV1
		}
		d := p.deploy(b, map[string]any{"image": img})
		p.waitLive(b, d.ID)
	}
	// Drain what came during the deploys, then see the stream go on.
	var last string
	for len(lines) > 0 {
		last = next()
	}
	after := next()
	if first != "data: 0 a" {
		t.Errorf("first line %q, want %q", first, "data: 0 a")
	}
	if last == "" || after == "" || !strings.HasSuffix(after, " a") {
		t.Errorf("stream did not go on across deploys: last %q, after %q", last, after)
	}
}

func TestFailedDeployKeepsPreviousVersion(t *testing.T) {
	p := startInProcess(t, envOptions{healthTimeout: "4s"})
	app := p.appName("fail")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "env": map[string]string{"VERSION": "v1"}, "health_path": "/health"})
	p.waitLive(app, v.Deployment)

	// A container that exits at once.
	d := p.wait(app, p.deploy(app, map[string]any{"image": imageCrash}).ID)
	if d.Status != platform.StatusFailed || !strings.Contains(d.Reason, "exited with code 3") {
		t.Fatalf("crashing deploy: status %s, reason %q; want failed, exited with code 3", d.Status, d.Reason)
	}
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Fatalf("after a failed deploy: %d %q, want the old version", code, body)
	}
	var logBuf strings.Builder
	if err := p.api.Logs(context.Background(), app, d.ID, false, &logBuf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logBuf.String(), "deploy failed: replica exited with code 3") {
		t.Errorf("the failed deploy's log does not show why:\n%s", logBuf.String())
	}

	// A container that runs but never gets healthy.
	d = p.wait(app, p.deploy(app, map[string]any{"image": imageV2, "env": map[string]string{"HEALTH_STATUS": "500"}}).ID)
	if d.Status != platform.StatusFailed || !strings.Contains(d.Reason, "did not become healthy") {
		t.Fatalf("unhealthy deploy: status %s, reason %q", d.Status, d.Reason)
	}
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Fatalf("after an unhealthy deploy: %d %q, want the old version", code, body)
	}
	var got platform.AppView
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app, nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.Current != v.Deployment {
		t.Errorf("current deployment %s, want the first %s", got.Current, v.Deployment)
	}
	// The failed deploys left no container behind.
	eventually(t, 10*time.Second, "failed replicas removed", func() (bool, string) {
		cs := p.containers(context.Background(), app)
		return len(cs) == 1, "containers: " + itoa(len(cs))
	})

	// Roll back is a new deployment of what an old one ran.
	d2 := p.deploy(app, map[string]any{"image": imageV2, "env": map[string]*string{"HEALTH_STATUS": nil}})
	p.waitLive(app, d2.ID)
	if _, body := p.mustGet(app, "/"); body != "hello v2 from v1\n" {
		t.Fatalf("after deploying v2: %q", body)
	}
	var rb platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/rollback", map[string]string{"deployment": v.Deployment}, &rb); err != nil {
		t.Fatal(err)
	}
	p.waitLive(app, rb.ID)
	if rb.RollbackOf != v.Deployment || rb.Image != imageV1 {
		t.Errorf("rollback deployment %+v", rb)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from v1\n" {
		t.Fatalf("after rollback: %q", body)
	}
	var list []platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys", nil, &list); err != nil {
		t.Fatal(err)
	}
	statuses := map[platform.DeploymentStatus]int{}
	for _, d := range list {
		statuses[d.Status]++
	}
	if statuses[platform.StatusLive] != 1 || statuses[platform.StatusFailed] != 2 || statuses[platform.StatusSuperseded] != 2 {
		t.Errorf("deployment statuses %v, want 1 live, 2 failed, 2 superseded", statuses)
	}
}

func TestCrashedReplicaIsReplaced(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("crash")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "replicas": 2})
	p.waitLive(app, v.Deployment)
	cs := p.containers(context.Background(), app)
	if len(cs) != 2 {
		t.Fatalf("%d containers, want 2", len(cs))
	}
	victim := cs[0].ID
	if err := dockerCli.ContainerKill(context.Background(), victim, "KILL"); err != nil {
		t.Fatal(err)
	}
	// The other replica serves at once; a new one replaces the dead.
	if code, _ := p.mustGet(app, "/"); code != 200 {
		t.Errorf("with one replica killed: %d", code)
	}
	eventually(t, 20*time.Second, "crashed replica replaced", func() (bool, string) {
		var running []string
		for _, c := range p.containers(context.Background(), app) {
			if c.State == "running" {
				running = append(running, c.ID)
			}
		}
		for _, id := range running {
			if id == victim {
				return false, "victim still running"
			}
		}
		var got platform.AppView
		if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app, nil, &got); err != nil {
			return false, err.Error()
		}
		return len(running) == 2 && got.ReadyReplicas == 2, "running " + itoa(len(running)) + ", ready " + itoa(got.ReadyReplicas)
	})
	// The dead container is removed, not left behind.
	if _, err := dockerCli.ContainerInspect(context.Background(), victim); err == nil {
		var c container.InspectResponse
		c, _ = dockerCli.ContainerInspect(context.Background(), victim)
		if c.State != nil && !c.State.Running {
			eventually(t, 10*time.Second, "dead replica removed", func() (bool, string) {
				_, err := dockerCli.ContainerInspect(context.Background(), victim)
				return err != nil, "still there"
			})
		}
	}
}

// TestConfigReloadKeepsEngine reloads Caddy's config (as an operator
// would): the engine and its routing table survive, apps keep serving.
func TestConfigReloadKeepsEngine(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("reload")
	v := p.createApp(map[string]any{"name": app, "image": imageV1, "env": map[string]string{"VERSION": "v1"}})
	p.waitLive(app, v.Deployment)
	before := p.status().Attachments
	if err := caddy.Load(p.configJSON(envOptions{drainTimeout: "7s"}), true); err != nil {
		t.Fatal(err)
	}
	if after := p.status().Attachments; after != before+1 {
		t.Errorf("config loads %d -> %d, want +1", before, after)
	}
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from v1\n" {
		t.Fatalf("after a config reload: %d %q", code, body)
	}
	if n := len(p.containers(context.Background(), app)); n != 1 {
		t.Errorf("%d containers after reload, want 1 (the same replica)", n)
	}
}
