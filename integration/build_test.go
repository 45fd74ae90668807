package integration

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/caddy-paas/caddy-paas/platform"
)

// sourceTree writes a source tree whose Dockerfile packs the static test
// app FROM scratch, so that it builds with no base image.
func sourceTree(t *testing.T, dir, version string, extra map[string]string) {
	t.Helper()
	files := map[string]string{
		"Dockerfile": "FROM scratch\nENV VERSION=" + version + "\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n",
		"app":        string(testAppBinary),
		"README.md":  "a test app\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == "app" {
			mode = 0o755
		}
		if content == "" {
			_ = os.Remove(path)
			continue
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// gitRepo is a repository made in the test with go-git.
type gitRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &gitRepo{t: t, dir: dir, repo: repo}
}

func (g *gitRepo) commit(msg string) string {
	g.t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		g.t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{All: true, Author: &object.Signature{Name: "test", Email: "t@example.com", When: time.Now()}})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

func (g *gitRepo) url() string { return "file://" + g.dir }

func (p *platformEnv) logs(app, id string) string {
	p.t.Helper()
	var b strings.Builder
	if err := p.api.Logs(context.Background(), app, id, false, &b); err != nil {
		p.t.Fatalf("logs of %s/%s: %v", app, id, err)
	}
	return b.String()
}

func TestGitDeployBuildsAndRedeploys(t *testing.T) {
	p := startInProcess(t, envOptions{})
	repo := newGitRepo(t)
	sourceTree(t, repo.dir, "git-v1", nil)
	first := repo.commit("first")

	app := p.appName("git")
	v := p.createApp(map[string]any{"name": app, "git": map[string]string{"url": repo.url(), "ref": "main"}})
	if v.Deployment == "" {
		t.Fatal("creating an app from git started no deployment")
	}
	p.waitLive(app, v.Deployment)
	if code, body := p.mustGet(app, "/"); code != 200 || body != "hello from git-v1\n" {
		t.Fatalf("after the first build: %d %q", code, body)
	}
	var d platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys/"+v.Deployment, nil, &d); err != nil {
		t.Fatal(err)
	}
	if d.Commit != first || d.Source != platform.SourceGit || d.Image != "paas/"+app+":"+d.ID {
		t.Errorf("deployment: commit %s source %s image %s; want %s, git, paas/%s:%s", d.Commit, d.Source, d.Image, first, app, d.ID)
	}
	log := p.logs(app, d.ID)
	for _, want := range []string{"checked out " + first[:12], "building with the repository's Dockerfile", "live:"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}

	// A new commit, deployed by ref.
	sourceTree(t, repo.dir, "git-v2", nil)
	second := repo.commit("second")
	d2 := p.deploy(app, map[string]any{"git": map[string]string{"ref": "main"}})
	p.waitLive(app, d2.ID)
	if _, body := p.mustGet(app, "/"); body != "hello from git-v2\n" {
		t.Fatalf("after the second commit: %q", body)
	}
	if got := p.wait(app, d2.ID); got.Commit != second {
		t.Errorf("second deploy built %s, want %s", got.Commit, second)
	}

	// A build that fails leaves the old version serving; its log says why.
	sourceTree(t, repo.dir, "git-v3", map[string]string{"Dockerfile": "FROM scratch\nCOPY does-not-exist /x\n"})
	repo.commit("broken")
	bad := p.wait(app, p.deploy(app, nil).ID)
	if bad.Status != platform.StatusFailed || !strings.Contains(bad.Reason, "build failed") {
		t.Fatalf("broken build: %s %q", bad.Status, bad.Reason)
	}
	if log := p.logs(app, bad.ID); !strings.Contains(log, "does-not-exist") {
		t.Errorf("failed build's log does not show the error:\n%s", log)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from git-v2\n" {
		t.Fatalf("after a failed build: %q", body)
	}

	// An unknown ref fails the deploy with a clear reason.
	missing := p.wait(app, p.deploy(app, map[string]any{"git": map[string]string{"ref": "no-such-branch"}}).ID)
	if missing.Status != platform.StatusFailed || !strings.Contains(missing.Reason, "no-such-branch") {
		t.Errorf("unknown ref: %s %q", missing.Status, missing.Reason)
	}
	// Hostile refs and URLs are refused before anything is recorded.
	for _, in := range []map[string]any{
		{"git": map[string]string{"ref": "--upload-pack=touch /tmp/M"}},
		{"git": map[string]string{"ref": "main; touch /tmp/M"}},
		{"git": map[string]string{"url": "http://169.254.169.254/repo.git"}},
		{"git": map[string]string{"url": "ext::sh -c touch% /tmp/M"}},
	} {
		err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploys", in, nil)
		if err == nil || !strings.Contains(err.Error(), "git") {
			t.Errorf("deploy %v: %v, want a 400 about git", in, err)
		}
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUploadDeploy(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("upload")
	p.createApp(map[string]any{"name": app})
	good := zipOf(t, map[string]string{
		"myapp/Dockerfile": "FROM scratch\nENV VERSION=zip\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
		"myapp/app":        string(testAppBinary),
	})
	var d platform.Deployment
	if err := p.api.Upload(context.Background(), "/apps/"+app+"/deploys", "application/zip", bytes.NewReader(good), int64(len(good)), &d); err != nil {
		t.Fatal(err)
	}
	p.waitLive(app, d.ID)
	if _, body := p.mustGet(app, "/"); body != "hello from zip\n" {
		t.Fatalf("after the zip upload: %q", body)
	}

	marker := filepath.Join(os.TempDir(), "paas-zip-marker-"+randomSuffix())
	for name, files := range map[string]map[string]string{
		"traversal": {"Dockerfile": "FROM scratch\n", "../../../../" + strings.TrimPrefix(marker, "/"): "x"},
		"absolute":  {"Dockerfile": "FROM scratch\n", marker: "x"},
	} {
		bad := zipOf(t, files)
		err := p.api.Upload(context.Background(), "/apps/"+app+"/deploys", "application/zip", bytes.NewReader(bad), int64(len(bad)), nil)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s zip: %v, want refused", name, err)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s zip wrote %s", name, marker)
		}
	}
	var list []platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("refused uploads recorded deployments: %d, want 1", len(list))
	}
	if _, body := p.mustGet(app, "/"); body != "hello from zip\n" {
		t.Errorf("after refused uploads: %q", body)
	}
}
