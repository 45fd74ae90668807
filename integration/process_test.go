package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// caddyBinary builds ./cmd/caddy once per test run.
func caddyBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paas-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "caddy")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/caddy-paas/caddy-paas/cmd/caddy").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("building caddy: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process is caddy-paas running as a subprocess of the built binary.
type process struct {
	*platformEnv
	cfgPath string
	cmd     *exec.Cmd
	logPath string
}

func startProcess(t *testing.T, o envOptions) *process {
	t.Helper()
	requireDocker(t)
	p := &process{platformEnv: newEnv(t)}
	p.cfgPath = filepath.Join(t.TempDir(), "caddy.json")
	p.logPath = filepath.Join(t.TempDir(), "caddy.log")
	if err := os.WriteFile(p.cfgPath, p.configJSON(o), 0o600); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil && p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}
	})
	return p
}

func (p *process) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(caddyBinary(p.t), "run", "--config", p.cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), "HOME="+p.dataDir)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, 20*time.Second, "admin endpoint answers", func() (bool, string) {
		var s platform.Status
		err := p.api.Do(context.Background(), http.MethodGet, "/status", nil, &s)
		return err == nil, fmt.Sprint(err)
	})
}

func (p *process) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *process) deployment(app, id string) *platform.Deployment {
	p.t.Helper()
	var d platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys/"+id, nil, &d); err != nil {
		p.t.Fatalf("deployment %s/%s: %v", app, id, err)
	}
	return &d
}

// TestKill9MidDeployRecovers kills Caddy with SIGKILL while a deploy waits
// for its new replica to get healthy, then restarts it: every app serves
// again within 10 s, the interrupted deploy is failed, and only the live
// replicas exist.
func TestKill9MidDeployRecovers(t *testing.T) {
	p := startProcess(t, envOptions{healthTimeout: "60s"})
	a, b := p.appName("kill-a"), p.appName("kill-b")
	va := p.createApp(map[string]any{"name": a, "image": imageV1, "health_path": "/health", "env": map[string]string{"VERSION": "a1"}})
	vb := p.createApp(map[string]any{"name": b, "image": imageV1, "replicas": 2, "env": map[string]string{"VERSION": "b1"}})
	p.waitLive(a, va.Deployment)
	p.waitLive(b, vb.Deployment)

	// A deploy whose replica takes a minute to get healthy.
	slow := p.deploy(a, map[string]any{"image": imageV2, "env": map[string]string{"HEALTHY_AFTER": "60s"}})
	eventually(t, 20*time.Second, "slow deploy is starting with its container up", func() (bool, string) {
		d := p.deployment(a, slow.ID)
		n := 0
		for _, c := range p.containers(context.Background(), a) {
			if c.Labels["paas.deployment"] == slow.ID {
				n++
			}
		}
		return d.Status == platform.StatusStarting && n == 1, fmt.Sprintf("status %s, containers %d", d.Status, n)
	})

	p.kill9()
	restarted := time.Now()
	p.start()

	for app, want := range map[string]string{a: "hello from a1\n", b: "hello from b1\n"} {
		eventually(t, 10*time.Second-time.Since(restarted), app+" serves after restart", func() (bool, string) {
			code, body, err := p.get(app, "/")
			return err == nil && code == 200 && body == want, fmt.Sprintf("%d %q %v", code, body, err)
		})
	}
	t.Logf("every app served %s after the restart", time.Since(restarted).Round(time.Millisecond))

	if d := p.deployment(a, slow.ID); d.Status != platform.StatusFailed || !strings.Contains(d.Reason, "interrupted") {
		t.Errorf("interrupted deploy: status %s, reason %q; want failed, interrupted", d.Status, d.Reason)
	}
	eventually(t, 10*time.Second, "only the live replicas exist", func() (bool, string) {
		var why []string
		for app, want := range map[string]struct {
			id string
			n  int
		}{a: {va.Deployment, 1}, b: {vb.Deployment, 2}} {
			cs := p.containers(context.Background(), app)
			ok := len(cs) == want.n
			for _, c := range cs {
				ok = ok && c.Labels["paas.deployment"] == want.id && c.State == "running"
			}
			if !ok {
				why = append(why, fmt.Sprintf("%s has %d containers", app, len(cs)))
			}
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
}

// TestCLI drives the README's commands through the built binary.
func TestCLI(t *testing.T) {
	p := startProcess(t, envOptions{})
	app := p.appName("cli")
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(caddyBinary(t), append([]string{"paas"}, append(args, "--address", p.adminAddr)...)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}

	out, errOut, code := run("apps", "create", app, "--image", imageV1, "--port", "8080", "--env", "VERSION=v1", "--wait")
	if code != 0 || !strings.Contains(out, app) || !strings.Contains(out, "running") {
		t.Fatalf("apps create: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from v1\n" {
		t.Fatalf("after create: %q", body)
	}
	out, errOut, code = run("deploy", app, "--image", imageV2, "--wait")
	if code != 0 || !strings.Contains(out, "live") {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, body := p.mustGet(app, "/"); body != "hello v2 from v1\n" {
		t.Fatalf("after deploy: %q", body)
	}
	out, _, code = run("apps", "list", "--json")
	var list []platform.AppView
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Image != imageV2 {
		t.Fatalf("apps list --json: exit %d %q", code, out)
	}
	out, _, code = run("deploys", "list", app, "--json")
	var deploys []platform.Deployment
	if code != 0 || json.Unmarshal([]byte(out), &deploys) != nil || len(deploys) != 2 {
		t.Fatalf("deploys list --json: exit %d %q", code, out)
	}
	first := deploys[1].ID
	for _, follow := range []string{"--follow", "--follow=false"} {
		out, errOut, code := run("deploys", "logs", app, deploys[0].ID, follow)
		if code != 0 || !strings.Contains(out, "live: 1 replica(s) serving") {
			t.Errorf("deploys logs %s: exit %d %q %q", follow, code, out, errOut)
		}
	}
	if out, errOut, code = run("rollback", app, first, "--wait"); code != 0 {
		t.Fatalf("rollback: exit %d %s %s", code, out, errOut)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from v1\n" {
		t.Fatalf("after rollback: %q", body)
	}
	out, _, code = run("apps", "show", app)
	if code != 0 || !strings.Contains(out, "VERSION") || strings.Contains(out, "VERSION=v1") {
		t.Fatalf("apps show: exit %d %q", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apps", "create", "Bad", "--image", imageV1}, "invalid app name"},
		{[]string{"apps", "create", app + "x", "--image", "paas-test/nope:1"}, "not present locally"},
		{[]string{"deploy", "nope-app", "--image", imageV1}, "not found"},
		{[]string{"deploy", app, "--image", imageCrash, "--wait"}, "exited with code 3"},
		{[]string{"apps", "create", app + "y", "--env", "NOEQUALS"}, "KEY=VALUE"},
	} {
		_, errOut, code := run(tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 with %q", tc.args, code, errOut, tc.want)
		}
	}
	// deploy --dir uploads a source tree and builds it.
	src := t.TempDir()
	sourceTree(t, src, "ignored", map[string]string{
		"Dockerfile":    "FROM scratch\nENV GREETING=dir-upload\nCOPY app /app\nCOPY . /src/\nENTRYPOINT [\"/app\"]\n",
		".git/config":   "[core]\n",
		"secret.txt":    "CANARY-S3cr3t",
		".dockerignore": "secret.txt\n",
	})
	out, errOut, code = run("deploy", app, "--dir", src, "--wait")
	if code != 0 || !strings.Contains(out, "live") || !strings.Contains(errOut, "uploading [") {
		t.Fatalf("deploy --dir: exit %d\n%s\n%s", code, out, errOut)
	}
	// The app's env (VERSION=v1) wins over the image's.
	if _, body := p.mustGet(app, "/"); body != "dir-upload v1\n" {
		t.Fatalf("after deploy --dir: %q", body)
	}
	if _, _, code := run("apps", "delete", app); code != 0 {
		t.Errorf("apps delete: exit %d", code)
	}
	if n := len(p.containers(context.Background(), app)); n != 0 {
		t.Errorf("%d containers after apps delete", n)
	}
}
