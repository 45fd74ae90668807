package auth

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// enableTOTP turns two-factor authentication on for a user at the clock's
// time, and returns the secret and the recovery codes.
func (e *env) enableTOTP(userID string) (string, []string) {
	e.t.Helper()
	enr, err := e.s.BeginTOTP(ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	rc, err := e.s.ConfirmTOTP(ctx, userID, codeAt(e.t, enr.Secret, e.clock.Now()))
	if err != nil {
		e.t.Fatal(err)
	}
	return enr.Secret, rc.Codes
}

func TestTOTPEnrollment(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("quinn@example.com", false)

	_, err := e.s.ConfirmTOTP(ctx, u.ID, "123456")
	wantErr(t, err, http.StatusConflict, "")

	enr, err := e.s.BeginTOTP(ctx, u.ID)
	must(t, err)
	if len(enr.Secret) != 32 || !strings.HasPrefix(enr.URL, "otpauth://totp/") || !strings.Contains(enr.URL, "secret="+enr.Secret) {
		t.Fatalf("enrollment %+v", enr)
	}
	rec := e.record(u.ID)
	if rec.TOTPEnabled || rec.SealedPendingTOTP == "" || rec.SealedTOTP != "" || strings.Contains(rec.SealedPendingTOTP, enr.Secret) {
		t.Fatalf("pending record %+v", rec)
	}
	// Until confirmed, login needs no code.
	if _, _, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.80")); err != nil {
		t.Fatalf("login during enrollment: %v", err)
	}

	now := e.clock.Now()
	// A code of a step outside the window (two or more steps away) that
	// is not also a code of a step inside it: 6-digit codes collide once in
	// a million.
	inWindow := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		inWindow[codeAt(t, enr.Secret, now.Add(d))] = true
	}
	wrong := wrongCode(codeAt(t, enr.Secret, now))
	for inWindow[wrong] {
		wrong = wrongCode(wrong)
	}
	outside := func(dir time.Duration) string {
		for step := 2; ; step++ {
			if c := codeAt(t, enr.Secret, now.Add(time.Duration(step)*dir)); !inWindow[c] {
				return c
			}
		}
	}
	for _, tc := range []struct {
		name string
		code string
	}{
		{"wrong code", wrong},
		{"code of two steps ago", outside(-30 * time.Second)},
		{"code of two steps ahead", outside(30 * time.Second)},
		{"empty", ""},
		{"letters", "abcdef"},
		{"seven digits", codeAt(t, enr.Secret, now) + "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.ConfirmTOTP(ctx, u.ID, tc.code)
			wantErr(t, err, http.StatusBadRequest, "")
			if e.record(u.ID).TOTPEnabled {
				t.Fatal("enabled by a wrong code")
			}
		})
	}

	rc, err := e.s.ConfirmTOTP(ctx, u.ID, codeAt(t, enr.Secret, now))
	must(t, err)
	if len(rc.Codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(rc.Codes))
	}
	seen := map[string]bool{}
	for _, c := range rc.Codes {
		if seen[c] || !recoveryRe.MatchString(c) {
			t.Errorf("recovery code %q malformed or repeated", c)
		}
		seen[c] = true
	}
	rec = e.record(u.ID)
	if !rec.TOTPEnabled || rec.SealedTOTP == "" || rec.SealedPendingTOTP != "" || len(rec.RecoveryHashes) != 10 {
		t.Fatalf("record after confirmation %+v", rec)
	}
	for _, h := range rec.RecoveryHashes {
		for _, c := range rc.Codes {
			if strings.Contains(h, c) || strings.Contains(h, strings.ReplaceAll(c, "-", "")) {
				t.Error("a recovery code is stored in clear")
			}
		}
	}
	if got, _ := e.s.User(u.ID); !got.TOTPEnabled {
		t.Error("User() does not show totp_enabled")
	}
	_, err = e.s.BeginTOTP(ctx, u.ID)
	wantErr(t, err, http.StatusConflict, "")
	_, err = e.s.BeginTOTP(ctx, "u_nobody")
	wantErr(t, err, http.StatusNotFound, "")
}

// wrongCode returns another 6-digit code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestLoginWithTOTP(t *testing.T) {
	const max = 3
	e := newEnv(t, Config{MaxLoginFailures: max})
	u := e.seedUser("rosa@example.com", false)
	secret, codes := e.enableTOTP(u.ID)
	confirmCode := codeAt(t, secret, e.clock.Now())
	n := 0
	client := func() RequestInfo { n++; return ip(fmt.Sprintf("192.0.2.%d", 100+n)) }
	withCode := func(code string) LoginInput {
		return LoginInput{Email: u.Email, Password: testPassword, TOTPCode: code}
	}

	// No code: 401 totp_required, and it is not a throttled failure (the
	// password was right): more than max of them, from one address.
	for i := 0; i < max+1; i++ {
		_, sess, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.99"))
		wantErr(t, err, http.StatusUnauthorized, "totp_required")
		if sess != nil {
			t.Fatal("a session without the second factor")
		}
	}
	// The code that confirmed the enrollment cannot log in: it was used.
	_, _, err := e.s.Login(ctx, withCode(confirmCode), client())
	wantErr(t, err, http.StatusUnauthorized, "bad_totp")

	e.clock.Add(30 * time.Second)
	code := codeAt(t, secret, e.clock.Now())
	// A good code with a wrong password does not log in, and does not use
	// the code up.
	_, _, err = e.s.Login(ctx, LoginInput{Email: u.Email, Password: "wrong password!", TOTPCode: code}, client())
	wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	got, sess, err := e.s.Login(ctx, withCode(code), client())
	if err != nil {
		t.Fatalf("login with a valid code: %v", err)
	}
	if got.ID != u.ID || e.sessionPrincipal(sess.ID) == nil {
		t.Fatal("no working session")
	}
	// The same code again, within its step: refused.
	_, _, err = e.s.Login(ctx, withCode(code), client())
	wantErr(t, err, http.StatusUnauthorized, "bad_totp")
	// Nor the previous step's code (within the skew, but older).
	_, _, err = e.s.Login(ctx, withCode(codeAt(t, secret, e.clock.Now().Add(-30*time.Second))), client())
	wantErr(t, err, http.StatusUnauthorized, "bad_totp")
	// The next step's code works.
	e.clock.Add(30 * time.Second)
	if _, _, err := e.s.Login(ctx, withCode(codeAt(t, secret, e.clock.Now())), client()); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
	// A wrong password with no code is bad_credentials, not totp_required:
	// it tells nothing about the account.
	_, _, err = e.s.Login(ctx, login(u.Email, "wrong password!"), client())
	wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	for _, bad := range []string{"12345x", "", "1234567", wrongCode(codeAt(t, secret, e.clock.Now().Add(30*time.Second)))} {
		in := withCode(bad)
		if bad == "" {
			in.RecoveryCode = "  -  " // blank once normalized
		}
		_, _, err = e.s.Login(ctx, in, client())
		wantErr(t, err, http.StatusUnauthorized, "bad_totp")
		// Keep the account under the throttle: a success resets it.
		e.clock.Add(30 * time.Second)
		if _, _, err := e.s.Login(ctx, withCode(codeAt(t, secret, e.clock.Now())), client()); err != nil {
			t.Fatalf("a valid code after %q: %v", bad, err)
		}
	}

	// Recovery codes: each works once, however typed.
	for i, typed := range []string{codes[0], strings.ToUpper(codes[1]), " " + strings.ReplaceAll(codes[2], "-", " ") + " "} {
		in := LoginInput{Email: u.Email, Password: testPassword, RecoveryCode: typed}
		if _, _, err := e.s.Login(ctx, in, client()); err != nil {
			t.Fatalf("recovery code %d: %v", i, err)
		}
		_, _, err := e.s.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, RecoveryCode: codes[i]}, client())
		wantErr(t, err, http.StatusUnauthorized, "bad_totp")
	}
	if n := len(e.record(u.ID).RecoveryHashes); n != 7 {
		t.Errorf("%d recovery codes left, want 7", n)
	}
	_, _, err = e.s.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, RecoveryCode: "aaaaa-bbbbb"}, client())
	wantErr(t, err, http.StatusUnauthorized, "bad_totp")
	if _, _, err := e.s.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, RecoveryCode: codes[9]}, client()); err != nil {
		t.Fatalf("the last recovery code: %v", err)
	}
	// A recovery code is no TOTP code.
	_, _, err = e.s.Login(ctx, withCode(codes[3]), client())
	wantErr(t, err, http.StatusUnauthorized, "bad_totp")
	if n := len(e.record(u.ID).RecoveryHashes); n != 6 {
		t.Errorf("%d recovery codes left, want 6", n)
	}
}

func TestTOTPFailuresAreThrottled(t *testing.T) {
	const max = 2
	e := newEnv(t, Config{MaxLoginFailures: max})
	u := e.seedUser("sam@example.com", false)
	secret, _ := e.enableTOTP(u.ID)
	e.clock.Add(30 * time.Second)
	good := codeAt(t, secret, e.clock.Now())
	for i := 0; i < max; i++ {
		_, _, err := e.s.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, TOTPCode: wrongCode(good)}, ip("192.0.2.91"))
		wantErr(t, err, http.StatusUnauthorized, "bad_totp")
	}
	_, _, err := e.s.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, TOTPCode: good}, ip("192.0.2.92"))
	wantErr(t, err, http.StatusTooManyRequests, "throttled")
}

func TestDisableTOTP(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("tess@example.com", false)
	e.enableTOTP(u.ID)
	wantErr(t, e.s.DisableTOTP(ctx, u.ID, "wrong password!"), http.StatusForbidden, "")
	wantErr(t, e.s.DisableTOTP(ctx, u.ID, ""), http.StatusForbidden, "")
	if !e.record(u.ID).TOTPEnabled {
		t.Fatal("disabled with a wrong password")
	}
	must(t, e.s.DisableTOTP(ctx, u.ID, testPassword))
	rec := e.record(u.ID)
	if rec.TOTPEnabled || rec.SealedTOTP != "" || rec.SealedPendingTOTP != "" || len(rec.RecoveryHashes) != 0 || rec.TOTPLastStep != 0 {
		t.Fatalf("record after disabling %+v", rec)
	}
	if _, _, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.93")); err != nil {
		t.Fatalf("login after disabling: %v", err)
	}
	wantErr(t, e.s.DisableTOTP(ctx, "u_nobody", testPassword), http.StatusNotFound, "")
	// It can be turned on again, with a new secret.
	secret2, _ := e.enableTOTP(u.ID)
	_, _, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.93"))
	wantErr(t, err, http.StatusUnauthorized, "totp_required")
	_ = secret2
}

// TestTOTPSecretNotInClear scans the database file for the secrets, with
// one user enrolled and one enrollment pending.
func TestTOTPSecretNotInClear(t *testing.T) {
	e := newEnv(t, Config{})
	on := e.seedUser("uma@example.com", false)
	pending := e.seedUser("vic@example.com", false)
	secret, codes := e.enableTOTP(on.ID)
	enr, err := e.s.BeginTOTP(ctx, pending.ID)
	must(t, err)
	raw := e.rawDB()
	if !bytes.Contains(raw, []byte("uma@example.com")) {
		t.Fatal("the scan does not see the database's records")
	}
	for name, s := range map[string]string{"enabled secret": secret, "pending secret": enr.Secret} {
		for _, form := range []string{s, strings.ToLower(s)} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("the %s is in the database file in clear", name)
			}
		}
	}
	for _, c := range codes {
		if bytes.Contains(raw, []byte(c)) || bytes.Contains(raw, []byte(strings.ReplaceAll(c, "-", ""))) {
			t.Error("a recovery code is in the database file in clear")
		}
	}
	if bytes.Contains(raw, []byte(testPassword)) {
		t.Error("a password is in the database file in clear")
	}
}
