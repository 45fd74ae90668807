package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TestAppUsageFromDocker: the engine samples the real replicas' CPU and
// memory through Docker's stats, and the app's view shows them.
func TestAppUsageFromDocker(t *testing.T) {
	p := startInProcess(t, envOptions{})
	app := p.appName("usage")
	v := p.createApp(map[string]any{"name": app, "image": imageV1})
	p.waitLive(app, v.Deployment)
	eventually(t, 30*time.Second, "the app's usage is sampled", func() (bool, string) {
		var got platform.AppView
		if err := p.api.Do(context.Background(), http.MethodGet, "/apps/"+app, nil, &got); err != nil {
			return false, err.Error()
		}
		return got.Usage != nil && got.Usage.Replicas == 1 && got.Usage.MemoryBytes > 0, fmt.Sprintf("%+v", got.Usage)
	})
}
