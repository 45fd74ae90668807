package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

func TestLoginAndAuthenticate(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("ivy@example.com", false)
	e.createTeam("alpha")
	e.addMember("alpha", u.Email, RoleDeveloper)

	got, sess, err := e.s.Login(ctx, login("  IVY@example.com", testPassword), RequestInfo{ClientIP: "192.0.2.60", UserAgent: strings.Repeat("A", 500)})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || sess.ID == "" || sess.CSRF == "" || sess.ID == sess.CSRF {
		t.Fatalf("login gave %+v, %+v", got, sess)
	}
	if !sess.Expires.Equal(t0.Add(7 * 24 * time.Hour)) {
		t.Errorf("Expires = %v, want login + SessionLifetime", sess.Expires)
	}
	p := e.sessionPrincipal(sess.ID)
	if p == nil {
		t.Fatal("the session cookie does not authenticate")
	}
	if p.Kind != KindSession || p.User.ID != u.ID || p.CSRF != sess.CSRF || p.SessionKey != sessionKey(sess.ID) || p.Token != nil {
		t.Errorf("principal %+v", p)
	}
	if p.Teams["alpha"] != RoleDeveloper || len(p.Teams) != 1 || p.Admin() {
		t.Errorf("teams %v, admin %v", p.Teams, p.Admin())
	}
	// The session is stored under a hash of its id, never the id itself.
	err = e.db.View(func(tx *storage.Tx) error {
		var rec session
		if err := tx.Get(sessionsBucket, sess.ID, &rec); err == nil {
			t.Error("a session is stored under its id")
		}
		if err := tx.Get(sessionsBucket, sessionKey(sess.ID), &rec); err != nil {
			return err
		}
		if rec.ClientIP != "192.0.2.60" || len(rec.UserAgent) > 203 {
			t.Errorf("stored session %+v", rec)
		}
		return nil
	})
	must(t, err)

	// Each login is a new session with new ids.
	_, sess2, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.60"))
	must(t, err)
	if sess2.ID == sess.ID || sess2.CSRF == sess.CSRF {
		t.Error("a second login reuses the session's id or CSRF token")
	}
	if e.sessionCount(u.ID) != 2 {
		t.Errorf("%d sessions, want 2", e.sessionCount(u.ID))
	}
}

func TestAuthenticateWithoutCredentials(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("jay@example.com", false)
	sess := e.session(u.ID)
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		code string // "" for no principal and no error
	}{
		{"nothing", func() *http.Request { return httptest.NewRequest("GET", "/", nil) }, ""},
		{"empty cookie", func() *http.Request { return cookieRequest("") }, ""},
		{"unknown session", func() *http.Request { return cookieRequest("not-a-session") }, ""},
		{"session key instead of id", func() *http.Request { return cookieRequest(sessionKey(sess.ID)) }, ""},
		{"over-long cookie", func() *http.Request { return cookieRequest(sess.ID + strings.Repeat("x", 100)) }, ""},
		{"other cookie name", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: "session", Value: sess.ID})
			return r
		}, ""},
		{"basic auth", func() *http.Request {
			r := cookieRequest(sess.ID)
			r.SetBasicAuth("jay@example.com", testPassword)
			return r
		}, "bad_token"},
		{"bearer without token", func() *http.Request {
			r := cookieRequest(sess.ID)
			r.Header.Set("Authorization", "Bearer")
			return r
		}, "bad_token"},
		{"session id as bearer token", func() *http.Request { return bearerRequest(sess.ID) }, "bad_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.s.Authenticate(tc.req())
			if tc.code == "" {
				if p != nil || err != nil {
					t.Errorf("Authenticate() = %+v, %v; want nil, nil", p, err)
				}
				return
			}
			if p != nil {
				t.Errorf("a principal despite the error: %+v", p)
			}
			wantErr(t, err, http.StatusUnauthorized, tc.code)
		})
	}
	if e.sessionPrincipal(sess.ID) == nil {
		t.Error("the session itself does not authenticate")
	}
}

func TestLoginBadCredentials(t *testing.T) {
	e := newEnv(t, Config{MaxLoginFailures: 20})
	e.seedUser("kim@example.com", false)
	var msg string
	for _, tc := range []struct {
		name string
		in   LoginInput
	}{
		{"wrong password", login("kim@example.com", "wrong password!")},
		{"password in capitals", login("kim@example.com", strings.ToUpper(testPassword))},
		{"unknown email", login("nobody@example.com", testPassword)},
		{"no password", login("kim@example.com", "")},
		{"no email", login("", testPassword)},
		{"invalid email", login("kim at example.com", testPassword)},
		{"over-long password", login("kim@example.com", strings.Repeat("p", MaxPasswordLen+1))},
		{"a totp code does not replace the password", LoginInput{Email: "kim@example.com", TOTPCode: "123456"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, sess, err := e.s.Login(ctx, tc.in, ip("192.0.2.61"))
			ae := wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
			if u != nil || sess != nil {
				t.Error("a user or session despite the error")
			}
			if msg == "" {
				msg = ae.Message
			}
			if ae.Message != msg || ae.Message != "wrong email or password" {
				t.Errorf("message %q, want the same for every failure", ae.Message)
			}
			if strings.Contains(ae.Message, "kim") || strings.Contains(ae.Message, "nobody") {
				t.Error("the message names the account")
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, Config{SessionIdle: time.Hour, SessionLifetime: 3 * time.Hour})
	u := e.seedUser("lee@example.com", false)

	t.Run("idle", func(t *testing.T) {
		sess := e.session(u.ID)
		e.clock.Add(time.Hour - time.Second)
		if e.sessionPrincipal(sess.ID) == nil {
			t.Fatal("ended before the idle timeout")
		}
		// That use moved the idle clock.
		e.clock.Add(time.Hour - time.Second)
		if e.sessionPrincipal(sess.ID) == nil {
			t.Fatal("a used session ended on the idle timeout of its first use")
		}
		e.clock.Add(time.Hour + time.Second)
		if e.sessionPrincipal(sess.ID) != nil {
			t.Fatal("a session idle for longer than SessionIdle authenticates")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		sess := e.session(u.ID)
		for i := 0; i < 5; i++ {
			e.clock.Add(35 * time.Minute) // used often: never idle
			if e.sessionPrincipal(sess.ID) == nil {
				t.Fatalf("ended %d minutes after login", (i+1)*35)
			}
		}
		e.clock.Add(5*time.Minute + time.Second) // 3 h + 1 s after login, last use 5 min ago
		if e.sessionPrincipal(sess.ID) != nil {
			t.Fatal("a session older than SessionLifetime authenticates")
		}
	})
	t.Run("idle clock moves at most once a minute", func(t *testing.T) {
		sess := e.session(u.ID)
		lastSeen := func() time.Time {
			var rec session
			must(t, e.db.View(func(tx *storage.Tx) error { return tx.Get(sessionsBucket, sessionKey(sess.ID), &rec) }))
			return rec.LastSeen
		}
		start := e.clock.Now()
		e.clock.Add(30 * time.Second)
		e.sessionPrincipal(sess.ID)
		if !lastSeen().Equal(start) {
			t.Error("LastSeen written 30 s after the last write")
		}
		e.clock.Add(31 * time.Second)
		e.sessionPrincipal(sess.ID)
		if !lastSeen().Equal(e.clock.Now()) {
			t.Errorf("LastSeen %v, want %v", lastSeen(), e.clock.Now())
		}
	})
	t.Run("expireSessions", func(t *testing.T) {
		old := e.session(u.ID)
		e.clock.Add(time.Hour + time.Second)
		fresh := e.session(u.ID)
		must(t, e.s.expireSessions())
		if e.sessionCount(u.ID) != 1 || e.sessionPrincipal(fresh.ID) == nil {
			t.Errorf("%d sessions left, want only the fresh one", e.sessionCount(u.ID))
		}
		_ = old
	})
}

func TestLogout(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("mo@example.com", false)
	_, a, err := e.s.Login(ctx, login(u.Email, testPassword), ip("192.0.2.62"))
	must(t, err)
	b := e.session(u.ID)
	p := e.sessionPrincipal(a.ID)
	must(t, e.s.Logout(p.SessionKey))
	if e.sessionPrincipal(a.ID) != nil {
		t.Error("the session authenticates after logout")
	}
	if e.sessionPrincipal(b.ID) == nil {
		t.Error("logout ended another session of the user")
	}
	must(t, e.s.Logout(p.SessionKey)) // twice is fine
}

func TestPasswordChangeEndsEverySession(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.seedUser("ned@example.com", false)
	var ids []string
	for i := 0; i < 3; i++ {
		_, s, err := e.s.Login(ctx, login(u.Email, testPassword), ip(fmt.Sprintf("192.0.2.%d", 70+i)))
		must(t, err)
		ids = append(ids, s.ID)
	}
	must(t, e.s.ChangePassword(ctx, u.ID, testPassword, "the next password"))
	for _, id := range ids {
		if e.sessionPrincipal(id) != nil {
			t.Error("a session survives the password change")
		}
	}
}

func TestLoginThrottlePerAccount(t *testing.T) {
	const max = 3
	window := 10 * time.Minute
	e := newEnv(t, Config{MaxLoginFailures: max, LoginWindow: window})
	e.seedUser("olga@example.com", false)
	e.seedUser("pat@example.com", false)
	for i := 0; i < max; i++ {
		// Each failure from another address, and the address in another
		// case: the account is what counts.
		in := login([]string{"olga@example.com", "OLGA@example.com", " olga@EXAMPLE.com "}[i], "wrong password!")
		_, _, err := e.s.Login(ctx, in, ip(fmt.Sprintf("198.51.100.%d", i+1)))
		wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
		e.clock.Add(time.Minute)
	}
	for _, tc := range []struct {
		name string
		in   LoginInput
		ip   string
	}{
		{"wrong password, new address", login("olga@example.com", "wrong password!"), "198.51.100.50"},
		{"right password, new address", login("olga@example.com", testPassword), "198.51.100.51"},
		{"right password, first address", login("olga@example.com", testPassword), "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, sess, err := e.s.Login(ctx, tc.in, ip(tc.ip))
			ae := wantErr(t, err, http.StatusTooManyRequests, "throttled")
			if sess != nil {
				t.Error("a session while throttled")
			}
			// The first failure was 3 minutes ago: it leaves the window in
			// 7 minutes.
			if ae.RetryAfter != window-max*time.Minute {
				t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, window-max*time.Minute)
			}
		})
	}
	// Other accounts are not throttled.
	if _, _, err := e.s.Login(ctx, login("pat@example.com", testPassword), ip("198.51.100.1")); err != nil {
		t.Errorf("another account: %v", err)
	}
	// Once the oldest failure leaves the window, one more try is allowed.
	e.clock.Add(window - max*time.Minute + time.Second)
	if _, _, err := e.s.Login(ctx, login("olga@example.com", testPassword), ip("198.51.100.60")); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// A success forgets the account's failures: max-1 new ones do not
	// throttle.
	for i := 0; i < max-1; i++ {
		_, _, err := e.s.Login(ctx, login("olga@example.com", "wrong password!"), ip("198.51.100.61"))
		wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	}
	if _, _, err := e.s.Login(ctx, login("olga@example.com", testPassword), ip("198.51.100.61")); err != nil {
		t.Fatalf("after a success reset the count: %v", err)
	}
}

func TestLoginThrottlePerClient(t *testing.T) {
	const max = 2
	e := newEnv(t, Config{MaxLoginFailures: max, LoginWindow: 15 * time.Minute})
	var emails []string
	for i := 0; i < 4*max+1; i++ {
		email := fmt.Sprintf("user%d@example.com", i)
		e.seedUser(email, false)
		emails = append(emails, email)
	}
	attacker := ip("203.0.113.5")
	// One failure per account, rotating names: no account reaches max,
	// the address reaches 4 x max.
	for i := 0; i < 4*max; i++ {
		_, _, err := e.s.Login(ctx, login(emails[i], "wrong password!"), attacker)
		wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	}
	_, _, err := e.s.Login(ctx, login(emails[4*max], testPassword), attacker)
	ae := wantErr(t, err, http.StatusTooManyRequests, "throttled")
	if ae.RetryAfter <= 0 {
		t.Errorf("RetryAfter = %v", ae.RetryAfter)
	}
	// The accounts themselves log in from elsewhere.
	if _, _, err := e.s.Login(ctx, login(emails[0], testPassword), ip("203.0.113.6")); err != nil {
		t.Errorf("from another address: %v", err)
	}
	// A success from the throttled address does not lift its throttle.
	_, _, err = e.s.Login(ctx, login(emails[1], testPassword), attacker)
	wantErr(t, err, http.StatusTooManyRequests, "throttled")
	e.clock.Add(15*time.Minute + time.Second)
	if _, _, err := e.s.Login(ctx, login(emails[4*max], testPassword), attacker); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// TestLoginSuccessKeepsClientFailures: an attacker who owns one account
// must not wipe its address's failures by logging into it between
// guesses.
func TestLoginSuccessKeepsClientFailures(t *testing.T) {
	const max = 2
	e := newEnv(t, Config{MaxLoginFailures: max})
	own := e.seedUser("own@example.com", false)
	var victims []string
	for i := 0; i < 4*max; i++ {
		v := fmt.Sprintf("victim%d@example.com", i)
		e.seedUser(v, false)
		victims = append(victims, v)
	}
	attacker := ip("203.0.113.77")
	for i := 0; i < 4*max-1; i++ {
		_, _, err := e.s.Login(ctx, login(victims[i], "guess number one"), attacker)
		wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	}
	if _, _, err := e.s.Login(ctx, login(own.Email, testPassword), attacker); err != nil {
		t.Fatalf("the attacker's own account: %v", err)
	}
	_, _, err := e.s.Login(ctx, login(victims[4*max-1], "guess number one"), attacker)
	wantErr(t, err, http.StatusUnauthorized, "bad_credentials")
	_, _, err = e.s.Login(ctx, login(own.Email, testPassword), attacker)
	wantErr(t, err, http.StatusTooManyRequests, "throttled")
}
