package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/storage"
)

// DefaultTeam holds the apps created before teams existed and those
// created through the local admin endpoint without a team.
const DefaultTeam = "default"

// Config holds the service's settings; a config reload may change them.
type Config struct {
	// SessionIdle ends a session unused for this long. Default: 12h.
	SessionIdle time.Duration
	// SessionLifetime ends a session this long after login, used or not.
	// Default: 7 days.
	SessionLifetime time.Duration
	// MaxLoginFailures per account (and 4 times as many per client
	// address) within LoginWindow before logins answer 429. Default: 5.
	MaxLoginFailures int
	// LoginWindow is the throttling window. Default: 15m.
	LoginWindow time.Duration
}

func (c Config) withDefaults() Config {
	if c.SessionIdle <= 0 {
		c.SessionIdle = 12 * time.Hour
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 7 * 24 * time.Hour
	}
	if c.MaxLoginFailures <= 0 {
		c.MaxLoginFailures = 5
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = 15 * time.Minute
	}
	return c
}

// Service keeps users, teams, sessions, API tokens and the audit log in the
// platform's bbolt file, and authenticates requests.
type Service struct {
	db     *storage.DB
	sealer *storage.Sealer
	cfg    atomic.Pointer[Config]
	logger atomic.Pointer[zap.Logger]
	now    func() time.Time

	// hashKey keys the HMACs of API tokens and recovery codes. It is kept
	// sealed in the database.
	hashKey []byte

	accounts *Throttle
	clients  *Throttle

	setupMu   sync.Mutex
	setupHash []byte // of the one-time setup token, while no user exists

	auditMu sync.Mutex
}

var (
	usersBucket    = []string{"auth_users"}
	emailsBucket   = []string{"auth_emails"}
	teamsBucket    = []string{"auth_teams"}
	sessionsBucket = []string{"auth_sessions"}
	tokensBucket   = []string{"auth_tokens"}
	invitesBucket  = []string{"auth_invites"}
	auditBucket    = []string{"auth_audit"}
	metaBucket     = []string{"auth_meta"}
)

const hashKeyAAD = "auth/hash-key"

type metaRecord struct {
	SealedHashKey string `json:"sealed_hash_key"`
}

// NewService opens the service over the platform's database: it creates
// the HMAC key on first start and the default team.
func NewService(db *storage.DB, sealer *storage.Sealer, cfg Config, logger *zap.Logger) (*Service, error) {
	s := &Service{db: db, sealer: sealer, now: time.Now}
	s.Configure(cfg, logger)
	c := s.config()
	s.accounts = NewThrottle(c.MaxLoginFailures, c.LoginWindow, 100_000)
	s.clients = NewThrottle(4*c.MaxLoginFailures, c.LoginWindow, 100_000)
	err := db.Update(func(tx *storage.Tx) error {
		var m metaRecord
		err := tx.Get(metaBucket, "meta", &m)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if m.SealedHashKey == "" {
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return fmt.Errorf("generating hash key: %w", err)
			}
			if m.SealedHashKey, err = sealer.Seal(string(key), hashKeyAAD); err != nil {
				return fmt.Errorf("sealing hash key: %w", err)
			}
			if err := tx.Put(metaBucket, "meta", &m); err != nil {
				return err
			}
		}
		key, err := sealer.Open(m.SealedHashKey, hashKeyAAD)
		if err != nil {
			return fmt.Errorf("opening hash key: %w", err)
		}
		s.hashKey = []byte(key)
		var t teamRecord
		if err := tx.Get(teamsBucket, DefaultTeam, &t); errors.Is(err, storage.ErrNotFound) {
			t = teamRecord{Team: Team{Name: DefaultTeam, CreatedAt: s.now().UTC()}, Members: map[string]Role{}}
			return tx.Put(teamsBucket, DefaultTeam, &t)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening auth store: %w", err)
	}
	return s, nil
}

// Configure applies new settings (on a config reload).
func (s *Service) Configure(cfg Config, logger *zap.Logger) {
	c := cfg.withDefaults()
	s.cfg.Store(&c)
	if s.accounts != nil {
		s.accounts.SetLimits(c.MaxLoginFailures, c.LoginWindow)
		s.clients.SetLimits(4*c.MaxLoginFailures, c.LoginWindow)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	s.logger.Store(logger)
}

func (s *Service) config() *Config  { return s.cfg.Load() }
func (s *Service) log() *zap.Logger { return s.logger.Load() }

// Reseal re-seals every secret the service keeps (for a master key
// rotation): the HMAC key and the users' TOTP secrets.
func (s *Service) Reseal(tx *storage.Tx, reseal func(sealed, aad string) (string, error)) error {
	var m metaRecord
	if err := tx.Get(metaBucket, "meta", &m); err == nil && m.SealedHashKey != "" {
		if m.SealedHashKey, err = reseal(m.SealedHashKey, hashKeyAAD); err != nil {
			return fmt.Errorf("resealing hash key: %w", err)
		}
		if err := tx.Put(metaBucket, "meta", &m); err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var users []*userRecord
	if err := forEach(tx, usersBucket, func(u *userRecord) error { users = append(users, u); return nil }); err != nil {
		return err
	}
	for _, u := range users {
		changed := false
		for _, f := range []*string{&u.SealedTOTP, &u.SealedPendingTOTP} {
			if *f == "" {
				continue
			}
			v, err := reseal(*f, totpAAD(u.ID))
			if err != nil {
				return fmt.Errorf("resealing totp secret of %s: %w", u.ID, err)
			}
			*f, changed = v, true
		}
		if changed {
			if err := tx.Put(usersBucket, u.ID, u); err != nil {
				return err
			}
		}
	}
	return nil
}

func totpAAD(userID string) string { return "auth/totp/" + userID }
