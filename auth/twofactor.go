package auth

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

// TOTPEnrollment is the start of two-factor enrollment: the secret to put
// in an authenticator app (also as an otpauth:// URL for a QR code).
type TOTPEnrollment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
}

// RecoveryCodes are shown once, when two-factor authentication is turned
// on; each replaces a TOTP code once.
type RecoveryCodes struct {
	Codes []string `json:"recovery_codes"`
}

// BeginTOTP starts enrollment: a new secret, sealed, pending confirmation.
func (s *Service) BeginTOTP(ctx context.Context, userID string) (*TOTPEnrollment, error) {
	var out *TOTPEnrollment
	err := s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		if u.TOTPEnabled {
			return conflict("two-factor authentication is already on: turn it off first")
		}
		secret, url, err := NewTOTPKey("caddy-paas", u.Email)
		if err != nil {
			return err
		}
		if u.SealedPendingTOTP, err = s.sealer.Seal(secret, totpAAD(u.ID)); err != nil {
			return err
		}
		out = &TOTPEnrollment{Secret: secret, URL: url}
		return tx.Put(usersBucket, u.ID, u)
	})
	return out, err
}

// ConfirmTOTP turns two-factor authentication on with a first valid code,
// and returns the recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, userID, code string) (*RecoveryCodes, error) {
	var out *RecoveryCodes
	err := s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		if u.SealedPendingTOTP == "" {
			return conflict("no two-factor enrollment in progress: start one first")
		}
		secret, err := s.sealer.Open(u.SealedPendingTOTP, totpAAD(u.ID))
		if err != nil {
			return err
		}
		step, ok := VerifyTOTP(secret, code, s.now(), 0)
		if !ok {
			return invalid("the code is wrong: check the authenticator app's clock")
		}
		codes, err := NewRecoveryCodes(10)
		if err != nil {
			return err
		}
		u.RecoveryHashes = u.RecoveryHashes[:0]
		for _, c := range codes {
			u.RecoveryHashes = append(u.RecoveryHashes, HashRecoveryCode(s.hashKey, c))
		}
		u.SealedTOTP, u.SealedPendingTOTP, u.TOTPLastStep, u.TOTPEnabled = u.SealedPendingTOTP, "", step, true
		out = &RecoveryCodes{Codes: codes}
		if err := tx.Put(usersBucket, u.ID, u); err != nil {
			return err
		}
		return nil
	})
	return out, err
}

// DisableTOTP turns two-factor authentication off, given the password.
func (s *Service) DisableTOTP(ctx context.Context, userID, password string) error {
	return s.db.Update(func(tx *storage.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		if ok, err := VerifyPassword(u.PasswordHash, password); err != nil || !ok {
			return forbidden("the password is wrong")
		}
		u.TOTPEnabled, u.SealedTOTP, u.SealedPendingTOTP, u.RecoveryHashes, u.TOTPLastStep = false, "", "", nil, 0
		return tx.Put(usersBucket, u.ID, u)
	})
}

// checkSecondFactor verifies a login's TOTP or recovery code, inside the
// login's transaction, and records its use so it cannot be replayed.
func (s *Service) checkSecondFactor(tx *storage.Tx, u *userRecord, in LoginInput, now time.Time) error {
	switch {
	case in.TOTPCode != "":
		secret, err := s.sealer.Open(u.SealedTOTP, totpAAD(u.ID))
		if err != nil {
			return err
		}
		step, ok := VerifyTOTP(secret, in.TOTPCode, now, u.TOTPLastStep)
		if !ok {
			return &Error{Status: http.StatusUnauthorized, Code: "bad_totp", Message: "the two-factor code is wrong or was already used"}
		}
		u.TOTPLastStep = step
	case in.RecoveryCode != "":
		i, ok := MatchRecoveryCode(s.hashKey, in.RecoveryCode, u.RecoveryHashes)
		if !ok {
			return &Error{Status: http.StatusUnauthorized, Code: "bad_totp", Message: "the recovery code is wrong or was already used"}
		}
		u.RecoveryHashes = append(u.RecoveryHashes[:i:i], u.RecoveryHashes[i+1:]...)
	default:
		return &Error{Status: http.StatusUnauthorized, Code: "totp_required", Message: "a two-factor code is required"}
	}
	return tx.Put(usersBucket, u.ID, u)
}
