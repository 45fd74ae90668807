package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"alice@example.com", "alice@example.com"},
		{"  Alice@Example.COM \t", "alice@example.com"},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org"},
	} {
		got, err := NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "   ", "alice", "@example.com", "alice@", "Alice <alice@example.com>",
		"a b@example.com", "alice@example.com\r\nBcc: v@evil", "alice@example.com\x00",
		"a,b@example.com", "a;b@example.com", "\"a\"@example.com", "<alice@example.com>",
		strings.Repeat("a", 250) + "@example.com",
	} {
		if got, err := NormalizeEmail(in); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", in, got)
		} else {
			wantErr(t, err, http.StatusBadRequest, "")
		}
	}
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t, Config{})
	// One full argon2 hash per successful creation: few of them.
	cu, err := e.s.CreateUser(ctx, UserInput{Email: "  Dana@Example.COM ", Name: "Dana", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if cu.Email != "dana@example.com" || cu.Name != "Dana" || cu.Admin || !strings.HasPrefix(cu.ID, "u_") {
		t.Errorf("created %+v", cu.User)
	}
	if cu.GeneratedPassword != "" {
		t.Error("a generated password is returned for a chosen one")
	}
	if !cu.CreatedAt.Equal(t0) {
		t.Errorf("CreatedAt = %v, want the service clock's %v", cu.CreatedAt, t0)
	}
	rec := e.record(cu.ID)
	if !strings.HasPrefix(rec.PasswordHash, "$argon2id$v=19$m=65536,t=2,p=") || strings.Contains(rec.PasswordHash, testPassword) {
		t.Errorf("stored password hash %q", rec.PasswordHash)
	}

	for _, tc := range []struct {
		name   string
		in     UserInput
		status int
	}{
		{"duplicate email", UserInput{Email: "dana@example.com", Password: testPassword}, http.StatusConflict},
		{"duplicate email in capitals", UserInput{Email: "DANA@EXAMPLE.COM", Password: testPassword}, http.StatusConflict},
		{"duplicate email, generated password", UserInput{Email: "Dana@example.com"}, http.StatusConflict},
		{"no email", UserInput{Password: testPassword}, http.StatusBadRequest},
		{"bad email", UserInput{Email: "dana at example.com", Password: testPassword}, http.StatusBadRequest},
		{"header injection", UserInput{Email: "x@example.com\r\nBcc: v@evil", Password: testPassword}, http.StatusBadRequest},
		{"name on two lines", UserInput{Email: "e@example.com", Name: "a\nb", Password: testPassword}, http.StatusBadRequest},
		{"name too long", UserInput{Email: "e@example.com", Name: strings.Repeat("n", 101), Password: testPassword}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CreateUser(ctx, tc.in)
			wantErr(t, err, tc.status, "")
		})
	}
	users, err := e.s.Users()
	if err != nil || len(users) != 1 {
		t.Fatalf("Users() = %v, %v; want only dana", users, err)
	}

	// A generated password is returned once and works for Login.
	gen, err := e.s.CreateUser(ctx, UserInput{Email: "eve@example.com", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.GeneratedPassword) < MinPasswordLen || !gen.Admin {
		t.Fatalf("generated password %d characters, admin %v", len(gen.GeneratedPassword), gen.Admin)
	}
	if strings.Contains(e.record(gen.ID).PasswordHash, gen.GeneratedPassword) {
		t.Error("the generated password is stored in clear")
	}
	u, sess, err := e.s.Login(ctx, login("EVE@example.com", gen.GeneratedPassword), ip("192.0.2.10"))
	if err != nil || u.ID != gen.ID || sess == nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	again, err := e.s.User(gen.ID)
	if err != nil || again.Email != "eve@example.com" {
		t.Fatalf("User() = %+v, %v", again, err)
	}
	users, _ = e.s.Users()
	if len(users) != 2 || users[0].Email != "dana@example.com" || users[1].Email != "eve@example.com" {
		t.Errorf("Users() = %+v, want dana then eve", users)
	}
	if _, err := e.s.User("u_nobody"); err == nil {
		t.Error("User() of an unknown id")
	} else {
		wantErr(t, err, http.StatusNotFound, "")
	}
}

// TestWeakPasswordIsBadRequest: a password the policy refuses is the
// caller's mistake, and answers 400 like every other invalid input (an
// error that is not an *Error would answer 500).
func TestWeakPasswordIsBadRequest(t *testing.T) {
	e := newEnv(t, Config{})
	fresh := newEnv(t, Config{}) // no user yet: for Setup
	tok, err := fresh.s.IssueSetupToken()
	must(t, err)
	u := e.seedUser("weak@example.com", false)
	inv, err := e.s.AddMember(ctx, Local, DefaultTeam, MemberInput{Email: "invited@example.com", Role: RoleViewer})
	must(t, err)
	for _, pw := range []string{"short", "\xff\xfe invalid utf-8", strings.Repeat("p", MaxPasswordLen+1)} {
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"CreateUser", func() error {
				_, err := e.s.CreateUser(ctx, UserInput{Email: "new@example.com", Password: pw})
				return err
			}},
			{"UpdateUser", func() error { _, err := e.s.UpdateUser(ctx, u.ID, UserPatch{Password: strp(pw)}); return err }},
			{"ChangePassword", func() error { return e.s.ChangePassword(ctx, u.ID, testPassword, pw) }},
			{"Setup", func() error {
				_, _, err := fresh.s.Setup(ctx, SetupInput{Token: tok, Email: "first@example.com", Password: pw}, ip("192.0.2.9"))
				return err
			}},
			{"AcceptInvite", func() error {
				_, _, err := e.s.AcceptInvite(ctx, AcceptInviteInput{Token: inv.InviteToken, Password: pw}, ip("192.0.2.9"))
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ae := wantErr(t, tc.do(), http.StatusBadRequest, "")
				if strings.Contains(ae.Message, pw) {
					t.Error("the message quotes the password")
				}
			})
		}
	}
	// Nothing changed: the user still logs in with the old password, the
	// invitation is still good.
	if _, _, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.9")); err != nil {
		t.Errorf("the old password: %v", err)
	}
	users, _ := e.s.Users()
	if len(users) != 1 {
		t.Errorf("%d users, want 1", len(users))
	}
	if has, _ := fresh.s.HasUsers(); has {
		t.Error("a refused setup created a user")
	}
}

func TestUpdateUserRevokesSessions(t *testing.T) {
	e := newEnv(t, Config{})
	admin := e.seedUser("root@example.com", true)
	u := e.seedUser("frank@example.com", false)
	for _, tc := range []struct {
		name   string
		patch  UserPatch
		revoke bool
		check  func(*User) bool
	}{
		{"name", UserPatch{Name: strp("Frank")}, false, func(u *User) bool { return u.Name == "Frank" }},
		{"same admin flag", UserPatch{Admin: boolp(false)}, false, func(u *User) bool { return !u.Admin }},
		{"made admin", UserPatch{Admin: boolp(true)}, true, func(u *User) bool { return u.Admin }},
		{"admin taken away", UserPatch{Admin: boolp(false)}, true, func(u *User) bool { return !u.Admin }},
		{"disabled", UserPatch{Disabled: boolp(true)}, true, func(u *User) bool { return u.Disabled }},
		{"enabled", UserPatch{Disabled: boolp(false)}, true, func(u *User) bool { return !u.Disabled }},
		{"password", UserPatch{Password: strp("a brand new password")}, true, func(u *User) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mine := e.session(u.ID)
			other := e.session(admin.ID)
			before := e.sessionCount(u.ID)
			got, err := e.s.UpdateUser(ctx, u.ID, tc.patch)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) {
				t.Errorf("UpdateUser answered %+v", got)
			}
			stored, _ := e.s.User(u.ID)
			if !tc.check(stored) {
				t.Errorf("stored user %+v", stored)
			}
			want := before
			if tc.revoke {
				want = 0
			}
			if n := e.sessionCount(u.ID); n != want {
				t.Errorf("%d sessions of the user after the change, want %d", n, want)
			}
			if alive := e.sessionPrincipal(mine.ID) != nil; alive == tc.revoke {
				t.Errorf("the user's session alive = %v after the change, want %v", alive, !tc.revoke)
			}
			if e.sessionPrincipal(other.ID) == nil {
				t.Error("another user's session ended")
			}
		})
	}
	// The new password works; the old one does not.
	if _, _, err := e.s.Login(ctx, login("frank@example.com", testPassword), ip("192.0.2.20")); err == nil {
		t.Error("the old password still logs in")
	}
	if _, _, err := e.s.Login(ctx, login("frank@example.com", "a brand new password"), ip("192.0.2.20")); err != nil {
		t.Errorf("the new password: %v", err)
	}
	_, err := e.s.UpdateUser(ctx, u.ID, UserPatch{Name: strp("x\ny")})
	wantErr(t, err, http.StatusBadRequest, "")
	_, err = e.s.UpdateUser(ctx, "u_nobody", UserPatch{Name: strp("x")})
	wantErr(t, err, http.StatusNotFound, "")
}

func TestDisabledUser(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedUser("root@example.com", true)
	u := e.seedUser("gina@example.com", false)
	_, err := e.s.UpdateUser(ctx, u.ID, UserPatch{Disabled: boolp(true)})
	must(t, err)
	_, _, err = e.s.Login(ctx, login("gina@example.com", testPassword), ip("192.0.2.21"))
	wantErr(t, err, http.StatusForbidden, "disabled")
	// A session started anyhow does not authenticate a disabled user.
	if p := e.sessionPrincipal(e.session(u.ID).ID); p != nil {
		t.Error("a disabled user's session authenticates")
	}
}

func TestLastAdmin(t *testing.T) {
	e := newEnv(t, Config{})
	root := e.seedUser("root@example.com", true)
	second := e.seedUser("second@example.com", true)
	plain := e.seedUser("plain@example.com", false)

	// With two active admins, one may go.
	_, err := e.s.UpdateUser(ctx, second.ID, UserPatch{Disabled: boolp(true)})
	must(t, err)
	// Now root is the last active admin (second is disabled).
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"demoted", func() error { _, err := e.s.UpdateUser(ctx, root.ID, UserPatch{Admin: boolp(false)}); return err }},
		{"disabled", func() error { _, err := e.s.UpdateUser(ctx, root.ID, UserPatch{Disabled: boolp(true)}); return err }},
		{"deleted", func() error { return e.s.DeleteUser(ctx, root.ID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.do(), http.StatusConflict, "")
			got, err := e.s.User(root.ID)
			if err != nil || !got.Admin || got.Disabled {
				t.Errorf("the last admin changed: %+v, %v", got, err)
			}
		})
	}
	// Other changes of the last admin are fine, and a non-admin is free.
	_, err = e.s.UpdateUser(ctx, root.ID, UserPatch{Name: strp("Root")})
	must(t, err)
	_, err = e.s.UpdateUser(ctx, plain.ID, UserPatch{Disabled: boolp(true)})
	must(t, err)
	// A disabled admin can be deleted while an active one remains.
	must(t, e.s.DeleteUser(ctx, second.ID))
	// Once another admin is active, root may step down.
	_, err = e.s.UpdateUser(ctx, plain.ID, UserPatch{Admin: boolp(true), Disabled: boolp(false)})
	must(t, err)
	_, err = e.s.UpdateUser(ctx, root.ID, UserPatch{Admin: boolp(false)})
	must(t, err)
	wantErr(t, e.s.DeleteUser(ctx, plain.ID), http.StatusConflict, "")
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedUser("root@example.com", true)
	owner := e.seedUser("owner@example.com", false)
	doomed := e.seedUser("doomed@example.com", false)
	e.createTeam("alpha")
	e.createTeam("beta")
	e.addMember("alpha", "owner@example.com", RoleOwner)
	e.addMember("alpha", "doomed@example.com", RoleDeveloper)
	e.addMember("beta", "doomed@example.com", RoleOwner)

	sess := e.session(doomed.ID)
	p := e.sessionPrincipal(sess.ID)
	tokA, err := e.s.CreateToken(ctx, p, TokenInput{Name: "ci", Team: "alpha", Scope: ScopeDeploy})
	must(t, err)
	tokB, err := e.s.CreateToken(ctx, p, TokenInput{Name: "ci", Team: "beta", Scope: ScopeAdmin})
	must(t, err)
	ownerTok, err := e.s.CreateToken(ctx, e.userPrincipal(owner.ID), TokenInput{Name: "mine", Team: "alpha", Scope: ScopeRead})
	must(t, err)

	must(t, e.s.DeleteUser(ctx, doomed.ID))

	if _, err := e.s.User(doomed.ID); err == nil {
		t.Error("the user is still there")
	}
	for _, team := range []string{"alpha", "beta"} {
		v, err := e.s.Team(Local, team)
		must(t, err)
		for _, m := range v.Members {
			if m.UserID == doomed.ID {
				t.Errorf("still a member of %s", team)
			}
		}
	}
	err = e.db.View(func(tx *storage.Tx) error {
		for _, team := range []string{"alpha", "beta"} {
			var rec teamRecord
			if err := tx.Get(teamsBucket, team, &rec); err != nil {
				return err
			}
			if _, ok := rec.Members[doomed.ID]; ok {
				t.Errorf("the %s record still names the user", team)
			}
		}
		var id string
		if err := tx.Get(emailsBucket, "doomed@example.com", &id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the email index still holds the address: %q, %v", id, err)
		}
		return nil
	})
	must(t, err)
	if e.sessionCount(doomed.ID) != 0 || e.sessionPrincipal(sess.ID) != nil {
		t.Error("a session of the deleted user survives")
	}
	for _, tok := range []*CreatedToken{tokA, tokB} {
		_, err := e.s.Authenticate(bearerRequest(tok.Secret))
		wantErr(t, err, http.StatusUnauthorized, "bad_token")
	}
	all, err := e.s.Tokens(Local)
	must(t, err)
	if len(all) != 1 || all[0].ID != ownerTok.ID {
		t.Errorf("tokens left: %+v, want only the owner's", all)
	}
	// The address is free again (the email index entry is gone).
	has, err := e.s.HasUsers()
	if err != nil || !has {
		t.Fatal("HasUsers")
	}
	again := e.seedUser("doomed@example.com", false)
	if _, _, err := e.s.Login(ctx, login("doomed@example.com", testPassword), ip("192.0.2.30")); err != nil {
		t.Errorf("a new user with the address cannot log in: %v", err)
	}
	wantErr(t, e.s.DeleteUser(ctx, "u_nobody"), http.StatusNotFound, "")

	// The last owner of a team with other members cannot be deleted; the
	// only member of a team can.
	e.addMember("alpha", again.Email, RoleViewer)
	wantErr(t, e.s.DeleteUser(ctx, owner.ID), http.StatusConflict, "")
	solo := e.seedUser("solo@example.com", false)
	e.createTeam("solo")
	e.addMember("solo", solo.Email, RoleOwner)
	must(t, e.s.DeleteUser(ctx, solo.ID))
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("hank@example.com", false)
	s1, s2 := e.session(u.ID), e.session(u.ID)
	err := e.s.ChangePassword(ctx, u.ID, "not the password", "another fine password")
	wantErr(t, err, http.StatusForbidden, "")
	if e.sessionPrincipal(s1.ID) == nil {
		t.Fatal("a refused change ended a session")
	}
	must(t, e.s.ChangePassword(ctx, u.ID, testPassword, "another fine password"))
	if e.sessionPrincipal(s1.ID) != nil || e.sessionPrincipal(s2.ID) != nil {
		t.Error("a session survives a password change")
	}
	if _, _, err := e.s.Login(ctx, login(u.Email, "another fine password"), ip("192.0.2.40")); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if err := e.s.ChangePassword(ctx, "u_nobody", testPassword, "another fine password"); err == nil {
		t.Error("changed the password of an unknown user")
	}
}

func TestSetup(t *testing.T) {
	e := newEnv(t, Config{MaxLoginFailures: 2})
	tok, err := e.s.IssueSetupToken()
	if err != nil || len(tok) < 32 {
		t.Fatalf("IssueSetupToken() = %q, %v", tok, err)
	}
	in := SetupInput{Token: tok, Email: "First@Example.com", Name: "First", Password: testPassword}

	bad := in
	bad.Token = tok[:len(tok)-1] + "x"
	if bad.Token == tok {
		bad.Token = tok[:len(tok)-1] + "y"
	}
	for _, tc := range []struct {
		name   string
		in     SetupInput
		status int
		code   string
	}{
		{"wrong token", bad, http.StatusUnauthorized, "bad_setup_token"},
		{"no token", SetupInput{Email: in.Email, Password: in.Password}, http.StatusUnauthorized, "bad_setup_token"},
		{"no password", SetupInput{Token: tok, Email: in.Email}, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, sess, err := e.s.Setup(ctx, tc.in, ip("192.0.2.50"))
			wantErr(t, err, tc.status, tc.code)
			if u != nil || sess != nil {
				t.Error("a user or session despite the error")
			}
			if has, _ := e.s.HasUsers(); has {
				t.Fatal("a user was created")
			}
		})
	}

	u, sess, err := e.s.Setup(ctx, in, ip("192.0.2.51"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "first@example.com" || !u.Admin || u.Name != "First" {
		t.Errorf("setup made %+v", u)
	}
	p := e.sessionPrincipal(sess.ID)
	if p == nil || p.User.ID != u.ID || !p.Admin() || p.Teams[DefaultTeam] != RoleOwner || p.CSRF != sess.CSRF {
		t.Fatalf("the setup session gives %+v", p)
	}
	if !sess.Expires.Equal(t0.Add(7 * 24 * time.Hour)) {
		t.Errorf("session expires %v", sess.Expires)
	}

	e.s.setupMu.Lock()
	forgotten := e.s.setupHash == nil
	e.s.setupMu.Unlock()
	if !forgotten {
		t.Error("the setup token is still held after setup")
	}
	// Setup is done: the same token again, and a new token, are refused.
	_, _, err = e.s.Setup(ctx, in, ip("192.0.2.52"))
	wantErr(t, err, http.StatusConflict, "")
	if tok2, err := e.s.IssueSetupToken(); err != nil || tok2 != "" {
		t.Errorf("IssueSetupToken() with a user = %q, %v; want \"\"", tok2, err)
	}
	users, _ := e.s.Users()
	if len(users) != 1 {
		t.Errorf("%d users after a second setup", len(users))
	}
}

func TestSetupThrottled(t *testing.T) {
	e := newEnv(t, Config{MaxLoginFailures: 2, LoginWindow: 10 * time.Minute})
	tok, err := e.s.IssueSetupToken()
	must(t, err)
	attacker := ip("203.0.113.66")
	bad := SetupInput{Token: "guess", Email: "x@example.com", Password: testPassword}
	// 4 x MaxLoginFailures per client address.
	for i := 0; i < 8; i++ {
		_, _, err := e.s.Setup(ctx, bad, attacker)
		wantErr(t, err, http.StatusUnauthorized, "bad_setup_token")
	}
	_, _, err = e.s.Setup(ctx, bad, attacker)
	ae := wantErr(t, err, http.StatusTooManyRequests, "")
	if ae.RetryAfter <= 0 || ae.RetryAfter > 10*time.Minute {
		t.Errorf("RetryAfter = %v", ae.RetryAfter)
	}
	// Even the right token is refused from that address...
	good := SetupInput{Token: tok, Email: "first@example.com", Password: testPassword}
	_, _, err = e.s.Setup(ctx, good, attacker)
	wantErr(t, err, http.StatusTooManyRequests, "")
	if has, _ := e.s.HasUsers(); has {
		t.Fatal("a throttled setup created a user")
	}
	// ... not from another.
	_, _, err = e.s.Setup(ctx, bad, ip("203.0.113.67"))
	wantErr(t, err, http.StatusUnauthorized, "bad_setup_token")
	// Once the window has passed, the address may try again.
	e.clock.Add(10*time.Minute + time.Second)
	if _, _, err := e.s.Setup(ctx, good, attacker); err != nil {
		t.Fatalf("setup after the window: %v", err)
	}
}

// TestSetupThrottleCode: every 429 of the service carries the code
// "throttled" (Login and AcceptInvite do), so that clients can tell it.
func TestSetupThrottleCode(t *testing.T) {
	e := newEnv(t, Config{MaxLoginFailures: 1})
	_, err := e.s.IssueSetupToken()
	must(t, err)
	bad := SetupInput{Token: "guess", Email: "x@example.com", Password: testPassword}
	for i := 0; i < 4; i++ {
		e.s.Setup(ctx, bad, ip("203.0.113.68"))
	}
	_, _, err = e.s.Setup(ctx, bad, ip("203.0.113.68"))
	wantErr(t, err, http.StatusTooManyRequests, "throttled")
}
