package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	gitobject "github.com/go-git/go-git/v5/plumbing/object"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/platform"
)

// buildEnv is a caddy-paas running in this process on the machine's Docker
// engine, with what the build rows share.
type buildEnv struct {
	b   *bench
	dir string
	// run names this run's apps, repositories and images.
	run string
	// api calls the admin API over its unix socket.
	api *admin.Client
	// proxy sends requests to the paas_apps listener.
	proxy *http.Client
	// baseImage is the id of goBuildImage, never removed.
	baseImage string

	mu sync.Mutex
	// apps and images are what this run made and must remove.
	apps   map[string]bool
	images map[string]bool // tags and ids
}

// dockerOutput runs the Docker CLI and returns its standard output.
func dockerOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, truncate(strings.TrimSpace(stderr.String()), 400))
	}
	return string(out), nil
}

// dockerEngine returns the Docker engine's version, or an error when no
// engine answers.
func dockerEngine(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := exec.LookPath("docker"); err != nil {
		return "", fmt.Errorf("no docker CLI on PATH")
	}
	out, err := dockerOutput(ctx, "info", "--format", "{{.ServerVersion}}")
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(out)
	if v == "" {
		return "", fmt.Errorf("docker info names no server version")
	}
	return v, nil
}

// dockerBuild runs the legacy builder through the Docker CLI (what
// caddy-paas uses through the API: BuilderV1, intermediate containers
// removed) and returns its output.
func dockerBuild(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"build", "--force-rm"}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker build: %w: %s", err, truncate(string(out), 1500))
	}
	return string(out), nil
}

// stepImage matches the lines of the legacy builder's output that name the
// image a step made (" ---> 0123456789ab").
var stepImage = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12,64})\s*$`)

// noteBuildImages records the images a build's output names, so that the
// intermediate images of its stages are removed too: the last image of a
// multi-stage build's first stage has no tag and stays behind otherwise.
func (e *buildEnv) noteBuildImages(out string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range stepImage.FindAllStringSubmatch(out, -1) {
		e.images[m[1]] = true
	}
}

func (e *buildEnv) noteImage(ref string) {
	e.mu.Lock()
	e.images[ref] = true
	e.mu.Unlock()
}

// removeImages removes the images this run made: its tags, then the
// untagged images its builds made. An image with a tag of someone else's
// (such as goBuildImage) is never removed.
func (e *buildEnv) removeImages(ctx context.Context) {
	e.mu.Lock()
	var tags, ids []string
	for ref := range e.images {
		if strings.Contains(ref, ":") {
			tags = append(tags, ref)
		} else {
			ids = append(ids, ref)
		}
	}
	e.images = map[string]bool{}
	e.mu.Unlock()
	if len(tags) > 0 {
		_, _ = dockerOutput(ctx, append([]string{"rmi"}, tags...)...)
	}
	if len(ids) == 0 {
		return
	}
	// Removing the tags removed most intermediate images with them;
	// inspect tells which are left, and whether they are untagged.
	out, _ := dockerOutput(ctx, append([]string{"image", "inspect", "--format", "{{.Id}} {{len .RepoTags}}"}, ids...)...)
	var loose []string
	for _, line := range strings.Split(out, "\n") {
		id, tags, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && tags == "0" && id != e.baseImage {
			loose = append(loose, id)
		}
	}
	// Children first: a parent with a child left is refused (and removed
	// with the child's removal anyway).
	for i := len(loose) - 1; i >= 0; i-- {
		_, _ = dockerOutput(ctx, "rmi", loose[i])
	}
}

// removeApp deletes an app (caddy-paas removes its containers) and lists
// its images for removal.
func (e *buildEnv) removeApp(ctx context.Context, app string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := e.api.Do(ctx, http.MethodDelete, "/apps/"+app, nil, nil)
	if err == nil {
		e.mu.Lock()
		delete(e.apps, app)
		e.mu.Unlock()
	}
	out, lerr := dockerOutput(ctx, "images", "--format", "{{.Repository}}:{{.Tag}}", "paas/"+app)
	if lerr == nil {
		for _, ref := range strings.Fields(out) {
			e.noteImage(ref)
		}
	}
	if err != nil {
		return fmt.Errorf("deleting app %s: %w", app, err)
	}
	return nil
}

// cleanup removes every app and image this run made.
func (e *buildEnv) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e.mu.Lock()
	apps := make([]string, 0, len(e.apps))
	for app := range e.apps {
		apps = append(apps, app)
	}
	e.mu.Unlock()
	for _, app := range apps {
		if err := e.removeApp(ctx, app); err != nil {
			e.b.progress("cleanup: " + err.Error())
		}
	}
	e.removeImages(ctx)
}

// newAppName names a new app of this run.
func (e *buildEnv) newAppName(kind string, round int) string {
	name := fmt.Sprintf("bench-%s-%s%d", e.run, kind, round)
	e.mu.Lock()
	e.apps[name] = true
	e.mu.Unlock()
	return name
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logTimes notes when each step's line of a deployment's log appeared:
// the log has no timestamps of its own.
type logTimes struct {
	mu   sync.Mutex
	t0   time.Time
	seen map[string]time.Duration
	part []byte
}

// logMarks are the log lines that end a step of a deploy.
var logMarks = []struct{ step, prefix string }{
	{"fetched", "checked out "},
	{"fetched", "building the uploaded source"},
	{"built", "built paas/"},
	{"live", "live: "},
}

func (l *logTimes) Write(p []byte) (int, error) {
	now := time.Since(l.t0)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := strings.IndexByte(string(l.part), '\n')
		if i < 0 {
			break
		}
		line := string(l.part[:i])
		l.part = l.part[i+1:]
		for _, m := range logMarks {
			if _, ok := l.seen[m.step]; !ok && strings.HasPrefix(line, m.prefix) {
				l.seen[m.step] = now
			}
		}
	}
	return len(p), nil
}

func (l *logTimes) get(step string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.seen[step]
	return d, ok
}

// watchLog reads a deployment's log file every 20 ms in the background
// until ctx ends, noting when each step's line first appeared. It reads
// the file in the data directory (logs/<app>/<id>.log), which the deploy
// writes unbuffered: through the admin API a log, followed or not, arrives
// in one piece when the deploy ends (see docs/benchmarks.md).
func (e *buildEnv) watchLog(ctx context.Context, app, id string, t0 time.Time) *logTimes {
	l := &logTimes{t0: t0, seen: map[string]time.Duration{}}
	path := filepath.Join(e.dataDir(), "logs", app, id+".log")
	go func() {
		read := 0
		for ctx.Err() == nil {
			if b, err := os.ReadFile(path); err == nil && len(b) > read {
				_, _ = l.Write(b[read:])
				read = len(b)
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return l
}

// dataDir is the paas app's data directory (paasAppConfig).
func (e *buildEnv) dataDir() string { return filepath.Join(e.dir, "paas-data") }

// deployLog returns a deployment's whole log.
func (e *buildEnv) deployLog(ctx context.Context, app, id string) string {
	var b strings.Builder
	if err := e.api.Logs(ctx, app, id, false, &b); err != nil {
		return "(log unavailable: " + err.Error() + ")"
	}
	return b.String()
}

// get asks the proxy for an app's page.
func (e *buildEnv) get(ctx context.Context, app string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+app+"."+baseDomain+"/", nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := e.proxy.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), err
}

// waitServing polls the proxy until the app answers want, and returns
// when it first did. It gives up when the deployment fails.
func (e *buildEnv) waitServing(ctx context.Context, app, id, want string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	lastCheck := time.Now()
	last := ""
	for {
		code, body, err := e.get(ctx, app)
		if err == nil && code == http.StatusOK && body == want {
			return time.Now(), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %q", code, truncate(body, 80))
		}
		if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			var d platform.Deployment
			if err := e.api.Do(ctx, http.MethodGet, "/apps/"+app+"/deploys/"+id, nil, &d); err == nil {
				if d.Status == platform.StatusFailed {
					return time.Time{}, fmt.Errorf("deployment %s of %s failed: %s; its log ends: %s", id, app, d.Reason, tail(e.deployLog(ctx, app, id), 1500))
				}
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s did not answer %q within %s (last answer: %s); the deployment's log ends: %s", app, want, timeout, last, tail(e.deployLog(ctx, app, id), 1500))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// generatedDockerfile reads the generated Dockerfile out of a deployment's
// log: the lines after "generated Dockerfile:", each prefixed "  | ".
func generatedDockerfile(log string) (string, error) {
	_, after, ok := strings.Cut(log, "generated Dockerfile:\n")
	if !ok {
		return "", fmt.Errorf("the deployment's log shows no generated Dockerfile")
	}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(after))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "  | ")
		if !ok {
			if line == "  |" {
				line, ok = "", true
			} else {
				break
			}
		}
		b.WriteString(line + "\n")
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("the deployment's log has an empty generated Dockerfile")
	}
	return b.String(), nil
}

// goRepo is a small Go app in a git repository made with go-git: go.mod,
// main.go answering its version over HTTP, and paas.json, with no
// Dockerfile, so that caddy-paas detects the stack and generates one.
type goRepo struct {
	dir    string
	module string
	repo   *git.Repository
}

// goMain is the app: an HTTP server on $PORT written with package net
// alone, so that its build compiles few packages (net/http would add ~10 s
// per build on a 2-core machine, the same on both sides). The bench
// changes the version line, one line, for a redeploy.
const goMain = `package main

import (
	"bufio"
	"net"
	"os"
	"strconv"
)

const version = %q

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		os.Exit(1)
	}
	body := version + "\n"
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" || line == "\n" {
					break
				}
			}
			c.Write(answer)
		}()
	}
}
`

// newGoRepo makes the repository with its first commit. The module path
// is unique, so that no Docker layer of an earlier build matches.
func newGoRepo(dir, module, version string) (*goRepo, error) {
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"},
	})
	if err != nil {
		return nil, fmt.Errorf("creating a git repository: %w", err)
	}
	g := &goRepo{dir: dir, module: module, repo: repo}
	files := map[string]string{
		"go.mod": "module " + module + "\n\ngo 1.26\n",
		// The build image made here is Go 1.26 only.
		"paas.json": `{"build": {"args": {"GO_VERSION": "1.26"}}}` + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	return g, g.commitVersion(version)
}

// commitVersion writes main.go answering version and commits it.
func (g *goRepo) commitVersion(version string) error {
	if err := os.WriteFile(filepath.Join(g.dir, "main.go"), []byte(fmt.Sprintf(goMain, version)), 0o644); err != nil {
		return err
	}
	wt, err := g.repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return fmt.Errorf("git add: %w", err)
	}
	_, err = wt.Commit("version "+version, &git.CommitOptions{All: true,
		Author: &gitobject.Signature{Name: "bench", Email: "bench@" + baseDomain, When: time.Now()}})
	if err != nil {
		return fmt.Errorf("git commit: %w", err)
	}
	return nil
}

func (g *goRepo) url() string { return "file://" + g.dir }

// uploadSink is the upload baseline: a plain net/http handler on loopback
// that writes the request body to a file.
type uploadSink struct {
	ln   net.Listener
	srv  *http.Server
	path string
}

func startUploadSink(path string) (*uploadSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the upload baseline: %w", err)
	}
	s := &uploadSink{ln: ln, path: path}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Create(s.path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, err = io.Copy(f, r.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *uploadSink) url() string { return "http://" + s.ln.Addr().String() + "/" }

func (s *uploadSink) close() { _ = s.srv.Close() }
