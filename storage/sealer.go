package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyEnv is the environment variable that, when set, holds the master
// key (64 hex characters) instead of the key file in the data directory.
const MasterKeyEnv = "CADDY_PAAS_MASTER_KEY"

// MasterKeyFile is the name of the key file created in the data directory.
const MasterKeyFile = "master.key"

// sealedPrefix marks a sealed value and its format version, so that a later
// format (or a rotated key id) can be told apart.
const sealedPrefix = "sealed:v1:"

// Sealer encrypts secrets at rest with AES-256-GCM. The additional data binds
// a ciphertext to where it is stored (such as "env/app/KEY"), so a sealed
// value copied into another record does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("master key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating gcm: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// LoadOrCreateMasterKey returns the master key from MasterKeyEnv when set, or
// from the key file in dir, creating that file (mode 0600) on first start.
func LoadOrCreateMasterKey(dir string) ([]byte, error) {
	if v := strings.TrimSpace(os.Getenv(MasterKeyEnv)); v != "" {
		key, err := hex.DecodeString(v)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s must be 64 hex characters", MasterKeyEnv)
		}
		return key, nil
	}
	path := filepath.Join(dir, MasterKeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("master key file %s is malformed", path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading master key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating master key: %w", err)
	}
	// Write a temporary file, then link it into place: the link fails if
	// another process got there first, and then its key is the one.
	tmp, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return nil, fmt.Errorf("creating master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("creating master key file: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing master key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing master key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("closing master key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateMasterKey(dir)
		}
		return nil, fmt.Errorf("installing master key file: %w", err)
	}
	return key, nil
}

// Seal encrypts plaintext, bound to aad.
func (s *Sealer) Seal(plaintext, aad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("generating nonce: %w", err)
	}
	ct := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal with the same aad. The error never
// contains the value.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errors.New("value is not sealed")
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", errors.New("sealed value is malformed")
	}
	n := s.aead.NonceSize()
	if len(raw) < n {
		return "", errors.New("sealed value is too short")
	}
	pt, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return "", errors.New("sealed value does not open with this key")
	}
	return string(pt), nil
}
