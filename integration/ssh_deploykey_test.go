package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/caddy-paas/caddy-paas/platform"
)

// sshTools are the OpenSSH and git programs the deploy key test runs.
type sshTools struct {
	sshd, keygen, gitShell string
}

// requireSSHTools finds Debian's sshd, ssh-keygen and git-shell. Without
// them the test is skipped on a developer machine (scripts/test-deps.sh
// installs them), and fails under CI=true.
func requireSSHTools(t *testing.T) sshTools {
	t.Helper()
	find := func(name string, fixed ...string) string {
		for _, p := range fixed {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true (run scripts/test-deps.sh): %v", name, err)
			}
			t.Skipf("no %s (run scripts/test-deps.sh): %v", name, err)
		}
		// sshd re-executes itself and refuses a relative path.
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	return sshTools{
		sshd:     find("sshd", "/usr/sbin/sshd"),
		keygen:   find("ssh-keygen"),
		gitShell: find("git-shell"),
	}
}

// hostKey is an SSH host key made with ssh-keygen.
type hostKey struct {
	path string
	pub  ssh.PublicKey
	// base64 is the key as known_hosts and the .pub file write it.
	base64 string
}

// syncBuffer collects a subprocess's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sshGitServer is Debian's OpenSSH server on a loopback port, run by the
// test with its own config: one authorized key, restricted to git through
// git-shell, for the current user.
type sshGitServer struct {
	t              *testing.T
	tools          sshTools
	dir            string
	port           int
	user           string
	authorizedKeys string
	cmd            *exec.Cmd
	exited         chan struct{}
	out            *syncBuffer
}

func newSSHGitServer(t *testing.T, tools sshTools) *sshGitServer {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{
		t: t, tools: tools, dir: t.TempDir(), port: freePort(t), user: u.Username,
		out: &syncBuffer{},
	}
	s.authorizedKeys = filepath.Join(s.dir, "authorized_keys")
	s.authorize("")
	if os.Geteuid() == 0 {
		// sshd running as root insists on its privilege separation
		// directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("sshd output:\n%s", s.out.String())
		}
	})
	return s
}

// hostKey makes a new ed25519 host key.
func (s *sshGitServer) hostKey(name string) hostKey {
	s.t.Helper()
	path := filepath.Join(s.dir, name)
	if out, err := exec.Command(s.tools.keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput(); err != nil {
		s.t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	data, err := os.ReadFile(path + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		s.t.Fatalf("parsing %s.pub: %v", path, err)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		s.t.Fatalf("%s.pub: %q", path, data)
	}
	return hostKey{path: path, pub: pub, base64: fields[1]}
}

// authorize makes publicKey the only key that may log in, able to run git
// through git-shell and nothing else; "" leaves no key at all.
func (s *sshGitServer) authorize(publicKey string) {
	s.t.Helper()
	content := ""
	if publicKey != "" {
		content = `command="` + s.tools.gitShell + ` -c \"$SSH_ORIGINAL_COMMAND\"",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ` +
			strings.TrimSpace(publicKey) + "\n"
	}
	if err := os.WriteFile(s.authorizedKeys, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// url is the ssh URL of the repository at path (absolute) on this server.
func (s *sshGitServer) url(path string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", s.user, s.port, path)
}

// start runs sshd with key as its only host key, and waits until it
// answers with an SSH banner.
func (s *sshGitServer) start(key hostKey) {
	s.t.Helper()
	config := filepath.Join(s.dir, "sshd_config")
	cfg := strings.Join([]string{
		"ListenAddress 127.0.0.1",
		fmt.Sprintf("Port %d", s.port),
		"HostKey " + key.path,
		"PidFile " + filepath.Join(s.dir, "sshd.pid"),
		"AuthorizedKeysFile " + s.authorizedKeys,
		"AllowUsers " + s.user,
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		// The files live in temporary directories.
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PermitTTY no",
		"LogLevel VERBOSE",
	}, "\n") + "\n"
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if out, err := exec.Command(s.tools.sshd, "-t", "-f", config).CombinedOutput(); err != nil {
		s.t.Fatalf("sshd -t: %v: %s", err, out)
	}
	cmd := exec.Command(s.tools.sshd, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	// Its own process group: nothing sshd signals reaches the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	addr := fmt.Sprintf("127.0.0.1:%d", s.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			s.t.Fatalf("sshd exited at start:\n%s", s.out.String())
		default:
		}
		if bannerAt(addr) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd does not answer on %s:\n%s", addr, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bannerAt reports whether an SSH server answers at addr.
func bannerAt(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 8)
	n, _ := conn.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "SSH-2.0-")
}

// stop ends the sshd this server started, if it runs.
func (s *sshGitServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// restart runs sshd again on the same port with key as its host key.
func (s *sshGitServer) restart(key hostKey) {
	s.t.Helper()
	s.stop()
	s.start(key)
}

func TestSSHDeployKeyRoundTrip(t *testing.T) {
	tools := requireSSHTools(t)
	p := startInProcess(t, envOptions{})
	ctx := context.Background()

	srv := newSSHGitServer(t, tools)
	original := srv.hostKey("host_key")
	impostor := srv.hostKey("other_host_key")
	srv.start(original)

	repo := newGitRepo(t)
	sourceTree(t, repo.dir, "ssh-v1", nil)
	first := repo.commit("ssh v1")
	repoURL := srv.url(repo.dir)

	// The app exists before its source: its deploy key is made first, and
	// added to the server's authorized keys as a git host would.
	app := p.appName("sshkey")
	p.createApp(map[string]any{"name": app})
	var key map[string]string
	if err := p.api.Do(ctx, http.MethodPost, "/apps/"+app+"/deploy-key", nil, &key); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key["public_key"], "ssh-ed25519 ") {
		t.Fatalf("deploy key %v", key)
	}
	srv.authorize(key["public_key"])

	// Setting the repository deploys it: the first connection accepts the
	// server's host key and remembers it.
	var v platform.AppView
	if err := p.api.Do(ctx, http.MethodPatch, "/apps/"+app, map[string]any{"git": map[string]string{"url": repoURL, "ref": "main"}}, &v); err != nil {
		t.Fatalf("setting the repository: %v", err)
	}
	if v.Deployment == "" {
		t.Fatal("setting the repository started no deployment")
	}
	if v.GitAuth != "deploy_key" || v.DeployKey != key["public_key"] {
		t.Errorf("app after PATCH: git_auth %q, deploy_key %q", v.GitAuth, v.DeployKey)
	}
	ids := []string{v.Deployment}
	p.waitLive(app, v.Deployment)
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from ssh-v1\n" {
		t.Fatalf("after the first deploy over ssh: %d %q", code, body)
	}
	if d := p.wait(app, v.Deployment); d.Commit != first {
		t.Errorf("first deploy built %s, want %s", d.Commit, first)
	}
	if log := p.logs(app, v.Deployment); !strings.Contains(log, "remembering its host key "+ssh.FingerprintSHA256(original.pub)) {
		t.Errorf("first deploy's log does not say it remembers the host key %s:\n%s", ssh.FingerprintSHA256(original.pub), log)
	}
	// sshd itself let the deploy key in, and only to run git-shell.
	deployPub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key["public_key"]))
	if err != nil {
		t.Fatalf("parsing the deploy key: %v", err)
	}
	sshdLog := srv.out.String()
	if !strings.Contains(sshdLog, "Accepted publickey for "+srv.user) || !strings.Contains(sshdLog, ssh.FingerprintSHA256(deployPub)) {
		t.Errorf("sshd did not log the deploy key's login (%s):\n%s", ssh.FingerprintSHA256(deployPub), sshdLog)
	}
	if !strings.Contains(sshdLog, "forced-command (key-option)") {
		t.Errorf("sshd did not run the key's forced command:\n%s", sshdLog)
	}
	// The remembered key is the server's, for its host and port.
	knownLine := fmt.Sprintf("[127.0.0.1]:%d ssh-ed25519 %s", srv.port, original.base64)
	var raw map[string]any
	if err := p.api.Do(ctx, http.MethodGet, "/apps/"+app, nil, &raw); err != nil {
		t.Fatal(err)
	}
	if kh, shown := raw["known_hosts"]; shown {
		if s, _ := kh.(string); !strings.Contains(s, original.base64) {
			t.Errorf("known_hosts %q lacks the server's host key %s", s, original.base64)
		}
	} else {
		t.Logf("GET /apps/%s does not show known_hosts; checking the database", app)
	}
	if db := readDB(t, p); !strings.Contains(db, knownLine) {
		t.Errorf("the database holds no known_hosts line %q", knownLine)
	}

	// A second commit: the host key is known, nothing is remembered again.
	sourceTree(t, repo.dir, "ssh-v2", nil)
	second := repo.commit("ssh v2")
	d2 := p.deploy(app, map[string]any{})
	ids = append(ids, d2.ID)
	p.waitLive(app, d2.ID)
	if _, body := p.mustGet(app, "/"); body != "hello from ssh-v2\n" {
		t.Fatalf("after the second deploy over ssh: %q", body)
	}
	if d := p.wait(app, d2.ID); d.Commit != second {
		t.Errorf("second deploy built %s, want %s", d.Commit, second)
	}
	if log := p.logs(app, d2.ID); strings.Contains(log, "remembering") {
		t.Errorf("second deploy remembered a host key again:\n%s", log)
	}

	// The server answers with another host key: refused, the old version
	// keeps serving, and the new key is not remembered.
	srv.restart(impostor)
	d3 := p.wait(app, p.deploy(app, map[string]any{}).ID)
	ids = append(ids, d3.ID)
	if d3.Status != platform.StatusFailed || !strings.Contains(d3.Reason, "host key") || !strings.Contains(d3.Reason, "mismatch") {
		t.Errorf("deploy to a server with a changed host key: %s %q, want failed with a host key mismatch", d3.Status, d3.Reason)
	}
	if log := p.logs(app, d3.ID); strings.Contains(log, "remembering") {
		t.Errorf("a changed host key was remembered:\n%s", log)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from ssh-v2\n" {
		t.Fatalf("after the refused host key: %q", body)
	}
	if db := readDB(t, p); strings.Contains(db, impostor.base64) {
		t.Error("the changed host key was stored")
	}

	// The right server, but the deploy key was removed from it.
	srv.authorize("")
	srv.restart(original)
	d4 := p.wait(app, p.deploy(app, map[string]any{}).ID)
	ids = append(ids, d4.ID)
	if d4.Status != platform.StatusFailed || !strings.Contains(d4.Reason, "unable to authenticate") {
		t.Errorf("deploy with a revoked key: %s %q, want failed, unable to authenticate", d4.Status, d4.Reason)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from ssh-v2\n" {
		t.Fatalf("after the revoked key: %q", body)
	}

	// The private half is in no answer, no log, and not in the clear on disk.
	var everything strings.Builder
	paths := []string{"/apps", "/apps/" + app, "/apps/" + app + "/deploys"}
	for _, id := range ids {
		paths = append(paths, "/apps/"+app+"/deploys/"+id)
	}
	for _, path := range paths {
		var raw json.RawMessage
		if err := p.api.Do(ctx, http.MethodGet, path, nil, &raw); err != nil {
			t.Fatal(err)
		}
		everything.Write(raw)
	}
	for _, id := range ids {
		everything.WriteString(p.logs(app, id))
	}
	if strings.Contains(everything.String(), "PRIVATE KEY") {
		t.Fatal("the deploy key's private half appears in an API answer or a log")
	}
	if strings.Contains(readDB(t, p), "OPENSSH PRIVATE KEY") {
		t.Fatal("the deploy key's private half is stored in the clear")
	}
}

// readDB returns the raw bytes of the platform's database file.
func readDB(t *testing.T, p *platformEnv) string {
	t.Helper()
	db, err := os.ReadFile(filepath.Join(p.dataDir, "paas.db"))
	if err != nil {
		t.Fatal(err)
	}
	return string(db)
}
