package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"time"

	"github.com/caddy-paas/caddy-paas/internal/pattern"
	"github.com/caddy-paas/caddy-paas/storage"
)

// Team holds apps and the members who may touch them.
type Team struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type teamRecord struct {
	Team
	// Members maps user ids to roles.
	Members map[string]Role `json:"members"`
}

func (t *teamRecord) owners() int {
	n := 0
	for _, r := range t.Members {
		if r == RoleOwner {
			n++
		}
	}
	return n
}

// Member is a user's membership in a team.
type Member struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
	Role   Role   `json:"role"`
}

// TeamView is a team as the API shows it.
type TeamView struct {
	Team
	// Role is the caller's role in the team.
	Role    Role     `json:"role,omitempty"`
	Members []Member `json:"members"`
}

// MemberInput adds a member, or invites a person with no account yet.
type MemberInput struct {
	Email string `json:"email"`
	Role  Role   `json:"role"`
}

// MemberResult answers an addition: the member, or an invitation whose
// token (shown once) lets the person sign up.
type MemberResult struct {
	Member      *Member    `json:"member,omitempty"`
	InviteToken string     `json:"invite_token,omitempty"`
	InviteEmail string     `json:"invite_email,omitempty"`
	Expires     *time.Time `json:"invite_expires_at,omitempty"`
}

type inviteRecord struct {
	Team      string    `json:"team"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	InvitedBy string    `json:"invited_by"`
	Expires   time.Time `json:"expires"`
}

// InviteTTL is how long an invitation stays valid.
const InviteTTL = 7 * 24 * time.Hour

var teamNameRE = pattern.MustBounded(`^[a-z][a-z0-9-]*$`, 63)

// ValidateTeamName checks a team name: like an app name.
func ValidateTeamName(name string) error {
	if !teamNameRE.MatchString(name) {
		return invalid("team name %q is invalid: lowercase letters, digits and '-', starting with a letter, at most 63 characters", truncate(name, 80))
	}
	return nil
}

func getTeam(tx *storage.Tx, name string) (*teamRecord, error) {
	var t teamRecord
	if err := tx.Get(teamsBucket, name, &t); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, notFound("team %q not found", truncate(name, 80))
		}
		return nil, err
	}
	if t.Members == nil {
		t.Members = map[string]Role{}
	}
	return &t, nil
}

func membershipsOf(tx *storage.Tx, userID string) (map[string]Role, error) {
	out := map[string]Role{}
	err := forEach(tx, teamsBucket, func(t *teamRecord) error {
		if r, ok := t.Members[userID]; ok {
			out[t.Name] = r
		}
		return nil
	})
	return out, err
}

// TeamExists reports whether a team exists.
func (s *Service) TeamExists(name string) (bool, error) {
	err := s.db.View(func(tx *storage.Tx) error {
		_, err := getTeam(tx, name)
		return err
	})
	var ae *Error
	if errors.As(err, &ae) && ae.Status == 404 {
		return false, nil
	}
	return err == nil, err
}

func (s *Service) teamView(tx *storage.Tx, t *teamRecord, p *Principal) (*TeamView, error) {
	v := &TeamView{Team: t.Team, Members: []Member{}}
	if p != nil {
		v.Role, _ = p.RoleIn(t.Name)
	}
	for id, r := range t.Members {
		u, err := getUser(tx, id)
		if err != nil {
			continue
		}
		v.Members = append(v.Members, Member{UserID: id, Email: u.Email, Name: u.Name, Role: r})
	}
	sort.Slice(v.Members, func(i, j int) bool { return v.Members[i].Email < v.Members[j].Email })
	return v, nil
}

// Teams lists the teams the principal sees.
func (s *Service) Teams(p *Principal) ([]*TeamView, error) {
	var out []*TeamView
	err := s.db.View(func(tx *storage.Tx) error {
		return forEach(tx, teamsBucket, func(t *teamRecord) error {
			if !p.Sees(t.Name) {
				return nil
			}
			v, err := s.teamView(tx, t, p)
			if err == nil {
				out = append(out, v)
			}
			return err
		})
	})
	return out, err
}

// Team returns one team with its members.
func (s *Service) Team(p *Principal, name string) (*TeamView, error) {
	var out *TeamView
	err := s.db.View(func(tx *storage.Tx) error {
		t, err := getTeam(tx, name)
		if err != nil {
			return err
		}
		out, err = s.teamView(tx, t, p)
		return err
	})
	return out, err
}

// CreateTeam makes a team; a user who creates it becomes its owner.
func (s *Service) CreateTeam(ctx context.Context, p *Principal, name string) (*TeamView, error) {
	if err := ValidateTeamName(name); err != nil {
		return nil, err
	}
	var out *TeamView
	err := s.db.Update(func(tx *storage.Tx) error {
		if _, err := getTeam(tx, name); err == nil {
			return conflict("team %q already exists", name)
		}
		t := &teamRecord{Team: Team{Name: name, CreatedAt: s.now().UTC()}, Members: map[string]Role{}}
		if p.User != nil {
			t.Members[p.User.ID] = RoleOwner
		}
		if err := tx.Put(teamsBucket, name, t); err != nil {
			return err
		}
		var err error
		out, err = s.teamView(tx, t, p)
		if p.User != nil {
			out.Role = RoleOwner
		}
		return err
	})
	return out, err
}

// DeleteTeam removes a team. The caller makes sure it holds no app.
func (s *Service) DeleteTeam(ctx context.Context, name string) error {
	if name == DefaultTeam {
		return conflict("the default team cannot be deleted")
	}
	return s.db.Update(func(tx *storage.Tx) error {
		if _, err := getTeam(tx, name); err != nil {
			return err
		}
		if err := deleteWhere(tx, tokensBucket, func(_ string, t *tokenRecord) bool { return t.Team == name }); err != nil {
			return err
		}
		// Pending invitations die with the team: a later team of the same
		// name must not take in their holders.
		if err := deleteWhere(tx, invitesBucket, func(_ string, inv *inviteRecord) bool { return inv.Team == name }); err != nil {
			return err
		}
		return tx.Delete(teamsBucket, name)
	})
}

// mayGrant checks that the principal may give (or take away) role in team:
// nobody grants more than they hold, and only owners touch owners.
func mayGrant(p *Principal, team string, role Role) error {
	mine, ok := p.RoleIn(team)
	if !ok {
		return notFound("team %q not found", truncate(team, 80))
	}
	if role == RoleOwner && !p.Can(team, PermOwn) {
		return forbidden("only an owner may grant or change the owner role")
	}
	if !mine.AtLeast(role) {
		return forbidden("you cannot grant a role above your own (%s)", mine)
	}
	return nil
}

// AddMember adds an existing user to a team, or invites a new one.
func (s *Service) AddMember(ctx context.Context, p *Principal, team string, in MemberInput) (*MemberResult, error) {
	if !in.Role.Valid() {
		return nil, invalid("role must be one of owner, admin, developer, viewer")
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := mayGrant(p, team, in.Role); err != nil {
		return nil, err
	}
	var out *MemberResult
	err = s.db.Update(func(tx *storage.Tx) error {
		t, err := getTeam(tx, team)
		if err != nil {
			return err
		}
		u, err := userByEmail(tx, email)
		if err == nil {
			if _, ok := t.Members[u.ID]; ok {
				return conflict("%s is already a member: change the role instead", email)
			}
			t.Members[u.ID] = in.Role
			out = &MemberResult{Member: &Member{UserID: u.ID, Email: u.Email, Name: u.Name, Role: in.Role}}
			return tx.Put(teamsBucket, team, t)
		}
		var ae *Error
		if !errors.As(err, &ae) {
			return err
		}
		tok, err := RandomString(24)
		if err != nil {
			return err
		}
		exp := s.now().UTC().Add(InviteTTL)
		rec := &inviteRecord{Team: team, Email: email, Role: in.Role, InvitedBy: p.Actor(), Expires: exp}
		if err := tx.Put(invitesBucket, inviteKey(tok), rec); err != nil {
			return err
		}
		out = &MemberResult{InviteToken: tok, InviteEmail: email, Expires: &exp}
		return nil
	})
	return out, err
}

func inviteKey(tok string) string {
	sum := sha256.Sum256([]byte("invite:" + tok))
	return hex.EncodeToString(sum[:])
}

// AcceptInviteInput signs up an invited person.
type AcceptInviteInput struct {
	Token    string `json:"token"`
	Name     string `json:"name,omitempty"`
	Password string `json:"password"`
}

// AcceptInvite creates the invited user, adds them to the team and logs
// them in.
func (s *Service) AcceptInvite(ctx context.Context, in AcceptInviteInput, info RequestInfo) (*User, *IssuedSession, error) {
	if retry, ok := s.clients.Check("invite:"+info.ClientIP, s.now()); !ok {
		return nil, nil, &Error{Status: 429, Code: "throttled", Message: "too many attempts: try again later", RetryAfter: retry}
	}
	var user *User
	var sess *IssuedSession
	err := s.db.Update(func(tx *storage.Tx) error {
		var inv inviteRecord
		key := inviteKey(in.Token)
		if err := tx.Get(invitesBucket, key, &inv); err != nil || s.now().After(inv.Expires) {
			return unauthorized("bad_invite", "the invitation is unknown or expired")
		}
		t, err := getTeam(tx, inv.Team)
		if err != nil {
			return unauthorized("bad_invite", "the invitation is unknown or expired")
		}
		cu, err := s.createUser(tx, UserInput{Email: inv.Email, Name: in.Name, Password: in.Password})
		if err != nil {
			return err
		}
		user = &cu.User
		t.Members[user.ID] = inv.Role
		if err := tx.Put(teamsBucket, t.Name, t); err != nil {
			return err
		}
		if err := tx.Delete(invitesBucket, key); err != nil {
			return err
		}
		sess, err = s.newSession(tx, user.ID, info)
		return err
	})
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Code == "bad_invite" {
			s.clients.Fail("invite:"+info.ClientIP, s.now())
		}
		return nil, nil, err
	}
	return user, sess, nil
}

// SetRole changes a member's role; the member's sessions end.
func (s *Service) SetRole(ctx context.Context, p *Principal, team, userID string, role Role) (*Member, error) {
	if !role.Valid() {
		return nil, invalid("role must be one of owner, admin, developer, viewer")
	}
	var out *Member
	err := s.db.Update(func(tx *storage.Tx) error {
		t, err := getTeam(tx, team)
		if err != nil {
			return err
		}
		old, ok := t.Members[userID]
		if !ok {
			return notFound("user %q is not a member of team %q", truncate(userID, 80), team)
		}
		if err := mayGrant(p, team, old); err != nil {
			return err
		}
		if err := mayGrant(p, team, role); err != nil {
			return err
		}
		if old == RoleOwner && role != RoleOwner && t.owners() == 1 {
			return conflict("this is the team's last owner: make another member owner first")
		}
		t.Members[userID] = role
		if err := tx.Put(teamsBucket, team, t); err != nil {
			return err
		}
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		out = &Member{UserID: userID, Email: u.Email, Name: u.Name, Role: role}
		if old != role {
			return revokeUser(tx, userID, "")
		}
		return nil
	})
	return out, err
}

// RemoveMember takes a user out of a team; the user's sessions end and
// their tokens for the team are deleted.
func (s *Service) RemoveMember(ctx context.Context, p *Principal, team, userID string) error {
	return s.db.Update(func(tx *storage.Tx) error {
		t, err := getTeam(tx, team)
		if err != nil {
			return err
		}
		old, ok := t.Members[userID]
		if !ok {
			return notFound("user %q is not a member of team %q", truncate(userID, 80), team)
		}
		if err := mayGrant(p, team, old); err != nil {
			return err
		}
		if old == RoleOwner && t.owners() == 1 {
			return conflict("this is the team's last owner: make another member owner first")
		}
		delete(t.Members, userID)
		if err := tx.Put(teamsBucket, team, t); err != nil {
			return err
		}
		err = deleteWhere(tx, tokensBucket, func(_ string, tok *tokenRecord) bool {
			return tok.UserID == userID && tok.Team == team
		})
		if err != nil {
			return err
		}
		return revokeUser(tx, userID, "")
	})
}
