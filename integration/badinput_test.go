package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func strconvItoa(n int) string { return strconv.Itoa(n) }

// TestBadInputIsRefusedAndNothingStored sends bad requests to the admin
// API: each gets a clear 4xx JSON error, and no app or container appears.
func TestBadInputIsRefusedAndNothingStored(t *testing.T) {
	p := startInProcess(t, envOptions{})
	name := p.appName("bad")
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"uppercase name", `{"name":"Bad","image":"` + imageV1 + `"}`, 400, "invalid app name"},
		{"injection in name", `{"name":"x; touch /tmp/M","image":"` + imageV1 + `"}`, 400, "invalid app name"},
		{"subshell in name", `{"name":"$(touch /tmp/M)","image":"` + imageV1 + `"}`, 400, "invalid app name"},
		{"leading dash image", `{"name":"` + name + `","image":"--help"}`, 400, "invalid image"},
		{"unknown image", `{"name":"` + name + `","image":"paas-test/nope:404"}`, 400, "not present locally"},
		{"port out of range", `{"name":"` + name + `","image":"` + imageV1 + `","port":70000}`, 400, "out of range"},
		{"port zero", `{"name":"` + name + `","image":"` + imageV1 + `","port":0}`, 400, "out of range"},
		{"replicas zero", `{"name":"` + name + `","image":"` + imageV1 + `","replicas":0}`, 400, "replicas"},
		{"memory below 6 MiB", `{"name":"` + name + `","image":"` + imageV1 + `","memory":"5m"}`, 400, "below the minimum of 6 MiB"},
		{"memory not a size", `{"name":"` + name + `","image":"` + imageV1 + `","memory":"lots"}`, 400, "is not a size"},
		{"memory negative", `{"name":"` + name + `","image":"` + imageV1 + `","memory":-1}`, 400, "is not a size"},
		{"cpus too few", `{"name":"` + name + `","image":"` + imageV1 + `","cpus":0.001}`, 400, "cpus"},
		{"cpus too many", `{"name":"` + name + `","image":"` + imageV1 + `","cpus":5000}`, 400, "out of range"},
		{"malformed JSON", `{"name":`, 400, "malformed JSON"},
		{"trailing data", `{"name":"` + name + `"} {"name":"x"}`, 400, "trailing data"},
		{"unknown field", `{"name":"` + name + `","privileged":true}`, 400, "unknown field"},
		{"wrong type", `{"name":"` + name + `","port":"80"}`, 400, "port"},
		{"1 MB env value", `{"name":"` + name + `","image":"` + imageV1 + `","env":{"BIG":"` + big[:1<<19] + `"}}`, 400, "env value of BIG"},
		{"body over 1 MiB", `{"name":"` + name + `","env":{"BIG":"` + big + `"}}`, 413, "larger than"},
		{"placeholder domain", `{"name":"` + name + `","domains":["{env.SECRET}"]}`, 400, "invalid domain"},
		{"empty body", ``, 400, "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+p.adminAddr+"/paas/apps", bytes.NewBufferString(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatalf("answer is not JSON: %q", data)
			}
			if resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.want) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, e.Error, tc.status, tc.want)
			}
			if strings.Contains(string(data), "goroutine") || strings.Contains(string(data), ".go:") {
				t.Errorf("answer looks like a stack trace: %q", data)
			}
		})
	}
	var apps []map[string]any
	if err := p.api.Do(context.Background(), http.MethodGet, "/apps", nil, &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 0 {
		t.Errorf("bad input stored %d apps: %v", len(apps), apps)
	}
	if n := len(p.containers(context.Background(), "")); n != 0 {
		t.Errorf("bad input created %d containers", n)
	}
	// Other errors: unknown app 404, duplicate 409, wrong method 405.
	p.createApp(map[string]any{"name": name})
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/paas/apps/nope", "", 404},
		{"GET", "/paas/apps/..%2fetc", "", 404},
		{"POST", "/paas/apps", `{"name":"` + name + `"}`, 409},
		{"PUT", "/paas/apps/" + name, `{}`, 405},
		{"POST", "/paas/apps/" + name + "/rollback", `{"deployment":"nope"}`, 404},
		{"POST", "/paas/apps/" + name + "/deploys", `{}`, 400},
		{"GET", "/paas/apps/" + name + "/deploys/nope", "", 404},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+p.adminAddr+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !json.Valid(data) {
			t.Errorf("%s %s: %d %q, want %d with JSON", tc.method, tc.path, resp.StatusCode, data, tc.status)
		}
	}
}
