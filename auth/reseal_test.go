package auth

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/storage"
)

// openWithKeyFile opens the database and the service the way the server
// does: the sealer from the key file in dir, with its key check.
func openWithKeyFile(t *testing.T, dir string, clock *fakeClock) (*storage.DB, *storage.Sealer, *Service) {
	t.Helper()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := storage.OpenSealer(dir, db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	s, err := NewService(db, sealer, Config{}, zap.NewNop())
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	s.now = clock.Now
	return db, sealer, s
}

func readMasterKey(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, storage.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		t.Fatalf("key file: %v", err)
	}
	return key
}

func TestRotateMasterKey(t *testing.T) {
	t.Setenv(storage.MasterKeyEnv, "") // the key file, never the environment
	dir := t.TempDir()
	clock := &fakeClock{now: t0}
	db, sealer, s := openWithKeyFile(t, dir, clock)
	closed := false
	t.Cleanup(func() {
		if !closed {
			db.Close()
		}
	})
	e := &env{t: t, dir: dir, db: db, s: s, clock: clock}

	e.createTeam("alpha")
	on := e.seedUser("totp@example.com", false)
	e.addMember("alpha", on.Email, RoleOwner)
	secret, codes := e.enableTOTP(on.ID)
	pending := e.seedUser("pending@example.com", false)
	enr, err := s.BeginTOTP(ctx, pending.ID)
	must(t, err)
	tok, err := s.CreateToken(ctx, e.userPrincipal(on.ID), TokenInput{Name: "ci", Team: "alpha", Scope: ScopeDeploy})
	must(t, err)
	oldKey := readMasterKey(t, dir)
	oldID := sealer.KeyID()
	oldSealed := e.record(on.ID).SealedTOTP
	if storage.SealedKeyID(oldSealed) != oldID {
		t.Fatalf("the TOTP secret is sealed under %q, want %q", storage.SealedKeyID(oldSealed), oldID)
	}

	newID, err := storage.RotateMasterKey(dir, db, sealer, s)
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || sealer.KeyID() != newID {
		t.Fatalf("new key id %q, sealer %q, old %q", newID, sealer.KeyID(), oldID)
	}
	for _, u := range []string{on.ID, pending.ID} {
		rec := e.record(u)
		for _, sealed := range []string{rec.SealedTOTP, rec.SealedPendingTOTP} {
			if sealed != "" && storage.SealedKeyID(sealed) != newID {
				t.Errorf("a TOTP secret of %s is still under %s", u, storage.SealedKeyID(sealed))
			}
		}
	}

	// The running service: tokens, TOTP, recovery codes and the pending
	// enrollment all still work.
	checkAll := func(t *testing.T, s *Service, label string) {
		t.Helper()
		if p, err := s.Authenticate(bearerRequest(tok.Secret)); err != nil || p.Token.ID != tok.ID {
			t.Errorf("%s: the token: %v", label, err)
		}
		clock.Add(30 * time.Second)
		in := LoginInput{Email: on.Email, Password: testPassword, TOTPCode: codeAt(t, secret, clock.Now())}
		if _, _, err := s.Login(ctx, in, ip("192.0.2.200")); err != nil {
			t.Errorf("%s: login with TOTP: %v", label, err)
		}
		_, _, err := s.Login(ctx, login(on.Email, testPassword), ip("192.0.2.200"))
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != "totp_required" {
			t.Errorf("%s: login without a code: %v", label, err)
		}
	}
	checkAll(t, s, "after rotation")
	if _, _, err := s.Login(ctx, LoginInput{Email: on.Email, Password: testPassword, RecoveryCode: codes[0]}, ip("192.0.2.200")); err != nil {
		t.Errorf("a recovery code after rotation: %v", err)
	}

	// A restart: a fresh sealer from the (new) key file, a fresh service.
	must(t, db.Close())
	closed = true
	if got := readMasterKey(t, dir); storage.KeyIDOf(got) != newID {
		t.Fatalf("the key file holds key %s, want %s", storage.KeyIDOf(got), newID)
	}
	if _, err := os.Stat(filepath.Join(dir, storage.NextMasterKeyFile)); !os.IsNotExist(err) {
		t.Errorf("the next key file is left: %v", err)
	}
	db2, sealer2, s2 := openWithKeyFile(t, dir, clock)
	defer db2.Close()
	if sealer2.KeyID() != newID {
		t.Fatalf("reopened under %s, want %s", sealer2.KeyID(), newID)
	}
	checkAll(t, s2, "after restart")
	if _, _, err := s2.Login(ctx, LoginInput{Email: on.Email, Password: testPassword, RecoveryCode: codes[1]}, ip("192.0.2.201")); err != nil {
		t.Errorf("a recovery code after restart: %v", err)
	}
	// The pending enrollment completes with the code of its secret.
	clock.Add(30 * time.Second)
	rc, err := s2.ConfirmTOTP(ctx, pending.ID, codeAt(t, enr.Secret, clock.Now()))
	if err != nil || len(rc.Codes) != 10 {
		t.Fatalf("confirming the pending enrollment after rotation: %v", err)
	}

	// The old key opens nothing any more: the hash key was re-sealed.
	oldSealer, err := storage.NewSealer(oldKey)
	must(t, err)
	if _, err := NewService(db2, oldSealer, Config{}, nil); err == nil {
		t.Error("the old master key still opens the hash key")
	}
	if _, err := oldSealer.Open(e2record(t, db2, on.ID).SealedTOTP, totpAAD(on.ID)); err == nil {
		t.Error("the old master key still opens the TOTP secret")
	}
	// And a sealed value moved to another user does not open (AAD).
	if _, err := sealer2.Open(e2record(t, db2, on.ID).SealedTOTP, totpAAD(pending.ID)); err == nil {
		t.Error("a TOTP secret opens under another user's id")
	}
}

func e2record(t *testing.T, db *storage.DB, id string) *userRecord {
	t.Helper()
	var u *userRecord
	must(t, db.View(func(tx *storage.Tx) error {
		var err error
		u, err = getUser(tx, id)
		return err
	}))
	return u
}

// TestResealFailureChangesNothing: an owner's error aborts the rotation
// and leaves the service working under the old key.
func TestResealFailureChangesNothing(t *testing.T) {
	t.Setenv(storage.MasterKeyEnv, "")
	dir := t.TempDir()
	clock := &fakeClock{now: t0}
	db, sealer, s := openWithKeyFile(t, dir, clock)
	defer db.Close()
	e := &env{t: t, dir: dir, db: db, s: s, clock: clock}
	u := e.seedUser("x@example.com", false)
	secret, _ := e.enableTOTP(u.ID)
	oldID := sealer.KeyID()

	_, err := storage.RotateMasterKey(dir, db, sealer, s, failingResealer{})
	if err == nil {
		t.Fatal("the rotation succeeded despite a failing owner")
	}
	if sealer.KeyID() != oldID || storage.SealedKeyID(e.record(u.ID).SealedTOTP) != oldID {
		t.Error("a failed rotation changed the key")
	}
	clock.Add(30 * time.Second)
	if _, _, err := s.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, TOTPCode: codeAt(t, secret, clock.Now())}, ip("192.0.2.202")); err != nil {
		t.Errorf("login after a failed rotation: %v", err)
	}
}

type failingResealer struct{}

func (failingResealer) Reseal(*storage.Tx, func(sealed, aad string) (string, error)) error {
	return errors.New("owner failed")
}
