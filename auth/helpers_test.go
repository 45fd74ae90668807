package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/argon2"

	"github.com/caddy-paas/caddy-paas/storage"
)

// The fixtures of the service tests.
var (
	// testMasterKey is a fixed master key: tests never depend on the key
	// file or the environment, except the rotation tests.
	testMasterKey = bytes.Repeat([]byte{0x5a}, 32)
	// t0 is the fake clock's start: 5 s into a 30 s TOTP step.
	t0 = time.Date(2026, 3, 2, 10, 0, 5, 0, time.UTC)
)

// testPassword is the password of every seeded user.
const testPassword = "correct horse battery"

var ctx = context.Background()

// fakeClock is the service's clock in tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a service over a fresh database in a temporary directory.
type env struct {
	t     *testing.T
	dir   string
	db    *storage.DB
	s     *Service
	clock *fakeClock
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := storage.NewSealer(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(db, sealer, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: t0}
	s.now = clock.Now
	return &env{t: t, dir: dir, db: db, s: s, clock: clock}
}

var (
	cheapHashOnce sync.Once
	cheapHashStr  string
)

// cheapHash is an argon2id hash of testPassword with the smallest
// parameters VerifyPassword accepts (m=8 KiB, t=1, p=1): seeded users log
// in without spending 64 MiB and a third of a second each under -race. The
// parameters are read from the hash, so Login verifies it as any other.
func cheapHash() string {
	cheapHashOnce.Do(func() {
		salt := []byte("seeded-user-salt")
		key := argon2.IDKey([]byte(testPassword), salt, 1, 8, 1, 32)
		cheapHashStr = fmt.Sprintf("$argon2id$v=%d$m=8,t=1,p=1$%s$%s", argon2.Version,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	})
	return cheapHashStr
}

// seedUser stores a user whose password is testPassword, as CreateUser
// would, without the cost of a full hash. CreateUser itself is tested in
// users_test.go.
func (e *env) seedUser(email string, admin bool) *User {
	e.t.Helper()
	u := &userRecord{
		User:         User{ID: newID("u_"), Email: email, Admin: admin, CreatedAt: e.clock.Now()},
		PasswordHash: cheapHash(),
	}
	err := e.db.Update(func(tx *storage.Tx) error {
		if err := tx.Put(usersBucket, u.ID, u); err != nil {
			return err
		}
		return tx.Put(emailsBucket, email, u.ID)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return &u.User
}

// addMember makes an existing user a member of team, through AddMember as
// the local admin endpoint.
func (e *env) addMember(team, email string, role Role) {
	e.t.Helper()
	res, err := e.s.AddMember(ctx, Local, team, MemberInput{Email: email, Role: role})
	if err != nil {
		e.t.Fatalf("adding %s to %s: %v", email, team, err)
	}
	if res.Member == nil {
		e.t.Fatalf("adding %s to %s made an invitation, not a member", email, team)
	}
}

// createTeam makes a team through the local admin endpoint (no member).
func (e *env) createTeam(name string) {
	e.t.Helper()
	if _, err := e.s.CreateTeam(ctx, Local, name); err != nil {
		e.t.Fatalf("creating team %s: %v", name, err)
	}
}

// session starts a session for a user without a login (no hash).
func (e *env) session(userID string) *IssuedSession {
	e.t.Helper()
	var out *IssuedSession
	err := e.db.Update(func(tx *storage.Tx) error {
		var err error
		out, err = e.s.newSession(tx, userID, RequestInfo{ClientIP: "192.0.2.1"})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// sessionPrincipal is the principal of a session id, or nil.
func (e *env) sessionPrincipal(id string) *Principal {
	e.t.Helper()
	p, err := e.s.Authenticate(cookieRequest(id))
	if err != nil {
		e.t.Fatalf("authenticating a session: %v", err)
	}
	return p
}

// userPrincipal is a fresh session principal of a user.
func (e *env) userPrincipal(userID string) *Principal {
	e.t.Helper()
	p := e.sessionPrincipal(e.session(userID).ID)
	if p == nil {
		e.t.Fatalf("a fresh session of %s does not authenticate", userID)
	}
	return p
}

// sessionCount is the number of stored sessions of a user.
func (e *env) sessionCount(userID string) int {
	e.t.Helper()
	n := 0
	err := e.db.View(func(tx *storage.Tx) error {
		return forEach(tx, sessionsBucket, func(rec *session) error {
			if rec.UserID == userID {
				n++
			}
			return nil
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// record reads a user's stored record.
func (e *env) record(userID string) *userRecord {
	e.t.Helper()
	var u *userRecord
	err := e.db.View(func(tx *storage.Tx) error {
		var err error
		u, err = getUser(tx, userID)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// rawDB closes the database and returns the bytes of its file.
func (e *env) rawDB() []byte {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, storage.DBFile))
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func login(email, password string) LoginInput {
	return LoginInput{Email: email, Password: password}
}

func ip(addr string) RequestInfo { return RequestInfo{ClientIP: addr, UserAgent: "test"} }

func cookieRequest(id string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/apps", nil)
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: id})
	return r
}

func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/apps", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// wantErr checks that err is an *Error with status and, when not "", code.
func wantErr(t *testing.T, err error, status int, code string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %q (%T) is not an *auth.Error: it would answer 500, want %d", err, err, status)
	}
	if ae.Status != status || (code != "" && ae.Code != code) {
		t.Fatalf("error %q: status %d code %q, want %d %q", ae.Message, ae.Status, ae.Code, status, code)
	}
	return ae
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func boolp(b bool) *bool    { return &b }
func strp(s string) *string { return &s }
