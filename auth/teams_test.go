package auth

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

func TestValidateTeamName(t *testing.T) {
	for _, name := range []string{"a", "alpha", "team-2", "a" + strings.Repeat("b", 62)} {
		if err := ValidateTeamName(name); err != nil {
			t.Errorf("ValidateTeamName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{
		"", "Alpha", "1team", "-team", "team_a", "team a", "team.a", "tëam", "a" + strings.Repeat("b", 63),
		"team\n", "team/../x", "{env.SECRET}", "<img src=x onerror=alert(1)>",
	} {
		if err := ValidateTeamName(name); err == nil {
			t.Errorf("ValidateTeamName(%q) accepted", name)
		} else {
			wantErr(t, err, http.StatusBadRequest, "")
		}
	}
}

func TestCreateTeam(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("wes@example.com", false)
	p := e.userPrincipal(u.ID)

	v, err := e.s.CreateTeam(ctx, p, "alpha")
	must(t, err)
	if v.Name != "alpha" || v.Role != RoleOwner || len(v.Members) != 1 || v.Members[0].UserID != u.ID || v.Members[0].Role != RoleOwner || v.Members[0].Email != u.Email {
		t.Fatalf("CreateTeam answered %+v", v)
	}
	if !v.CreatedAt.Equal(t0) {
		t.Errorf("CreatedAt %v", v.CreatedAt)
	}
	// The creator's new session sees it as owner.
	if p2 := e.userPrincipal(u.ID); p2.Teams["alpha"] != RoleOwner {
		t.Errorf("memberships after creation: %v", p2.Teams)
	}
	for _, tc := range []struct {
		name   string
		status int
	}{
		{"alpha", http.StatusConflict},
		{DefaultTeam, http.StatusConflict},
		{"Alpha", http.StatusBadRequest},
		{"", http.StatusBadRequest},
		{"a_b", http.StatusBadRequest},
	} {
		_, err := e.s.CreateTeam(ctx, p, tc.name)
		wantErr(t, err, tc.status, "")
	}
	// Through the local endpoint: no member.
	lv, err := e.s.CreateTeam(ctx, Local, "beta")
	must(t, err)
	if len(lv.Members) != 0 || lv.Role != RoleOwner {
		t.Errorf("local CreateTeam answered %+v", lv)
	}

	// Teams lists what the principal sees.
	names := func(p *Principal) string {
		views, err := e.s.Teams(p)
		must(t, err)
		var out []string
		for _, v := range views {
			out = append(out, v.Name+":"+string(v.Role))
		}
		return strings.Join(out, ",")
	}
	if got := names(e.userPrincipal(u.ID)); got != "alpha:owner" {
		t.Errorf("the creator sees %s", got)
	}
	if got := names(Local); got != "alpha:owner,beta:owner,default:owner" {
		t.Errorf("local sees %s", got)
	}
	other := e.seedUser("xena@example.com", false)
	if got := names(e.userPrincipal(other.ID)); got != "" {
		t.Errorf("a member of nothing sees %s", got)
	}
}

func TestAddMemberAndInvite(t *testing.T) {
	e := newEnv(t, Config{})
	owner := e.seedUser("yara@example.com", false)
	existing := e.seedUser("zed@example.com", false)
	_, err := e.s.CreateTeam(ctx, e.userPrincipal(owner.ID), "alpha")
	must(t, err)
	p := e.userPrincipal(owner.ID) // a principal is a snapshot: a new one sees alpha

	res, err := e.s.AddMember(ctx, p, "alpha", MemberInput{Email: " ZED@example.com", Role: RoleDeveloper})
	must(t, err)
	if res.Member == nil || res.Member.UserID != existing.ID || res.Member.Role != RoleDeveloper || res.InviteToken != "" {
		t.Fatalf("AddMember answered %+v", res)
	}
	if zp := e.userPrincipal(existing.ID); zp.Teams["alpha"] != RoleDeveloper {
		t.Errorf("the member's teams: %v", zp.Teams)
	}
	for _, tc := range []struct {
		name   string
		team   string
		in     MemberInput
		status int
	}{
		{"already a member", "alpha", MemberInput{Email: "zed@example.com", Role: RoleViewer}, http.StatusConflict},
		{"bad role", "alpha", MemberInput{Email: "new@example.com", Role: "root"}, http.StatusBadRequest},
		{"no role", "alpha", MemberInput{Email: "new@example.com"}, http.StatusBadRequest},
		{"bad email", "alpha", MemberInput{Email: "new at example.com", Role: RoleViewer}, http.StatusBadRequest},
		{"team not visible", "default", MemberInput{Email: "new@example.com", Role: RoleViewer}, http.StatusNotFound},
		{"no such team", "nope", MemberInput{Email: "new@example.com", Role: RoleViewer}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.AddMember(ctx, p, tc.team, tc.in)
			wantErr(t, err, tc.status, "")
		})
	}
	if _, err := e.s.AddMember(ctx, Local, "nope", MemberInput{Email: "new@example.com", Role: RoleViewer}); err == nil {
		t.Error("an invitation to a team that does not exist")
	}

	// A new address gets an invitation, shown once.
	inv, err := e.s.AddMember(ctx, p, "alpha", MemberInput{Email: "New.Person@Example.com", Role: RoleAdmin})
	must(t, err)
	if inv.Member != nil || inv.InviteToken == "" || inv.InviteEmail != "new.person@example.com" || inv.Expires == nil || !inv.Expires.Equal(t0.Add(InviteTTL)) {
		t.Fatalf("invitation %+v", inv)
	}
	raw := inv.InviteToken
	err = e.db.View(func(tx *storage.Tx) error {
		var rec inviteRecord
		if err := tx.Get(invitesBucket, raw, &rec); err == nil {
			t.Error("the invitation is stored under its token")
		}
		if err := tx.Get(invitesBucket, inviteKey(raw), &rec); err != nil {
			return err
		}
		if rec.InvitedBy != owner.Email || rec.Team != "alpha" || rec.Role != RoleAdmin {
			t.Errorf("stored invitation %+v", rec)
		}
		return nil
	})
	must(t, err)

	for _, tc := range []struct {
		name string
		in   AcceptInviteInput
	}{
		{"unknown token", AcceptInviteInput{Token: "nope", Password: testPassword}},
		{"empty token", AcceptInviteInput{Password: testPassword}},
		{"token in capitals", AcceptInviteInput{Token: strings.ToUpper(raw), Password: testPassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.s.AcceptInvite(ctx, tc.in, ip("192.0.2.110"))
			wantErr(t, err, http.StatusUnauthorized, "bad_invite")
		})
	}

	// One full password hash here.
	u, sess, err := e.s.AcceptInvite(ctx, AcceptInviteInput{Token: raw, Name: "New", Password: testPassword}, ip("192.0.2.111"))
	must(t, err)
	if u.Email != "new.person@example.com" || u.Name != "New" || u.Admin {
		t.Errorf("invited user %+v", u)
	}
	np := e.sessionPrincipal(sess.ID)
	if np == nil || np.User.ID != u.ID || np.Teams["alpha"] != RoleAdmin || len(np.Teams) != 1 {
		t.Fatalf("the invited user's session: %+v", np)
	}
	// The token works once.
	_, _, err = e.s.AcceptInvite(ctx, AcceptInviteInput{Token: raw, Password: testPassword}, ip("192.0.2.111"))
	wantErr(t, err, http.StatusUnauthorized, "bad_invite")

	// An expired invitation is refused.
	late, err := e.s.AddMember(ctx, p, "alpha", MemberInput{Email: "late@example.com", Role: RoleViewer})
	must(t, err)
	e.clock.Add(InviteTTL + time.Second)
	_, _, err = e.s.AcceptInvite(ctx, AcceptInviteInput{Token: late.InviteToken, Password: testPassword}, ip("192.0.2.112"))
	wantErr(t, err, http.StatusUnauthorized, "bad_invite")
	if has, _ := e.s.User(u.ID); has == nil {
		t.Fatal("lost the invited user")
	}
	users, _ := e.s.Users()
	for _, x := range users {
		if x.Email == "late@example.com" {
			t.Error("an expired invitation created a user")
		}
	}
}

func TestAcceptInviteThrottled(t *testing.T) {
	e := newEnv(t, Config{MaxLoginFailures: 1, LoginWindow: time.Minute})
	inv, err := e.s.AddMember(ctx, Local, DefaultTeam, MemberInput{Email: "ann@example.com", Role: RoleViewer})
	must(t, err)
	for i := 0; i < 4; i++ {
		_, _, err := e.s.AcceptInvite(ctx, AcceptInviteInput{Token: fmt.Sprintf("guess-%d", i), Password: testPassword}, ip("203.0.113.20"))
		wantErr(t, err, http.StatusUnauthorized, "bad_invite")
	}
	_, _, err = e.s.AcceptInvite(ctx, AcceptInviteInput{Token: inv.InviteToken, Password: testPassword}, ip("203.0.113.20"))
	ae := wantErr(t, err, http.StatusTooManyRequests, "throttled")
	if ae.RetryAfter <= 0 {
		t.Errorf("RetryAfter %v", ae.RetryAfter)
	}
	if ok, _ := e.s.HasUsers(); ok {
		t.Error("a throttled acceptance created a user")
	}
}

// TestMayGrant: nobody grants more than they hold, and only owners touch
// owners. The permission to manage members at all is the API layer's to
// check; AddMember checks only these rules.
func TestMayGrant(t *testing.T) {
	e := newEnv(t, Config{})
	e.createTeam("alpha")
	e.createTeam("beta")
	principals := map[string]*Principal{"local": Local}
	for _, r := range Roles {
		u := e.seedUser(string(r)+"@example.com", false)
		e.addMember("alpha", u.Email, r)
		principals[string(r)] = e.userPrincipal(u.ID)
	}
	padmin := e.seedUser("platform@example.com", true)
	principals["platform admin"] = e.userPrincipal(padmin.ID)
	outsider := e.seedUser("outsider@example.com", false)
	e.addMember("beta", outsider.Email, RoleOwner)
	principals["owner of another team"] = e.userPrincipal(outsider.ID)
	// A deploy token of the owner: its role is owner, but the owner role
	// needs PermOwn, which its scope does not give.
	ownerTok, err := e.s.CreateToken(ctx, principals["owner"], TokenInput{Name: "ci", Team: "alpha", Scope: ScopeDeploy})
	must(t, err)
	principals["deploy token of the owner"], err = e.s.Authenticate(bearerRequest(ownerTok.Secret))
	must(t, err)

	// Each cell: what granting owner, admin, developer, viewer gives:
	// 'y' allowed, 'f' 403, 'n' 404, '-' not checked here (whether a token
	// may manage members at all is the API layer's check).
	for _, tc := range []struct {
		who  string
		want string
	}{
		{"local", "yyyy"},
		{"platform admin", "yyyy"},
		{"owner", "yyyy"},
		{"admin", "fyyy"},
		{"developer", "ffyy"},
		{"viewer", "fffy"},
		{"owner of another team", "nnnn"},
		{"deploy token of the owner", "f---"},
	} {
		for i, role := range Roles {
			t.Run(tc.who+" grants "+string(role), func(t *testing.T) {
				p := principals[tc.who]
				err := mayGrant(p, "alpha", role)
				// Through AddMember, as an invitation (no hash, no state
				// shared with the other cases).
				email := fmt.Sprintf("%s-%d@example.org", strings.ReplaceAll(tc.who, " ", "-"), i)
				res, addErr := e.s.AddMember(ctx, p, "alpha", MemberInput{Email: email, Role: role})
				switch tc.want[i] {
				case '-':
				case 'y':
					if err != nil || addErr != nil {
						t.Fatalf("refused: %v / %v", err, addErr)
					}
					if res.InviteToken == "" {
						t.Fatal("no invitation")
					}
				case 'f':
					wantErr(t, err, http.StatusForbidden, "")
					wantErr(t, addErr, http.StatusForbidden, "")
				case 'n':
					wantErr(t, err, http.StatusNotFound, "")
					wantErr(t, addErr, http.StatusNotFound, "")
				}
			})
		}
	}
}

func TestSetRole(t *testing.T) {
	e := newEnv(t, Config{})
	owner := e.seedUser("own@example.com", false)
	adm := e.seedUser("adm@example.com", false)
	dev := e.seedUser("dev@example.com", false)
	e.createTeam("alpha")
	e.addMember("alpha", owner.Email, RoleOwner)
	e.addMember("alpha", adm.Email, RoleAdmin)
	e.addMember("alpha", dev.Email, RoleDeveloper)
	ownerP, admP := e.userPrincipal(owner.ID), e.userPrincipal(adm.ID)

	// A demotion ends the member's sessions, not others'.
	devSess := e.session(dev.ID)
	ownerSess := e.session(owner.ID)
	m, err := e.s.SetRole(ctx, admP, "alpha", dev.ID, RoleViewer)
	must(t, err)
	if m.Role != RoleViewer || m.UserID != dev.ID || m.Email != dev.Email {
		t.Errorf("SetRole answered %+v", m)
	}
	if e.sessionPrincipal(devSess.ID) != nil || e.sessionCount(dev.ID) != 0 {
		t.Error("the demoted member's session survives")
	}
	if e.sessionPrincipal(ownerSess.ID) == nil {
		t.Error("another member's session ended")
	}
	if p := e.userPrincipal(dev.ID); p.Teams["alpha"] != RoleViewer || p.Can("alpha", PermDeploy) {
		t.Errorf("after demotion: %v", p.Teams)
	}
	// The same role again changes nothing and ends nothing.
	keep := e.session(dev.ID)
	_, err = e.s.SetRole(ctx, admP, "alpha", dev.ID, RoleViewer)
	must(t, err)
	if e.sessionPrincipal(keep.ID) == nil {
		t.Error("a no-op SetRole ended a session")
	}

	for _, tc := range []struct {
		name   string
		p      *Principal
		user   string
		role   Role
		status int
	}{
		{"admin promotes to owner", admP, dev.ID, RoleOwner, http.StatusForbidden},
		{"admin demotes the owner", admP, owner.ID, RoleAdmin, http.StatusForbidden},
		{"last owner demotes themselves", ownerP, owner.ID, RoleAdmin, http.StatusConflict},
		{"local demotes the last owner", Local, owner.ID, RoleViewer, http.StatusConflict},
		{"not a member", ownerP, "u_nobody", RoleViewer, http.StatusNotFound},
		{"bad role", ownerP, dev.ID, "god", http.StatusBadRequest},
		{"no such team", Local, dev.ID, RoleViewer, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			team := "alpha"
			if tc.name == "no such team" {
				team = "nope"
			}
			_, err := e.s.SetRole(ctx, tc.p, team, tc.user, tc.role)
			wantErr(t, err, tc.status, "")
		})
	}
	v, err := e.s.Team(Local, "alpha")
	must(t, err)
	roles := map[string]Role{}
	for _, m := range v.Members {
		roles[m.Email] = m.Role
	}
	if roles[owner.Email] != RoleOwner || roles[adm.Email] != RoleAdmin || roles[dev.Email] != RoleViewer {
		t.Errorf("roles after refused changes: %v", roles)
	}
	// With a second owner, the first may step down.
	_, err = e.s.SetRole(ctx, ownerP, "alpha", adm.ID, RoleOwner)
	must(t, err)
	_, err = e.s.SetRole(ctx, ownerP, "alpha", owner.ID, RoleDeveloper)
	must(t, err)
}

func TestRemoveMember(t *testing.T) {
	e := newEnv(t, Config{})
	owner := e.seedUser("own@example.com", false)
	adm := e.seedUser("adm@example.com", false)
	dev := e.seedUser("dev@example.com", false)
	e.createTeam("alpha")
	e.createTeam("beta")
	e.addMember("alpha", owner.Email, RoleOwner)
	e.addMember("alpha", adm.Email, RoleAdmin)
	e.addMember("alpha", dev.Email, RoleDeveloper)
	e.addMember("beta", dev.Email, RoleDeveloper)
	ownerP, admP := e.userPrincipal(owner.ID), e.userPrincipal(adm.ID)

	devP := e.userPrincipal(dev.ID)
	alphaTok, err := e.s.CreateToken(ctx, devP, TokenInput{Name: "ci", Team: "alpha", Scope: ScopeDeploy})
	must(t, err)
	betaTok, err := e.s.CreateToken(ctx, devP, TokenInput{Name: "ci", Team: "beta", Scope: ScopeDeploy})
	must(t, err)
	admTok, err := e.s.CreateToken(ctx, admP, TokenInput{Name: "ops", Team: "alpha", Scope: ScopeAdmin})
	must(t, err)
	devSess := e.session(dev.ID)

	wantErr(t, e.s.RemoveMember(ctx, admP, "alpha", owner.ID), http.StatusForbidden, "")
	wantErr(t, e.s.RemoveMember(ctx, ownerP, "alpha", owner.ID), http.StatusConflict, "")
	wantErr(t, e.s.RemoveMember(ctx, Local, "alpha", owner.ID), http.StatusConflict, "")
	wantErr(t, e.s.RemoveMember(ctx, ownerP, "alpha", "u_nobody"), http.StatusNotFound, "")
	wantErr(t, e.s.RemoveMember(ctx, ownerP, "nope", dev.ID), http.StatusNotFound, "")

	must(t, e.s.RemoveMember(ctx, admP, "alpha", dev.ID))
	if _, err := e.s.Authenticate(bearerRequest(alphaTok.Secret)); err == nil {
		t.Error("the removed member's token for the team still works")
	}
	list, err := e.s.Tokens(Local)
	must(t, err)
	ids := map[string]bool{}
	for _, tok := range list {
		ids[tok.ID] = true
	}
	if ids[alphaTok.ID] || !ids[betaTok.ID] || !ids[admTok.ID] {
		t.Errorf("tokens left %v: want beta's and the admin's only", ids)
	}
	if p, err := e.s.Authenticate(bearerRequest(betaTok.Secret)); err != nil || p.Token.Team != "beta" {
		t.Errorf("the member's token for another team: %v", err)
	}
	if e.sessionPrincipal(devSess.ID) != nil {
		t.Error("the removed member's session survives")
	}
	if p := e.userPrincipal(dev.ID); p.Sees("alpha") || !p.Sees("beta") {
		t.Errorf("after removal: %v", p.Teams)
	}
}

func TestDeleteTeam(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("own@example.com", false)
	p := e.userPrincipal(u.ID)
	for _, name := range []string{"alpha", "beta"} {
		_, err := e.s.CreateTeam(ctx, p, name)
		must(t, err)
	}
	p = e.userPrincipal(u.ID)
	alphaTok, err := e.s.CreateToken(ctx, p, TokenInput{Name: "a", Team: "alpha", Scope: ScopeAdmin})
	must(t, err)
	betaTok, err := e.s.CreateToken(ctx, p, TokenInput{Name: "b", Team: "beta", Scope: ScopeAdmin})
	must(t, err)

	wantErr(t, e.s.DeleteTeam(ctx, DefaultTeam), http.StatusConflict, "")
	wantErr(t, e.s.DeleteTeam(ctx, "nope"), http.StatusNotFound, "")
	must(t, e.s.DeleteTeam(ctx, "alpha"))
	if ok, _ := e.s.TeamExists("alpha"); ok {
		t.Error("the team is still there")
	}
	if ok, _ := e.s.TeamExists(DefaultTeam); !ok {
		t.Error("the default team is gone")
	}
	_, err = e.s.Authenticate(bearerRequest(alphaTok.Secret))
	wantErr(t, err, http.StatusUnauthorized, "bad_token")
	list, _ := e.s.Tokens(Local)
	if len(list) != 1 || list[0].ID != betaTok.ID {
		t.Errorf("tokens left: %+v", list)
	}
	if _, err := e.s.Authenticate(bearerRequest(betaTok.Secret)); err != nil {
		t.Errorf("another team's token: %v", err)
	}
	if q := e.userPrincipal(u.ID); q.Sees("alpha") || !q.Sees("beta") {
		t.Errorf("memberships after deletion: %v", q.Teams)
	}
	// A team of the same name starts empty: the old token does not come
	// back.
	e.createTeam("alpha")
	_, err = e.s.Authenticate(bearerRequest(alphaTok.Secret))
	wantErr(t, err, http.StatusUnauthorized, "bad_token")
}

// TestDeleteTeamVoidsInvitations: an invitation belongs to the team that
// made it. Once the team is deleted, the invitation must not admit anyone
// to a new team that happens to get the same name.
func TestDeleteTeamVoidsInvitations(t *testing.T) {
	e := newEnv(t, Config{})
	mallory := e.seedUser("mallory@example.com", false)
	mp := e.userPrincipal(mallory.ID)
	_, err := e.s.CreateTeam(ctx, mp, "acme")
	must(t, err)
	inv, err := e.s.AddMember(ctx, e.userPrincipal(mallory.ID), "acme", MemberInput{Email: "sleeper@example.com", Role: RoleOwner})
	must(t, err)
	must(t, e.s.DeleteTeam(ctx, "acme"))

	victim := e.seedUser("victim@example.com", false)
	_, err = e.s.CreateTeam(ctx, e.userPrincipal(victim.ID), "acme")
	must(t, err)
	_, sess, err := e.s.AcceptInvite(ctx, AcceptInviteInput{Token: inv.InviteToken, Password: testPassword}, ip("203.0.113.30"))
	if err == nil {
		p := e.sessionPrincipal(sess.ID)
		t.Fatalf("an invitation of the deleted team admitted %s to the new team %q as %s", p.User.Email, "acme", p.Teams["acme"])
	}
	wantErr(t, err, http.StatusUnauthorized, "bad_invite")
}
