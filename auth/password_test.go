package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// Each argon2 call with the real parameters takes ~0.1 s (more under
// -race): the tests below make few of them.

func TestPasswordRoundTrip(t *testing.T) {
	const pw = "correct horse battery staple"
	h1, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("hash %q does not carry the expected parameters", h1)
	}
	parts := strings.Split(h1, "$")
	if salt, _ := base64.RawStdEncoding.DecodeString(parts[4]); len(salt) != 16 {
		t.Errorf("salt is %d bytes, want 16", len(salt))
	}
	if key, _ := base64.RawStdEncoding.DecodeString(parts[5]); len(key) != 32 {
		t.Errorf("key is %d bytes, want 32", len(key))
	}
	if strings.Contains(h1, pw) {
		t.Fatal("hash contains the password")
	}

	h2, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}

	for _, tc := range []struct {
		name, hash, pw string
		want           bool
	}{
		{"right password", h1, pw, true},
		{"wrong password", h1, pw + "!", false},
		{"second hash", h2, pw, true},
		{"over-long password", h1, strings.Repeat("a", MaxPasswordLen+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.hash, tc.pw)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Fatalf("VerifyPassword = %v, want %v", ok, tc.want)
			}
		})
	}
}

// TestVerifyPasswordReadsParameters checks that the parameters come from
// the hash string, with cheap ones (m=64 KiB, t=1, p=1) so it costs nothing.
func TestVerifyPasswordReadsParameters(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("some password"), salt, 1, 64, 1, 24)
	enc := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"some password", true},
		{"some passwore", false},
		{"", false},
	} {
		ok, err := VerifyPassword(enc, tc.pw)
		if err != nil {
			t.Fatalf("VerifyPassword(%q): %v", tc.pw, err)
		}
		if ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, want %v", tc.pw, ok, tc.want)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	phc := func(version, params, salt, key string) string {
		return "$argon2id$" + version + "$" + params + "$" + salt + "$" + key
	}
	const secretish = "CANARY-S3cr3t"
	for _, tc := range []struct {
		name, hash string
	}{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=2$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=65536,t=2,p=2$" + salt + "$" + key},
		{"missing field", "$argon2id$v=19$m=65536,t=2,p=2$" + salt},
		{"extra field", phc("v=19", "m=65536,t=2,p=2", salt, key) + "$x"},
		{"old version", phc("v=16", "m=65536,t=2,p=2", salt, key)},
		{"no version", phc("", "m=65536,t=2,p=2", salt, key)},
		{"huge memory", phc("v=19", "m=4194304,t=2,p=2", salt, key)},
		{"memory just over the bound", phc("v=19", "m=262145,t=2,p=2", salt, key)},
		{"memory overflows uint32", phc("v=19", "m=99999999999,t=2,p=2", salt, key)},
		{"memory below 8 KiB per lane", phc("v=19", "m=8,t=1,p=2", salt, key)},
		{"many passes", phc("v=19", "m=65536,t=11,p=2", salt, key)},
		{"huge passes", phc("v=19", "m=65536,t=4294967295,p=2", salt, key)},
		{"many threads", phc("v=19", "m=65536,t=2,p=17", salt, key)},
		{"threads overflow uint8", phc("v=19", "m=65536,t=2,p=257", salt, key)},
		{"zero time", phc("v=19", "m=65536,t=0,p=2", salt, key)},
		{"zero threads", phc("v=19", "m=65536,t=2,p=0", salt, key)},
		{"negative", phc("v=19", "m=-1,t=2,p=2", salt, key)},
		{"plus sign", phc("v=19", "m=+65536,t=2,p=2", salt, key)},
		{"leading zero", phc("v=19", "m=065536,t=2,p=2", salt, key)},
		{"params out of order", phc("v=19", "t=2,m=65536,p=2", salt, key)},
		{"missing param", phc("v=19", "m=65536,t=2", salt, key)},
		{"extra param", phc("v=19", "m=65536,t=2,p=2,k=1", salt, key)},
		{"space in params", phc("v=19", "m=65536, t=2,p=2", salt, key)},
		{"empty salt", phc("v=19", "m=65536,t=2,p=2", "", key)},
		{"short salt", phc("v=19", "m=65536,t=2,p=2", "YWJj", key)},
		{"salt not base64", phc("v=19", "m=65536,t=2,p=2", "!!!!!!!!!!!!!!!!!!!!!!", key)},
		{"padded salt", phc("v=19", "m=65536,t=2,p=2", salt+"==", key)},
		{"empty key", phc("v=19", "m=65536,t=2,p=2", salt, "")},
		{"short key", phc("v=19", "m=65536,t=2,p=2", salt, "YWJjZGVm")},
		{"huge key", phc("v=19", "m=65536,t=2,p=2", salt, strings.Repeat("A", 1<<20))},
		{"secret in key", phc("v=19", "m=65536,t=2,p=2", salt, secretish)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Parse first: were a hostile hash accepted, VerifyPassword would
			// spend minutes and gigabytes on it. VerifyPassword errs only
			// from parsing, before any hashing.
			if h, err := parseArgonHash(tc.hash); err == nil {
				t.Fatalf("parseArgonHash accepted it: %+v", h)
			}
			ok, err := VerifyPassword(tc.hash, "some password")
			if err == nil || ok {
				t.Fatalf("VerifyPassword = %v, %v; want an error", ok, err)
			}
			if !errors.Is(err, errMalformedHash) {
				t.Errorf("error %q does not wrap errMalformedHash", err)
			}
			if tc.hash != "" && strings.Contains(err.Error(), tc.hash) || strings.Contains(err.Error(), secretish) {
				t.Errorf("error %q quotes the hash", err)
			}
		})
	}
}

// TestDummyVerify checks that an unknown account costs what a known one
// does: DummyVerify runs the same derivation as VerifyPassword with the
// parameters HashPassword writes. (Comparing wall times would be flaky on
// a loaded machine.)
func TestDummyVerify(t *testing.T) {
	h, err := HashPassword("a password of some length")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := parseArgonHash(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want uint32
	}{
		{"memory", dummyHash.memory, fresh.memory},
		{"time", dummyHash.time, fresh.time},
		{"threads", uint32(dummyHash.threads), uint32(fresh.threads)},
		{"salt length", uint32(len(dummyHash.salt)), uint32(len(fresh.salt))},
		{"key length", uint32(len(dummyHash.key)), uint32(len(fresh.key))},
	} {
		if tc.got != tc.want {
			t.Errorf("dummy hash %s = %d, new hashes have %d", tc.name, tc.got, tc.want)
		}
	}
	// The dummy hash matches no password, so it cannot open an account.
	for _, pw := range []string{"", "a password of some length"} {
		if dummyHash.matches(pw) {
			t.Errorf("the dummy hash matches %q", pw)
		}
	}
	DummyVerify("a password of some length")
}

func TestValidatePassword(t *testing.T) {
	const canary = "CANARY-S3cr3t"
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{
		{"empty", "", false},
		{"one short", strings.Repeat("x", MinPasswordLen-1), false},
		{"minimum", strings.Repeat("x", MinPasswordLen), true},
		{"counted in characters", strings.Repeat("é", MinPasswordLen), true},
		{"too few characters in many bytes", strings.Repeat("é", MinPasswordLen-1), false},
		{"maximum", strings.Repeat("x", MaxPasswordLen), true},
		{"one long", strings.Repeat("x", MaxPasswordLen+1), false},
		{"invalid UTF-8", "abcdefghij\xff", false},
		{"short canary", canary[:9], false},
		{"long canary", canary + strings.Repeat("!", MaxPasswordLen), false},
		{"passphrase", "correct horse battery staple", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePassword(tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidatePassword = %v, want ok=%v", err, tc.ok)
			}
			if err == nil {
				return
			}
			if tc.pw != "" && strings.Contains(err.Error(), tc.pw) || strings.Contains(err.Error(), canary[:6]) {
				t.Errorf("message %q quotes the password", err)
			}
			if !strings.HasPrefix(err.Error(), "password ") {
				t.Errorf("message %q does not say what is wrong", err)
			}
		})
	}
}

// TestVerifyPasswordOverLong: a password no hash can match is refused
// without spending an argon2 run on it.
func TestVerifyPasswordOverLong(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	enc := "$argon2id$v=19$m=262144,t=10,p=1$" + salt + "$" + key // the slowest accepted
	start := time.Now()
	ok, err := VerifyPassword(enc, strings.Repeat("x", MaxPasswordLen+1))
	if ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v; want false, nil", ok, err)
	}
	// Hashing with these parameters takes seconds; refusing, microseconds.
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing took %v: the password was hashed", d)
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	for _, pw := range []string{"", strings.Repeat("x", MaxPasswordLen+1)} {
		if h, err := HashPassword(pw); err == nil {
			t.Errorf("HashPassword of %d bytes = %q, want an error", len(pw), h)
		}
	}
}
