package caddymodule

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"

	"github.com/caddy-paas/caddy-paas/mcp"
)

// buildMCPCommand adds `caddy paas mcp`: an MCP server on stdin/stdout for
// an AI agent. Its tools call the API the other commands call: the local
// admin endpoint, which acts with every power (every tool is listed), or
// the server the CLI is logged in to, with its API token (the token's tools
// only). Destructive tools ask for a confirmation code, and the API audits
// each call.
func buildMCPCommand(parent *cobra.Command, c *cli) {
	parent.AddCommand(&cobra.Command{
		Use:   "mcp",
		Short: "Serves the platform to an AI agent over MCP (stdio)",
		Long: `Serves the Model Context Protocol on stdin and stdout, for an AI agent (an MCP client)
that starts this command. Every operation of the API is a tool (apps_list,
deploys_create, domains_add...), and apps and deployment logs are resources (paas://apps,
paas://apps/{name}, paas://apps/{name}/deploys/{id}/logs).

The tools call the same API as the other commands: Caddy's local admin endpoint, which
has every power (give this command only to agents you trust as much as a shell on this
machine), or, after "caddy paas login" or with --server and $CADDY_PAAS_TOKEN, a server's
API with its token, which lists and allows only what the token may do. Destructive tools
(apps_delete, apps_rollback...) first answer a confirmation code, valid once for 2 minutes.

An agent can also reach the dashboard site's /mcp endpoint directly (streamable HTTP,
"Authorization: Bearer <API token>"): it acts within the token's team and scope.`,
		Example: `  Register it in an MCP client's configuration (Claude Desktop, Cursor...):

    {"mcpServers": {"caddy-paas": {"command": "caddy", "args": ["paas", "mcp"]}}}

  With a non-default admin endpoint:

    {"command": "caddy", "args": ["paas", "mcp", "--address", "localhost:2020"]}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			// Each tool call has its own time limit (mcp.DefaultCallTimeout).
			cl.HTTP.Timeout = 0
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			inv := mcp.NewClientInvoker(cl)
			filter, err := mcp.CallerFilter(ctx, inv)
			if err != nil {
				return err
			}
			s := mcp.NewServer(inv, mcp.Options{ToolFilter: filter})
			stdio := server.NewStdioServer(s)
			stdio.SetErrorLogger(log.New(cmd.ErrOrStderr(), "caddy paas mcp: ", 0))
			err = stdio.Listen(ctx, cmd.InOrStdin(), cmd.OutOrStdout())
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				// The client closed stdin, or the command was interrupted.
				return nil
			}
			return err
		},
	})
}
