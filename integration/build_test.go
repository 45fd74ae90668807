package integration

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

	// A link, a bomb, too many entries: each is refused whole with a 4xx
	// JSON answer that says why, and leaves nothing in the upload area.
	uploads := filepath.Join(p.dataDir, "work", "uploads")
	before := dirNames(t, uploads)
	for _, tc := range []struct {
		name   string
		zip    []byte
		status int
		want   string
	}{
		{"symlink", zipWithLink(t, "myapp/passwd", "/etc/passwd"), http.StatusBadRequest, `entry "myapp/passwd": symbolic links are not allowed`},
		{"bomb", zipBomb(t, 150<<20), http.StatusRequestEntityTooLarge, `entry "myapp/zeros.bin": compression ratio above 100`},
		{"too many entries", zipOfEmpty(t, 50_001), http.StatusRequestEntityTooLarge, "the archive has more than 50000 entries"},
	} {
		status, msg := p.postArchive(app, "application/zip", tc.zip)
		if status != tc.status || !strings.Contains(msg, "refused") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s zip (%d bytes): %d %q, want %d with %q", tc.name, len(tc.zip), status, msg, tc.status, tc.want)
		}
		t.Logf("%s zip (%d bytes): %d %s", tc.name, len(tc.zip), status, msg)
		if after := dirNames(t, uploads); !slices.Equal(after, before) {
			t.Errorf("%s zip left %v in the upload area (before: %v)", tc.name, after, before)
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

// postArchive posts an archive to the upload API and returns the answer's
// status and the message of its JSON error (the test fails if an error
// answer is not JSON).
func (p *platformEnv) postArchive(app, contentType string, data []byte) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.api.BaseURL+p.api.Prefix+"/apps/"+app+"/deploys", bytes.NewReader(data))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := p.api.HTTP.Do(req)
	if err != nil {
		p.t.Fatalf("posting a %d-byte archive: %v", len(data), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 400 {
		return resp.StatusCode, ""
	}
	var answer struct {
		Error string `json:"error"`
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &answer) != nil || answer.Error == "" {
		p.t.Errorf("error answer %d is not a JSON error (%s): %q", resp.StatusCode, ct, body)
	}
	return resp.StatusCode, answer.Error
}

// dirNames lists the names in dir (none when it does not exist).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// zipWithLink is a zip holding a Dockerfile and a symbolic link.
func zipWithLink(t *testing.T, name, target string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	df, err := zw.Create("myapp/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df.Write([]byte("FROM scratch\n"))
	h := &zip.FileHeader{Name: name, Method: zip.Store}
	h.SetMode(fs.ModeSymlink | 0o777)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(target))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipBomb is a zip holding a Dockerfile and size bytes of zeros (a whole
// number of MiB) that deflate about a thousandfold: under the per-file and
// total limits, far over the compression ratio limit. The deflate stream is
// made by compressing one MiB once and repeating that block.
func zipBomb(t *testing.T, size int64) []byte {
	t.Helper()
	const mib = 1 << 20
	zeros := make([]byte, mib)
	var raw bytes.Buffer
	fw, err := flate.NewWriter(&raw, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(zeros)
	fw.Flush() // byte-aligned; the window now ends in zeros
	var block bytes.Buffer
	bw, err := flate.NewWriterDict(&block, flate.BestCompression, zeros[:32<<10])
	if err != nil {
		t.Fatal(err)
	}
	bw.Write(zeros)
	bw.Flush()
	for range size/mib - 1 {
		raw.Write(block.Bytes())
	}
	raw.Write([]byte{0x03, 0x00}) // an empty final block

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	df, err := zw.Create("myapp/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df.Write([]byte("FROM scratch\nCOPY zeros.bin /\n"))
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "myapp/zeros.bin", Method: zip.Deflate,
		CompressedSize64: uint64(raw.Len()), UncompressedSize64: uint64(size),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()*100 > int(size) {
		t.Fatalf("the bomb is %d bytes, not a bomb", buf.Len())
	}
	return buf.Bytes()
}

// zipOfEmpty is a zip of n empty files.
func zipOfEmpty(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		if _, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("f%06d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDeployDirLinks runs `caddy paas deploy --dir`: a link inside the
// tree is uploaded as what it points to and the tree deploys; a link out
// of the tree stops the CLI (exit 1, naming the link) before anything is
// sent, and .git and .env files never leave the machine.
func TestDeployDirLinks(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("dirlinks")
	p.createApp(map[string]any{"name": app})
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(caddyBinary(t), append([]string{"paas"}, append(args, "--address", p.adminAddr)...)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}

	// The binary and the Dockerfile are links; .git and .env files stay
	// local.
	src := t.TempDir()
	sourceTree(t, src, "ignored", map[string]string{
		"Dockerfile":       "",
		"app":              "",
		"build/Dockerfile": "FROM scratch\nENV VERSION=linked\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
		"build/bin/app":    string(testAppBinary),
		".env":             "CANARY=1",
		"build/.env.local": "CANARY=2",
		".git/config":      "[core]\n",
	})
	if err := os.Chmod(filepath.Join(src, "build/bin/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"Dockerfile": "build/Dockerfile", "app": "build/bin/app"} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := run("deploy", app, "--dir", src, "--wait")
	if code != 0 || !strings.Contains(out, "live") {
		t.Fatalf("deploy --dir with in-tree links: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "left out 3 local paths (.git, .env files): .env, .git, build/.env.local") {
		t.Errorf("deploy --dir does not say what it left out:\n%s", errOut)
	}
	t.Logf("deploy --dir with in-tree links: %s", strings.SplitN(errOut, "\n", 2)[0])
	if _, body := p.mustGet(app, "/"); body != "hello from linked\n" {
		t.Fatalf("after deploy --dir: %q", body)
	}

	// A link out of the tree: refused by the CLI, nothing uploaded.
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "build", "passwd")); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run("deploy", app, "--dir", src, "--wait")
	if code != 1 || !strings.Contains(errOut, "symbolic link build/passwd (-> /etc/passwd) points outside the uploaded folder") || strings.Contains(errOut, "uploading [") {
		t.Errorf("deploy --dir with a link out of the tree: exit %d, stderr %q; want exit 1 naming the link, before uploading", code, errOut)
	}
	t.Logf("link out of the tree: exit %d: %s", code, strings.TrimSpace(errOut))
	var list []platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("%d deployments, want 1", len(list))
	}
	if _, body := p.mustGet(app, "/"); body != "hello from linked\n" {
		t.Errorf("after the refused deploy: %q", body)
	}
}
