package platform

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/storage"
)

const canary = "CANARY-S3cr3t"

func TestStoreRoundTripSealsEnv(t *testing.T) {
	h := newStoppedHarness(t)
	a := &App{Name: "app", Image: "hello:v1", Port: 8080, Replicas: 1,
		Env: map[string]string{"SECRET": canary, "EMPTY": ""}, Domains: []string{"x.example.com"}}
	err := h.store.Update(func(tx *StoreTx) error {
		if err := tx.PutApp(a); err != nil {
			return err
		}
		d := deploymentFor(a)
		return tx.NewDeployment(d)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.store.GetApp("app")
	if err != nil {
		t.Fatal(err)
	}
	if got.Env["SECRET"] != canary || got.Env["EMPTY"] != "" || len(got.Env) != 2 {
		t.Errorf("env after round trip = %v", got.Env)
	}
	if got.UpdatedAt.IsZero() {
		t.Error("PutApp did not set UpdatedAt")
	}
	list, err := h.store.ListDeployments("app")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListDeployments = %v, %v", list, err)
	}
	if list[0].Env["SECRET"] != canary || list[0].Status != StatusPending || list[0].Version != 1 {
		t.Errorf("deployment after round trip = %+v", list[0])
	}

	// What is stored holds the key names and sealed values, never the
	// plaintext.
	err = h.db.View(func(tx *storage.Tx) error {
		return tx.ForEach([]string{"apps"}, func(key string, raw json.RawMessage) error {
			if bytes.Contains(raw, []byte(canary)) {
				t.Errorf("app record %s holds the plaintext: %s", key, raw)
			}
			if !bytes.Contains(raw, []byte(`"SECRET":"sealed:v2:`)) {
				t.Errorf("app record %s has no sealed SECRET: %s", key, raw)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = h.db.View(func(tx *storage.Tx) error {
		return tx.ForEach([]string{"deployments", "app"}, func(key string, raw json.RawMessage) error {
			if bytes.Contains(raw, []byte(canary)) {
				t.Errorf("deployment record %s holds the plaintext", key)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreSealedValueBoundToItsPlace(t *testing.T) {
	h := newStoppedHarness(t)
	err := h.store.Update(func(tx *StoreTx) error {
		return tx.PutApp(&App{Name: "a", Port: 1, Replicas: 1, Env: map[string]string{"KEY": canary}})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Copy a's record (and so its sealed value) into app b, and into
	// another key of a.
	var raw json.RawMessage
	if err := h.db.View(func(tx *storage.Tx) error { return tx.Get([]string{"apps"}, "a", &raw) }); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	sealed := rec["sealed_env"].(map[string]any)["KEY"]
	rec["name"] = "b"
	moved := map[string]any{}
	for k, v := range rec {
		moved[k] = v
	}
	renamed := map[string]any{}
	for k, v := range rec {
		renamed[k] = v
	}
	renamed["name"] = "c"
	renamed["sealed_env"] = map[string]any{"OTHER": sealed}
	err = h.db.Update(func(tx *storage.Tx) error {
		if err := tx.Put([]string{"apps"}, "b", moved); err != nil {
			return err
		}
		return tx.Put([]string{"apps"}, "c", renamed)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b", "c"} {
		a, err := h.store.GetApp(name)
		if err == nil {
			t.Errorf("GetApp(%s) opened a sealed value copied from another place: %v", name, a.Env)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error %q holds the secret", err)
		}
	}
	if a, err := h.store.GetApp("a"); err != nil || a.Env["KEY"] != canary {
		t.Errorf("the original still opens: %v, %v", a, err)
	}
}

func TestStoreDeploymentsOrderAndDelete(t *testing.T) {
	h := newStoppedHarness(t)
	var ids []string
	err := h.store.Update(func(tx *StoreTx) error {
		a := &App{Name: "app", Image: "hello:v1", Port: 1, Replicas: 1}
		if err := tx.PutApp(a); err != nil {
			return err
		}
		for i := 0; i < 12; i++ {
			d := deploymentFor(a)
			if err := tx.NewDeployment(d); err != nil {
				return err
			}
			ids = append(ids, d.ID)
		}
		return tx.PutApp(&App{Name: "other", Port: 1, Replicas: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := h.store.ListDeployments("app")
	if err != nil || len(list) != 12 {
		t.Fatalf("ListDeployments = %d, %v", len(list), err)
	}
	for i, d := range list {
		if want := 12 - i; d.Version != want || d.ID != ids[want-1] {
			t.Errorf("deployment %d: version %d id %s, want version %d (newest first)", i, d.Version, d.ID, want)
		}
	}
	d, err := h.store.GetDeployment("app", ids[4])
	if err != nil || d.Version != 5 {
		t.Errorf("GetDeployment = %+v, %v", d, err)
	}
	if _, err := h.store.GetDeployment("app", "nope"); StatusOf(err) != 404 {
		t.Errorf("GetDeployment of an unknown id = %v, want 404", err)
	}
	if _, err := h.store.ListDeployments("nope"); StatusOf(err) != 404 {
		t.Errorf("ListDeployments of an unknown app = %v, want 404", err)
	}
	apps, err := h.store.ListApps()
	if err != nil || len(apps) != 2 || apps[0].Name != "app" || apps[1].Name != "other" {
		t.Errorf("ListApps = %v, %v", apps, err)
	}

	if err := h.store.Update(func(tx *StoreTx) error { return tx.DeleteApp("app") }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.GetApp("app"); StatusOf(err) != 404 {
		t.Errorf("GetApp after DeleteApp = %v, want 404", err)
	}
	n := 0
	if err := h.db.View(func(tx *storage.Tx) error {
		return tx.ForEach([]string{"deployments", "app"}, func(string, json.RawMessage) error { n++; return nil })
	}); err != nil || n != 0 {
		t.Errorf("%d deployment records left after DeleteApp (%v)", n, err)
	}
	if _, err := h.store.GetApp("other"); err != nil {
		t.Errorf("DeleteApp removed another app: %v", err)
	}
}

// TestEngineSealsEnv follows a canary env value through create, update
// and deploy: the containers get it, and neither the database file, nor
// any answer of the engine, nor any log line holds it.
func TestEngineSealsEnv(t *testing.T) {
	h := newHarness(t)
	v, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Image: "hello:v1", Env: map[string]string{"API_KEY": canary}})
	if err != nil {
		t.Fatal(err)
	}
	d1 := h.waitLive("app", v.Deployment)
	v2, err := h.e.UpdateApp(h.ctx, "app", AppPatch{Env: map[string]*string{"OTHER_KEY": ptr(canary + "-2")}})
	if err != nil {
		t.Fatal(err)
	}
	d2 := h.waitLive("app", v2.Deployment)
	d3 := h.deploy("app", DeployInput{Env: map[string]*string{"THIRD_KEY": ptr(canary + "-3")}})
	h.waitLive("app", d3.ID)

	// The value really is used: the container gets it in plain text.
	for _, id := range []string{d1.ID, d2.ID, d3.ID} {
		specs := h.rt.specsOf(id)
		if len(specs) == 0 || !strings.Contains(strings.Join(specs[0].Env, "\n"), "API_KEY="+canary) {
			t.Errorf("deployment %s: container env lacks the value: %v", id, specs)
		}
	}

	raw, err := os.ReadFile(filepath.Join(h.dir, storage.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(canary)) {
		t.Error("the database file holds an env value in plain text")
	}
	for _, key := range []string{"API_KEY", "OTHER_KEY", "THIRD_KEY", "sealed:v2:"} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("the database file does not hold %q: the check reads the wrong file", key)
		}
	}

	var answers []any
	view, err := h.e.App("app")
	if err != nil {
		t.Fatal(err)
	}
	apps, _ := h.e.Apps()
	list, _ := h.e.Deployments("app")
	one, _ := h.e.Deployment("app", d3.ID)
	answers = append(answers, v, v2, view, apps, list, one, d3)
	for i, a := range answers {
		data, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(canary)) {
			t.Errorf("answer %d holds the secret: %s", i, data)
		}
	}
	if view.Env["API_KEY"] != MaskedValue {
		t.Errorf("view env = %v, want masked values", view.Env)
	}

	for _, entry := range h.logs.AllUntimed() {
		line := entry.Message + " " + strings.ReplaceAll(strings.Join(fieldStrings(entry.ContextMap()), " "), "\n", " ")
		if strings.Contains(line, canary) {
			t.Errorf("log line holds the secret: %s", line)
		}
	}
	if len(h.logs.AllUntimed()) == 0 {
		t.Error("no log lines were captured: the log check checks nothing")
	}
}

func fieldStrings(m map[string]any) []string {
	var out []string
	for k, v := range m {
		data, _ := json.Marshal(v)
		out = append(out, k+"="+string(data))
	}
	return out
}
