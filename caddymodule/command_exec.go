package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-paas/caddy-paas/admin"
)

// buildExecCommand adds `caddy paas exec`: the dashboard's terminal in the
// shell, over the same WebSocket (apps.terminal).
func buildExecCommand(parent *cobra.Command, c *cli) {
	var replica string
	cmd := &cobra.Command{
		Use:   "exec APP [--replica ID] [-- COMMAND [ARG...]]",
		Short: "Opens a terminal in a running replica of an app (default: /bin/sh)",
		Long: `Opens a terminal (a TTY from docker exec) in a running replica of the app's current
deployment and connects this terminal to it. The command is an argument array, never a shell
string. It talks to the dashboard site (after ` + "`caddy paas login URL`" + `, or with --server URL):
Caddy's admin endpoint refuses WebSockets. It needs the reveal permission (team admins and
owners) and a logged-in user, so it asks for your password; the opening is audited.`,
		Example: "  caddy paas login https://paas.example.com\n  caddy paas exec blog\n  caddy paas exec blog -- ls -la /app\n  caddy paas exec blog --replica 3f2a -- env",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.exec(cmd, args[0], replica, args[1:])
		},
	}
	cmd.Flags().StringVar(&replica, "replica", "", "the replica's container id (or a prefix); default: the first")
	parent.AddCommand(cmd)
}

func (c *cli) exec(cmd *cobra.Command, app, replica string, command []string) error {
	ctx, cancel := context.WithCancel(cmdContext(cmd))
	defer cancel()
	t, err := c.resolveTarget(false)
	if err != nil {
		return err
	}
	if !t.remote {
		return fmt.Errorf("the terminal is served by the paas_dashboard site only (Caddy's admin endpoint refuses WebSockets): run `caddy paas login URL` first, or give --server URL")
	}
	// The terminal needs a logged-in user, as in the dashboard.
	cl, err := c.sessionFor(ctx, cmd, t.server, t.email)
	if err != nil {
		return err
	}
	q := url.Values{}
	if replica != "" {
		q.Set("replica", replica)
	}
	for _, a := range command {
		q.Add("cmd", a)
	}
	u := "ws" + strings.TrimPrefix(cl.BaseURL, "http") + cl.Prefix + "/apps/" + url.PathEscape(app) + "/terminal"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	header := cl.Header.Clone()
	if header == nil {
		header = make(map[string][]string)
	}
	if cl.Token != "" {
		header.Set("Authorization", "Bearer "+cl.Token)
	}
	if header.Get("Origin") == "" {
		header.Set("Origin", cl.BaseURL)
	}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: cl.HTTP, HTTPHeader: header})
	if err != nil {
		if resp != nil && resp.Body != nil {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			var e admin.ErrorAnswer
			if json.Unmarshal(data, &e) == nil && e.Error != "" {
				return &admin.APIError{Status: resp.StatusCode, Message: e.Error}
			}
		}
		return fmt.Errorf("opening the terminal: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	in, out := cmd.InOrStdin(), cmd.OutOrStdout()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err == nil {
			defer term.Restore(int(f.Fd()), old)
		}
		if cols, rows, err := term.GetSize(int(f.Fd())); err == nil {
			msg, _ := json.Marshal(admin.TerminalControl{Type: "resize", Cols: uint(cols), Rows: uint(rows)})
			_ = conn.Write(ctx, websocket.MessageText, msg)
		}
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				if conn.Write(ctx, websocket.MessageBinary, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				return // stdin ended: the command keeps running until it exits
			}
		}
	}()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil
			}
			return nil
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
	}
}
