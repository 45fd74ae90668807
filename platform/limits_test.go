package platform

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/containers"
)

// buildRuntime is the fake runtime with builds: a build makes its image at
// once, and each release command is recorded; with hang set, a release
// command runs until its context ends, as a stuck migration would.
type buildRuntime struct {
	*fakeRuntime

	relMu    sync.Mutex
	releases []containers.Spec
	hang     bool
}

func (b *buildRuntime) BuildImage(ctx context.Context, contextTar io.Reader, spec containers.BuildSpec, log io.Writer) (string, error) {
	if _, err := io.Copy(io.Discard, contextTar); err != nil {
		return "", err
	}
	b.addImage(spec.Tag, fakeImage{})
	return "sha256:" + spec.Tag, nil
}

func (b *buildRuntime) RunOnce(ctx context.Context, spec containers.Spec, cmd []string, log io.Writer) (int, error) {
	b.relMu.Lock()
	b.releases = append(b.releases, cloneSpec(spec))
	hang := b.hang
	b.relMu.Unlock()
	fmt.Fprintf(log, "release %q\n", cmd)
	if hang {
		<-ctx.Done()
		return -1, fmt.Errorf("waiting for container %s: %w", spec.Name, context.Cause(ctx))
	}
	return 0, nil
}

func (b *buildRuntime) releaseSpecs() []containers.Spec {
	b.relMu.Lock()
	defer b.relMu.Unlock()
	return append([]containers.Spec(nil), b.releases...)
}

// newBuildHarness is a harness whose runtime builds uploads, with work
// and log folders.
func newBuildHarness(t *testing.T, mods ...func(*Config)) (*harness, *buildRuntime) {
	t.Helper()
	dirs := func(c *Config) {
		c.WorkDir, c.LogDir = t.TempDir(), t.TempDir()
	}
	h := newStoppedHarness(t, append([]func(*Config){dirs}, mods...)...)
	h.e.Close()
	b := &buildRuntime{fakeRuntime: h.rt}
	h.e = NewEngine(h.cfg, h.store, b, h.e.log())
	h.start()
	return h, b
}

// sourceArchive is a tar.gz of files, as an upload.
func sourceArchive(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func (h *harness) deployUpload(app string, files map[string]string) *Deployment {
	h.t.Helper()
	d, err := h.e.DeployUpload(h.ctx, app, sourceArchive(h.t, files))
	if err != nil {
		h.t.Fatalf("DeployUpload(%s): %v", app, err)
	}
	return d
}

// A release command that overruns the build timeout is stopped, the
// deploy fails saying so, and the previous version keeps serving.
func TestReleaseCommandBoundedByBuildTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h, b := newBuildHarness(t, func(c *Config) { c.BuildTimeout = timeout })
	_, first := h.createLive(AppInput{Name: "web", Image: "hello:v1"})
	before := replicaIDs(h.route("web"))

	b.relMu.Lock()
	b.hang = true
	b.relMu.Unlock()
	start := time.Now()
	d := h.deployUpload("web", map[string]string{
		"Dockerfile": "FROM scratch\n",
		"paas.json":  `{"release": ["./migrate", "up"]}`,
	})
	got := h.waitDeployment("web", d.ID)
	took := time.Since(start)
	want := "release command did not finish within " + timeout.String()
	if got.Status != StatusFailed || got.Reason != want {
		t.Fatalf("deployment with a hanging release: %s %q, want failed %q", got.Status, got.Reason, want)
	}
	if took < timeout || took > timeout+10*time.Second {
		t.Errorf("the deploy failed after %s, want just past %s", took, timeout)
	}
	if n := len(b.releaseSpecs()); n != 1 {
		t.Fatalf("%d release commands ran, want 1", n)
	}
	// No replica of the failed deployment was started; the old one serves.
	if specs := h.rt.specsOf(d.ID); len(specs) != 0 {
		t.Errorf("replicas started after a failed release: %+v", specs)
	}
	v, err := h.e.App("web")
	if err != nil {
		t.Fatal(err)
	}
	if v.Current != first.ID {
		t.Errorf("current deployment = %s, want %s", v.Current, first.ID)
	}
	if after := replicaIDs(h.route("web")); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("serving replicas %v, want the old %v", after, before)
	}
	h.waitSettled("web")

	// A release within the timeout goes live.
	b.relMu.Lock()
	b.hang = false
	b.relMu.Unlock()
	d = h.deployUpload("web", map[string]string{
		"Dockerfile": "FROM scratch\n",
		"paas.json":  `{"release": ["./migrate", "up"]}`,
	})
	h.waitLive("web", d.ID)
}

// paas.json's port is used only when the user never chose the app's port.
func TestRepoConfigPortGivesWayToTheAppsPort(t *testing.T) {
	h, _ := newBuildHarness(t)
	for _, tc := range []struct {
		name string
		port *int
		want int
	}{
		{"unset", nil, 3000},
		{"explicit-default", ptr(8080), 8080},
		{"explicit", ptr(9000), 9000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.e.CreateApp(h.ctx, AppInput{Name: tc.name, Port: tc.port}); err != nil {
				t.Fatalf("CreateApp: %v", err)
			}
			d := h.deployUpload(tc.name, map[string]string{
				"Dockerfile": "FROM scratch\n",
				"paas.json":  `{"port": 3000}`,
			})
			got := h.waitLive(tc.name, d.ID)
			if got.Port != tc.want {
				t.Errorf("deployment port = %d, want %d", got.Port, tc.want)
			}
			for _, s := range h.rt.specsOf(d.ID) {
				if s.Port != tc.want {
					t.Errorf("replica port = %d, want %d", s.Port, tc.want)
				}
			}
		})
	}

	// Choosing the port later, even the default, makes it win from then on.
	d := h.deployUpload("unset", map[string]string{"Dockerfile": "FROM scratch\n", "paas.json": `{"port": 3000}`})
	if got := h.waitLive("unset", d.ID); got.Port != 3000 {
		t.Fatalf("port before the change = %d, want 3000", got.Port)
	}
	// (An app deployed from uploads has nothing to redeploy by itself: the
	// change applies to the next upload.)
	if _, err := h.e.UpdateApp(h.ctx, "unset", AppPatch{Port: ptr(8080)}); err != nil {
		t.Fatal(err)
	}
	d = h.deployUpload("unset", map[string]string{"Dockerfile": "FROM scratch\n", "paas.json": `{"port": 3000}`})
	if got := h.waitLive("unset", d.ID); got.Port != 8080 {
		t.Errorf("port after choosing 8080 = %d, want 8080", got.Port)
	}
}

// Records from before PortSet tell a chosen port by its value.
func TestPortSetOfOlderRecords(t *testing.T) {
	for _, tc := range []struct {
		rec  string
		want bool
	}{
		{`{"name":"a","port":8080}`, false},
		{`{"name":"a","port":9000}`, true},
		{`{"name":"a","port":8080,"port_set":true}`, true},
		{`{"name":"a","port":9000,"port_set":false}`, false},
	} {
		var a App
		if err := json.Unmarshal([]byte(tc.rec), &a); err != nil {
			t.Fatal(err)
		}
		if got := a.portSet(); got != tc.want {
			t.Errorf("portSet of %s = %v, want %v", tc.rec, got, tc.want)
		}
	}
}

func TestMemorySizeBytes(t *testing.T) {
	for _, tc := range []struct {
		json string
		want int64
		err  string
	}{
		{`"512m"`, 512 << 20, ""},
		{`"512M"`, 512 << 20, ""},
		{`"512MiB"`, 512 << 20, ""},
		{`"1g"`, 1 << 30, ""},
		{`"1GB"`, 1 << 30, ""},
		{`"1.5g"`, 3 << 29, ""},
		{`"6m"`, 6 << 20, ""},
		{`"6144k"`, 6 << 20, ""},
		{`"2t"`, 2 << 40, ""},
		{`536870912`, 512 << 20, ""},
		{`"536870912"`, 512 << 20, ""},
		{`0`, 0, ""},
		{`"0"`, 0, ""},
		{`"5m"`, 0, "below the minimum of 6 MiB"},
		{`6291455`, 0, "below the minimum of 6 MiB"},
		{`"1"`, 0, "below the minimum of 6 MiB"},
		{`"2048t"`, 0, "too large"},
		{`99999999999999999999`, 0, "too large"},
		{`-1`, 0, "is not a size"},
		{`"-512m"`, 0, "is not a size"},
		{`"512x"`, 0, "is not a size"},
		{`"lots"`, 0, "is not a size"},
		{`""`, 0, "is not a size"},
		{`5.5e8`, 0, "is not a size"},
		{`true`, 0, "is not a size"},
		{`{"a":1}`, 0, "is not a size"},
	} {
		var m MemorySize
		if err := json.Unmarshal([]byte(tc.json), &m); err != nil {
			t.Errorf("decoding %s: %v", tc.json, err)
			continue
		}
		got, err := m.Bytes()
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("memory %s = (%d, %v), want %d", tc.json, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || StatusOf(err) != 400):
			t.Errorf("memory %s = (%d, %v), want a 400 saying %q", tc.json, got, err, tc.err)
		}
	}
}

// The app's limits reach its replicas and its release command, with the
// pids limit always; a change of limits redeploys; 0 removes a limit.
func TestLimitsReachReplicasAndRelease(t *testing.T) {
	h, b := newBuildHarness(t)
	mem := MemorySize("64m")
	v, d := h.createLive(AppInput{Name: "web", Image: "hello:v1", Replicas: ptr(2), Memory: &mem, CPUs: ptr(0.5)})
	if v.Memory != 64<<20 || v.CPUs != 0.5 {
		t.Errorf("view: memory %d, cpus %v; want %d, 0.5", v.Memory, v.CPUs, 64<<20)
	}
	want := containers.Limits{MemoryBytes: 64 << 20, NanoCPUs: 5e8, PidsLimit: containers.DefaultPidsLimit}
	specs := h.rt.specsOf(d.ID)
	if len(specs) != 2 {
		t.Fatalf("%d replicas started, want 2", len(specs))
	}
	for _, s := range specs {
		if s.Limits != want {
			t.Errorf("replica limits = %+v, want %+v", s.Limits, want)
		}
	}
	// Stored, and shown again.
	if got, err := h.e.App("web"); err != nil || got.Memory != 64<<20 || got.CPUs != 0.5 {
		t.Errorf("App(web) = memory %d, cpus %v (%v)", got.Memory, got.CPUs, err)
	}

	// The release command runs under the same limits.
	d = h.deployUpload("web", map[string]string{"Dockerfile": "FROM scratch\n", "paas.json": `{"release": ["./migrate"]}`})
	h.waitLive("web", d.ID)
	rel := b.releaseSpecs()
	if len(rel) != 1 || rel[0].Limits != want {
		t.Errorf("release specs = %+v, want one with limits %+v", rel, want)
	}

	// A change redeploys with the new limits.
	mem = MemorySize("1g")
	v, err := h.e.UpdateApp(h.ctx, "web", AppPatch{Memory: &mem, CPUs: ptr(2.0)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Deployment == "" {
		t.Fatal("a change of limits started no deploy")
	}
	h.waitLive("web", v.Deployment)
	for _, s := range h.rt.specsOf(v.Deployment) {
		if s.MemoryBytes != 1<<30 || s.NanoCPUs != 2e9 || s.PidsLimit != containers.DefaultPidsLimit {
			t.Errorf("limits after the change = %+v", s.Limits)
		}
	}
	// The same limits again: nothing to deploy.
	if v, err = h.e.UpdateApp(h.ctx, "web", AppPatch{Memory: &mem}); err != nil || v.Deployment != "" {
		t.Errorf("unchanged limits: deployment %q (%v), want none", v.Deployment, err)
	}
	// 0 removes the limits; the pids limit stays.
	zero := MemorySize("0")
	v, err = h.e.UpdateApp(h.ctx, "web", AppPatch{Memory: &zero, CPUs: ptr(0.0)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Memory != 0 || v.CPUs != 0 {
		t.Errorf("view after removing the limits: memory %d, cpus %v", v.Memory, v.CPUs)
	}
	h.waitLive("web", v.Deployment)
	for _, s := range h.rt.specsOf(v.Deployment) {
		if s.Limits != (containers.Limits{PidsLimit: containers.DefaultPidsLimit}) {
			t.Errorf("limits after removing them = %+v", s.Limits)
		}
	}
	// The view encodes no limit as no field.
	data, _ := json.Marshal(v)
	if strings.Contains(string(data), `"memory"`) || strings.Contains(string(data), `"cpus"`) {
		t.Errorf("view without limits: %s", data)
	}
}

// Bad limits are refused with a 400, and nothing is stored.
func TestLimitsRefusedNothingStored(t *testing.T) {
	h := newHarness(t)
	mem := func(s string) *MemorySize { m := MemorySize(s); return &m }
	bad := []struct {
		name   string
		memory *MemorySize
		cpus   *float64
		msg    string
	}{
		{"memory-small", mem("5m"), nil, "below the minimum of 6 MiB"},
		{"memory-bytes-small", mem("1024"), nil, "below the minimum of 6 MiB"},
		{"memory-word", mem("lots"), nil, "is not a size"},
		{"memory-negative", mem("-1"), nil, "is not a size"},
		{"cpus-negative", nil, ptr(-1.0), "cpus -1 is out of range"},
		{"cpus-tiny", nil, ptr(0.001), "out of range"},
		{"cpus-huge", nil, ptr(2000.0), "out of range"},
	}
	for _, tc := range bad {
		_, err := h.e.CreateApp(h.ctx, AppInput{Name: tc.name, Image: "hello:v1", Memory: tc.memory, CPUs: tc.cpus})
		wantErrStatus(t, err, 400, "CreateApp "+tc.name)
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("CreateApp %s: %q, want it to say %q", tc.name, err, tc.msg)
		}
		if _, err := h.e.App(tc.name); StatusOf(err) != 404 {
			t.Errorf("app %s was stored after a refused create: %v", tc.name, err)
		}
	}

	mem512 := MemorySize("512m")
	_, d := h.createLive(AppInput{Name: "web", Image: "hello:v1", Memory: &mem512, CPUs: ptr(1.0)})
	before, _ := h.e.Deployments("web")
	for _, tc := range bad {
		// A valid change in the same patch is not stored either.
		_, err := h.e.UpdateApp(h.ctx, "web", AppPatch{Memory: tc.memory, CPUs: tc.cpus, Replicas: ptr(3)})
		wantErrStatus(t, err, 400, "UpdateApp "+tc.name)
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("UpdateApp %s: %q, want it to say %q", tc.name, err, tc.msg)
		}
	}
	v, err := h.e.App("web")
	if err != nil {
		t.Fatal(err)
	}
	if v.Memory != 512<<20 || v.CPUs != 1 || v.Replicas != 1 || v.Current != d.ID {
		t.Errorf("after refused changes: memory %d, cpus %v, replicas %d, current %s", v.Memory, v.CPUs, v.Replicas, v.Current)
	}
	if after, _ := h.e.Deployments("web"); len(after) != len(before) {
		t.Errorf("refused changes recorded deployments: %d, want %d", len(after), len(before))
	}
}
