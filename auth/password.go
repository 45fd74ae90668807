package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length bounds. The minimum is counted in characters, the
// maximum in bytes: it only keeps a hostile body from being hashed.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 1024
)

// The argon2id parameters of new hashes (RFC 9106's second recommended
// option, with 2 lanes). Each hash stores its own, so raising them later
// leaves existing hashes valid.
const (
	argonTime    = 2
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on the parameters read from a stored hash: a hash written by an
// attacker (a crafted import, a tampered database) must not make one login
// allocate gigabytes or spin for minutes.
const (
	argonMaxMemory  = 256 * 1024 // KiB
	argonMaxTime    = 10
	argonMaxThreads = 16
	argonMinSaltLen = 8
	argonMaxSaltLen = 64
	argonMinKeyLen  = 16
	argonMaxKeyLen  = 64
)

// argonB64 is the PHC string encoding. Strict refuses non-zero padding bits,
// so a hash has a single spelling.
var argonB64 = base64.RawStdEncoding.Strict()

// ValidatePassword checks a password chosen by a user. Messages never quote
// the password.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return errors.New("password must be valid UTF-8 text")
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("password must be at most %d bytes long", MaxPasswordLen)
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("password must be at least %d characters long", MinPasswordLen)
	}
	return nil
}

// HashPassword hashes pw with argon2id and a random salt, in the PHC string
// format "$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>". It refuses an empty
// or over-long password; the length policy of ValidatePassword is the
// caller's to apply where a user chooses one.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("password is empty")
	}
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("password must be at most %d bytes long", MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads,
		argonB64.EncodeToString(salt), argonB64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches encoded, a hash from
// HashPassword. The parameters are read from encoded, within bounds; a
// malformed hash is an error (its text never quotes the hash). A password
// longer than MaxPasswordLen cannot match: it is refused without hashing.
func VerifyPassword(encoded, pw string) (bool, error) {
	h, err := parseArgonHash(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	return h.matches(pw), nil
}

// dummyHash has the parameters of new hashes, a fixed salt and an all-zero
// key that no password derives to; nothing in it needs to be secret.
var dummyHash = argonHash{
	memory:  argonMemory,
	time:    argonTime,
	threads: argonThreads,
	salt:    []byte("caddy-paas/dummy"),
	key:     make([]byte, argonKeyLen),
}

// DummyVerify spends the time of a VerifyPassword against a hash of the
// current parameters, for a login naming an unknown account: the answer
// time does not tell which accounts exist.
func DummyVerify(pw string) {
	if len(pw) > MaxPasswordLen {
		return // VerifyPassword refuses these without hashing too
	}
	dummyHash.matches(pw)
}

type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// matches derives pw's key with h's parameters and compares it with h's
// in constant time.
func (h *argonHash) matches(pw string) bool {
	key := argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

var errMalformedHash = errors.New("malformed password hash")

// parseArgonHash reads "$argon2id$v=19$m=M,t=T,p=P$<salt>$<key>" strictly:
// the fields in this order, decimal numbers without signs or leading
// zeros, every parameter within bounds.
func parseArgonHash(s string) (*argonHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: unsupported argon2 version", errMalformedHash)
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, fmt.Errorf("%w: parameters must be m,t,p", errMalformedHash)
	}
	var h argonHash
	m, okM := argonParam(params[0], "m=", argonMaxMemory)
	t, okT := argonParam(params[1], "t=", argonMaxTime)
	p, okP := argonParam(params[2], "p=", argonMaxThreads)
	if !okM || !okT || !okP {
		return nil, fmt.Errorf("%w: parameters out of bounds (m <= %d, t <= %d, p <= %d)",
			errMalformedHash, argonMaxMemory, argonMaxTime, argonMaxThreads)
	}
	// argon2 needs 8 KiB per lane; below that the library would silently
	// raise m, and the stored m would not be the one used.
	if m < 8*p {
		return nil, fmt.Errorf("%w: memory below 8 KiB per thread", errMalformedHash)
	}
	h.memory, h.time, h.threads = m, t, uint8(p)
	var err error
	if h.salt, err = argonB64.DecodeString(parts[4]); err != nil ||
		len(h.salt) < argonMinSaltLen || len(h.salt) > argonMaxSaltLen {
		return nil, fmt.Errorf("%w: bad salt", errMalformedHash)
	}
	if h.key, err = argonB64.DecodeString(parts[5]); err != nil ||
		len(h.key) < argonMinKeyLen || len(h.key) > argonMaxKeyLen {
		return nil, fmt.Errorf("%w: bad hash value", errMalformedHash)
	}
	return &h, nil
}

// argonParam parses "<prefix><n>" with 1 <= n <= limit.
func argonParam(s, prefix string, limit uint32) (uint32, bool) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || digits[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n < 1 || n > uint64(limit) {
		return 0, false
	}
	return uint32(n), true
}
