package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/caddy-paas/caddy-paas/auth"
)

// TestTerminal: the terminal's WebSocket reaches the replica's TTY for a
// member allowed to reveal secrets, from the site's own origin, and is
// refused before the upgrade to everyone else.
func TestTerminal(t *testing.T) {
	w := sharedWorld(t)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		r = r.WithContext(auth.WithRequestInfo(r.Context(), auth.RequestInfo{ClientIP: "192.0.2.9"}))
		w.api.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/apps/%s/terminal"
	dial := func(c caller, app, origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		if c.cookie != "" {
			h.Set("Cookie", auth.SessionCookie+"="+c.cookie)
		}
		if c.bearer != "" {
			h.Set("Authorization", "Bearer "+c.bearer)
		}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, strings.Replace(wsURL, "%s", app, 1), &websocket.DialOptions{HTTPHeader: h})
	}

	conn, _, err := dial(w.caller("admin"), "app1", srv.URL)
	if err != nil {
		t.Fatalf("admin's terminal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"resize","cols":100,"rows":30}`)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Write(ctx, websocket.MessageBinary, []byte("echo hi\n")); err != nil {
		t.Fatal(err)
	}
	typ, data, err := conn.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(data) != "echo hi\n" {
		t.Fatalf("read %v %q %v", typ, data, err)
	}
	conn.Close(websocket.StatusNormalClosure, "")

	before := w.engine.callCount()
	for _, tc := range []struct {
		name   string
		c      caller
		app    string
		origin string
		want   int
	}{
		{"no credentials", caller{name: "anon"}, "app1", srv.URL, http.StatusUnauthorized},
		{"another team's app", w.caller("admin"), "app2", srv.URL, http.StatusNotFound},
		{"a foreign origin", w.caller("admin"), "app1", "https://evil.example", http.StatusForbidden},
		{"a developer (no reveal)", w.caller("developer"), "app1", srv.URL, http.StatusForbidden},
		{"an API token", w.caller("token-admin"), "app1", srv.URL, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := dial(tc.c, tc.app, tc.origin)
			if err == nil {
				conn.CloseNow()
				t.Fatal("upgraded")
			}
			if resp == nil || resp.StatusCode != tc.want {
				t.Fatalf("answer %v, want %d (%v)", resp, tc.want, err)
			}
		})
	}
	if n := w.engine.callCount() - before; n != 0 {
		t.Errorf("refused upgrades reached the engine %d times", n)
	}
	// The opening is audited.
	entries, _ := w.svc.Audit(auth.AuditFilter{Team: "alpha", Limit: 20})
	found := false
	for _, e := range entries {
		if e.Action == "apps.terminal" && e.Actor == "admin@example.com" && e.Status == http.StatusSwitchingProtocols {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry of the terminal: %+v", entries)
	}
}
