package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var tokenRe = regexp.MustCompile(`^cpaas_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$`)

func TestAPITokenRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		plain, id, secret, err := NewAPIToken()
		if err != nil {
			t.Fatal(err)
		}
		if !tokenRe.MatchString(plain) {
			t.Fatalf("token %q does not have the documented form", plain)
		}
		if len(id) != 12 || len(secret) != 32 {
			t.Fatalf("id %q (%d chars), secret of %d bytes", id, len(id), len(secret))
		}
		if seen[plain] || seen[id] {
			t.Fatalf("token or id repeated: %q", plain)
		}
		seen[plain], seen[id] = true, true

		gotID, gotSecret, err := ParseAPIToken(plain)
		if err != nil {
			t.Fatalf("ParseAPIToken(%q): %v", plain, err)
		}
		if gotID != id || !bytes.Equal(gotSecret, secret) {
			t.Fatalf("ParseAPIToken(%q) = %q, %x; want %q, %x", plain, gotID, gotSecret, id, secret)
		}
	}
}

func TestTokenSecretHash(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	_, _, secret, err := NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	h := HashTokenSecret(key, secret)
	if len(h) != 32 {
		t.Fatalf("hash is %d bytes, want 32 (HMAC-SHA256)", len(h))
	}
	if bytes.Contains(h, secret) {
		t.Fatal("hash contains the secret")
	}
	otherSecret := bytes.Clone(secret)
	otherSecret[0] ^= 1
	otherKey := bytes.Clone(key)
	otherKey[0] ^= 1
	for _, tc := range []struct {
		name             string
		key, secret, sum []byte
		want             bool
	}{
		{"match", key, secret, h, true},
		{"other secret", key, otherSecret, h, false},
		{"other key", otherKey, secret, h, false},
		{"truncated hash", key, secret, h[:16], false},
		{"empty hash", key, secret, nil, false},
		{"the secret itself as hash", key, secret, secret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyTokenSecret(tc.key, tc.secret, tc.sum); got != tc.want {
				t.Fatalf("VerifyTokenSecret = %v, want %v", got, tc.want)
			}
		})
	}
	if !bytes.Equal(HashTokenSecret(key, secret), h) {
		t.Fatal("HashTokenSecret is not deterministic")
	}
}

// TestParseAPITokenUnderscores: '_' is both the separator and a base64url
// symbol, so parsing goes by position, not by splitting.
func TestParseAPITokenUnderscores(t *testing.T) {
	in := TokenPrefix + "0123456789ab_" + strings.Repeat("_", 42) + "8"
	id, secret, err := ParseAPIToken(in)
	if err != nil {
		t.Fatalf("ParseAPIToken(%q): %v", in, err)
	}
	if id != "0123456789ab" || !bytes.Equal(secret, bytes.Repeat([]byte{0xff}, 32)) {
		t.Fatalf("ParseAPIToken(%q) = %q, %x", in, id, secret)
	}
}

// validToken is a fixed well-formed token for the tables.
const validToken = "cpaas_0123456789ab_" + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

func TestParseAPITokenBad(t *testing.T) {
	if _, _, err := ParseAPIToken(validToken); err != nil {
		t.Fatalf("the table's base token is refused: %v", err)
	}
	id, sec := validToken[6:18], validToken[19:]
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"empty", "", errTokenPrefix},
		{"prefix only", TokenPrefix, errTokenLength},
		{"no prefix", id + "_" + sec, errTokenPrefix},
		{"other prefix", "cpaaz_" + id + "_" + sec, errTokenPrefix},
		{"capital prefix", "CPAAS_" + id + "_" + sec, errTokenPrefix},
		{"bearer scheme kept", "Bearer " + validToken, errTokenPrefix},
		{"leading space", " " + validToken, errTokenPrefix},
		{"trailing space", validToken + " ", errTokenLength},
		{"trailing newline", validToken + "\n", errTokenLength},
		{"short", validToken[:len(validToken)-1], errTokenLength},
		{"long", validToken + "A", errTokenLength},
		{"short id", TokenPrefix + id[:11] + "_" + sec + "A", errTokenID},
		{"capital hex in id", TokenPrefix + "0123456789AB_" + sec, errTokenID},
		{"non-hex id", TokenPrefix + "0123456789ag_" + sec, errTokenID},
		{"underscore after the prefix", TokenPrefix + "_" + id + "_" + sec[1:], errTokenID},
		{"underscore appended", validToken + "_", errTokenLength},
		{"underscores instead of the id", TokenPrefix + "____________" + "_" + sec, errTokenID},
		{"underscore in id", TokenPrefix + "01234_6789ab_" + sec, errTokenID},
		{"dash separator", TokenPrefix + id + "-" + sec, errTokenSeparator},
		{"standard base64", TokenPrefix + id + "_" + sec[:42] + "+", errTokenSecret},
		{"slash", TokenPrefix + id + "_" + "/" + sec[1:], errTokenSecret},
		{"padding", TokenPrefix + id + "_" + sec[:42] + "=", errTokenSecret},
		{"newline in secret", TokenPrefix + id + "_" + sec[:20] + "\n" + sec[21:], errTokenSecret},
		{"NUL in secret", TokenPrefix + id + "_" + sec[:20] + "\x00" + sec[21:], errTokenSecret},
		// 43 characters carry 258 bits: the last 2 must be zero.
		{"non-canonical last char", TokenPrefix + id + "_" + sec[:42] + "9", errTokenSecret},
		{"unicode in id", TokenPrefix + "01234567é9ab" + "_" + sec[1:], errTokenID},
		{"unicode in secret", TokenPrefix + id + "_" + "é" + sec[2:], errTokenSecret},
		{"fullwidth prefix", "ｃpaas_" + id + "_" + sec, errTokenPrefix},
		{"invalid UTF-8", TokenPrefix + id + "_" + "\xff" + sec[1:], errTokenSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotID, gotSecret, err := ParseAPIToken(tc.in)
			if err == nil {
				t.Fatalf("ParseAPIToken(%q) = %q, %x; want an error", tc.in, gotID, gotSecret)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("ParseAPIToken(%q) = %v, want %v", tc.in, err, tc.want)
			}
			if gotID != "" || gotSecret != nil {
				t.Errorf("an error came with values %q, %x", gotID, gotSecret)
			}
			if len(tc.in) >= 8 && strings.Contains(err.Error(), tc.in[len(tc.in)-8:]) {
				t.Errorf("error %q quotes the input", err)
			}
		})
	}
}

// tokenErrors are every error ParseAPIToken may return: fixed texts.
var tokenErrors = []error{errTokenPrefix, errTokenLength, errTokenID, errTokenSeparator, errTokenSecret}

func FuzzParseAPIToken(f *testing.F) {
	// The committed corpus is in testdata/fuzz/FuzzParseAPIToken; a fresh
	// token adds one with random content.
	plain, _, _, err := NewAPIToken()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseAPIToken(s)
		if err != nil {
			known := false
			for _, e := range tokenErrors {
				known = known || err == e
			}
			if !known {
				t.Fatalf("ParseAPIToken(%q) returned an unexpected error %q", s, err)
			}
			if id != "" || secret != nil {
				t.Fatalf("ParseAPIToken(%q) returned values with an error", s)
			}
			return
		}
		again := TokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
		if again != s {
			t.Fatalf("ParseAPIToken accepted %q, which formats back as %q", s, again)
		}
		if !tokenRe.MatchString(s) || len(secret) != 32 {
			t.Fatalf("ParseAPIToken accepted %q, not of the documented form", s)
		}
	})
}
