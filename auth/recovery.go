package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// recoveryAlphabet has 32 symbols, so each random byte's low 5 bits pick
// one without bias. It leaves out 0, 1, l and o, which read alike.
const recoveryAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"

// A recovery code is two groups of 5 symbols: 10 x 5 = 50 bits.
const (
	recoveryGroup   = 5
	recoverySymbols = 2 * recoveryGroup
	maxRecoveryN    = 100
	// maxRecoveryInput bounds what MatchRecoveryCode normalizes and hashes.
	maxRecoveryInput = 64
)

// NewRecoveryCodes returns n distinct codes "xxxxx-xxxxx", to be shown once
// and stored as HashRecoveryCode.
func NewRecoveryCodes(n int) ([]string, error) {
	if n < 1 || n > maxRecoveryN {
		return nil, fmt.Errorf("number of recovery codes must be between 1 and %d", maxRecoveryN)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	b := make([]byte, recoverySymbols)
	for len(codes) < n {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("reading random bytes: %w", err)
		}
		var sb strings.Builder
		for i, c := range b {
			if i == recoveryGroup {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[c&31])
		}
		code := sb.String()
		if seen[code] {
			continue // 2^-50: never, but distinct is promised
		}
		seen[code] = true
		codes = append(codes, code)
	}
	return codes, nil
}

// normalizeRecoveryCode forgives how a user types a code: surrounding
// space, capitals, the dash or spaces between groups.
func normalizeRecoveryCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, code)
}

// HashRecoveryCode is what is stored of a recovery code: the hex
// HMAC-SHA256 of its normalized form under the server's key.
func HashRecoveryCode(key []byte, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(normalizeRecoveryCode(code)))
	return hex.EncodeToString(m.Sum(nil))
}

// MatchRecoveryCode finds code among stored hashes, comparing with every
// one in constant time. It returns the index of the match (which the
// caller deletes: a code is good once), or -1 and false.
func MatchRecoveryCode(key []byte, code string, hashes []string) (index int, ok bool) {
	if len(code) > maxRecoveryInput || normalizeRecoveryCode(code) == "" {
		return -1, false
	}
	h := []byte(HashRecoveryCode(key, code))
	index = -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(h, []byte(stored)) == 1 && index < 0 {
			index = i
		}
	}
	return index, index >= 0
}
