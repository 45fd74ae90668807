package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// TokenPrefix starts every API token, so a leaked one is recognizable by
// secret scanners and in logs.
const TokenPrefix = "cpaas_"

// An API token is "cpaas_<id>_<secret>". The id (6 random bytes as 12
// lowercase hex characters) is the lookup key of the stored record; the
// secret (32 random bytes, base64 RawURLEncoding) is stored only as an HMAC.
const (
	tokenIDBytes     = 6
	tokenIDLen       = 2 * tokenIDBytes
	tokenSecretBytes = 32
	tokenSecretLen   = 43 // base64.RawURLEncoding.EncodedLen(tokenSecretBytes)
	tokenLen         = len(TokenPrefix) + tokenIDLen + 1 + tokenSecretLen
)

// tokenB64 is strict so that a secret has one spelling: an accepted token
// formats back to the same string.
var tokenB64 = base64.RawURLEncoding.Strict()

// The errors of ParseAPIToken: fixed texts, never the input.
var (
	errTokenPrefix    = errors.New("API token must start with " + TokenPrefix)
	errTokenLength    = fmt.Errorf("API token must be %d characters long", tokenLen)
	errTokenID        = fmt.Errorf("API token id must be %d lowercase hex characters", tokenIDLen)
	errTokenSeparator = errors.New("API token id and secret must be separated by '_'")
	errTokenSecret    = errors.New("API token secret is not valid base64url")
)

// NewAPIToken returns a new token: its plaintext (shown to the user once),
// its id and its secret (to be stored as HashTokenSecret).
func NewAPIToken() (plaintext, id string, secret []byte, err error) {
	b := make([]byte, tokenIDBytes+tokenSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("reading random bytes: %w", err)
	}
	id = hex.EncodeToString(b[:tokenIDBytes])
	secret = b[tokenIDBytes:]
	return formatAPIToken(id, secret), id, secret, nil
}

func formatAPIToken(id string, secret []byte) string {
	return TokenPrefix + id + "_" + tokenB64.EncodeToString(secret)
}

// ParseAPIToken splits a token into its id and secret. It is strict: the
// exact prefix, lengths and alphabets, nothing around them. Its errors
// never quote s.
func ParseAPIToken(s string) (id string, secret []byte, err error) {
	if len(s) < len(TokenPrefix) || s[:len(TokenPrefix)] != TokenPrefix {
		return "", nil, errTokenPrefix
	}
	if len(s) != tokenLen {
		return "", nil, errTokenLength
	}
	rest := s[len(TokenPrefix):]
	id, sep, enc := rest[:tokenIDLen], rest[tokenIDLen], rest[tokenIDLen+1:]
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", nil, errTokenID
		}
	}
	if sep != '_' {
		return "", nil, errTokenSeparator
	}
	// The decoder skips CR and LF even when strict: check the alphabet
	// first.
	for i := 0; i < len(enc); i++ {
		if c := enc[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return "", nil, errTokenSecret
		}
	}
	secret, err = tokenB64.DecodeString(enc)
	if err != nil || len(secret) != tokenSecretBytes {
		return "", nil, errTokenSecret
	}
	return id, secret, nil
}

// HashTokenSecret is what is stored of a token's secret: HMAC-SHA256 under
// the server's key, so a stolen database does not yield usable tokens.
func HashTokenSecret(key, secret []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(secret)
	return m.Sum(nil)
}

// VerifyTokenSecret reports, in constant time, whether secret matches a
// stored HashTokenSecret.
func VerifyTokenSecret(key, secret, hash []byte) bool {
	return hmac.Equal(HashTokenSecret(key, secret), hash)
}
