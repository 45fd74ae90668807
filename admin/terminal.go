package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TerminalControl is a text message of the terminal's WebSocket: binary
// messages carry the TTY's bytes both ways, text messages control it.
type TerminalControl struct {
	// Type is "resize".
	Type string `json:"type"`
	Cols uint   `json:"cols,omitempty"`
	Rows uint   `json:"rows,omitempty"`
}

// terminal opens a TTY in a running replica and bridges it to a WebSocket.
// Authorization (and the Origin check) happened before: nothing is
// upgraded for a caller who may not use it.
func (a *API) terminal(e Engine, w http.ResponseWriter, r *http.Request) error {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return &platform.Error{Status: http.StatusBadRequest, Message: "the terminal is a WebSocket: send Upgrade: websocket"}
	}
	// The TTY outlives this request's context handling only as long as the
	// socket: the bridge below ends both.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	term, err := e.OpenTerminal(ctx, r.PathValue("name"), r.URL.Query().Get("replica"), r.URL.Query()["cmd"])
	if err != nil {
		return err
	}
	defer term.Stream.Close()
	conn, err := websocket.Accept(w, r, nil) // refuses a foreign Origin too
	if err != nil {
		return nil // Accept has answered
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 10)

	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := term.Stream.Read(buf)
			if n > 0 {
				wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
				werr := conn.Write(wctx, websocket.MessageBinary, buf[:n])
				wcancel()
				if werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-done
		// The command ended: say so and close.
		_ = conn.Close(websocket.StatusNormalClosure, "the command ended")
		cancel()
	}()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return nil
		}
		switch typ {
		case websocket.MessageBinary:
			if _, err := term.Stream.Write(data); err != nil {
				return nil
			}
		case websocket.MessageText:
			var c TerminalControl
			if json.Unmarshal(data, &c) == nil && c.Type == "resize" && c.Cols > 0 && c.Rows > 0 && c.Cols < 1000 && c.Rows < 1000 {
				_ = term.Resize(ctx, c.Cols, c.Rows)
			}
		}
	}
}
