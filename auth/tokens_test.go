package auth

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

func TestCreateToken(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	e.createTeam("beta")
	byRole := map[Role]*Principal{}
	for _, r := range Roles {
		u := e.seedUser(string(r)+"@example.com", false)
		e.addMember("alpha", u.Email, r)
		byRole[r] = e.userPrincipal(u.ID)
	}
	padmin := e.seedUser("platform@example.com", true)
	adminP := e.userPrincipal(padmin.ID)

	// Which scopes each role may create: read, deploy, admin.
	for _, tc := range []struct {
		role Role
		want string // 'y' or 'f' (403) for read, deploy, admin
	}{
		{RoleOwner, "yyy"},
		{RoleAdmin, "yyy"},
		{RoleDeveloper, "yyf"},
		{RoleViewer, "yff"},
	} {
		for i, scope := range []Scope{ScopeRead, ScopeDeploy, ScopeAdmin} {
			t.Run(string(tc.role)+" creates "+string(scope), func(t *testing.T) {
				p := byRole[tc.role]
				tok, err := e.s.CreateToken(ctx, p, TokenInput{Name: "ci", Team: "alpha", Scope: scope})
				if tc.want[i] == 'f' {
					wantErr(t, err, http.StatusForbidden, "")
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !tokenRe.MatchString(tok.Secret) || !strings.Contains(tok.Secret, tok.ID) {
					t.Errorf("token %q, id %q", tok.Secret, tok.ID)
				}
				if tok.UserID != p.User.ID || tok.Team != "alpha" || tok.Scope != scope || tok.Name != "ci" {
					t.Errorf("token %+v", tok.Token)
				}
				if !tok.CreatedAt.Equal(e.clock.Now()) || !tok.ExpiresAt.Equal(e.clock.Now().Add(30*24*time.Hour)) {
					t.Errorf("created %v, expires %v: want now and 30 days on", tok.CreatedAt, tok.ExpiresAt)
				}
			})
		}
	}

	owner := byRole[RoleOwner]
	for _, tc := range []struct {
		name   string
		p      *Principal
		in     TokenInput
		status int
		days   int // lifetime in days when accepted
	}{
		{"one day", owner, TokenInput{Name: "a", Team: "alpha", Scope: ScopeRead, ExpiresInDays: 1}, 0, 1},
		{"366 days", owner, TokenInput{Name: "a", Team: "alpha", Scope: ScopeRead, ExpiresInDays: MaxTokenDays}, 0, 366},
		{"name is trimmed", owner, TokenInput{Name: "  spaced  ", Team: "alpha", Scope: ScopeRead}, 0, 30},
		{"platform admin, any team", adminP, TokenInput{Name: "a", Team: "beta", Scope: ScopeAdmin}, 0, 30},
		{"367 days", owner, TokenInput{Name: "a", Team: "alpha", Scope: ScopeRead, ExpiresInDays: MaxTokenDays + 1}, http.StatusBadRequest, 0},
		{"negative days", owner, TokenInput{Name: "a", Team: "alpha", Scope: ScopeRead, ExpiresInDays: -1}, http.StatusBadRequest, 0},
		{"no scope", owner, TokenInput{Name: "a", Team: "alpha"}, http.StatusBadRequest, 0},
		{"unknown scope", owner, TokenInput{Name: "a", Team: "alpha", Scope: "write"}, http.StatusBadRequest, 0},
		{"no name", owner, TokenInput{Name: "  ", Team: "alpha", Scope: ScopeRead}, http.StatusBadRequest, 0},
		{"name on two lines", owner, TokenInput{Name: "a\nb", Team: "alpha", Scope: ScopeRead}, http.StatusBadRequest, 0},
		{"name too long", owner, TokenInput{Name: strings.Repeat("n", 101), Team: "alpha", Scope: ScopeRead}, http.StatusBadRequest, 0},
		{"team not visible", owner, TokenInput{Name: "a", Team: "beta", Scope: ScopeRead}, http.StatusNotFound, 0},
		{"no such team (platform admin)", adminP, TokenInput{Name: "a", Team: "nope", Scope: ScopeRead}, http.StatusNotFound, 0},
		{"local endpoint: no user", Local, TokenInput{Name: "a", Team: "alpha", Scope: ScopeRead}, http.StatusForbidden, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := e.s.CreateToken(ctx, tc.p, tc.in)
			if tc.status != 0 {
				wantErr(t, err, tc.status, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.ExpiresAt.Sub(tok.CreatedAt); got != time.Duration(tc.days)*24*time.Hour {
				t.Errorf("lifetime %v, want %d days", got, tc.days)
			}
			if tok.Name != strings.TrimSpace(tc.in.Name) {
				t.Errorf("name %q", tok.Name)
			}
		})
	}
}

func TestTokenAuthenticate(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	e.createTeam("beta")
	u := e.seedUser("tok@example.com", false)
	e.addMember("alpha", u.Email, RoleOwner)
	e.addMember("beta", u.Email, RoleOwner)
	p := e.userPrincipal(u.ID)
	tok, err := e.s.CreateToken(ctx, p, TokenInput{Name: "ci", Team: "alpha", Scope: ScopeDeploy, ExpiresInDays: 2})
	must(t, err)

	got, err := e.s.Authenticate(bearerRequest(tok.Secret))
	must(t, err)
	if got == nil || got.Kind != KindToken || got.User.ID != u.ID || got.Token == nil || got.Token.ID != tok.ID || got.CSRF != "" || got.SessionKey != "" {
		t.Fatalf("principal %+v", got)
	}
	if !got.Can("alpha", PermDeploy) || got.Can("alpha", PermManage) || got.Sees("beta") || got.Admin() {
		t.Error("the token's principal has the wrong powers")
	}
	// "bearer" in any case, and the header wins over a session cookie.
	r := cookieRequest(e.session(u.ID).ID)
	r.Header.Set("Authorization", "bearer "+tok.Secret)
	if got, err := e.s.Authenticate(r); err != nil || got.Kind != KindToken {
		t.Errorf("lowercase bearer with a cookie: %+v, %v", got, err)
	}
	// Use is recorded, at most once a minute.
	lastUsed := func() *time.Time {
		var rec tokenRecord
		must(t, e.db.View(func(tx *storage.Tx) error { return tx.Get(tokensBucket, tok.ID, &rec) }))
		return rec.LastUsedAt
	}
	if lu := lastUsed(); lu == nil || !lu.Equal(e.clock.Now()) {
		t.Errorf("LastUsedAt %v", lu)
	}
	e.clock.Add(2 * time.Minute)
	_, err = e.s.Authenticate(bearerRequest(tok.Secret))
	must(t, err)
	if lu := lastUsed(); lu == nil || !lu.Equal(e.clock.Now()) {
		t.Errorf("LastUsedAt %v after a second use", lu)
	}
	list, err := e.s.Tokens(p)
	must(t, err)
	if len(list) != 1 || list[0].LastUsedAt == nil {
		t.Errorf("Tokens() = %+v", list)
	}

	// Another random secret, and an id no token has.
	_, unknownID, secret, err := NewAPIToken()
	must(t, err)
	id, _, err := ParseAPIToken(tok.Secret)
	must(t, err)
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"wrong secret", formatAPIToken(id, secret)},
		{"unknown id", formatAPIToken(unknownID, secret)},
		{"malformed", "cpaas_nothing"},
		{"truncated", tok.Secret[:len(tok.Secret)-1]},
		{"with a trailing character", tok.Secret + "A"},
		{"without prefix", strings.TrimPrefix(tok.Secret, TokenPrefix)},
		{"secret in capitals", strings.ToUpper(tok.Secret)},
		{"jwt alg none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.Authenticate(bearerRequest(tc.tok))
			ae := wantErr(t, err, http.StatusUnauthorized, "bad_token")
			if got != nil {
				t.Error("a principal despite the error")
			}
			if ae.Message != errBadToken.Message {
				t.Errorf("message %q, want %q", ae.Message, errBadToken.Message)
			}
		})
	}
}

// TestTokenRevocation: every way a token stops working answers the same
// 401.
func TestTokenRevocation(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedUser("root@example.com", true)
	e.createTeam("alpha")
	for _, tc := range []struct {
		name   string
		revoke func(e *env, u *User, tok *CreatedToken)
	}{
		{"expired", func(e *env, u *User, tok *CreatedToken) { e.clock.Add(24*time.Hour + time.Second) }},
		{"deleted", func(e *env, u *User, tok *CreatedToken) {
			must(t, e.s.DeleteToken(ctx, e.userPrincipal(u.ID), tok.ID))
		}},
		{"user disabled", func(e *env, u *User, tok *CreatedToken) {
			_, err := e.s.UpdateUser(ctx, u.ID, UserPatch{Disabled: boolp(true)})
			must(t, err)
		}},
		{"user removed from the team", func(e *env, u *User, tok *CreatedToken) {
			must(t, e.s.RemoveMember(ctx, Local, "alpha", u.ID))
		}},
		{"membership gone (record edited)", func(e *env, u *User, tok *CreatedToken) {
			// What RemoveMember's token deletion hides: authentication
			// itself checks the membership.
			must(t, e.db.Update(func(tx *storage.Tx) error {
				tr, err := getTeam(tx, "alpha")
				if err != nil {
					return err
				}
				delete(tr.Members, u.ID)
				return tx.Put(teamsBucket, "alpha", tr)
			}))
		}},
		{"user deleted", func(e *env, u *User, tok *CreatedToken) { must(t, e.s.DeleteUser(ctx, u.ID)) }},
		{"team deleted", func(e *env, u *User, tok *CreatedToken) {
			must(t, e.s.DeleteTeam(ctx, "alpha"))
			e.createTeam("alpha")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), "(", "") + "@example.com"
			email = strings.ReplaceAll(email, ")", "")
			u := e.seedUser(email, false)
			e.addMember("alpha", u.Email, RoleDeveloper)
			e.addMember(DefaultTeam, u.Email, RoleViewer) // keeps the user in some team
			tok, err := e.s.CreateToken(ctx, e.userPrincipal(u.ID), TokenInput{Name: "ci", Team: "alpha", Scope: ScopeDeploy, ExpiresInDays: 1})
			must(t, err)
			if _, err := e.s.Authenticate(bearerRequest(tok.Secret)); err != nil {
				t.Fatalf("before: %v", err)
			}
			tc.revoke(e, u, tok)
			got, err := e.s.Authenticate(bearerRequest(tok.Secret))
			ae := wantErr(t, err, http.StatusUnauthorized, "bad_token")
			if got != nil || ae.Message != errBadToken.Message {
				t.Errorf("principal %+v, message %q", got, ae.Message)
			}
		})
	}
}

func TestPlatformAdminToken(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedUser("root@example.com", true)
	a := e.seedUser("ops@example.com", true)
	e.createTeam("alpha")
	e.createTeam("beta")
	tok, err := e.s.CreateToken(ctx, e.userPrincipal(a.ID), TokenInput{Name: "ops", Team: "alpha", Scope: ScopeAdmin})
	must(t, err)
	p, err := e.s.Authenticate(bearerRequest(tok.Secret))
	must(t, err)
	if !p.Can("alpha", PermOwn) || p.Sees("beta") || p.Sees(DefaultTeam) || p.Admin() {
		t.Errorf("a platform admin's token: alpha own %v, beta %v, admin %v", p.Can("alpha", PermOwn), p.Sees("beta"), p.Admin())
	}
	// No longer an admin, and not a member: the token stops.
	_, err = e.s.UpdateUser(ctx, a.ID, UserPatch{Admin: boolp(false)})
	must(t, err)
	_, err = e.s.Authenticate(bearerRequest(tok.Secret))
	wantErr(t, err, http.StatusUnauthorized, "bad_token")
}

// TestTokenScopeCappedByCurrentRole: a token never does more than its
// user's role allows now.
func TestTokenScopeCappedByCurrentRole(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	u := e.seedUser("amy@example.com", false)
	e.addMember("alpha", u.Email, RoleAdmin)
	tok, err := e.s.CreateToken(ctx, e.userPrincipal(u.ID), TokenInput{Name: "ops", Team: "alpha", Scope: ScopeAdmin})
	must(t, err)
	p, err := e.s.Authenticate(bearerRequest(tok.Secret))
	must(t, err)
	if !p.Can("alpha", PermManage) || p.Can("alpha", PermOwn) {
		t.Error("an admin's admin token")
	}
	_, err = e.s.SetRole(ctx, Local, "alpha", u.ID, RoleViewer)
	must(t, err)
	p, err = e.s.Authenticate(bearerRequest(tok.Secret))
	must(t, err)
	if !p.Can("alpha", PermRead) || p.Can("alpha", PermDeploy) || p.Can("alpha", PermManage) {
		t.Error("a demoted user's admin token keeps powers above viewer")
	}
}

// TestCreateTokenFromToken: a token is bound to its scope; it must not
// mint a token of a wider scope for itself. The API refuses tokens on
// tokens.create (SessionOnly), so this is defense in depth.
func TestCreateTokenFromToken(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	u := e.seedUser("own@example.com", false)
	e.addMember("alpha", u.Email, RoleOwner)
	ro, err := e.s.CreateToken(ctx, e.userPrincipal(u.ID), TokenInput{Name: "ro", Team: "alpha", Scope: ScopeRead})
	must(t, err)
	p, err := e.s.Authenticate(bearerRequest(ro.Secret))
	must(t, err)
	_, err = e.s.CreateToken(ctx, p, TokenInput{Name: "escalated", Team: "alpha", Scope: ScopeAdmin})
	wantErr(t, err, http.StatusForbidden, "")
}

func TestDeleteToken(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	owner := e.seedUser("own@example.com", false)
	other := e.seedUser("other@example.com", false)
	padmin := e.seedUser("root@example.com", true)
	e.addMember("alpha", owner.Email, RoleOwner)
	e.addMember("alpha", other.Email, RoleOwner)
	ownerP, otherP := e.userPrincipal(owner.ID), e.userPrincipal(other.ID)
	t1, err := e.s.CreateToken(ctx, ownerP, TokenInput{Name: "one", Team: "alpha", Scope: ScopeRead})
	must(t, err)
	e.clock.Add(time.Second)
	t2, err := e.s.CreateToken(ctx, ownerP, TokenInput{Name: "two", Team: "alpha", Scope: ScopeRead})
	must(t, err)
	t3, err := e.s.CreateToken(ctx, otherP, TokenInput{Name: "three", Team: "alpha", Scope: ScopeRead})
	must(t, err)

	list, err := e.s.Tokens(ownerP)
	must(t, err)
	if len(list) != 2 || list[0].ID != t1.ID || list[1].ID != t2.ID {
		t.Errorf("the owner's tokens: %+v", list)
	}
	all, err := e.s.Tokens(e.userPrincipal(padmin.ID))
	must(t, err)
	if len(all) != 3 {
		t.Errorf("a platform admin sees %d tokens, want 3", len(all))
	}
	// Another member, even an owner of the same team, gets 404.
	wantErr(t, e.s.DeleteToken(ctx, otherP, t1.ID), http.StatusNotFound, "")
	wantErr(t, e.s.DeleteToken(ctx, ownerP, "000000000000"), http.StatusNotFound, "")
	if _, err := e.s.Authenticate(bearerRequest(t1.Secret)); err != nil {
		t.Fatalf("a refused deletion revoked the token: %v", err)
	}
	must(t, e.s.DeleteToken(ctx, ownerP, t1.ID))
	wantErr(t, e.s.DeleteToken(ctx, ownerP, t1.ID), http.StatusNotFound, "")
	// A platform admin deletes anyone's.
	must(t, e.s.DeleteToken(ctx, e.userPrincipal(padmin.ID), t3.ID))
	left, _ := e.s.Tokens(Local)
	if len(left) != 1 || left[0].ID != t2.ID {
		t.Errorf("tokens left %+v", left)
	}
}

// TestTokenNotStoredInClear scans the database file for the token.
func TestTokenNotStoredInClear(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	u := e.seedUser("own@example.com", false)
	e.addMember("alpha", u.Email, RoleOwner)
	tok, err := e.s.CreateToken(ctx, e.userPrincipal(u.ID), TokenInput{Name: "ci", Team: "alpha", Scope: ScopeAdmin})
	must(t, err)
	// Use it, so the record is written again.
	_, err = e.s.Authenticate(bearerRequest(tok.Secret))
	must(t, err)
	id, secret, err := ParseAPIToken(tok.Secret)
	must(t, err)
	var rec tokenRecord
	must(t, e.db.View(func(tx *storage.Tx) error { return tx.Get(tokensBucket, id, &rec) }))
	if bytes.Equal(rec.Hash, secret) || len(rec.Hash) != 32 || !VerifyTokenSecret(e.s.hashKey, secret, rec.Hash) {
		t.Errorf("stored hash %x", rec.Hash)
	}
	raw := e.rawDB()
	if !bytes.Contains(raw, []byte(id)) {
		t.Fatal("the scan does not see the token record")
	}
	for name, form := range map[string][]byte{
		"token":              []byte(tok.Secret),
		"secret (base64url)": []byte(tok.Secret[len(TokenPrefix)+len(id)+1:]),
		"secret (base64)":    []byte(base64.StdEncoding.EncodeToString(secret)),
		"secret (raw)":       secret,
	} {
		if bytes.Contains(raw, form) {
			t.Errorf("the %s is in the database file", name)
		}
	}
}
