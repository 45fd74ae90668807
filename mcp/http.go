package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/server"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// MaxRequestBytes caps an MCP message: the API's body limit and room for
// the JSON-RPC envelope.
const MaxRequestBytes = admin.MaxBodyBytes + 64<<10

// NewHTTPHandler serves MCP over streamable HTTP (stateless) for the
// dashboard site's /mcp. Every request needs "Authorization: Bearer <API
// token>": agents use tokens, and a session cookie alone is refused, so a
// web page cannot drive the tools with a logged-in user's session. Tools
// call api (the public API under apiPrefix) in process with that same
// Authorization header, so the API authorizes and audits each call as the
// token; the tool list only hides what the token could never do.
func NewHTTPHandler(svc *auth.Service, api http.Handler, apiPrefix string) http.Handler {
	h := &httpHandler{svc: svc}
	mcpServer := NewServer(HandlerInvoker{Handler: api, Prefix: apiPrefix}, Options{
		ToolFilter: func(ctx context.Context, r admin.Route) bool {
			p := callerFrom(ctx)
			return p != nil && Visible(p, r)
		},
		CallerKey: func(ctx context.Context) string {
			if p := callerFrom(ctx); p != nil && p.Token != nil {
				return "token:" + p.Token.ID
			}
			return ""
		},
		OnCall: h.audit,
	})
	h.mcp = server.NewStreamableHTTPServer(mcpServer,
		server.WithStateLess(true),
		// No standalone event stream: a stateless server has nothing to
		// push outside an answer.
		server.WithDisableStreaming(true),
		// The DNS rebinding guard protects servers that trust whoever
		// reaches them; this one needs a bearer token, which a rebound page
		// cannot send, and Caddy may reach it through a local proxy.
		server.WithDisableLocalhostProtection(true),
		server.WithStreamableHTTPLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	return h
}

type httpHandler struct {
	svc *auth.Service
	mcp http.Handler
}

type callerKey struct{}

func callerFrom(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(callerKey{}).(*auth.Principal)
	return p
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.svc == nil {
		writeError(w, http.StatusServiceUnavailable, "the identity service is not running")
		return
	}
	authz := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="caddy-paas"`)
		writeError(w, http.StatusUnauthorized, "MCP needs an API token: send \"Authorization: Bearer <token>\" (create one in the dashboard)")
		return
	}
	p, err := h.svc.Authenticate(r)
	if err != nil || p == nil || p.Kind != auth.KindToken || p.Token == nil {
		status, msg := http.StatusUnauthorized, "the API token is invalid, revoked or expired"
		if err != nil && platform.StatusOf(err) != http.StatusInternalServerError {
			status, msg = platform.StatusOf(err), err.Error()
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="caddy-paas", error="invalid_token"`)
		writeError(w, status, msg)
		return
	}
	ctx := context.WithValue(r.Context(), callerKey{}, p)
	ctx = WithAuthorization(ctx, authz)
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	h.mcp.ServeHTTP(w, r)
}

// audit records the calls that never reach the API (which audits the
// others): a confirmation code issued or refused, a refused tool.
func (h *httpHandler) audit(ctx context.Context, c Call) {
	if c.Outcome == OutcomeCalled {
		return
	}
	p := callerFrom(ctx)
	e := auth.AuditEntry{
		Action:   "mcp." + string(c.Outcome),
		Target:   c.RouteID + " " + c.Method + " " + c.Path,
		ClientIP: auth.RequestInfoFrom(ctx).ClientIP,
		Status:   c.Status,
		Result:   "ok",
	}
	if c.Message != "" {
		e.Result = c.Message
	}
	if p != nil {
		e.Actor, e.ActorKind = p.Actor(), p.Kind
		if p.User != nil {
			e.UserID = p.User.ID
		}
		if p.Token != nil {
			e.TokenID, e.Team = p.Token.ID, p.Token.Team
		}
	}
	h.svc.Record(e)
}

// Visible reports whether p could use r somewhere, and so sees its tool:
// the API authorizes each call again, on the actual resource.
//   - ScopeUser: every caller;
//   - ScopePlatform: platform admins (never a token);
//   - SessionOnly: never a token;
//   - ScopeApp, ScopeTeam, ScopeTeamInBody: r.Perm in one of p's teams (a
//     token: in its team, within its scope).
func Visible(p *auth.Principal, r admin.Route) bool {
	if p == nil || r.Scope == admin.ScopeAnonymous {
		return false
	}
	if r.SessionOnly && p.Kind == auth.KindToken {
		return false
	}
	switch r.Scope {
	case admin.ScopeUser:
		return true
	case admin.ScopePlatform:
		return p.Admin()
	case admin.ScopeApp, admin.ScopeTeam, admin.ScopeTeamInBody:
		if p.Kind == auth.KindToken {
			return p.Token != nil && p.Can(p.Token.Team, r.Perm)
		}
		if p.Admin() {
			return true
		}
		for team := range p.Teams {
			if p.Can(team, r.Perm) {
				return true
			}
		}
	}
	return false
}

// CallerFilter is the ToolFilter for the caller an invoker speaks as: it
// asks the API who that is (GET /me) and keeps the tools Visible to them.
// The local admin endpoint has no /me and every power: nil, every tool.
func CallerFilter(ctx context.Context, inv Invoker) (func(context.Context, admin.Route) bool, error) {
	status, _, data, err := inv.Do(ctx, http.MethodGet, "/me", nil)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound {
		return nil, nil
	}
	if status >= 400 {
		return nil, errors.New(errorMessage(status, data))
	}
	var me admin.Me
	if err := json.Unmarshal(data, &me); err != nil {
		return nil, fmt.Errorf("decoding GET /me: %w", err)
	}
	p := &auth.Principal{Kind: me.Kind, User: me.User, Teams: me.Teams, Token: me.Token}
	return func(_ context.Context, r admin.Route) bool { return Visible(p, r) }, nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(admin.ErrorAnswer{Error: msg})
}
