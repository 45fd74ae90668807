package platform

import (
	"reflect"
	"testing"
)

// TestAppsListMatchesAppViews: the list, read without opening any sealed
// value, shows each app exactly as its own view does.
func TestAppsListMatchesAppViews(t *testing.T) {
	h := newHarness(t)
	_, d := h.createLive(AppInput{Name: "one", Image: "hello:v1", Env: map[string]string{"A": "secret-a", "B": ""}})
	d2 := h.deploy("one", DeployInput{Image: "hello:v2"})
	h.waitLive("one", d2.ID)
	h.waitSettled("one")
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "two", Team: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.CreateDeployKey("two"); err != nil {
		t.Fatal(err)
	}
	list, err := h.e.Apps()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d apps", len(list))
	}
	for _, v := range list {
		one, err := h.e.App(v.Name)
		if err != nil {
			t.Fatal(err)
		}
		// The status may move between the two reads of a deploying app.
		v.Status, one.Status, v.ReadyReplicas, one.ReadyReplicas = "", "", 0, 0
		if !reflect.DeepEqual(v, one) {
			t.Errorf("list shows %+v\nview shows %+v", v, one)
		}
	}
	if list[0].Env["A"] != MaskedValue || list[1].Team != "web" || list[1].GitAuth != "" || list[1].DeployKey == "" {
		t.Errorf("list %+v %+v", list[0], list[1])
	}
	_ = d
}

// TestAppTeam: the team of an app, without opening the app's secrets.
func TestAppTeam(t *testing.T) {
	h := newHarness(t)
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "a", Team: "web", Env: map[string]string{"K": "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "web", "b": DefaultTeam} {
		if got, err := h.e.AppTeam(name); err != nil || got != want {
			t.Errorf("AppTeam(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"missing", "Bad Name"} {
		if _, err := h.e.AppTeam(name); StatusOf(err) != 404 {
			t.Errorf("AppTeam(%q): %v, want 404", name, err)
		}
	}
}
