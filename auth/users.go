package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

// User is a person who logs in, as the API shows them.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	// Admin users manage users and teams platform-wide and act as owners
	// of every team.
	Admin       bool      `json:"admin"`
	Disabled    bool      `json:"disabled,omitempty"`
	TOTPEnabled bool      `json:"totp_enabled"`
	CreatedAt   time.Time `json:"created_at"`
}

// userRecord is a User as stored.
type userRecord struct {
	User
	PasswordHash      string   `json:"password_hash"`
	SealedTOTP        string   `json:"sealed_totp,omitempty"`
	SealedPendingTOTP string   `json:"sealed_pending_totp,omitempty"`
	TOTPLastStep      int64    `json:"totp_last_step,omitempty"`
	RecoveryHashes    []string `json:"recovery_hashes,omitempty"`
}

// UserInput creates a user.
type UserInput struct {
	// Email is the login name.
	Email string `json:"email"`
	// Name is shown in the dashboard.
	Name string `json:"name,omitempty"`
	// Password, when empty, is generated and returned once.
	Password string `json:"password,omitempty"`
	// Admin makes a platform admin.
	Admin bool `json:"admin,omitempty"`
}

// UserPatch changes a user (platform admins only).
type UserPatch struct {
	Name     *string `json:"name,omitempty"`
	Admin    *bool   `json:"admin,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
	// Password sets a new password; every session of the user ends.
	Password *string `json:"password,omitempty"`
}

// CreatedUser is the answer to a user creation: the password appears only
// when the server generated it, and only in this answer.
type CreatedUser struct {
	User
	GeneratedPassword string `json:"generated_password,omitempty"`
}

func newID(prefix string) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b)
}

// NormalizeEmail validates an e-mail address and returns it lowercased.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("email is required")
	}
	if len(s) > 254 || strings.ContainsAny(s, "\r\n\x00<>\"' ,;") {
		return "", invalid("email is not a valid address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", invalid("email is not a valid address")
	}
	return strings.ToLower(s), nil
}

// checkPassword is ValidatePassword as a 400 error for the API.
func checkPassword(pw string) error {
	if err := ValidatePassword(pw); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func validateName(s string) error {
	if len(s) > 100 || strings.ContainsAny(s, "\r\n\x00") {
		return invalid("name must be at most 100 characters on one line")
	}
	return nil
}

func forEach[T any](tx *storage.Tx, bucket []string, fn func(*T) error) error {
	return tx.ForEach(bucket, func(_ string, raw json.RawMessage) error {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
		return fn(v)
	})
}

func forEachKeyed[T any](tx *storage.Tx, bucket []string, fn func(string, *T) error) error {
	return tx.ForEach(bucket, func(key string, raw json.RawMessage) error {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
		return fn(key, v)
	})
}

// deleteWhere deletes the records of bucket that match.
func deleteWhere[T any](tx *storage.Tx, bucket []string, match func(key string, v *T) bool) error {
	var doomed []string
	err := forEachKeyed(tx, bucket, func(key string, v *T) error {
		if match(key, v) {
			doomed = append(doomed, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := tx.Delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

func getUser(tx *storage.Tx, id string) (*userRecord, error) {
	var u userRecord
	if err := tx.Get(usersBucket, id, &u); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, notFound("user %q not found", truncate(id, 80))
		}
		return nil, err
	}
	return &u, nil
}

func userByEmail(tx *storage.Tx, email string) (*userRecord, error) {
	var id string
	if err := tx.Get(emailsBucket, email, &id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, notFound("no user with this email")
		}
		return nil, err
	}
	return getUser(tx, id)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// HasUsers reports whether any user exists.
func (s *Service) HasUsers() (bool, error) {
	found := false
	err := s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(usersBucket, func(string, json.RawMessage) error {
			found = true
			return errStop
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return found, err
}

var errStop = errors.New("stop")

// Users lists every user, by email.
func (s *Service) Users() ([]User, error) {
	var out []User
	err := s.db.View(func(tx *storage.Tx) error {
		return forEach(tx, usersBucket, func(u *userRecord) error { out = append(out, u.User); return nil })
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, err
}

// User returns one user.
func (s *Service) User(id string) (*User, error) {
	var out *User
	err := s.db.View(func(tx *storage.Tx) error {
		u, err := getUser(tx, id)
		if err == nil {
			out = &u.User
		}
		return err
	})
	return out, err
}

// CreateUser adds a user; with no password, one is generated and returned
// once.
func (s *Service) CreateUser(ctx context.Context, in UserInput) (*CreatedUser, error) {
	var out *CreatedUser
	err := s.db.Update(func(tx *storage.Tx) error {
		var err error
		out, err = s.createUser(tx, in)
		return err
	})
	return out, err
}

func (s *Service) createUser(tx *storage.Tx, in UserInput) (*CreatedUser, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := validateName(in.Name); err != nil {
		return nil, err
	}
	out := &CreatedUser{}
	pw := in.Password
	if pw == "" {
		if pw, err = RandomString(18); err != nil {
			return nil, err
		}
		out.GeneratedPassword = pw
	}
	if err := checkPassword(pw); err != nil {
		return nil, err
	}
	if _, err := userByEmail(tx, email); err == nil {
		return nil, conflict("a user with this email already exists")
	}
	hash, err := HashPassword(pw)
	if err != nil {
		return nil, fmt.Errorf("hashing password: %w", err)
	}
	u := &userRecord{User: User{ID: newID("u_"), Email: email, Name: in.Name, Admin: in.Admin, CreatedAt: s.now().UTC()}, PasswordHash: hash}
	if err := tx.Put(usersBucket, u.ID, u); err != nil {
		return nil, err
	}
	if err := tx.Put(emailsBucket, email, u.ID); err != nil {
		return nil, err
	}
	out.User = u.User
	return out, nil
}

// UpdateUser changes a user. A change of password, admin flag or disabled
// flag ends every session of the user.
func (s *Service) UpdateUser(ctx context.Context, id string, p UserPatch) (*User, error) {
	var out *User
	err := s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		revoke := false
		if p.Name != nil {
			if err := validateName(*p.Name); err != nil {
				return err
			}
			u.Name = *p.Name
		}
		if p.Admin != nil && *p.Admin != u.Admin {
			if !*p.Admin {
				if err := lastAdminCheck(tx, u.ID); err != nil {
					return err
				}
			}
			u.Admin, revoke = *p.Admin, true
		}
		if p.Disabled != nil && *p.Disabled != u.Disabled {
			if *p.Disabled && u.Admin {
				if err := lastAdminCheck(tx, u.ID); err != nil {
					return err
				}
			}
			u.Disabled, revoke = *p.Disabled, true
		}
		if p.Password != nil {
			if err := checkPassword(*p.Password); err != nil {
				return err
			}
			if u.PasswordHash, err = HashPassword(*p.Password); err != nil {
				return err
			}
			revoke = true
		}
		if err := tx.Put(usersBucket, u.ID, u); err != nil {
			return err
		}
		if revoke {
			if err := revokeUser(tx, u.ID, ""); err != nil {
				return err
			}
		}
		out = &u.User
		return nil
	})
	return out, err
}

// lastAdminCheck refuses to take away the last active platform admin.
func lastAdminCheck(tx *storage.Tx, id string) error {
	others := 0
	err := forEach(tx, usersBucket, func(u *userRecord) error {
		if u.ID != id && u.Admin && !u.Disabled {
			others++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if others == 0 {
		return conflict("this is the last platform admin: make another user admin first")
	}
	return nil
}

// DeleteUser removes a user, their memberships, sessions and tokens.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	return s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if u.Admin {
			if err := lastAdminCheck(tx, u.ID); err != nil {
				return err
			}
		}
		var teams []*teamRecord
		if err := forEach(tx, teamsBucket, func(t *teamRecord) error { teams = append(teams, t); return nil }); err != nil {
			return err
		}
		for _, t := range teams {
			if _, ok := t.Members[id]; !ok {
				continue
			}
			if t.Members[id] == RoleOwner && t.owners() == 1 && len(t.Members) > 1 {
				return conflict("user is the last owner of team %q: make another member owner first", t.Name)
			}
			delete(t.Members, id)
			if err := tx.Put(teamsBucket, t.Name, t); err != nil {
				return err
			}
		}
		if err := revokeUser(tx, id, ""); err != nil {
			return err
		}
		if err := deleteTokensOf(tx, id); err != nil {
			return err
		}
		if err := tx.Delete(emailsBucket, u.Email); err != nil {
			return err
		}
		return tx.Delete(usersBucket, id)
	})
}

// ChangePassword sets a user's own password after checking the current
// one. Every session of the user ends; the caller issues a new one.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next string) error {
	if err := checkPassword(next); err != nil {
		return err
	}
	return s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		ok, err := VerifyPassword(u.PasswordHash, current)
		if err != nil || !ok {
			return forbidden("the current password is wrong")
		}
		if u.PasswordHash, err = HashPassword(next); err != nil {
			return err
		}
		if err := tx.Put(usersBucket, u.ID, u); err != nil {
			return err
		}
		return revokeUser(tx, u.ID, "")
	})
}

// IssueSetupToken makes the one-time token that signs up the first admin,
// while no user exists. It returns "" once a user exists.
func (s *Service) IssueSetupToken() (string, error) {
	has, err := s.HasUsers()
	if err != nil || has {
		return "", err
	}
	tok, err := RandomString(24)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(tok))
	s.setupMu.Lock()
	s.setupHash = sum[:]
	s.setupMu.Unlock()
	return tok, nil
}

// SetupInput signs up the first admin.
type SetupInput struct {
	// Token is the one-time setup token from the server's log.
	Token    string `json:"token"`
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Password string `json:"password"`
}

// Setup signs up the first admin with the setup token, makes them owner of
// the default team, and logs them in.
func (s *Service) Setup(ctx context.Context, in SetupInput, info RequestInfo) (*User, *IssuedSession, error) {
	if in.Password == "" {
		return nil, nil, invalid("password is required")
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if retry, ok := s.clients.Check("setup:"+info.ClientIP, s.now()); !ok {
		return nil, nil, &Error{Status: http.StatusTooManyRequests, Code: "throttled", Message: "too many attempts: try again later", RetryAfter: retry}
	}
	sum := sha256.Sum256([]byte(in.Token))
	if s.setupHash == nil || subtle.ConstantTimeCompare(sum[:], s.setupHash) != 1 {
		s.clients.Fail("setup:"+info.ClientIP, s.now())
		if has, _ := s.HasUsers(); has {
			return nil, nil, conflict("setup is done: log in instead")
		}
		return nil, nil, unauthorized("bad_setup_token", "the setup token is wrong: it is in the server's log")
	}
	var user *User
	var sess *IssuedSession
	err := s.db.Update(func(tx *storage.Tx) error {
		found := false
		if err := tx.ForEach(usersBucket, func(string, json.RawMessage) error { found = true; return nil }); err != nil {
			return err
		}
		if found {
			return conflict("setup is done: log in instead")
		}
		cu, err := s.createUser(tx, UserInput{Email: in.Email, Name: in.Name, Password: in.Password, Admin: true})
		if err != nil {
			return err
		}
		user = &cu.User
		var t teamRecord
		if err := tx.Get(teamsBucket, DefaultTeam, &t); err != nil {
			return err
		}
		if t.Members == nil {
			t.Members = map[string]Role{}
		}
		t.Members[user.ID] = RoleOwner
		if err := tx.Put(teamsBucket, DefaultTeam, &t); err != nil {
			return err
		}
		sess, err = s.newSession(tx, user.ID, info)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	s.setupHash = nil
	return user, sess, nil
}
