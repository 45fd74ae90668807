package platform

import (
	"testing"
	"time"
)

// slowDeploy starts a deploy of app whose replica stays unhealthy until
// release is called, and waits until it is starting.
func (h *harness) slowDeploy(app string) (d *Deployment, release func()) {
	h.t.Helper()
	h.rt.addImage("slow:1", fakeImage{healthcheck: true, health: "starting"})
	d = h.deploy(app, DeployInput{Image: "slow:1"})
	waitFor(h.t, 10*time.Second, "the slow deploy to be starting", func() bool {
		got, err := h.e.Deployment(app, d.ID)
		return err == nil && got.Status == StatusStarting && len(h.rt.specsOf(d.ID)) == 1
	})
	return d, func() { h.rt.setHealth("slow:1", "healthy") }
}

// A deploy that finishes after its app gave up a domain must not route
// that domain back to it: another app may own it by then.
func TestFinishingDeployKeepsLaterDomainChange(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "a", Image: "hello:v1", Domains: []string{"shop.example"}})
	d, release := h.slowDeploy("a")

	if _, err := h.e.UpdateApp(h.ctx, "a", AppPatch{Domains: &[]string{}}); err != nil {
		t.Fatalf("dropping a's domain: %v", err)
	}
	h.createLive(AppInput{Name: "b", Image: "hello:v1", Domains: []string{"shop.example"}})
	release()
	h.waitLive("a", d.ID)

	if r := h.e.Table().Lookup("shop.example"); r == nil || r.App != "b" {
		got := "nothing"
		if r != nil {
			got = r.App
		}
		t.Fatalf("shop.example routes to %s after a's deploy finished, want b", got)
	}
	if r := h.e.Table().Lookup("a." + testBase); r == nil || r.App != "a" {
		t.Fatal("a lost its own host")
	}
}

// A stop that comes while a deploy runs wins: the deploy is recorded but
// its replicas take no traffic and are removed.
func TestStopDuringDeployWins(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	d, release := h.slowDeploy("app")

	stopped := make(chan error, 1)
	go func() {
		_, err := h.e.StopApp(h.ctx, "app")
		stopped <- err
	}()
	waitFor(t, 5*time.Second, "the stop to be recorded", func() bool {
		a, err := h.store.GetApp("app")
		return err == nil && a.Stopped
	})
	release()
	if err := <-stopped; err != nil {
		t.Fatalf("StopApp: %v", err)
	}
	v, err := h.e.App("app")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != AppStopped || v.ReadyReplicas != 0 {
		t.Fatalf("after a stop during a deploy: status %s, ready %d; want stopped, 0", v.Status, v.ReadyReplicas)
	}
	if v.Current != d.ID {
		t.Errorf("current deployment %s, want the one that finished (%s) so that start runs it", v.Current, d.ID)
	}
	waitFor(t, 10*time.Second, "no container to run", func() bool {
		return len(h.rt.appContainers("app", true)) == 0
	})
}

// Deploys recorded concurrently run in the order of their versions, so
// the newest request is what ends up live.
func TestConcurrentDeploysRunInVersionOrder(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	done := make(chan *Deployment, 10)
	for i := 0; i < 10; i++ {
		img := []string{"hello:v2", "hello:v3"}[i%2]
		go func() {
			d, err := h.e.Deploy(h.ctx, "app", DeployInput{Image: img})
			if err != nil {
				t.Error(err)
			}
			done <- d
		}()
	}
	newest := 0
	for i := 0; i < 10; i++ {
		if d := <-done; d != nil && d.Version > newest {
			newest = d.Version
		}
	}
	waitFor(t, 30*time.Second, "every deploy to finish", func() bool {
		list, _ := h.e.Deployments("app")
		for _, d := range list {
			if !d.Status.Finished() {
				return false
			}
		}
		return true
	})
	a, _ := h.store.GetApp("app")
	cur, _ := h.e.Deployment("app", a.Current)
	if cur.Version != newest {
		t.Fatalf("live deployment is version %d, want the newest, %d", cur.Version, newest)
	}
}

func TestAppNameCannotEndWithDash(t *testing.T) {
	for _, name := range []string{"app-", "a-"} {
		if err := ValidateAppName(name); err == nil {
			t.Errorf("ValidateAppName(%q) = nil, want an error", name)
		}
	}
	if err := ValidateAppName("a-b"); err != nil {
		t.Errorf("ValidateAppName(a-b) = %v", err)
	}
}
