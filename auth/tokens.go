package auth

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

// MaxTokenDays bounds a token's lifetime.
const MaxTokenDays = 366

// Token is an API token as the API shows it: never its secret.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	UserID     string     `json:"user_id"`
	Team       string     `json:"team"`
	Scope      Scope      `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// tokenRecord is a token as stored: a keyed hash of its secret.
type tokenRecord struct {
	Token
	Hash []byte `json:"hash"`
}

// TokenInput creates a token.
type TokenInput struct {
	// Name says what the token is for, such as "github actions".
	Name string `json:"name"`
	// Team is the one team the token reaches.
	Team string `json:"team"`
	// Scope is read, deploy or admin.
	Scope Scope `json:"scope"`
	// ExpiresInDays is the token's lifetime: 1 to 366 days. Default: 30.
	ExpiresInDays int `json:"expires_in_days,omitempty"`
}

// CreatedToken is the answer to a token creation: the only time the token
// itself is shown.
type CreatedToken struct {
	Token
	// Secret is the token to send as "Authorization: Bearer <token>".
	Secret string `json:"token"`
}

// CreateToken makes an API token for the principal's user, in one of their
// teams, with a scope their role there allows.
func (s *Service) CreateToken(ctx context.Context, p *Principal, in TokenInput) (*CreatedToken, error) {
	if p.User == nil || p.Kind != KindSession {
		return nil, forbidden("API tokens are created by a logged-in user, not by another token")
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 || strings.ContainsAny(in.Name, "\r\n\x00") {
		return nil, invalid("name is required: at most 100 characters on one line")
	}
	if !in.Scope.Valid() {
		return nil, invalid("scope must be read, deploy or admin")
	}
	if in.ExpiresInDays == 0 {
		in.ExpiresInDays = 30
	}
	if in.ExpiresInDays < 1 || in.ExpiresInDays > MaxTokenDays {
		return nil, invalid("expires_in_days must be between 1 and %d", MaxTokenDays)
	}
	role, ok := p.RoleIn(in.Team)
	if !ok {
		return nil, notFound("team %q not found", truncate(in.Team, 80))
	}
	if !role.AtLeast(in.Scope.minRole()) {
		return nil, forbidden("your role in team %q (%s) cannot create a %s token", in.Team, role, in.Scope)
	}
	plain, id, secret, err := NewAPIToken()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	rec := &tokenRecord{
		Token: Token{ID: id, Name: in.Name, UserID: p.User.ID, Team: in.Team, Scope: in.Scope,
			CreatedAt: now, ExpiresAt: now.Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)},
		Hash: HashTokenSecret(s.hashKey, secret),
	}
	err = s.db.Update(func(tx *storage.Tx) error {
		if _, err := getTeam(tx, in.Team); err != nil {
			return err
		}
		return tx.Put(tokensBucket, id, rec)
	})
	if err != nil {
		return nil, err
	}
	return &CreatedToken{Token: rec.Token, Secret: plain}, nil
}

// Tokens lists the principal's tokens (every token for a platform admin).
func (s *Service) Tokens(p *Principal) ([]Token, error) {
	out := []Token{}
	err := s.db.View(func(tx *storage.Tx) error {
		return forEach(tx, tokensBucket, func(t *tokenRecord) error {
			if p.Admin() || (p.User != nil && t.UserID == p.User.ID) {
				out = append(out, t.Token)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// DeleteToken revokes a token of the principal's (any, for an admin).
func (s *Service) DeleteToken(ctx context.Context, p *Principal, id string) error {
	return s.db.Update(func(tx *storage.Tx) error {
		var t tokenRecord
		if err := tx.Get(tokensBucket, id, &t); err != nil || !(p.Admin() || (p.User != nil && t.UserID == p.User.ID)) {
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			return notFound("token %q not found", truncate(id, 80))
		}
		return tx.Delete(tokensBucket, id)
	})
}

func deleteTokensOf(tx *storage.Tx, userID string) error {
	return deleteWhere(tx, tokensBucket, func(_ string, t *tokenRecord) bool { return t.UserID == userID })
}

var errBadToken = &Error{Status: http.StatusUnauthorized, Code: "bad_token", Message: "the API token is invalid, revoked or expired"}

func (s *Service) authenticateToken(plain string) (*Principal, error) {
	id, secret, err := ParseAPIToken(plain)
	if err != nil {
		return nil, errBadToken
	}
	now := s.now().UTC()
	var p *Principal
	touch := false
	err = s.db.View(func(tx *storage.Tx) error {
		var t tokenRecord
		if err := tx.Get(tokensBucket, id, &t); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return errBadToken
			}
			return err
		}
		if !VerifyTokenSecret(s.hashKey, secret, t.Hash) || now.After(t.ExpiresAt) {
			return errBadToken
		}
		u, err := getUser(tx, t.UserID)
		if err != nil || u.Disabled {
			return errBadToken
		}
		teams, err := membershipsOf(tx, u.ID)
		if err != nil {
			return err
		}
		if _, member := teams[t.Team]; !member && !u.Admin {
			return errBadToken
		}
		p = &Principal{Kind: KindToken, User: &u.User, Teams: teams, Token: &t.Token}
		touch = t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute
		return nil
	})
	if err != nil {
		return nil, err
	}
	if touch {
		_ = s.db.Update(func(tx *storage.Tx) error {
			var t tokenRecord
			if err := tx.Get(tokensBucket, id, &t); err != nil {
				return nil
			}
			t.LastUsedAt = &now
			return tx.Put(tokensBucket, id, &t)
		})
	}
	return p, nil
}
