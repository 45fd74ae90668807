package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/storage"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "paas_session"

// CSRFHeader carries the session's anti-forgery token on every request
// that changes something.
const CSRFHeader = "X-CSRF-Token"

// session is a login, stored under the SHA-256 of its id, so that a copy of
// the database opens no session.
type session struct {
	UserID    string    `json:"user_id"`
	CSRF      string    `json:"csrf"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	ClientIP  string    `json:"client_ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
}

// IssuedSession is a new session: the id goes in the cookie, the CSRF token
// to the page.
type IssuedSession struct {
	ID      string
	CSRF    string
	Expires time.Time
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (s *Service) newSession(tx *storage.Tx, userID string, info RequestInfo) (*IssuedSession, error) {
	id, err := RandomString(32)
	if err != nil {
		return nil, err
	}
	csrf, err := RandomString(32)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	rec := &session{UserID: userID, CSRF: csrf, Created: now, LastSeen: now, ClientIP: info.ClientIP, UserAgent: truncate(info.UserAgent, 200)}
	if err := tx.Put(sessionsBucket, sessionKey(id), rec); err != nil {
		return nil, err
	}
	return &IssuedSession{ID: id, CSRF: csrf, Expires: now.Add(s.config().SessionLifetime)}, nil
}

// revokeUser ends every session of a user, but keep (a session key) when
// set.
func revokeUser(tx *storage.Tx, userID, keep string) error {
	return deleteWhere(tx, sessionsBucket, func(key string, rec *session) bool {
		return key != keep && rec.UserID == userID
	})
}

// LoginInput is a login attempt.
type LoginInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// TOTPCode is the 6-digit code of the user's authenticator app, when
	// two-factor authentication is on.
	TOTPCode string `json:"totp_code,omitempty"`
	// RecoveryCode replaces the TOTP code once.
	RecoveryCode string `json:"recovery_code,omitempty"`
}

var errBadLogin = &Error{Status: http.StatusUnauthorized, Code: "bad_credentials", Message: "wrong email or password"}

// Login checks a password (and second factor) and starts a session.
// Failures are throttled per account and per client address.
func (s *Service) Login(ctx context.Context, in LoginInput, info RequestInfo) (*User, *IssuedSession, error) {
	now := s.now()
	email, _ := NormalizeEmail(in.Email)
	accountKey, clientKey := "account:"+email, "ip:"+info.ClientIP
	for _, k := range []struct {
		t   *Throttle
		key string
	}{{s.clients, clientKey}, {s.accounts, accountKey}} {
		if retry, ok := k.t.Check(k.key, now); !ok {
			return nil, nil, &Error{Status: http.StatusTooManyRequests, Code: "throttled", Message: "too many failed logins: try again later", RetryAfter: retry}
		}
	}
	fail := func(err error) (*User, *IssuedSession, error) {
		s.clients.Fail(clientKey, now)
		s.accounts.Fail(accountKey, now)
		return nil, nil, err
	}
	if email == "" || in.Password == "" || len(in.Password) > MaxPasswordLen {
		return fail(errBadLogin)
	}
	// The password is checked outside any write transaction: argon2
	// takes a tenth of a second and must not hold bbolt's writer lock.
	var found *userRecord
	err := s.db.View(func(tx *storage.Tx) error {
		u, err := userByEmail(tx, email)
		found = u
		return err
	})
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			return nil, nil, err
		}
		DummyVerify(in.Password)
		return fail(errBadLogin)
	}
	if ok, err := VerifyPassword(found.PasswordHash, in.Password); err != nil || !ok {
		return fail(errBadLogin)
	}
	var user *User
	var sess *IssuedSession
	err = s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, found.ID)
		if err != nil || u.PasswordHash != found.PasswordHash {
			return errBadLogin // deleted or given a new password meanwhile
		}
		if u.Disabled {
			return &Error{Status: http.StatusForbidden, Code: "disabled", Message: "this account is disabled"}
		}
		if u.TOTPEnabled {
			if err := s.checkSecondFactor(tx, u, in, now); err != nil {
				return err
			}
		}
		user = &u.User
		sess, err = s.newSession(tx, u.ID, info)
		return err
	})
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Code != "totp_required" {
			return fail(err)
		}
		return nil, nil, err
	}
	s.accounts.Reset(accountKey)
	// Sweep expired sessions now and then: on logins, which are rare.
	if err := s.expireSessions(); err != nil {
		s.log().Warn("removing expired sessions", zap.Error(err))
	}
	return user, sess, nil
}

// Logout ends the session.
func (s *Service) Logout(key string) error {
	return s.db.Update(func(tx *storage.Tx) error { return tx.Delete(sessionsBucket, key) })
}

// Authenticate finds who makes the request: a bearer API token, else the
// session cookie. It returns nil with no error for a request with neither
// (or with an expired session), and an error for a bad token.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || cred == "" {
			return nil, unauthorized("bad_token", "the Authorization header must be \"Bearer <token>\"")
		}
		return s.authenticateToken(strings.TrimSpace(cred))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	return s.authenticateSession(sessionKey(c.Value))
}

func (s *Service) authenticateSession(key string) (*Principal, error) {
	cfg := s.config()
	now := s.now().UTC()
	var p *Principal
	touch := false
	err := s.db.View(func(tx *storage.Tx) error {
		var rec session
		if err := tx.Get(sessionsBucket, key, &rec); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		}
		if now.Sub(rec.LastSeen) > cfg.SessionIdle || now.Sub(rec.Created) > cfg.SessionLifetime {
			return nil
		}
		u, err := getUser(tx, rec.UserID)
		if err != nil || u.Disabled {
			return nil
		}
		teams, err := membershipsOf(tx, u.ID)
		if err != nil {
			return err
		}
		p = &Principal{Kind: KindSession, User: &u.User, Teams: teams, SessionKey: key, CSRF: rec.CSRF}
		touch = now.Sub(rec.LastSeen) > time.Minute
		return nil
	})
	if err != nil {
		return nil, err
	}
	if touch {
		// The idle clock moves at most once a minute: reads stay reads.
		_ = s.db.Update(func(tx *storage.Tx) error {
			var rec session
			if err := tx.Get(sessionsBucket, key, &rec); err != nil {
				return nil
			}
			rec.LastSeen = now
			return tx.Put(sessionsBucket, key, &rec)
		})
	}
	return p, nil
}

// expireSessions removes sessions past their expiry.
func (s *Service) expireSessions() error {
	cfg := s.config()
	now := s.now().UTC()
	return s.db.Update(func(tx *storage.Tx) error {
		return deleteWhere(tx, sessionsBucket, func(_ string, rec *session) bool {
			return now.Sub(rec.LastSeen) > cfg.SessionIdle || now.Sub(rec.Created) > cfg.SessionLifetime
		})
	})
}
