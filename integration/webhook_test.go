package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/webhooks"
)

// sendWebhook posts a delivery to the dashboard site through Caddy.
func (p *platformEnv) sendWebhook(path string, h http.Header, body []byte) (int, platform.Delivery) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+dashboardHost+path, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := p.apps.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var d platform.Delivery
	_ = json.Unmarshal(data, &d)
	return resp.StatusCode, d
}

func TestPushWebhookDeploysTheCommit(t *testing.T) {
	p := startInProcess(t, envOptions{})
	repo := newGitRepo(t)
	sourceTree(t, repo.dir, "hook-v1", nil)
	repo.commit("first")
	app := p.appName("hook")
	v := p.createApp(map[string]any{"name": app, "git": map[string]string{"url": repo.url(), "ref": "main"}})
	p.waitLive(app, v.Deployment)

	var info platform.WebhookInfo
	if err := p.api.Do(context.Background(), http.MethodPost, "/apps/"+app+"/webhook/secret", nil, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Secret) < 32 || info.Paths[webhooks.GitHub] != "/webhooks/"+app+"/github" || info.Tracks != "main" {
		t.Fatalf("webhook info %+v", info)
	}
	var shown platform.WebhookInfo
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/webhook", nil, &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Secret != "" {
		t.Error("GET webhook shows the secret again")
	}

	sourceTree(t, repo.dir, "hook-v2", nil)
	commit := repo.commit("second")
	push := func(branch string) []byte {
		body, _ := json.Marshal(map[string]string{"ref": "refs/heads/" + branch, "after": commit})
		return body
	}
	path := info.Paths[webhooks.GitHub]

	// A bad signature: 401 and no deploy.
	forged, _ := webhooks.Sign(webhooks.GitHub, push("main"), "not the secret")
	if code, _ := p.sendWebhook(path, forged, push("main")); code != http.StatusUnauthorized {
		t.Fatalf("forged delivery: %d, want 401", code)
	}
	// The same for an app that does not exist: nothing tells them apart.
	if code, _ := p.sendWebhook("/webhooks/"+p.appName("nope")+"/github", forged, push("main")); code != http.StatusUnauthorized {
		t.Fatalf("delivery for an unknown app: %d, want 401", code)
	}
	// A push to another branch is recorded and ignored.
	other, _ := webhooks.Sign(webhooks.GitHub, push("feature"), info.Secret)
	if code, d := p.sendWebhook(path, other, push("feature")); code != http.StatusOK || d.Deployment != "" {
		t.Fatalf("push to another branch: %d %+v", code, d)
	}
	var list []platform.Deployment
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/deploys", nil, &list); err != nil || len(list) != 1 {
		t.Fatalf("deliveries that must not deploy made deployments: %d %v", len(list), err)
	}

	// A signed push to the tracked branch deploys that commit.
	good, _ := webhooks.Sign(webhooks.GitHub, push("main"), info.Secret)
	code, d := p.sendWebhook(path, good, push("main"))
	if code != http.StatusAccepted || d.Deployment == "" {
		t.Fatalf("signed push: %d %+v", code, d)
	}
	p.waitLive(app, d.Deployment)
	if got := p.wait(app, d.Deployment); got.Commit != commit {
		t.Errorf("deployed commit %s, want %s", got.Commit, commit)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from hook-v2\n" {
		t.Fatalf("after the push: %q", body)
	}

	if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app+"/webhook", nil, &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown.Deliveries) != 3 || shown.Deliveries[0].Status != http.StatusAccepted || shown.Deliveries[2].Status != http.StatusUnauthorized {
		t.Errorf("deliveries recorded: %+v", shown.Deliveries)
	}
}
