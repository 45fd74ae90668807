package auth

import (
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// codeAt is what an authenticator app shows at t.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestNewTOTPKey(t *testing.T) {
	secret, raw, err := NewTOTPKey("caddy-paas", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 { // 20 bytes in unpadded base32
		t.Errorf("secret %q is %d characters, want 32", secret, len(secret))
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"secret": secret, "issuer": "caddy-paas", "period": "30", "digits": "6", "algorithm": "SHA1",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("url %s: %s = %q, want %q", raw, k, got, want)
		}
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/caddy-paas:alice@example.com" {
		t.Errorf("url %s is not an otpauth://totp/issuer:account URL", raw)
	}

	other, _, err := NewTOTPKey("caddy-paas", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if other == secret {
		t.Fatal("two keys have the same secret")
	}

	now := time.Now()
	if step, ok := VerifyTOTP(secret, codeAt(t, secret, now), now, 0); !ok || step != now.Unix()/30 {
		t.Fatalf("a fresh key's current code: step %d, ok %v", step, ok)
	}

	for _, tc := range []struct{ issuer, account string }{{"", "a@b.c"}, {"caddy-paas", ""}} {
		if _, _, err := NewTOTPKey(tc.issuer, tc.account); err == nil {
			t.Errorf("NewTOTPKey(%q, %q) succeeded", tc.issuer, tc.account)
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_700_000_015, 0) // in the middle of a step
	cur := now.Unix() / 30
	at := func(steps int64) time.Time { return now.Add(time.Duration(steps) * 30 * time.Second) }

	for _, tc := range []struct {
		name     string
		codeStep int64 // the step, relative to now, whose code is sent
		lastStep int64 // relative to now
		ok       bool
	}{
		{"now", 0, -10, true},
		{"previous step", -1, -10, true},
		{"next step", +1, -10, true},
		{"two steps back", -2, -10, false},
		{"two steps ahead", +2, -10, false},
		{"an hour old", -120, -200, false},
		{"replay of the same step", 0, 0, false},
		{"replay of an older step", -1, 0, false},
		{"after the previous step", 0, -1, true},
		{"next step after now was used", +1, 0, true},
		{"previous step after now was used", -1, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := codeAt(t, secret, at(tc.codeStep))
			step, ok := VerifyTOTP(secret, code, now, cur+tc.lastStep)
			if ok != tc.ok {
				t.Fatalf("VerifyTOTP(code of step %+d, last %+d) ok = %v, want %v", tc.codeStep, tc.lastStep, ok, tc.ok)
			}
			if ok && step != cur+tc.codeStep {
				t.Fatalf("VerifyTOTP returned step %d, want %d", step, cur+tc.codeStep)
			}
			if !ok && step != 0 {
				t.Fatalf("VerifyTOTP refused but returned step %d", step)
			}
		})
	}

	// The replay protection in use: the step returned, stored, refuses the
	// same code a second time.
	code := codeAt(t, secret, now)
	step, ok := VerifyTOTP(secret, code, now, 0)
	if !ok {
		t.Fatal("the current code is refused")
	}
	if _, ok := VerifyTOTP(secret, code, now.Add(10*time.Second), step); ok {
		t.Fatal("a code was accepted twice")
	}
}

func TestVerifyTOTPRefusesMalformed(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_700_000_015, 0)
	good := codeAt(t, secret, now)
	if _, ok := VerifyTOTP(secret, good, now, 0); !ok {
		t.Fatal("the table's base code is refused")
	}
	for _, tc := range []struct{ name, code string }{
		{"empty", ""},
		{"five digits", good[:5]},
		{"seven digits", good + "0"},
		{"leading space", " " + good},
		{"trailing space", good + " "},
		{"trailing newline", good + "\n"},
		{"dash inside", good[:3] + "-" + good[3:]},
		{"letter", good[:5] + "a"},
		{"sign", "+" + good[1:]},
		{"fullwidth digits", "１２３４５６"},
		{"arabic-indic digits", "١٢٣٤٥٦"},
		{"NUL", good[:5] + "\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if step, ok := VerifyTOTP(secret, tc.code, now, 0); ok {
				t.Fatalf("VerifyTOTP(%q) accepted (step %d)", tc.code, step)
			}
		})
	}
	for _, bad := range []string{"", "not base32!", "0189"} {
		// The code the library computes for that secret, where it can.
		code, err := totp.GenerateCodeCustom(bad, now, totp.ValidateOpts{Digits: otp.DigitsSix})
		if err != nil {
			code = good
		}
		if _, ok := VerifyTOTP(bad, code, now, 0); ok {
			t.Errorf("secret %q accepted a code", bad)
		}
	}
	if _, ok := VerifyTOTP(secret, good, time.Unix(-1, 0), -10); ok {
		t.Error("a time before 1970 accepted a code")
	}
}
