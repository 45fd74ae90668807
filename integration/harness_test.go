// Package integration drives a real Caddy with caddy-paas against the real
// Docker engine, with images built in the test from the static test app
// (nothing is pulled). Tests run one at a time: Caddy's config is global.
package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	_ "github.com/caddy-paas/caddy-paas"
	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/platform"
)

// Images built once per test run from internal/testapp.
const (
	imageV1    = "paas-test/app:1"
	imageV2    = "paas-test/app:2"
	imageCrash = "paas-test/crash:1"
)

const baseDomain = "test.localhost"

// dashboardHost is the paas_dashboard site (webhooks) in tests.
const dashboardHost = "paas.localhost"

// testAppBinary is the static test app, for source trees that tests build.
var testAppBinary []byte

var (
	dockerOnce sync.Once
	dockerCli  *client.Client
	dockerErr  error
)

// requireDocker returns a client of a Docker engine that answers. Without
// one the test is skipped on a developer machine, and fails under CI=true:
// a skipped test in CI is a hidden red.
func requireDocker(t testing.TB) *client.Client {
	t.Helper()
	dockerOnce.Do(func() {
		dockerCli, dockerErr = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if dockerErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, dockerErr = dockerCli.Ping(ctx)
		}
		if dockerErr == nil {
			dockerErr = buildImages(dockerCli)
		}
	})
	if dockerErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker engine required under CI=true: %v", dockerErr)
		}
		t.Skipf("no docker engine (run scripts/docker-up.sh): %v", dockerErr)
	}
	return dockerCli
}

// buildImages compiles the test app statically and builds the test images
// FROM scratch through the Docker API.
func buildImages(cli *client.Client) error {
	dir, err := os.MkdirTemp("", "paas-testapp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/caddy-paas/caddy-paas/internal/testapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building test app: %v: %s", err, out)
	}
	appBytes, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	testAppBinary = appBytes
	images := []struct {
		tag        string
		dockerfile string
	}{
		{imageV1, "FROM scratch\nENV GREETING=\"hello from\"\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"},
		{imageV2, "FROM scratch\nENV GREETING=\"hello v2 from\"\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"},
		{imageCrash, "FROM scratch\nENV EXIT_AT_START=1\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"},
	}
	for _, img := range images {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range []struct {
			name string
			mode int64
			data []byte
		}{{"Dockerfile", 0o644, []byte(img.dockerfile)}, {"app", 0o755, appBytes}} {
			if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
				return err
			}
			if _, err := tw.Write(f.data); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		resp, err := cli.ImageBuild(context.Background(), &buf, build.ImageBuildOptions{
			Tags: []string{img.tag}, Remove: true, Version: build.BuilderV1,
		})
		if err != nil {
			return fmt.Errorf("building %s: %w", img.tag, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(out, []byte(`"error"`)) {
			return fmt.Errorf("building %s: %s", img.tag, out)
		}
	}
	return nil
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort returns a loopback port that is free now and that no earlier
// call returned: the kernel may hand the same just-closed port out twice,
// and two listeners of one test (http_port and https_port) must differ.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port
		}
	}
	t.Fatal("no free port that was not handed out before")
	return 0
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// platformEnv is one running caddy-paas: in-process (caddy.Load) or a
// subprocess of the built binary.
type platformEnv struct {
	t         testing.TB
	dataDir   string
	adminAddr string
	httpAddr  string
	api       *admin.Client
	apps      *http.Client
	prefix    string
}

type envOptions struct {
	healthTimeout string
	drainTimeout  string
}

func (p *platformEnv) configJSON(o envOptions) []byte {
	if o.healthTimeout == "" {
		o.healthTimeout = "20s"
	}
	if o.drainTimeout == "" {
		o.drainTimeout = "5s"
	}
	cfg := map[string]any{
		"admin":   map[string]any{"listen": p.adminAddr},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "WARN"}}},
		"apps": map[string]any{
			"paas": map[string]any{
				"data_dir": p.dataDir, "base_domain": baseDomain,
				"health_timeout": o.healthTimeout, "drain_timeout": o.drainTimeout,
				// Tests fetch from file:// repositories and loopback servers.
				"git":         map[string]any{"allow_file": true, "allow_http": true, "allow_hosts": []string{"127.0.0.1"}},
				"keep_images": 2,
			},
			"http": map[string]any{"servers": map[string]any{"apps": map[string]any{
				"listen": []string{p.httpAddr},
				"routes": []any{
					map[string]any{
						"match":    []any{map[string]any{"host": []string{dashboardHost}}},
						"handle":   []any{map[string]any{"handler": "paas_dashboard"}},
						"terminal": true,
					},
					map[string]any{"handle": []any{map[string]any{"handler": "paas_apps"}}},
				},
				"automatic_https": map[string]any{"disable": true},
			}}},
		},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	return data
}

func newEnv(t testing.TB) *platformEnv {
	t.Helper()
	p := &platformEnv{
		t:         t,
		dataDir:   t.TempDir(),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		httpAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		prefix:    "it" + randomSuffix(),
	}
	// Every exchange with the admin API is checked against its OpenAPI
	// document.
	check := &specChecker{t: t, next: http.DefaultTransport, docURL: "http://" + p.adminAddr + "/paas/openapi.json"}
	p.api = &admin.Client{BaseURL: "http://" + p.adminAddr, Prefix: "/paas", HTTP: &http.Client{Timeout: 2 * time.Minute, Transport: check}}
	httpAddr := p.httpAddr
	p.apps = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", httpAddr)
			},
			MaxIdleConnsPerHost: 64,
		},
	}
	t.Cleanup(p.removeContainers)
	return p
}

// startInProcess loads the config into this process's Caddy.
func startInProcess(t testing.TB, o envOptions) *platformEnv {
	t.Helper()
	requireDocker(t)
	p := newEnv(t)
	if err := caddy.Load(p.configJSON(o), true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return p
}

// removeContainers removes every container of this environment's apps.
func (p *platformEnv) removeContainers() {
	if dockerCli == nil {
		return
	}
	ctx := context.Background()
	for _, c := range p.containers(context.Background(), "") {
		_ = dockerCli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

// containers lists the containers of this environment's apps (of one app
// when app is given), running or not.
func (p *platformEnv) containers(ctx context.Context, app string) []container.Summary {
	args := filters.NewArgs(filters.Arg("label", "paas.app"))
	if app != "" {
		args.Add("label", "paas.app="+app)
	}
	list, err := dockerCli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		p.t.Errorf("listing containers: %v", err)
		return nil
	}
	var out []container.Summary
	for _, c := range list {
		if strings.HasPrefix(c.Labels["paas.app"], p.prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (p *platformEnv) appName(s string) string { return p.prefix + "-" + s }

func host(app string) string { return app + "." + baseDomain }

// get requests path on an app's host through Caddy.
func (p *platformEnv) get(app, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+host(app)+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := p.apps.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (p *platformEnv) mustGet(app, path string) (int, string) {
	p.t.Helper()
	code, body, err := p.get(app, path)
	if err != nil {
		p.t.Fatalf("GET %s%s: %v", host(app), path, err)
	}
	return code, body
}

func (p *platformEnv) createApp(in map[string]any) *platform.AppView {
	p.t.Helper()
	var v platform.AppView
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps", in, &v); err != nil {
		p.t.Fatalf("creating app %v: %v", in["name"], err)
	}
	return &v
}

func (p *platformEnv) deploy(app string, in map[string]any) *platform.Deployment {
	p.t.Helper()
	var d platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploys", in, &d); err != nil {
		p.t.Fatalf("deploying %s: %v", app, err)
	}
	return &d
}

// wait waits for a deployment's final status.
func (p *platformEnv) wait(app, id string) *platform.Deployment {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := p.api.WaitDeployment(ctx, app, id, nil)
	if d == nil {
		p.t.Fatalf("waiting for %s/%s: %v", app, id, err)
	}
	return d
}

func (p *platformEnv) waitLive(app, id string) {
	p.t.Helper()
	if d := p.wait(app, id); d.Status != platform.StatusLive {
		p.t.Fatalf("deployment %s of %s: status %s (%s), want live", id, app, d.Status, d.Reason)
	}
}

func (p *platformEnv) status() platform.Status {
	p.t.Helper()
	var s platform.Status
	if err := p.api.Do(context.Background(), http.MethodGet, "/status", nil, &s); err != nil {
		p.t.Fatalf("status: %v", err)
	}
	return s
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s: %s", what, timeout, last)
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
