package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// RandomString returns nbytes bytes from crypto/rand, encoded with
// base64.RawURLEncoding: safe in URLs, cookies and file names.
func RandomString(nbytes int) (string, error) {
	if nbytes < 1 {
		return "", errors.New("random string needs at least one byte")
	}
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
