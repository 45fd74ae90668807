package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/platform"
)

const canaryToken = "CANARY-S3cr3t-token"

// privateGitServer serves the repositories under root over smart HTTP on
// loopback with Debian's git http-backend, for requests that carry the
// canary token.
func privateGitServer(t *testing.T, root string) *httptest.Server {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git is required under CI=true: %v", err)
		}
		t.Skipf("no git: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != canaryToken {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPrivateRepositoryWithToken(t *testing.T) {
	p := startInProcess(t, envOptions{})
	repo := newGitRepo(t)
	sourceTree(t, repo.dir, "private", nil)
	repo.commit("private code")
	srv := privateGitServer(t, filepath.Dir(repo.dir))
	url := srv.URL + "/" + filepath.Base(repo.dir)

	// Without the token the deploy fails, and says why.
	noauth := p.appName("noauth")
	v := p.createApp(map[string]any{"name": noauth, "git": map[string]string{"url": url}})
	if d := p.wait(noauth, v.Deployment); d.Status != platform.StatusFailed || !strings.Contains(strings.ToLower(d.Reason), "auth") {
		t.Fatalf("without a token: %s %q", d.Status, d.Reason)
	}

	app := p.appName("private")
	v = p.createApp(map[string]any{"name": app, "git": map[string]string{"url": url, "token": canaryToken}})
	p.waitLive(app, v.Deployment)
	if _, body := p.mustGet(app, "/"); body != "hello from private\n" {
		t.Fatalf("private repo app: %q", body)
	}
	if v.GitAuth != "token" {
		t.Errorf("git_auth = %q, want token", v.GitAuth)
	}

	// The token is in no answer and no log.
	var everything strings.Builder
	for _, path := range []string{"/apps", "/apps/" + app, "/apps/" + app + "/deploys", "/apps/" + app + "/deploys/" + v.Deployment} {
		var raw json.RawMessage
		if err := p.api.Do(context.Background(), http.MethodGet, path, nil, &raw); err != nil {
			t.Fatal(err)
		}
		everything.Write(raw)
	}
	everything.WriteString(p.logs(app, v.Deployment))
	everything.WriteString(p.logs(noauth, p.wait(noauth, p.createdDeployment(noauth)).ID))
	if strings.Contains(everything.String(), canaryToken) {
		t.Fatal("the git token appears in an API answer or a log")
	}
	// Nor in the database file.
	db, err := os.ReadFile(filepath.Join(p.dataDir, "paas.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(db), canaryToken) {
		t.Fatal("the git token is stored in the clear")
	}

	// A deploy key can be made; its public half is shown, the private never.
	var key map[string]string
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/deploy-key", nil, &key); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key["public_key"], "ssh-ed25519 ") {
		t.Fatalf("deploy key %v", key)
	}
	var view platform.AppView
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app, nil, &view); err != nil {
		t.Fatal(err)
	}
	if view.DeployKey != key["public_key"] {
		t.Errorf("app shows deploy key %q", view.DeployKey)
	}
	db, _ = os.ReadFile(filepath.Join(p.dataDir, "paas.db"))
	if strings.Contains(string(db), "PRIVATE KEY") {
		t.Fatal("the deploy key's private half is stored in the clear")
	}
}

func (p *platformEnv) createdDeployment(app string) string {
	p.t.Helper()
	var list []platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys", nil, &list); err != nil || len(list) == 0 {
		p.t.Fatalf("deployments of %s: %v", app, err)
	}
	return list[len(list)-1].ID
}
