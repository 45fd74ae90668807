package auth

import "context"

// Principal kinds.
const (
	// KindLocal is whoever reaches Caddy's admin endpoint: trusted, all
	// powers.
	KindLocal = "local"
	// KindSession is a user logged in through the dashboard.
	KindSession = "session"
	// KindToken is an API token, bound to one team and a scope.
	KindToken = "token"
)

// Principal is who makes a request, with what they may do.
type Principal struct {
	// Kind is KindLocal, KindSession or KindToken.
	Kind string
	// User is the user acting (nil for local).
	User *User
	// Teams maps each team the user belongs to to their role there.
	Teams map[string]Role
	// Token is the token used (KindToken only).
	Token *Token
	// SessionKey is the stored key of the session (KindSession only).
	SessionKey string
	// CSRF is the session's anti-forgery token (KindSession only).
	CSRF string
}

// Local is the principal of the trusted admin endpoint.
var Local = &Principal{Kind: KindLocal}

// Admin reports whether the principal has platform-wide powers: the local
// admin endpoint, or a platform admin logged in (never a token, which is
// bound to one team).
func (p *Principal) Admin() bool {
	return p.Kind == KindLocal || (p.Kind == KindSession && p.User != nil && p.User.Admin)
}

// RoleIn is the principal's role in team, and whether it is a member (a
// platform admin acts as an owner of every team). A token reaches only its
// own team.
func (p *Principal) RoleIn(team string) (Role, bool) {
	switch p.Kind {
	case KindLocal:
		return RoleOwner, true
	case KindToken:
		if p.Token == nil || p.Token.Team != team {
			return "", false
		}
	}
	if p.User != nil && p.User.Admin {
		return RoleOwner, true
	}
	r, ok := p.Teams[team]
	return r, ok
}

// Sees reports whether team's resources are visible to the principal at all.
// What is not visible answers 404, never 403.
func (p *Principal) Sees(team string) bool {
	_, ok := p.RoleIn(team)
	return ok
}

// Can reports whether the principal may use perm in team: its role there
// allows it and, for a token, so does its scope.
func (p *Principal) Can(team string, perm Permission) bool {
	r, ok := p.RoleIn(team)
	if !ok || !r.Can(perm) {
		return false
	}
	if p.Kind == KindToken && !p.Token.Scope.Can(perm) {
		return false
	}
	return true
}

// Actor names the principal in the audit log.
func (p *Principal) Actor() string {
	switch {
	case p == nil:
		return "anonymous"
	case p.Kind == KindLocal:
		return "local admin endpoint"
	case p.User != nil:
		return p.User.Email
	}
	return p.Kind
}

// RequestInfo is what the front door knows about the request's origin.
type RequestInfo struct {
	// ClientIP is the real client address (after Caddy's trusted-proxy
	// handling).
	ClientIP string
	// UserAgent is the client's User-Agent, shortened.
	UserAgent string
	// Secure is true when the request came over HTTPS.
	Secure bool
}

type ctxKey int

const (
	principalKey ctxKey = iota
	infoKey
)

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the principal in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

// WithRequestInfo returns ctx carrying info.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, infoKey, info)
}

// RequestInfoFrom returns the request info in ctx.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(infoKey).(RequestInfo)
	return info
}
