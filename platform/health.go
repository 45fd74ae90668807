package platform

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-paas/caddy-paas/containers"
)

// healthProbe decides when a new replica may take requests: the image's own
// HEALTHCHECK when it has one, else the app's HTTP health path answering
// 2xx/3xx, else any HTTP answer on "/". A plain TCP connect is not enough:
// with published ports, Docker's proxy accepts connections before the app
// listens.
type healthProbe struct {
	rt             Runtime
	client         *http.Client
	hasHealthcheck bool
	path           string
}

func newHealthProbe(rt Runtime, hasHealthcheck bool, path string) *healthProbe {
	return &healthProbe{
		rt:             rt,
		hasHealthcheck: hasHealthcheck,
		path:           path,
		client: &http.Client{
			Timeout: 2 * time.Second,
			Transport: &http.Transport{
				DisableKeepAlives: true,
				Proxy:             nil,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// wait polls the replica until it is healthy, it exits, ctx ends or timeout
// passes. It returns the replica's dial address.
func (p *healthProbe) wait(ctx context.Context, id string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	lastErr := "no answer yet"
	for {
		c, err := p.rt.Inspect(ctx, id)
		if err != nil && ctx.Err() == nil {
			return "", err
		}
		if err == nil {
			if !c.Running {
				return "", fmt.Errorf("replica exited with code %d before it became healthy", c.ExitCode)
			}
			ok, why := p.check(ctx, c)
			if ok {
				return c.Addr, nil
			}
			// A probe cut short by the deadline says nothing new; keep
			// the reason the replica gave before.
			if ctx.Err() == nil {
				lastErr = why
			}
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return "", fmt.Errorf("replica did not become healthy within %s: %s", timeout, lastErr)
			}
			return "", fmt.Errorf("deploy canceled: %w", ctx.Err())
		case <-time.After(delay):
		}
		if delay < 500*time.Millisecond {
			delay *= 2
		}
	}
}

func (p *healthProbe) check(ctx context.Context, c containers.Container) (bool, string) {
	if p.hasHealthcheck {
		if c.Health == "healthy" {
			return true, ""
		}
		return false, "docker health status " + c.Health
	}
	if c.Addr == "" {
		return false, "replica has no address"
	}
	path := p.path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+path, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "caddy-paas-health")
	resp, err := p.client.Do(req)
	if err != nil {
		return false, "health request failed"
	}
	resp.Body.Close()
	if p.path == "" || (resp.StatusCode >= 200 && resp.StatusCode < 400) {
		return true, ""
	}
	return false, fmt.Sprintf("health path %s answered %d", p.path, resp.StatusCode)
}
