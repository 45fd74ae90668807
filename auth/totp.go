package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: those every authenticator app understands (RFC 6238's
// defaults), one step of clock skew either way.
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSkew       = 1
	totpSecretSize = 20 // bytes: 160 bits, RFC 4226's recommendation
)

var totpOpts = totp.ValidateOpts{
	Period:    totpPeriod,
	Skew:      totpSkew,
	Digits:    totpDigits,
	Algorithm: otp.AlgorithmSHA1,
}

// NewTOTPKey returns a new TOTP secret (base32, to be sealed at rest) and
// its otpauth:// URL for the user's authenticator app (shown once, as a QR
// code or text).
func NewTOTPKey(issuer, account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
		Rand:        rand.Reader,
	})
	if err != nil {
		return "", "", fmt.Errorf("generating TOTP key: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// VerifyTOTP checks code against the steps now-1, now and now+1 (a step is
// unix time / 30 s) that come after lastStep, the step of the last code
// this secret accepted. On success it returns the step matched, which the
// caller stores as the next lastStep: a code, once used, is refused.
// Anything but exactly 6 ASCII digits is refused.
func VerifyTOTP(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	// An empty secret would decode to an empty HMAC key, whose codes
	// anyone can compute.
	if secret == "" || len(code) != totpDigits.Length() {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	unix := now.Unix()
	if unix < 0 {
		return 0, false
	}
	current := unix / totpPeriod
	// Every candidate is computed and compared, so the time taken does not
	// tell which step matched.
	matched := int64(-1)
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		if s < 0 {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false // a secret that is not base32
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep {
			matched = s // the latest matching step wins
		}
	}
	if matched < 0 {
		return 0, false
	}
	return matched, true
}
