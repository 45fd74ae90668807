package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// serve runs one route: it finds the caller, authorizes the route for
// them, calls the handler, and records the change in the audit log. This is
// the one place where authorization happens; handlers only read the
// principal to narrow lists.
func (a *API) serve(rt Route, w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	b, err := a.backend()
	if err != nil {
		writeError(w, err)
		return
	}
	info := auth.RequestInfoFrom(r.Context())
	if a.surface == SurfaceAdmin {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		info = auth.RequestInfo{ClientIP: host, UserAgent: r.UserAgent()}
	}
	c := &callInfo{backend: b, target: strings.TrimPrefix(r.URL.Path, a.prefix)}
	ctx := auth.WithRequestInfo(context.WithValue(r.Context(), callKey, c), info)
	r = r.WithContext(ctx)
	p, r, err := a.authorize(b, rt, r)
	c.principal = p
	if p != nil {
		// Deployments started by this request say who started them.
		r = r.WithContext(platform.WithActor(r.Context(), actorName(p)))
	}
	if err == nil {
		err = rt.Handler(a, b.Engine, rec, r)
	}
	if err != nil {
		writeError(rec, err)
	}
	// Changes are always audited; so is every call of an agent (the MCP
	// server marks its requests), reads included.
	via := ""
	if r.Header.Get(ClientHeader) == "mcp" {
		via = "mcp"
	}
	if r.Method != http.MethodGet || rt.Audit || via != "" {
		c.via = via
		a.audit(b, rt, c, info, rec)
	}
}

// callInfo carries what the audit entry needs from the request.
type callInfo struct {
	backend   *Backend
	principal *auth.Principal
	team      string
	target    string
	via       string
}

// ClientHeader names the client kind of a request; "mcp" marks the MCP
// server's calls, which are all audited.
const ClientHeader = "X-Paas-Client"

type ctxKey int

const callKey ctxKey = 0

func callFrom(r *http.Request) *callInfo {
	c, _ := r.Context().Value(callKey).(*callInfo)
	return c
}

func (a *API) audit(b *Backend, rt Route, c *callInfo, info auth.RequestInfo, rec *recorder) {
	if b.Auth == nil {
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	e := auth.AuditEntry{Action: rt.ID, Team: c.team, Target: c.target, ClientIP: info.ClientIP, Status: status, Result: "ok", Actor: "anonymous", ActorKind: "anonymous", Via: c.via}
	if status >= 400 {
		e.Result = rec.errMsg
	}
	if p := c.principal; p != nil {
		e.Actor, e.ActorKind = p.Actor(), p.Kind
		if p.User != nil {
			e.UserID = p.User.ID
		}
		if p.Token != nil {
			e.TokenID = p.Token.ID
		}
	}
	b.Auth.Record(e)
}

// authorize finds the caller and checks the route's scope and permission.
// It answers the principal and the request carrying it.
func (a *API) authorize(b *Backend, rt Route, r *http.Request) (*auth.Principal, *http.Request, error) {
	if err := checkOrigin(r); err != nil {
		return nil, r, err
	}
	var p *auth.Principal
	if a.surface == SurfaceAdmin {
		p = auth.Local
	} else {
		var err error
		if p, err = b.Auth.Authenticate(r); err != nil {
			return nil, r, err
		}
	}
	if p != nil {
		r = r.WithContext(auth.WithPrincipal(r.Context(), p))
	}
	if rt.Scope == ScopeAnonymous {
		return p, r, nil
	}
	if p == nil {
		return nil, r, &platform.Error{Status: http.StatusUnauthorized, Message: "authentication required: log in, or send \"Authorization: Bearer <token>\""}
	}
	if rt.SessionOnly && p.Kind == auth.KindToken {
		return p, r, &platform.Error{Status: http.StatusForbidden, Message: "API tokens cannot do this: log in to the dashboard"}
	}
	if p.Kind == auth.KindSession && !safeMethod(r.Method) {
		got := r.Header.Get(auth.CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
			return p, r, &platform.Error{Status: http.StatusForbidden, Message: "missing or wrong " + auth.CSRFHeader + " header"}
		}
	}
	c := callFrom(r)
	var team string
	switch rt.Scope {
	case ScopeUser:
		return p, r, nil
	case ScopePlatform:
		if !p.Admin() {
			return p, r, &platform.Error{Status: http.StatusForbidden, Message: "only platform admins may do this"}
		}
		return p, r, nil
	case ScopeApp:
		name := r.PathValue("name")
		t, err := b.Engine.AppTeam(name)
		if err != nil {
			return p, r, err
		}
		if !p.Sees(t) {
			// The same answer as for an app that does not exist.
			return p, r, &platform.Error{Status: http.StatusNotFound, Message: "app \"" + truncate(name, 80) + "\" not found"}
		}
		team = t
	case ScopeTeam:
		team = r.PathValue("team")
		if !p.Sees(team) {
			return p, r, &platform.Error{Status: http.StatusNotFound, Message: "team \"" + truncate(team, 80) + "\" not found"}
		}
	case ScopeTeamInBody:
		t, err := teamInBody(r, p)
		if err != nil {
			return p, r, err
		}
		if !p.Sees(t) {
			return p, r, &platform.Error{Status: http.StatusNotFound, Message: "team \"" + truncate(t, 80) + "\" not found"}
		}
		team = t
	default:
		return p, r, &platform.Error{Status: http.StatusForbidden, Message: "this operation has no authorization rule"}
	}
	c.team = team
	if ok, err := b.Auth.TeamExists(team); err != nil {
		return p, r, err
	} else if !ok {
		return p, r, &platform.Error{Status: http.StatusNotFound, Message: "team \"" + truncate(team, 80) + "\" not found"}
	}
	if !p.Can(team, rt.Perm) {
		if p.Kind == auth.KindToken {
			if role, _ := p.RoleIn(team); role.Can(rt.Perm) {
				return p, r, &platform.Error{Status: http.StatusForbidden, Message: "this token's scope (" + string(p.Token.Scope) + ") does not allow " + string(rt.Perm)}
			}
		}
		role, _ := p.RoleIn(team)
		return p, r, &platform.Error{Status: http.StatusForbidden, Message: "your role in team \"" + team + "\" (" + string(role) + ") does not allow " + string(rt.Perm)}
	}
	return p, r, nil
}

// teamInBody reads the "team" field of a JSON body, leaving the body for
// the handler. With no team, it is the token's team, else the default
// team when the caller is in it, else the caller's only team.
func teamInBody(r *http.Request, p *auth.Principal) (string, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", &platform.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
		}
		return "", &platform.Error{Status: http.StatusBadRequest, Message: "reading the body failed"}
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	var body map[string]json.RawMessage
	if len(bytes.TrimSpace(data)) > 0 {
		// The same strict decoding as the handler's, so that the errors
		// are the same too.
		if err := decode(&http.Request{Body: io.NopCloser(bytes.NewReader(data))}, &body); err != nil {
			return "", err
		}
	}
	var team string
	if raw := body["team"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &team); err != nil {
			return "", &platform.Error{Status: http.StatusBadRequest, Message: "team must be a string"}
		}
	}
	if team != "" {
		return team, nil
	}
	switch {
	case p.Kind == auth.KindToken:
		return p.Token.Team, nil
	case p.Sees(auth.DefaultTeam):
		return auth.DefaultTeam, nil
	case len(p.Teams) == 1:
		for t := range p.Teams {
			return t, nil
		}
	}
	return "", &platform.Error{Status: http.StatusBadRequest, Message: "team is required: you belong to several teams (or none)"}
}

// teamFrom is the team the authorization resolved for the request.
func teamFrom(r *http.Request) string {
	if c := callFrom(r); c != nil {
		return c.team
	}
	return ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkOrigin refuses a cross-site request that changes something: a
// browser always sends Origin (or Sec-Fetch-Site) on those, and a
// same-origin page, the CLI and other programs do not send a foreign one.
func checkOrigin(r *http.Request) error {
	// A WebSocket upgrade is a GET that opens a channel of changes: it gets
	// the same check (browsers send Origin on every upgrade).
	upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if safeMethod(r.Method) && !upgrade {
		return nil
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return &platform.Error{Status: http.StatusForbidden, Message: "cross-site request refused"}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || origin == "null" || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return &platform.Error{Status: http.StatusForbidden, Message: "cross-origin request refused"}
	}
	return nil
}

// actorName names a principal on the deployments it starts.
func actorName(p *auth.Principal) string {
	if p.Token != nil {
		return p.Actor() + " (token " + truncate(p.Token.Name, 60) + ")"
	}
	return p.Actor()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// recorder remembers the status and error message of an answer, for the
// audit log. Unwrap lets http.ResponseController reach the connection
// (flushes of server-sent events).
type recorder struct {
	http.ResponseWriter
	status int
	errMsg string
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
