package admin

import (
	"fmt"
	"net/http"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// Surface is where an API is served.
type Surface int

const (
	// SurfaceAdmin is Caddy's local admin endpoint (/paas/): trusted, whoever
	// reaches it acts with every power.
	SurfaceAdmin Surface = iota + 1
	// SurfacePublic is the dashboard site's /api/v1/: every request is
	// authenticated by a session cookie or an API token.
	SurfacePublic
)

// Scope says which resource a route touches, and so whose permission it
// checks.
type Scope int

const (
	scopeUnset Scope = iota
	// ScopeAnonymous needs no authentication (login, first-run setup).
	ScopeAnonymous
	// ScopeUser needs any authenticated caller; the handler shows only
	// what the caller sees.
	ScopeUser
	// ScopePlatform needs a platform admin (the local endpoint, or an admin
	// user's session).
	ScopePlatform
	// ScopeApp acts on the app {name}: Perm in the app's team.
	ScopeApp
	// ScopeTeam acts on the team {team}: Perm there.
	ScopeTeam
	// ScopeTeamInBody creates something in the team named by the body's
	// "team" field: Perm there.
	ScopeTeamInBody
)

// Route is one operation of the API: its id, method and path, the
// permission it needs on which resource, and its handler. The route list is
// the one place that names every operation: the router and the
// authorization layer are built from it, and a route with no scope is
// refused at start.
type Route struct {
	// ID names the operation in the audit log, such as "apps.deploy".
	ID      string
	Method  string
	Path    string
	Summary string
	Scope   Scope
	// Perm is the permission needed in the team of the resource (ScopeApp,
	// ScopeTeam, ScopeTeamInBody).
	Perm auth.Permission
	// SessionOnly refuses API tokens: the caller must be a logged-in user
	// (or the local endpoint).
	SessionOnly bool
	// PublicOnly serves the route only under /api/v1/ (login, sessions,
	// tokens: nothing the local endpoint needs).
	PublicOnly bool
	// Audit records a read in the audit log (changes always are).
	Audit bool
	// Destructive marks an operation that loses something (a delete, a
	// rollback, a key rotation, a reveal): agents must confirm it.
	Destructive bool
	// Request is the type of the JSON body, or nil for none.
	Request any
	// Response is the type of the JSON answer (TextStream for logs).
	Response any
	// Status is the status of a successful answer (default 200).
	Status int
	// Query lists the query parameters the route reads.
	Query   []Param
	Handler func(a *API, e Engine, w http.ResponseWriter, r *http.Request) error
}

// Param is a query parameter.
type Param struct {
	Name        string
	Description string
	// Type is string, integer or boolean.
	Type string
}

// TextStream marks an answer that is text, or server-sent events with
// Accept: text/event-stream.
type TextStream struct{}

// SuccessStatus is the status of a successful answer.
func (rt Route) SuccessStatus() int {
	if rt.Status == 0 {
		return http.StatusOK
	}
	return rt.Status
}

func (rt Route) check() error {
	switch rt.Scope {
	case ScopeAnonymous, ScopeUser, ScopePlatform:
	case ScopeApp, ScopeTeam, ScopeTeamInBody:
		if rt.Perm == "" {
			return fmt.Errorf("route %s %s: scope needs a permission", rt.Method, rt.Path)
		}
	default:
		return fmt.Errorf("route %s %s has no authorization scope", rt.Method, rt.Path)
	}
	if rt.ID == "" || rt.Handler == nil {
		return fmt.Errorf("route %s %s: id and handler are required", rt.Method, rt.Path)
	}
	return nil
}

const (
	get  = http.MethodGet
	post = http.MethodPost
	pat  = http.MethodPatch
	del  = http.MethodDelete
)

var auditQuery = []Param{
	{Name: "limit", Type: "integer", Description: "at most this many entries (default 100, at most 1000)"},
	{Name: "before", Type: "integer", Description: "entries with an id below this one (paging)"},
}

// Routes lists every operation.
var Routes = []Route{
	{ID: "openapi", Method: get, Path: "/openapi.json", Summary: "This API's OpenAPI 3.1 document", Scope: ScopeAnonymous, Response: map[string]any{}, Handler: (*API).openAPI},
	{ID: "status", Method: get, Path: "/status", Summary: "Engine status", Scope: ScopeUser, Response: platform.Status{}, Handler: (*API).status},

	// Apps.
	{ID: "apps.list", Method: get, Path: "/apps", Summary: "List the apps the caller sees", Scope: ScopeUser, Response: []platform.AppView{}, Handler: (*API).listApps},
	{ID: "apps.create", Method: post, Path: "/apps", Summary: "Create an app (and start its first deploy)", Scope: ScopeTeamInBody, Perm: auth.PermManage, Request: platform.AppInput{}, Response: platform.AppView{}, Status: 201, Handler: (*API).createApp},
	{ID: "apps.get", Method: get, Path: "/apps/{name}", Summary: "Show an app", Scope: ScopeApp, Perm: auth.PermRead, Response: platform.AppView{}, Handler: (*API).getApp},
	{ID: "apps.update", Method: pat, Path: "/apps/{name}", Summary: "Change an app's settings or env (redeploys when needed)", Scope: ScopeApp, Perm: auth.PermConfigure, Request: platform.AppPatch{}, Response: platform.AppView{}, Handler: (*API).updateApp},
	{ID: "apps.delete", Method: del, Path: "/apps/{name}", Summary: "Delete an app and its containers", Scope: ScopeApp, Perm: auth.PermManage, Response: Deleted{}, Destructive: true, Handler: (*API).deleteApp},
	{ID: "apps.stop", Method: post, Path: "/apps/{name}/stop", Summary: "Stop an app", Scope: ScopeApp, Perm: auth.PermDeploy, Response: platform.AppView{}, Handler: (*API).stopApp},
	{ID: "apps.start", Method: post, Path: "/apps/{name}/start", Summary: "Start a stopped app", Scope: ScopeApp, Perm: auth.PermDeploy, Response: platform.AppView{}, Handler: (*API).startApp},
	{ID: "apps.logs", Method: get, Path: "/apps/{name}/logs", Summary: "The output of the app's running replicas (text, or live server-sent events)", Scope: ScopeApp, Perm: auth.PermRead, Response: TextStream{}, Query: []Param{{Name: "tail", Type: "integer", Description: "only the last N lines of each replica (at most 10000)"}, {Name: "follow", Type: "boolean", Description: "1: keep streaming server-sent events"}}, Handler: (*API).appLogs},
	{ID: "apps.restart", Method: post, Path: "/apps/{name}/restart", Summary: "Replace the replicas with fresh ones of the current version (blue-green, no rebuild)", Scope: ScopeApp, Perm: auth.PermDeploy, Response: platform.Deployment{}, Status: 202, Handler: (*API).restartApp},
	{ID: "apps.scale", Method: post, Path: "/apps/{name}/scale", Summary: "Set the number of replicas", Scope: ScopeApp, Perm: auth.PermConfigure, Request: ScaleInput{}, Response: platform.AppView{}, Handler: (*API).scaleApp},
	{ID: "env.set", Method: pat, Path: "/apps/{name}/env", Summary: "Set or remove env variables (values are sealed; deploys unless deploy is false)", Scope: ScopeApp, Perm: auth.PermConfigure, Request: EnvPatch{}, Response: platform.AppView{}, Handler: (*API).setEnv},
	{ID: "apps.terminal", Method: get, Path: "/apps/{name}/terminal", Summary: "A terminal in a running replica: a WebSocket bridged to docker exec with a TTY (binary messages carry the bytes, text messages {\"type\":\"resize\",\"cols\",\"rows\"}); audited", Scope: ScopeApp, Perm: auth.PermReveal, SessionOnly: true, PublicOnly: true, Audit: true, Status: http.StatusSwitchingProtocols, Query: []Param{{Name: "replica", Type: "string", Description: "the container id (or a prefix) of the replica; default: the first"}, {Name: "cmd", Type: "string", Description: "the command, one argument per cmd parameter; default /bin/sh"}}, Handler: (*API).terminal},
	{ID: "env.list", Method: get, Path: "/apps/{name}/env", Summary: "List an app's env keys (values masked)", Scope: ScopeApp, Perm: auth.PermRead, Response: map[string]string{}, Handler: (*API).listEnv},
	{ID: "env.reveal", Method: post, Path: "/apps/{name}/env/{key}/reveal", Summary: "Show one env value in clear (audited)", Scope: ScopeApp, Perm: auth.PermReveal, SessionOnly: true, Response: RevealedEnv{}, Destructive: true, Handler: (*API).revealEnv},

	// Deployments.
	{ID: "deploys.list", Method: get, Path: "/apps/{name}/deploys", Summary: "List an app's deployments", Scope: ScopeApp, Perm: auth.PermRead, Response: []platform.Deployment{}, Handler: (*API).listDeploys},
	{ID: "deploys.create", Method: post, Path: "/apps/{name}/deploys", Summary: "Deploy: an image, a git ref, or an uploaded archive", Scope: ScopeApp, Perm: auth.PermDeploy, Request: platform.DeployInput{}, Response: platform.Deployment{}, Status: 202, Handler: (*API).deploy},
	{ID: "deploys.get", Method: get, Path: "/apps/{name}/deploys/{id}", Summary: "Show a deployment", Scope: ScopeApp, Perm: auth.PermRead, Response: platform.Deployment{}, Handler: (*API).getDeploy},
	{ID: "deploys.logs", Method: get, Path: "/apps/{name}/deploys/{id}/logs", Summary: "A deployment's log (text, or live server-sent events)", Scope: ScopeApp, Perm: auth.PermRead, Response: TextStream{}, Query: []Param{{Name: "follow", Type: "boolean", Description: "1: stream server-sent events until the deploy ends"}}, Handler: (*API).deployLogs},
	{ID: "deploys.cancel", Method: post, Path: "/apps/{name}/deploys/{id}/cancel", Summary: "Cancel a deployment in progress", Scope: ScopeApp, Perm: auth.PermDeploy, Response: platform.Deployment{}, Handler: (*API).cancelDeploy},
	{ID: "apps.rollback", Method: post, Path: "/apps/{name}/rollback", Summary: "Run an earlier deployment again", Scope: ScopeApp, Perm: auth.PermDeploy, Request: RollbackInput{}, Response: platform.Deployment{}, Status: 202, Destructive: true, Handler: (*API).rollback},
	{ID: "apps.deploy_key", Method: post, Path: "/apps/{name}/deploy-key", Summary: "Make a new SSH deploy key; answers its public half", Scope: ScopeApp, Perm: auth.PermManage, Response: PublicKey{}, Status: 201, Handler: (*API).createDeployKey},

	// Edge: redirects, domains, certificates.
	{ID: "redirects.list", Method: get, Path: "/apps/{name}/redirects", Summary: "List redirect rules", Scope: ScopeApp, Perm: auth.PermRead, Response: []platform.Redirect{}, Handler: (*API).listRedirects},
	{ID: "redirects.add", Method: post, Path: "/apps/{name}/redirects", Summary: "Add a redirect rule", Scope: ScopeApp, Perm: auth.PermConfigure, Request: platform.Redirect{}, Response: platform.Redirect{}, Status: 201, Handler: (*API).addRedirect},
	{ID: "redirects.remove", Method: del, Path: "/apps/{name}/redirects/{id}", Summary: "Remove a redirect rule", Scope: ScopeApp, Perm: auth.PermConfigure, Response: Deleted{}, Handler: (*API).removeRedirect},
	{ID: "domains.list", Method: get, Path: "/apps/{name}/domains", Summary: "List domains with DNS and certificate status", Scope: ScopeApp, Perm: auth.PermRead, Response: []platform.DomainStatus{}, Handler: (*API).listDomains},
	{ID: "domains.add", Method: post, Path: "/apps/{name}/domains", Summary: "Add custom domains", Scope: ScopeApp, Perm: auth.PermConfigure, Request: DomainsInput{}, Response: platform.AppView{}, Handler: (*API).addDomains},
	{ID: "domains.remove", Method: del, Path: "/apps/{name}/domains/{domain}", Summary: "Remove a custom domain", Scope: ScopeApp, Perm: auth.PermConfigure, Response: platform.AppView{}, Handler: (*API).removeDomain},
	{ID: "certs.list", Method: get, Path: "/apps/{name}/certs", Summary: "List uploaded certificates", Scope: ScopeApp, Perm: auth.PermRead, Response: []platform.CustomCert{}, Handler: (*API).listCerts},
	{ID: "certs.upload", Method: post, Path: "/apps/{name}/certs", Summary: "Upload a certificate and key", Scope: ScopeApp, Perm: auth.PermConfigure, Request: platform.CertInput{}, Response: platform.CustomCert{}, Status: 201, Handler: (*API).uploadCert},
	{ID: "certs.remove", Method: del, Path: "/apps/{name}/certs/{id}", Summary: "Remove an uploaded certificate", Scope: ScopeApp, Perm: auth.PermConfigure, Response: Deleted{}, Handler: (*API).removeCert},
	{ID: "webhook.get", Method: get, Path: "/apps/{name}/webhook", Summary: "The app's push webhook URL and recent deliveries", Scope: ScopeApp, Perm: auth.PermRead, Response: platform.WebhookInfo{}, Handler: (*API).webhook},
	{ID: "webhook.rotate", Method: post, Path: "/apps/{name}/webhook/secret", Summary: "Make a new webhook secret, shown once", Scope: ScopeApp, Perm: auth.PermManage, Response: platform.WebhookInfo{}, Handler: (*API).rotateWebhookSecret},

	// Login and the caller's own account (public API only).
	{ID: "auth.status", Method: get, Path: "/auth/status", Summary: "Whether first-run setup is needed, and who is logged in", Scope: ScopeAnonymous, PublicOnly: true, Response: AuthStatus{}, Handler: (*API).authStatus},
	{ID: "auth.setup", Method: post, Path: "/auth/setup", Summary: "Sign up the first admin with the setup token from the log", Scope: ScopeAnonymous, PublicOnly: true, Request: auth.SetupInput{}, Response: LoginAnswer{}, Handler: (*API).setup},
	{ID: "auth.login", Method: post, Path: "/auth/login", Summary: "Log in: password, and TOTP code when enabled", Scope: ScopeAnonymous, PublicOnly: true, Request: auth.LoginInput{}, Response: LoginAnswer{}, Handler: (*API).login},
	{ID: "auth.logout", Method: post, Path: "/auth/logout", Summary: "End this session", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Response: LoggedOut{}, Handler: (*API).logout},
	{ID: "auth.accept_invite", Method: post, Path: "/auth/invites/accept", Summary: "Sign up with an invitation", Scope: ScopeAnonymous, PublicOnly: true, Request: auth.AcceptInviteInput{}, Response: LoginAnswer{}, Handler: (*API).acceptInvite},
	{ID: "me.get", Method: get, Path: "/me", Summary: "The caller: user, teams, token", Scope: ScopeUser, PublicOnly: true, Response: Me{}, Handler: (*API).me},
	{ID: "me.token.revoke", Method: del, Path: "/me/token", Summary: "Revoke the API token this request is made with (a CLI logout)", Scope: ScopeUser, PublicOnly: true, Response: Deleted{}, Handler: (*API).revokeOwnToken},
	{ID: "me.password", Method: post, Path: "/me/password", Summary: "Change the password (ends every other session)", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Request: PasswordChange{}, Response: Result{}, Handler: (*API).changePassword},
	{ID: "me.totp.begin", Method: post, Path: "/me/totp", Summary: "Start two-factor enrollment", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Response: auth.TOTPEnrollment{}, Handler: (*API).beginTOTP},
	{ID: "me.totp.confirm", Method: post, Path: "/me/totp/confirm", Summary: "Turn two-factor authentication on; answers recovery codes once", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Request: CodeInput{}, Response: auth.RecoveryCodes{}, Handler: (*API).confirmTOTP},
	{ID: "me.totp.disable", Method: post, Path: "/me/totp/disable", Summary: "Turn two-factor authentication off", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Request: PasswordInput{}, Response: TOTPState{}, Handler: (*API).disableTOTP},
	{ID: "tokens.list", Method: get, Path: "/tokens", Summary: "List the caller's API tokens", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Response: []auth.Token{}, Handler: (*API).listTokens},
	{ID: "tokens.create", Method: post, Path: "/tokens", Summary: "Create an API token for a team, shown once", Scope: ScopeTeamInBody, Perm: auth.PermRead, SessionOnly: true, PublicOnly: true, Request: auth.TokenInput{}, Response: auth.CreatedToken{}, Status: 201, Handler: (*API).createToken},
	{ID: "tokens.delete", Method: del, Path: "/tokens/{id}", Summary: "Revoke an API token", Scope: ScopeUser, SessionOnly: true, PublicOnly: true, Response: Deleted{}, Destructive: true, Handler: (*API).deleteToken},

	// Users (platform admins).
	{ID: "users.list", Method: get, Path: "/users", Summary: "List users", Scope: ScopePlatform, Response: []auth.User{}, Handler: (*API).listUsers},
	{ID: "users.create", Method: post, Path: "/users", Summary: "Create a user (a password is generated when none is given)", Scope: ScopePlatform, SessionOnly: true, Request: auth.UserInput{}, Response: auth.CreatedUser{}, Status: 201, Handler: (*API).createUser},
	{ID: "users.get", Method: get, Path: "/users/{user}", Summary: "Show a user", Scope: ScopePlatform, Response: auth.User{}, Handler: (*API).getUser},
	{ID: "users.update", Method: pat, Path: "/users/{user}", Summary: "Change a user: name, admin, disabled, password", Scope: ScopePlatform, SessionOnly: true, Request: auth.UserPatch{}, Response: auth.User{}, Handler: (*API).updateUser},
	{ID: "users.delete", Method: del, Path: "/users/{user}", Summary: "Delete a user", Scope: ScopePlatform, SessionOnly: true, Response: Deleted{}, Destructive: true, Handler: (*API).deleteUser},

	// Teams and members.
	{ID: "teams.list", Method: get, Path: "/teams", Summary: "List the teams the caller sees", Scope: ScopeUser, Response: []auth.TeamView{}, Handler: (*API).listTeams},
	{ID: "teams.create", Method: post, Path: "/teams", Summary: "Create a team (the creator becomes its owner)", Scope: ScopeUser, SessionOnly: true, Request: TeamInput{}, Response: auth.TeamView{}, Status: 201, Handler: (*API).createTeam},
	{ID: "teams.get", Method: get, Path: "/teams/{team}", Summary: "Show a team and its members", Scope: ScopeTeam, Perm: auth.PermRead, Response: auth.TeamView{}, Handler: (*API).getTeam},
	{ID: "teams.delete", Method: del, Path: "/teams/{team}", Summary: "Delete an empty team", Scope: ScopeTeam, Perm: auth.PermOwn, SessionOnly: true, Response: Deleted{}, Destructive: true, Handler: (*API).deleteTeam},
	{ID: "members.add", Method: post, Path: "/teams/{team}/members", Summary: "Add a member, or invite someone new", Scope: ScopeTeam, Perm: auth.PermManage, Request: auth.MemberInput{}, Response: auth.MemberResult{}, Status: 201, Handler: (*API).addMember},
	{ID: "members.update", Method: pat, Path: "/teams/{team}/members/{user}", Summary: "Change a member's role", Scope: ScopeTeam, Perm: auth.PermManage, Request: RoleInput{}, Response: auth.Member{}, Handler: (*API).setRole},
	{ID: "members.remove", Method: del, Path: "/teams/{team}/members/{user}", Summary: "Remove a member", Scope: ScopeTeam, Perm: auth.PermManage, Response: Removed{}, Destructive: true, Handler: (*API).removeMember},
	{ID: "audit.team", Method: get, Path: "/teams/{team}/audit", Summary: "The team's audit log, newest first", Scope: ScopeTeam, Perm: auth.PermManage, Response: []auth.AuditEntry{}, Query: auditQuery, Handler: (*API).teamAudit},

	// Platform.
	{ID: "audit.list", Method: get, Path: "/audit", Summary: "The whole audit log, newest first", Scope: ScopePlatform, Response: []auth.AuditEntry{}, Query: append(auditQuery, Param{Name: "team", Type: "string", Description: "only this team's entries"}), Handler: (*API).listAudit},
	{ID: "secrets.rotate_key", Method: post, Path: "/secrets/rotate-key", Summary: "Re-seal every secret under a new master key", Scope: ScopePlatform, SessionOnly: true, Response: KeyID{}, Destructive: true, Handler: (*API).rotateKey},
}
