package admin

import "github.com/caddy-paas/caddy-paas/auth"

// The request and answer bodies that belong to the API itself (the others
// are platform and auth types). Each is named so that the OpenAPI document,
// the CLI and the MCP tools describe exactly what the handlers decode.

// DomainsInput adds custom domains to an app.
type DomainsInput struct {
	// Domains are the custom domains to add.
	Domains []string `json:"domains"`
}

// RollbackInput names the deployment to run again.
type RollbackInput struct {
	// Deployment is the id of the deployment to run again.
	Deployment string `json:"deployment"`
}

// PasswordChange changes the caller's password.
type PasswordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// CodeInput carries a TOTP code.
type CodeInput struct {
	// Code is the 6-digit code of the authenticator app.
	Code string `json:"code"`
}

// PasswordInput carries the caller's password, to confirm a change.
type PasswordInput struct {
	Password string `json:"password"`
}

// TeamInput creates a team.
type TeamInput struct {
	// Name is the team's name: lowercase letters, digits and '-'.
	Name string `json:"name"`
}

// RoleInput changes a member's role.
type RoleInput struct {
	// Role is owner, admin, developer or viewer.
	Role auth.Role `json:"role"`
}

// Deleted answers a deletion: what was deleted.
type Deleted struct {
	Deleted string `json:"deleted"`
}

// Removed answers the removal of a member.
type Removed struct {
	Removed string `json:"removed"`
}

// PublicKey answers a new deploy key.
type PublicKey struct {
	// PublicKey is the key to add to the repository's deploy keys.
	PublicKey string `json:"public_key"`
}

// RevealedEnv is one env value in clear.
type RevealedEnv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LoginAnswer answers a login, a setup or an accepted invitation: the user
// and the session's CSRF token, to send back in X-CSRF-Token. The session
// itself is the cookie.
type LoginAnswer struct {
	User      *auth.User `json:"user"`
	CSRFToken string     `json:"csrf_token"`
}

// AuthStatus says whether first-run setup is needed, and who is logged in.
type AuthStatus struct {
	SetupRequired bool       `json:"setup_required"`
	User          *auth.User `json:"user,omitempty"`
}

// Me describes the caller.
type Me struct {
	// Kind is session or token.
	Kind  string               `json:"kind"`
	User  *auth.User           `json:"user"`
	Teams map[string]auth.Role `json:"teams"`
	Token *auth.Token          `json:"token,omitempty"`
	// CSRFToken is the session's anti-forgery token (sessions only).
	CSRFToken string `json:"csrf_token,omitempty"`
}

// LoggedOut answers a logout.
type LoggedOut struct {
	LoggedOut bool `json:"logged_out"`
}

// Result is a one-line answer.
type Result struct {
	Result string `json:"result"`
}

// TOTPState answers a change of two-factor authentication.
type TOTPState struct {
	TOTPEnabled bool `json:"totp_enabled"`
}

// KeyID answers a key rotation: the new master key's id.
type KeyID struct {
	KeyID string `json:"key_id"`
}

// ErrorAnswer is the body of every error.
type ErrorAnswer struct {
	// Error says what went wrong; it never holds a secret.
	Error string `json:"error"`
	// Code is a machine-readable reason, when there is one (such as
	// totp_required, bad_credentials, throttled, bad_token).
	Code string `json:"code,omitempty"`
}

// EnvPatch sets or removes env variables.
type EnvPatch struct {
	// Env maps keys to new values, or to null to remove them.
	Env map[string]*string `json:"env"`
	// Deploy starts a deploy with the new env (default true); false saves
	// it for the next deploy.
	Deploy *bool `json:"deploy,omitempty"`
}

// ScaleInput sets the number of replicas.
type ScaleInput struct {
	// Replicas is the number of load-balanced replicas (at least 1).
	Replicas int `json:"replicas"`
}
