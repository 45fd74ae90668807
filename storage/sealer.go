package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MasterKeyEnv is the environment variable that, when set, holds the master
// key (64 hex characters) instead of the key file in the data directory.
const MasterKeyEnv = "CADDY_PAAS_MASTER_KEY"

// MasterKeyFile is the name of the key file created in the data directory.
const MasterKeyFile = "master.key"

// Sealed values name their format version. A v2 value also names the key
// that sealed it, "sealed:v2:<kid>:<base64>", so that several keys can be
// loaded during a rotation and each value opens with the right one. A v1
// value, "sealed:v1:<base64>", was made before key ids: every loaded key is
// tried.
const (
	sealedV1Prefix = "sealed:v1:"
	sealedV2Prefix = "sealed:v2:"
)

// keyIDLen is the length of a key id: 8 hex characters of the key's SHA-256.
const keyIDLen = 8

// KeyIDOf returns the key id of a master key: the first 8 hex characters
// of its SHA-256. It names the key without revealing it.
func KeyIDOf(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])[:keyIDLen]
}

// IsSealed reports whether s looks like a value made by a Sealer.
func IsSealed(s string) bool {
	return strings.HasPrefix(s, sealedV1Prefix) || strings.HasPrefix(s, sealedV2Prefix)
}

// SealedKeyID returns the id of the key a sealed value was sealed under, or
// "" for a v1 value (which names no key) and for anything not sealed.
func SealedKeyID(s string) string {
	kid, _, ok := splitV2(s)
	if !ok {
		return ""
	}
	return kid
}

// splitV2 splits a v2 value into its key id and its base64 payload.
func splitV2(s string) (kid, payload string, ok bool) {
	rest, ok := strings.CutPrefix(s, sealedV2Prefix)
	if !ok {
		return "", "", false
	}
	kid, payload, ok = strings.Cut(rest, ":")
	if !ok || !isKeyID(kid) {
		return "", "", false
	}
	return kid, payload, true
}

func isKeyID(s string) bool {
	if len(s) != keyIDLen {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sealKey is one loaded master key.
type sealKey struct {
	id   string
	aead cipher.AEAD
}

// keySet is the sealer's keys at one moment. It is never changed once
// published: a change builds a new set and swaps the pointer, so Seal and
// Open read it without a lock while a rotation runs.
type keySet struct {
	primary *sealKey
	byID    map[string]*sealKey
}

// Sealer encrypts secrets at rest with AES-256-GCM. The additional data binds
// a ciphertext to where it is stored (such as "env/app/KEY"), so a sealed
// value copied into another record does not open.
//
// A sealer holds one or more keys: the primary seals, every key opens the
// values sealed under it. It is safe for concurrent use, also while a key
// rotation adds keys and changes the primary.
type Sealer struct {
	keys atomic.Pointer[keySet]
	// mu serializes changes of the key set (readers do not take it).
	mu sync.Mutex
	// rotating is held by RotateMasterKey, so that two rotations of one
	// sealer do not interleave.
	rotating sync.Mutex
}

func newSealKey(key []byte) (*sealKey, error) {
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
	return &sealKey{id: KeyIDOf(key), aead: aead}, nil
}

// NewSealer returns a sealer whose primary key is a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	k, err := newSealKey(key)
	if err != nil {
		return nil, err
	}
	s := &Sealer{}
	s.keys.Store(&keySet{primary: k, byID: map[string]*sealKey{k.id: k}})
	return s, nil
}

// KeyID returns the id of the primary key, the one Seal uses.
func (s *Sealer) KeyID() string { return s.keys.Load().primary.id }

// KeyIDs returns the ids of every loaded key, sorted.
func (s *Sealer) KeyIDs() []string {
	set := s.keys.Load()
	ids := make([]string, 0, len(set.byID))
	for id := range set.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// update publishes a copy of the key set changed by fn.
func (s *Sealer) update(fn func(set *keySet) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.keys.Load()
	set := &keySet{primary: old.primary, byID: make(map[string]*sealKey, len(old.byID)+1)}
	for id, k := range old.byID {
		set.byID[id] = k
	}
	if err := fn(set); err != nil {
		return err
	}
	s.keys.Store(set)
	return nil
}

// AddKey loads another key, which opens the values sealed under it but
// does not seal until SetPrimary makes it the primary. Adding a key that is
// already loaded does nothing.
func (s *Sealer) AddKey(key []byte) error {
	k, err := newSealKey(key)
	if err != nil {
		return err
	}
	return s.update(func(set *keySet) error {
		if _, ok := set.byID[k.id]; ok {
			// Same id: the same key, or (one chance in 2^32) another key,
			// which could not be told apart from it.
			return nil
		}
		set.byID[k.id] = k
		return nil
	})
}

// hasKey reports whether a loaded key has id kid.
func (s *Sealer) hasKey(kid string) bool {
	_, ok := s.keys.Load().byID[kid]
	return ok
}

// SetPrimary makes the loaded key kid the one Seal uses.
func (s *Sealer) SetPrimary(kid string) error {
	return s.update(func(set *keySet) error {
		k, ok := set.byID[kid]
		if !ok {
			return fmt.Errorf("no master key with id %q is loaded", kid)
		}
		set.primary = k
		return nil
	})
}

// DropKey unloads the key kid: the values sealed under it no longer open.
// The primary key cannot be dropped; dropping it, or a key that is not
// loaded, does nothing.
func (s *Sealer) DropKey(kid string) {
	_ = s.update(func(set *keySet) error {
		if set.primary.id != kid {
			delete(set.byID, kid)
		}
		return nil
	})
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
	key, err := readKeyFile(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating master key: %w", err)
	}
	if err := writeKeyFile(path, key); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateMasterKey(dir)
		}
		return nil, err
	}
	return key, nil
}

// readKeyFile reads a key file (64 hex characters). A missing file is an
// error that wraps os.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading master key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("master key file %s is malformed", path)
	}
	return key, nil
}

// writeKeyFile creates the key file path (mode 0600) holding key, durably
// (the file and its directory entry are synced). It fails with an error
// that wraps os.ErrExist when the file exists.
func writeKeyFile(path string, key []byte) error {
	dir := filepath.Dir(path)
	// Write a temporary file, then link it into place: the link fails if
	// another process got there first, and then its key is the one.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("creating master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("creating master key file: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("writing master key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing master key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing master key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return err
		}
		return fmt.Errorf("installing master key file: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes the renames, links and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// Seal encrypts plaintext under the primary key, bound to aad.
func (s *Sealer) Seal(plaintext, aad string) (string, error) {
	return seal(s.keys.Load().primary, plaintext, aad)
}

// SealWith encrypts plaintext under the loaded key kid, bound to aad. A
// rotation uses it to seal under the new key before that key is the primary.
func (s *Sealer) SealWith(kid, plaintext, aad string) (string, error) {
	k, ok := s.keys.Load().byID[kid]
	if !ok {
		return "", fmt.Errorf("no master key with id %q is loaded", kid)
	}
	return seal(k, plaintext, aad)
}

func seal(k *sealKey, plaintext, aad string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("generating nonce: %w", err)
	}
	ct := k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return sealedV2Prefix + k.id + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal or SealWith with the same aad, with
// the key it names (or, for a v1 value, with whichever loaded key opens
// it). The error never contains the value.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	set := s.keys.Load()
	if kid, payload, ok := splitV2(sealed); ok {
		k, ok := set.byID[kid]
		if !ok {
			return "", fmt.Errorf("sealed value is under master key %s, which is not loaded", kid)
		}
		return open(k, payload, aad)
	}
	payload, ok := strings.CutPrefix(sealed, sealedV1Prefix)
	if !ok {
		if strings.HasPrefix(sealed, sealedV2Prefix) {
			return "", errors.New("sealed value is malformed")
		}
		return "", errors.New("value is not sealed")
	}
	// The primary first: it is the likeliest.
	pt, err := open(set.primary, payload, aad)
	if err == nil {
		return pt, nil
	}
	for _, k := range set.byID {
		if k == set.primary {
			continue
		}
		if pt, err2 := open(k, payload, aad); err2 == nil {
			return pt, nil
		}
	}
	return "", err
}

func open(k *sealKey, payload, aad string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		return "", errors.New("sealed value is malformed")
	}
	n := k.aead.NonceSize()
	if len(raw) < n {
		return "", errors.New("sealed value is too short")
	}
	pt, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return "", errors.New("sealed value does not open with this key")
	}
	return string(pt), nil
}
