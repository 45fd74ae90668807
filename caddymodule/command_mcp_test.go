package caddymodule

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/spf13/cobra"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/mcp"
)

// TestMCPCommand runs `caddy paas mcp` on pipes against a real admin
// endpoint and talks to it as an MCP client does.
func TestMCPCommand(t *testing.T) {
	env := newCLIEnv(t)
	toServer, serverIn := io.Pipe()
	serverOut, fromServer := io.Pipe()
	root := &cobra.Command{Use: "paas", SilenceUsage: true, SilenceErrors: true}
	root.SetIn(toServer)
	root.SetOut(fromServer)
	root.SetErr(io.Discard)
	buildCommands(root)
	root.SetArgs([]string{"mcp", "--address", env.addr})
	done := make(chan error, 1)
	go func() {
		err := root.Execute()
		fromServer.Close()
		done <- err
	}()

	c := client.NewClient(transport.NewIO(serverOut, serverIn, io.NopCloser(strings.NewReader(""))))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(ctx, mcpgo.InitializeRequest{Params: mcpgo.InitializeParams{ClientInfo: mcpgo.Implementation{Name: "t"}}}); err != nil {
		t.Fatal(err)
	}
	tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != len(mcp.Tools()) {
		t.Fatalf("%d tools, want every one of the %d", len(tools.Tools), len(mcp.Tools()))
	}
	callTool := func(name string, args map[string]any) (string, bool) {
		t.Helper()
		res, err := c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: name, Arguments: args}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var b strings.Builder
		for _, content := range res.Content {
			if tc, ok := content.(mcpgo.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String(), res.IsError
	}
	if text, isErr := callTool("apps_list", nil); isErr || strings.TrimSpace(text) != "[]" {
		t.Fatalf("apps_list: %v %s", isErr, text)
	}
	if text, isErr := callTool("teams_list", nil); isErr || !strings.Contains(text, `"default"`) {
		t.Fatalf("teams_list: %v %s", isErr, text)
	}
	// A destructive tool asks first, then calls the endpoint.
	text, isErr := callTool("apps_delete", map[string]any{"name": "ghost"})
	m := regexp.MustCompile(`"confirm": "(\w+)"`).FindStringSubmatch(text)
	if isErr || m == nil {
		t.Fatalf("apps_delete: %v %s", isErr, text)
	}
	text, isErr = callTool("apps_delete", map[string]any{"name": "ghost", "confirm": m[1]})
	if !isErr || !strings.Contains(text, "error 404") {
		t.Fatalf("confirmed apps_delete of a missing app: %v %s", isErr, text)
	}
	entries, err := env.auth.Audit(auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "apps.delete" || entries[0].Status != 404 {
		t.Fatalf("audit log: %+v", entries)
	}

	// The command ends when the client closes stdin.
	serverIn.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("caddy paas mcp: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("caddy paas mcp did not end with its input")
	}
}
