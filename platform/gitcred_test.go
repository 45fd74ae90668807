package platform

import (
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/caddy-paas/caddy-paas/builder/gitsource"
)

// gitServer serves git repositories over smart HTTP on loopback, with git's
// own git-http-backend, and records the credentials each request carried.
type gitServer struct {
	*httptest.Server
	root string

	mu sync.Mutex
	// auths holds, for each request, its Authorization header ("" when
	// it had none).
	auths []string
	// passwords holds the basic-auth password of each request that had
	// one.
	passwords []string
}

// newGitServer starts a git server; with token set, every request must
// carry it as the basic-auth password. It skips the test when git is
// missing (and fails under CI=true).
func newGitServer(t *testing.T, token string) *gitServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs the git binary: %v", err)
		}
		t.Skipf("this test needs the git binary: %v", err)
	}
	s := &gitServer{root: t.TempDir()}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + t.TempDir(),
		},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		if ok {
			s.passwords = append(s.passwords, pass)
		}
		s.mu.Unlock()
		if token != "" && (!ok || pass != token) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// addRepo creates a repository with one commit and returns its URL.
func (s *gitServer) addRepo(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(s.root, name)
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("Dockerfile"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: time.Now()}
	if _, err := wt.Commit("first commit", &git.CommitOptions{Author: sig}); err != nil {
		t.Fatal(err)
	}
	return s.URL + "/" + name
}

// requests returns how many requests the server got, and how many carried
// an Authorization header.
func (s *gitServer) requests() (all, withAuth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.auths {
		if a != "" {
			withAuth++
		}
	}
	return len(s.auths), withAuth
}

// sawPassword reports whether any request carried password.
func (s *gitServer) sawPassword(password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.passwords {
		if p == password {
			return true
		}
	}
	return false
}

// newGitHarness is a harness whose engine may fetch from loopback over
// HTTP, with its work folder in a temporary directory.
func newGitHarness(t *testing.T) *harness {
	return newHarness(t, func(c *Config) {
		c.WorkDir = t.TempDir()
		c.LogDir = t.TempDir()
		c.GitPolicy = gitsource.URLPolicy{AllowHTTP: true, AllowHosts: []string{"127.0.0.1"}}
	})
}

// waitFetched waits for a git deployment to finish and checks that its
// fetch worked (the fake runtime then fails the build).
func (h *harness) waitFetched(app, id string) *Deployment {
	h.t.Helper()
	d := h.waitDeployment(app, id)
	if d.Commit == "" {
		h.t.Fatalf("deployment %s of %s fetched nothing: %s", id, app, d.Reason)
	}
	return d
}

// storedToken returns the app's stored git token.
func (h *harness) storedToken(app string) string {
	h.t.Helper()
	a, err := h.store.GetApp(app)
	if err != nil {
		h.t.Fatal(err)
	}
	return a.GitToken
}

func TestGitTokenDroppedWhenDeployNamesAnotherHost(t *testing.T) {
	const token = "CANARY-S3cr3t-origin"
	h := newGitHarness(t)
	origin := newGitServer(t, token)
	attacker := newGitServer(t, "")
	good := origin.addRepo(t, "repo")
	evil := attacker.addRepo(t, "x")

	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Git: &GitSource{URL: good, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)
	if !origin.sawPassword(token) || v.GitAuth != "token" {
		t.Fatalf("the token was not used on its own host (git_auth %q)", v.GitAuth)
	}

	// Someone who may deploy, but not read secrets, points the app at a
	// server of theirs.
	d := h.deploy("app", DeployInput{Git: &GitSource{URL: evil}})
	h.waitFetched("app", d.ID)
	if all, withAuth := attacker.requests(); all == 0 || withAuth != 0 {
		t.Errorf("the new host got %d requests, %d of them with credentials, want some and none", all, withAuth)
	}
	if attacker.sawPassword(token) {
		t.Error("the stored token was sent to the new host")
	}
	if got := h.storedToken("app"); got != "" {
		t.Error("the token is still stored after the URL moved to another host")
	}
	view, err := h.e.App("app")
	if err != nil {
		t.Fatal(err)
	}
	if view.GitAuth != "" || view.Git == nil || view.Git.URL != evil {
		t.Errorf("app view: git_auth %q, git %+v; want no auth and the new URL", view.GitAuth, view.Git)
	}

	// Back on the first host, the token is gone for good: it has to be
	// given again.
	d = h.deploy("app", DeployInput{Git: &GitSource{URL: good}})
	if got := h.waitDeployment("app", d.ID); got.Status != StatusFailed || got.Commit != "" {
		t.Errorf("deploy back on the first host without a token: %s, commit %q", got.Status, got.Commit)
	}
}

func TestGitTokenDroppedWhenPatchNamesAnotherHost(t *testing.T) {
	const token = "CANARY-S3cr3t-patch"
	h := newGitHarness(t)
	origin := newGitServer(t, token)
	attacker := newGitServer(t, "")
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Git: &GitSource{URL: origin.addRepo(t, "repo"), Username: "deploy", Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)

	v, err = h.e.UpdateApp(h.ctx, "app", AppPatch{Git: &GitSource{URL: attacker.addRepo(t, "x")}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)
	if _, withAuth := attacker.requests(); withAuth != 0 || attacker.sawPassword(token) {
		t.Errorf("the new host got credentials in %d requests", withAuth)
	}
	if v.GitAuth != "" || v.Git.Username != "" || h.storedToken("app") != "" {
		t.Errorf("after PATCH to another host: git_auth %q, username %q, token stored %v", v.GitAuth, v.Git.Username, h.storedToken("app") != "")
	}
}

func TestGitTokenKeptOnSameHost(t *testing.T) {
	const token = "CANARY-S3cr3t-same"
	h := newGitHarness(t)
	srv := newGitServer(t, token)
	one, two, three := srv.addRepo(t, "one"), srv.addRepo(t, "two"), srv.addRepo(t, "three")
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Git: &GitSource{URL: one, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)

	// Another repository of the same host: the token still goes along.
	d := h.deploy("app", DeployInput{Git: &GitSource{URL: two}})
	h.waitFetched("app", d.ID)
	v, err = h.e.UpdateApp(h.ctx, "app", AppPatch{Git: &GitSource{URL: three}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)
	if v.GitAuth != "token" || h.storedToken("app") != token {
		t.Errorf("same host, other path: git_auth %q, want the token kept", v.GitAuth)
	}
}

func TestGitPatchNewHostWithNewToken(t *testing.T) {
	const oldToken, newToken = "CANARY-S3cr3t-old", "CANARY-S3cr3t-new"
	h := newGitHarness(t)
	first := newGitServer(t, oldToken)
	second := newGitServer(t, newToken)
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Git: &GitSource{URL: first.addRepo(t, "repo"), Token: oldToken}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)

	v, err = h.e.UpdateApp(h.ctx, "app", AppPatch{Git: &GitSource{URL: second.addRepo(t, "repo"), Token: newToken}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("app", v.Deployment)
	if v.GitAuth != "token" || h.storedToken("app") != newToken {
		t.Errorf("PATCH with a new host and token: git_auth %q, want the new token stored", v.GitAuth)
	}
	if !second.sawPassword(newToken) || second.sawPassword(oldToken) {
		t.Error("the new host did not get exactly the new token")
	}

	// The same through a deploy.
	third := newGitServer(t, "CANARY-S3cr3t-third")
	d := h.deploy("app", DeployInput{Git: &GitSource{URL: third.addRepo(t, "repo"), Token: "CANARY-S3cr3t-third"}})
	h.waitFetched("app", d.ID)
	if third.sawPassword(newToken) || h.storedToken("app") != "CANARY-S3cr3t-third" {
		t.Error("deploy with a new host and token did not switch to the new token")
	}
}

// TestGitAuthBoundToOrigin covers a deployment recorded for a URL the app
// no longer has: its fetch gets the app's token only on the app's origin.
func TestGitAuthBoundToOrigin(t *testing.T) {
	h := newHarness(t)
	a := &App{Name: "app", Git: &GitSource{URL: "https://git.example/me/app", Username: "deploy"}, GitToken: "CANARY-S3cr3t"}
	say := func(string, ...any) {}
	for fetch, want := range map[string]bool{
		"https://git.example/me/app":       true,
		"https://git.example/other/repo":   true,
		"https://GIT.example:443/me/app":   true,
		"https://evil.example/me/app":      false,
		"http://git.example/me/app":        false,
		"https://git.example:8443/me/app":  false,
		"https://git.example.evil/me/app":  false,
		"ssh://git@git.example/me/app.git": false,
	} {
		auth := h.e.gitAuth(a, fetch, say)
		if got := auth.Token != ""; got != want {
			t.Errorf("fetch of %s: token sent %v, want %v", fetch, got, want)
		}
	}
}

func TestRebindGit(t *testing.T) {
	const kh = "git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n"
	for _, tc := range []struct {
		from, to, token string
		wantToken       string
		wantKnownHosts  bool
	}{
		{"https://git.example/a", "https://git.example/b", "", "old", true},
		{"https://git.example/a", "https://Git.Example:443/a", "", "old", true},
		{"https://git.example/a", "https://evil.example/a", "", "", false},
		{"https://git.example/a", "https://evil.example/a", "new", "new", false},
		{"https://git.example/a", "https://git.example:8443/a", "", "", false},
		{"https://git.example/a", "http://git.example/a", "", "", true},
		{"git@git.example:me/a", "ssh://git@git.example/me/b", "", "old", true},
		{"git@git.example:me/a", "git@other.example:me/a", "", "", false},
	} {
		a := &App{Git: &GitSource{URL: tc.from, Username: "u"}, GitToken: "old", KnownHosts: kh}
		rebindGit(a, tc.to, tc.token)
		if tc.token != "" {
			a.GitToken = tc.token // as the callers do
		}
		if a.GitToken != tc.wantToken {
			t.Errorf("%s -> %s: token %q, want %q", tc.from, tc.to, a.GitToken, tc.wantToken)
		}
		if (a.Git.Username == "u") != (tc.wantToken != "") {
			t.Errorf("%s -> %s: user name %q kept without its token, or dropped with it kept", tc.from, tc.to, a.Git.Username)
		}
		if (a.KnownHosts != "") != tc.wantKnownHosts {
			t.Errorf("%s -> %s: known hosts %q", tc.from, tc.to, a.KnownHosts)
		}
	}
}

// appCacheRepos lists the cached repositories of app.
func appCacheRepos(h *harness, app string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(h.e.workDir("git"), "owners", app, "repos"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(h.e.workDir("git"), "owners", app, "repos", e.Name()))
	}
	return out, nil
}

func TestGitCachePerApp(t *testing.T) {
	h := newGitHarness(t)
	srv := newGitServer(t, "")
	url := srv.addRepo(t, "shared")
	// A cache of an earlier version, shared by URL, is removed.
	legacy := filepath.Join(h.e.workDir("git"), "repos", "0123")
	if err := os.MkdirAll(legacy, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"one", "two"} {
		v, err := h.e.CreateApp(h.ctx, AppInput{Name: app, Git: &GitSource{URL: url}})
		if err != nil {
			t.Fatal(err)
		}
		h.waitFetched(app, v.Deployment)
	}
	one, err1 := appCacheRepos(h, "one")
	two, err2 := appCacheRepos(h, "two")
	if err1 != nil || err2 != nil || len(one) != 1 || len(two) != 1 || one[0] == two[0] {
		t.Fatalf("caches of two apps with the same URL: %v (%v) and %v (%v), want one each, apart", one, err1, two, err2)
	}
	if _, err := os.Stat(filepath.Dir(legacy)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the shared cache of earlier versions is still there: %v", err)
	}

	if err := h.e.DeleteApp(h.ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.e.workDir("git"), "owners", "one")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cache of a deleted app is still there: %v", err)
	}
	if got, err := appCacheRepos(h, "two"); err != nil || len(got) != 1 {
		t.Errorf("the other app's cache: %v %v", got, err)
	}

	// A new app of the same name starts from an empty cache: its
	// checkout fetches objects again.
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "one", Git: &GitSource{URL: url}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFetched("one", v.Deployment)
	var fetches []int64
	for _, e := range h.logs.FilterMessage("checked out git source").All() {
		if m := e.ContextMap(); m["owner"] == "one" {
			fetches = append(fetches, m["fetches"].(int64))
		}
	}
	if len(fetches) != 2 || fetches[1] != 1 {
		t.Errorf("fetches of the checkouts for app one: %v, want [1 1]", fetches)
	}
}
