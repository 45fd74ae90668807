package auth

// Role is what a member may do in a team.
type Role string

// The roles, from the most to the least powerful.
const (
	// RoleOwner may do everything in the team, including deleting it and
	// making other owners.
	RoleOwner Role = "owner"
	// RoleAdmin manages the team's apps, members and tokens, and may reveal
	// secret values.
	RoleAdmin Role = "admin"
	// RoleDeveloper deploys, configures (env, domains, scaling) and reads
	// logs.
	RoleDeveloper Role = "developer"
	// RoleViewer reads apps, deployments and logs, never secret values.
	RoleViewer Role = "viewer"
)

// Roles lists every role, the most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleDeveloper, RoleViewer}

// Permission is one kind of action on a team's resources. Each operation of
// the API names the permission it needs.
type Permission string

// The permissions.
const (
	// PermRead sees apps, deployments, logs, domains and settings; secret
	// values stay masked.
	PermRead Permission = "read"
	// PermDeploy deploys, rolls back, cancels, stops and starts apps.
	PermDeploy Permission = "deploy"
	// PermConfigure changes an app: env, domains, redirects, certificates,
	// scaling.
	PermConfigure Permission = "configure"
	// PermManage creates and deletes apps, manages members and the team's
	// audit log, deploy keys and webhook secrets.
	PermManage Permission = "manage"
	// PermReveal shows a secret value in clear (audited).
	PermReveal Permission = "reveal"
	// PermOwn deletes the team and grants the owner role.
	PermOwn Permission = "own"
)

var rolePerms = map[Role][]Permission{
	RoleOwner:     {PermRead, PermDeploy, PermConfigure, PermManage, PermReveal, PermOwn},
	RoleAdmin:     {PermRead, PermDeploy, PermConfigure, PermManage, PermReveal},
	RoleDeveloper: {PermRead, PermDeploy, PermConfigure},
	RoleViewer:    {PermRead},
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	_, ok := rolePerms[r]
	return ok
}

// Can reports whether the role grants p.
func (r Role) Can(p Permission) bool {
	for _, q := range rolePerms[r] {
		if q == p {
			return true
		}
	}
	return false
}

// rank orders roles: a higher rank holds every permission of a lower one.
func (r Role) rank() int {
	for i, q := range Roles {
		if q == r {
			return len(Roles) - i
		}
	}
	return 0
}

// AtLeast reports whether r is as powerful as o or more.
func (r Role) AtLeast(o Role) bool { return r.rank() >= o.rank() }

// Scope limits what an API token may do, below its creator's role.
type Scope string

// The token scopes.
const (
	// ScopeRead reads only.
	ScopeRead Scope = "read"
	// ScopeDeploy reads, deploys and configures apps (CI pipelines).
	ScopeDeploy Scope = "deploy"
	// ScopeAdmin does whatever its creator's role allows in the team.
	ScopeAdmin Scope = "admin"
)

var scopePerms = map[Scope][]Permission{
	ScopeRead:   {PermRead},
	ScopeDeploy: {PermRead, PermDeploy, PermConfigure},
	ScopeAdmin:  {PermRead, PermDeploy, PermConfigure, PermManage, PermReveal, PermOwn},
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool {
	_, ok := scopePerms[s]
	return ok
}

// Can reports whether the scope allows p.
func (s Scope) Can(p Permission) bool {
	for _, q := range scopePerms[s] {
		if q == p {
			return true
		}
	}
	return false
}

// minRole is the least role that may create a token of scope s.
func (s Scope) minRole() Role {
	switch s {
	case ScopeAdmin:
		return RoleAdmin
	case ScopeDeploy:
		return RoleDeveloper
	}
	return RoleViewer
}
