package platform

import "testing"

// TestUsageSampling: two samples give each app its replicas' CPU share and
// memory, shown in its view.
func TestUsageSampling(t *testing.T) {
	h := newHarness(t)
	h.createLive(AppInput{Name: "busy", Image: "hello:v1", Replicas: ptr(2)})
	h.waitSettled("busy")
	h.e.sampleOnce(h.ctx)
	v, err := h.e.App("busy")
	if err != nil {
		t.Fatal(err)
	}
	if v.Usage == nil || v.Usage.Replicas != 2 || v.Usage.MemoryBytes != 20<<20 || v.Usage.CPUPercent != 0 {
		t.Fatalf("first sample: %+v (no CPU share yet: it needs two)", v.Usage)
	}
	h.e.sampleOnce(h.ctx)
	v, _ = h.e.App("busy")
	// The fake's counters: 5e8 ns of CPU per 2e9 ns of system time on 2
	// CPUs is half a CPU per replica.
	if v.Usage == nil || v.Usage.CPUPercent < 99.9 || v.Usage.CPUPercent > 100.1 {
		t.Fatalf("second sample: %+v, want 100%% (2 x 50%%)", v.Usage)
	}
	list, _ := h.e.Apps()
	if len(list) != 1 || list[0].Usage == nil || list[0].Usage.MemoryBytes != 20<<20 {
		t.Errorf("the list's usage: %+v", list[0].Usage)
	}
}

// TestDeploymentsSayWhoStartedThem: the actor of the request is recorded on
// the deployments it starts.
func TestDeploymentsSayWhoStartedThem(t *testing.T) {
	h := newHarness(t)
	v, err := h.e.CreateApp(WithActor(h.ctx, "alice@example.com"), AppInput{Name: "who", Image: "hello:v1"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitLive("who", v.Deployment)
	d, err := h.e.Deploy(WithActor(h.ctx, "bob@example.com (token ci)"), "who", DeployInput{Image: "hello:v2"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitLive("who", d.ID)
	list, _ := h.e.Deployments("who")
	if len(list) != 2 || list[0].TriggeredBy != "bob@example.com (token ci)" || list[1].TriggeredBy != "alice@example.com" {
		t.Errorf("triggered_by: %q, %q", list[0].TriggeredBy, list[1].TriggeredBy)
	}
}
