package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ciProbeEnv marks the child runs of TestMissingDockerFailsUnderCI, which
// must not start it again.
const ciProbeEnv = "PAAS_CI_PROBE"

// TestMissingDockerFailsUnderCI runs a Docker test of this package (this
// test binary again) against a Docker socket that does not exist: under
// CI=true the run fails, since a skipped test in CI is a hidden red; with
// CI unset, the test is skipped. requireDocker connects as the Docker CLI
// does (client.FromEnv), so DOCKER_HOST points it at the missing socket.
func TestMissingDockerFailsUnderCI(t *testing.T) {
	if os.Getenv(ciProbeEnv) != "" {
		t.Skip("a child run of TestMissingDockerFailsUnderCI")
	}
	socket := filepath.Join(t.TempDir(), "no-docker.sock")
	run := func(ci bool) (int, string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestDeployServesByHost$", "-test.v", "-test.count=1", "-test.timeout=2m")
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			if name == "CI" || strings.HasPrefix(name, "DOCKER_") {
				continue
			}
			cmd.Env = append(cmd.Env, kv)
		}
		cmd.Env = append(cmd.Env, ciProbeEnv+"=1", "DOCKER_HOST=unix://"+socket)
		if ci {
			cmd.Env = append(cmd.Env, "CI=true")
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("running %s: %v", os.Args[0], err)
		}
		t.Logf("CI=%v: exit %d in %v", ci, code, time.Since(start).Round(time.Millisecond))
		return code, out.String()
	}

	code, out := run(true)
	if code == 0 || !strings.Contains(out, "--- FAIL: TestDeployServesByHost") || !strings.Contains(out, "docker engine required under CI=true") ||
		strings.Contains(out, "SKIP") {
		t.Errorf("without Docker under CI=true: exit %d, want a failure, not a skip:\n%s", code, out)
	}

	code, out = run(false)
	if code != 0 || !strings.Contains(out, "--- SKIP: TestDeployServesByHost") || !strings.Contains(out, "no docker engine") ||
		strings.Contains(out, "FAIL") {
		t.Errorf("without Docker, CI unset: exit %d, want a skip:\n%s", code, out)
	}
}
