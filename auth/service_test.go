package auth

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/storage"
)

var allPerms = []Permission{PermRead, PermDeploy, PermConfigure, PermManage, PermReveal, PermOwn}

// permSet spells a set of permissions as a string of letters, written here
// independently of rolePerms: r read, d deploy, c configure, m manage, v
// reveal, o own.
func permSet(letters string) map[Permission]bool {
	byLetter := map[rune]Permission{'r': PermRead, 'd': PermDeploy, 'c': PermConfigure, 'm': PermManage, 'v': PermReveal, 'o': PermOwn}
	out := map[Permission]bool{}
	for _, l := range letters {
		p, ok := byLetter[l]
		if !ok {
			panic("unknown permission letter " + string(l))
		}
		out[p] = true
	}
	return out
}

func TestRoleCan(t *testing.T) {
	for _, tc := range []struct {
		role  Role
		valid bool
		perms string
	}{
		{RoleOwner, true, "rdcmvo"},
		{RoleAdmin, true, "rdcmv"},
		{RoleDeveloper, true, "rdc"},
		{RoleViewer, true, "r"},
		{"", false, ""},
		{"root", false, ""},
		{"Owner", false, ""},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			if got := tc.role.Valid(); got != tc.valid {
				t.Errorf("Valid() = %v, want %v", got, tc.valid)
			}
			want := permSet(tc.perms)
			for _, p := range append(allPerms, "", "delete") {
				if got := tc.role.Can(p); got != want[p] {
					t.Errorf("%s.Can(%s) = %v, want %v", tc.role, p, got, want[p])
				}
			}
		})
	}
}

func TestRoleAtLeast(t *testing.T) {
	// order lists the roles from the least powerful up; an unknown role is
	// below all of them.
	order := []Role{"nobody", RoleViewer, RoleDeveloper, RoleAdmin, RoleOwner}
	for i, a := range order {
		for j, b := range order {
			if got, want := a.AtLeast(b), i >= j; got != want {
				t.Errorf("%s.AtLeast(%s) = %v, want %v", a, b, got, want)
			}
		}
	}
	if len(Roles) != 4 || Roles[0] != RoleOwner || Roles[3] != RoleViewer {
		t.Errorf("Roles = %v, want owner, admin, developer, viewer", Roles)
	}
}

func TestScopeCan(t *testing.T) {
	for _, tc := range []struct {
		scope   Scope
		valid   bool
		perms   string
		minRole Role
	}{
		{ScopeRead, true, "r", RoleViewer},
		{ScopeDeploy, true, "rdc", RoleDeveloper},
		{ScopeAdmin, true, "rdcmvo", RoleAdmin},
		{"", false, "", ""},
		{"write", false, "", ""},
	} {
		t.Run(string(tc.scope), func(t *testing.T) {
			if got := tc.scope.Valid(); got != tc.valid {
				t.Errorf("Valid() = %v, want %v", got, tc.valid)
			}
			want := permSet(tc.perms)
			for _, p := range allPerms {
				if got := tc.scope.Can(p); got != want[p] {
					t.Errorf("%s.Can(%s) = %v, want %v", tc.scope, p, got, want[p])
				}
			}
			if tc.valid && tc.scope.minRole() != tc.minRole {
				t.Errorf("minRole() = %s, want %s", tc.scope.minRole(), tc.minRole)
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	member := &User{ID: "u_member", Email: "m@example.com"}
	platformAdmin := &User{ID: "u_admin", Email: "a@example.com", Admin: true}
	// teamPerms: the expected permissions in each of the teams alpha, beta
	// and gamma; a team missing from the map is not visible.
	type teamPerms map[string]string
	for _, tc := range []struct {
		name  string
		p     *Principal
		admin bool
		roles map[string]Role
		perms teamPerms
	}{
		{
			name:  "local",
			p:     Local,
			admin: true,
			roles: map[string]Role{"alpha": RoleOwner, "beta": RoleOwner, "gamma": RoleOwner},
			perms: teamPerms{"alpha": "rdcmvo", "beta": "rdcmvo", "gamma": "rdcmvo"},
		},
		{
			name:  "platform admin session, member of nothing",
			p:     &Principal{Kind: KindSession, User: platformAdmin, Teams: map[string]Role{}},
			admin: true,
			roles: map[string]Role{"alpha": RoleOwner, "beta": RoleOwner, "gamma": RoleOwner},
			perms: teamPerms{"alpha": "rdcmvo", "beta": "rdcmvo", "gamma": "rdcmvo"},
		},
		{
			name:  "member session",
			p:     &Principal{Kind: KindSession, User: member, Teams: map[string]Role{"alpha": RoleDeveloper, "beta": RoleViewer}},
			roles: map[string]Role{"alpha": RoleDeveloper, "beta": RoleViewer},
			perms: teamPerms{"alpha": "rdc", "beta": "r"},
		},
		{
			name:  "admin member session",
			p:     &Principal{Kind: KindSession, User: member, Teams: map[string]Role{"alpha": RoleAdmin}},
			roles: map[string]Role{"alpha": RoleAdmin},
			perms: teamPerms{"alpha": "rdcmv"},
		},
		{
			name: "session of a member of no team",
			p:    &Principal{Kind: KindSession, User: member, Teams: map[string]Role{}},
		},
		{
			name: "session with no user",
			p:    &Principal{Kind: KindSession},
		},
		{
			name: "deploy token of an owner, in its team only",
			p: &Principal{Kind: KindToken, User: member, Teams: map[string]Role{"alpha": RoleOwner, "beta": RoleOwner},
				Token: &Token{ID: "t1", Team: "alpha", Scope: ScopeDeploy}},
			roles: map[string]Role{"alpha": RoleOwner},
			perms: teamPerms{"alpha": "rdc"},
		},
		{
			name: "admin token of a platform admin never reaches another team",
			p: &Principal{Kind: KindToken, User: platformAdmin, Teams: map[string]Role{},
				Token: &Token{ID: "t2", Team: "beta", Scope: ScopeAdmin}},
			roles: map[string]Role{"beta": RoleOwner},
			perms: teamPerms{"beta": "rdcmvo"},
		},
		{
			name: "read token of an owner",
			p: &Principal{Kind: KindToken, User: member, Teams: map[string]Role{"alpha": RoleOwner},
				Token: &Token{ID: "t3", Team: "alpha", Scope: ScopeRead}},
			roles: map[string]Role{"alpha": RoleOwner},
			perms: teamPerms{"alpha": "r"},
		},
		{
			name: "admin token of a (since demoted) viewer: the role caps the scope",
			p: &Principal{Kind: KindToken, User: member, Teams: map[string]Role{"alpha": RoleViewer},
				Token: &Token{ID: "t4", Team: "alpha", Scope: ScopeAdmin}},
			roles: map[string]Role{"alpha": RoleViewer},
			perms: teamPerms{"alpha": "r"},
		},
		{
			name: "admin token of a developer",
			p: &Principal{Kind: KindToken, User: member, Teams: map[string]Role{"alpha": RoleDeveloper},
				Token: &Token{ID: "t5", Team: "alpha", Scope: ScopeAdmin}},
			roles: map[string]Role{"alpha": RoleDeveloper},
			perms: teamPerms{"alpha": "rdc"},
		},
		{
			name: "token for a team its user left",
			p: &Principal{Kind: KindToken, User: member, Teams: map[string]Role{"beta": RoleOwner},
				Token: &Token{ID: "t6", Team: "alpha", Scope: ScopeAdmin}},
		},
		{
			name: "token kind without a token",
			p:    &Principal{Kind: KindToken, User: platformAdmin, Teams: map[string]Role{"alpha": RoleOwner}},
		},
		{
			name: "unknown kind",
			p:    &Principal{Kind: "anonymous"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Admin(); got != tc.admin {
				t.Errorf("Admin() = %v, want %v", got, tc.admin)
			}
			for _, team := range []string{"alpha", "beta", "gamma"} {
				wantRole, wantOK := tc.roles[team]
				role, ok := tc.p.RoleIn(team)
				if role != wantRole || ok != wantOK {
					t.Errorf("RoleIn(%s) = %q, %v; want %q, %v", team, role, ok, wantRole, wantOK)
				}
				letters, visible := tc.perms[team]
				if got := tc.p.Sees(team); got != visible {
					t.Errorf("Sees(%s) = %v, want %v", team, got, visible)
				}
				want := permSet(letters)
				for _, perm := range allPerms {
					if got := tc.p.Can(team, perm); got != want[perm] {
						t.Errorf("Can(%s, %s) = %v, want %v", team, perm, got, want[perm])
					}
				}
			}
		})
	}
}

func TestPrincipalActorAndContext(t *testing.T) {
	for _, tc := range []struct {
		p    *Principal
		want string
	}{
		{nil, "anonymous"},
		{Local, "local admin endpoint"},
		{&Principal{Kind: KindSession, User: &User{Email: "a@example.com"}}, "a@example.com"},
		{&Principal{Kind: KindToken, User: &User{Email: "b@example.com"}, Token: &Token{}}, "b@example.com"},
		{&Principal{Kind: KindToken}, KindToken},
	} {
		if got := tc.p.Actor(); got != tc.want {
			t.Errorf("Actor() = %q, want %q", got, tc.want)
		}
	}
	c := WithPrincipal(ctx, Local)
	c = WithRequestInfo(c, RequestInfo{ClientIP: "203.0.113.9"})
	if PrincipalFrom(c) != Local || RequestInfoFrom(c).ClientIP != "203.0.113.9" {
		t.Error("principal or request info lost in the context")
	}
	if PrincipalFrom(ctx) != nil || RequestInfoFrom(ctx) != (RequestInfo{}) {
		t.Error("an empty context carries a principal or request info")
	}
}

func TestErrorRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {15 * time.Minute, 900},
	} {
		e := &Error{Status: http.StatusTooManyRequests, RetryAfter: tc.d}
		if got := e.RetryAfterSeconds(); got != tc.want {
			t.Errorf("RetryAfterSeconds() for %v = %d, want %d", tc.d, got, tc.want)
		}
	}
	e := unauthorized("bad_token", "no %s", "luck")
	var ae *Error
	if !errors.As(e, &ae) || ae.HTTPStatus() != 401 || ae.ErrorCode() != "bad_token" || ae.Error() != "no luck" {
		t.Errorf("unauthorized() = %#v", e)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.SessionIdle != 12*time.Hour || c.SessionLifetime != 7*24*time.Hour || c.MaxLoginFailures != 5 || c.LoginWindow != 15*time.Minute {
		t.Errorf("defaults = %+v", c)
	}
	c = Config{SessionIdle: time.Minute, SessionLifetime: time.Hour, MaxLoginFailures: 2, LoginWindow: time.Second}.withDefaults()
	if c.SessionIdle != time.Minute || c.SessionLifetime != time.Hour || c.MaxLoginFailures != 2 || c.LoginWindow != time.Second {
		t.Errorf("set values changed: %+v", c)
	}
}

func TestNewServiceReopens(t *testing.T) {
	e := newEnv(t, Config{})
	if ok, err := e.s.TeamExists(DefaultTeam); err != nil || !ok {
		t.Fatalf("TeamExists(default) = %v, %v", ok, err)
	}
	if ok, err := e.s.TeamExists("nope"); err != nil || ok {
		t.Fatalf("TeamExists(nope) = %v, %v", ok, err)
	}
	if has, err := e.s.HasUsers(); err != nil || has {
		t.Fatalf("HasUsers() on a new database = %v, %v", has, err)
	}
	if len(e.s.hashKey) != 32 || bytes.Equal(e.s.hashKey, make([]byte, 32)) {
		t.Fatalf("hash key %x is not 32 random bytes", e.s.hashKey)
	}
	// The HMAC key is generated once: a second service over the same
	// database has the same, so tokens survive a restart.
	sealer, err := storage.NewSealer(testMasterKey)
	must(t, err)
	s2, err := NewService(e.db, sealer, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s2.hashKey, e.s.hashKey) {
		t.Error("the hash key changed on a restart")
	}
	// The hash key is sealed: another master key cannot open it.
	other, err := storage.NewSealer(bytes.Repeat([]byte{0x11}, 32))
	must(t, err)
	if _, err := NewService(e.db, other, Config{}, zap.NewNop()); err == nil {
		t.Error("a service opened with another master key")
	}
}

// TestConfigureAppliesThrottleLimits: Configure is documented as applying
// new settings on a config reload, MaxLoginFailures and LoginWindow among
// them.
func TestConfigureAppliesThrottleLimits(t *testing.T) {
	e := newEnv(t, Config{MaxLoginFailures: 2})
	e.seedUser("carol@example.com", false)
	e.s.Configure(Config{MaxLoginFailures: 4}, nil)
	for i := 0; i < 3; i++ {
		_, _, err := e.s.Login(ctx, login("carol@example.com", "wrong password!"), ip("198.51.100.7"))
		wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	}
}
