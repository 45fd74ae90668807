package storage

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// NextMasterKeyFile holds the new key while a rotation runs. Its presence
// at start means a rotation was interrupted: the key check in the database
// tells whether it committed (then the file becomes the key file) or not
// (then it is removed).
const NextMasterKeyFile = MasterKeyFile + ".next"

// The key check is a constant sealed under the key the database's values
// are sealed under, kept in the meta bucket. It tells a wrong master key
// at start (instead of failing on the first secret), and which key an
// interrupted rotation left the database under.
const (
	keyCheckKey   = "key_check"
	keyCheckAAD   = "key-check"
	keyCheckValue = "caddy-paas master key check"
)

// Resealer is an owner of sealed values: it re-seals each of them inside the rotation's transaction.
type Resealer interface {
	Reseal(tx *Tx, reseal func(sealed, aad string) (string, error)) error
}

// RotateMasterKey makes a new master key and re-seals every value under it, in one transaction.
//
// The order makes it crash-safe: the new key is written durably to
// NextMasterKeyFile first; then one transaction re-seals every owner's
// values and the key check under it; only after the commit does the new
// key replace the key file. A crash before the commit leaves the database
// under the old key, and OpenSealer removes the next file; a crash after it
// leaves the key check under the new key, and OpenSealer finishes the
// rename. Before the commit nothing changes: on an error the database, the
// key file and s are as they were.
//
// Every sealed value in the database must belong to one of the owners: a
// value still under another key after they ran fails the rotation, since
// the old key is gone once it succeeds.
func RotateMasterKey(dir string, db *DB, s *Sealer, owners ...Resealer) (newKeyID string, err error) {
	if strings.TrimSpace(os.Getenv(MasterKeyEnv)) != "" {
		return "", fmt.Errorf("the master key comes from %s: rotation works with the key file only; "+
			"write the variable's value to %s (mode 0600), unset %s, restart, then rotate",
			MasterKeyEnv, filepath.Join(dir, MasterKeyFile), MasterKeyEnv)
	}
	if !s.rotating.TryLock() {
		return "", errors.New("a master key rotation is already under way")
	}
	defer s.rotating.Unlock()

	oldID := s.KeyID()
	var key []byte
	for newKeyID == "" || s.hasKey(newKeyID) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return "", fmt.Errorf("generating master key: %w", err)
		}
		newKeyID = KeyIDOf(key)
	}
	nextPath := filepath.Join(dir, NextMasterKeyFile)
	if err := writeKeyFile(nextPath, key); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s exists: another rotation is under way, or one was interrupted (a restart finishes or discards it)", nextPath)
		}
		return "", err
	}
	if err := s.AddKey(key); err != nil {
		os.Remove(nextPath)
		return "", err
	}
	undo := func() {
		// The primary goes back first, so that nothing seals under the
		// new key once it is dropped.
		_ = s.SetPrimary(oldID)
		s.DropKey(newKeyID)
		os.Remove(nextPath)
		_ = syncDir(dir)
	}

	reseal := func(sealed, aad string) (string, error) {
		plain, err := s.Open(sealed, aad)
		if err != nil {
			return "", err
		}
		return s.SealWith(newKeyID, plain, aad)
	}
	err = db.Update(func(tx *Tx) error {
		for _, o := range owners {
			if err := o.Reseal(tx, reseal); err != nil {
				return err
			}
		}
		check, err := sealKeyCheck(tx, s, func(sealed string) (string, error) {
			return reseal(sealed, keyCheckAAD)
		}, newKeyID)
		if err != nil {
			return err
		}
		if err := putKeyCheck(tx, check); err != nil {
			return err
		}
		if err := tx.checkSealedUnder(newKeyID); err != nil {
			return err
		}
		// The primary changes inside the transaction, which holds the
		// database's only write lock: a write that follows this one (and
		// may start before Update returns) seals under the new key.
		return s.SetPrimary(newKeyID)
	})
	if err != nil {
		undo()
		return "", fmt.Errorf("rotating the master key: %w", err)
	}

	// Committed: the database is under the new key, and so is the sealer.
	if err := os.Rename(nextPath, filepath.Join(dir, MasterKeyFile)); err != nil {
		return newKeyID, fmt.Errorf("the database is re-sealed under master key %s, but installing its key file failed (the next start finishes it): %w", newKeyID, err)
	}
	if err := syncDir(dir); err != nil {
		return newKeyID, fmt.Errorf("the database is re-sealed under master key %s, but: %w", newKeyID, err)
	}
	// The old key stays loaded for Open only, not for Seal: a read
	// transaction that began before the commit may still open a value it
	// read under it. No value in the database is under it any more, and it
	// is gone from disk, so it is gone at the next start.
	return newKeyID, nil
}

// OpenSealer loads the master key (and finishes an interrupted rotation) and returns the sealer.
//
// It checks the key against the database's key check, creating that check
// on first start: a key that does not open it is refused rather than used
// to seal new values next to ones that no loaded key opens.
func OpenSealer(dir string, db *DB) (*Sealer, error) {
	key, err := LoadOrCreateMasterKey(dir)
	if err != nil {
		return nil, err
	}
	s, err := NewSealer(key)
	if err != nil {
		return nil, err
	}
	nextPath := filepath.Join(dir, NextMasterKeyFile)
	nextID := ""
	next, err := readKeyFile(nextPath)
	switch {
	case err == nil:
		if err := s.AddKey(next); err != nil {
			return nil, err
		}
		nextID = KeyIDOf(next)
	case errors.Is(err, os.ErrNotExist):
	default:
		// A next file is synced before the rotation's transaction begins:
		// one that cannot be read as a key was cut short by a crash, and
		// nothing was sealed under it.
		if rmErr := os.Remove(nextPath); rmErr != nil {
			return nil, fmt.Errorf("%w; removing it: %v", err, rmErr)
		}
	}

	var checkID string
	err = db.Update(func(tx *Tx) error {
		check, err := sealKeyCheck(tx, s, func(sealed string) (string, error) {
			if _, err := s.Open(sealed, keyCheckAAD); err != nil {
				return "", err
			}
			return sealed, nil
		}, s.KeyID())
		if err != nil {
			return err
		}
		checkID = SealedKeyID(check)
		return putKeyCheck(tx, check)
	})
	if err != nil {
		return nil, err
	}
	if nextID == "" {
		return s, nil
	}
	if nextID == checkID && nextID != s.KeyID() {
		// The rotation committed: finish it.
		if strings.TrimSpace(os.Getenv(MasterKeyEnv)) != "" {
			return nil, fmt.Errorf("an interrupted key rotation re-sealed the database under the key in %s, but %s holds the old key: unset %s so that the key file is used",
				nextPath, MasterKeyEnv, MasterKeyEnv)
		}
		oldID := s.KeyID()
		if err := s.SetPrimary(nextID); err != nil {
			return nil, err
		}
		s.DropKey(oldID)
		if err := os.Rename(nextPath, filepath.Join(dir, MasterKeyFile)); err != nil {
			return nil, fmt.Errorf("finishing an interrupted key rotation: %w", err)
		}
		return s, syncDir(dir)
	}
	// The rotation did not commit (or the next file holds the current key):
	// the database is under the key file's key.
	s.DropKey(nextID)
	if err := os.Remove(nextPath); err != nil {
		return nil, fmt.Errorf("discarding an interrupted key rotation: %w", err)
	}
	return s, syncDir(dir)
}

// sealKeyCheck returns the key check to store: the existing one passed
// through update (which opens it, failing on a wrong key), or a new one
// sealed under kid when the database has none.
func sealKeyCheck(tx *Tx, s *Sealer, update func(sealed string) (string, error), kid string) (string, error) {
	var sealed string
	if meta := tx.btx.Bucket(metaBucket); meta != nil {
		sealed = string(meta.Get([]byte(keyCheckKey)))
	}
	if sealed == "" {
		return s.SealWith(kid, keyCheckValue, keyCheckAAD)
	}
	out, err := update(sealed)
	if err != nil {
		if under := SealedKeyID(sealed); under != "" {
			return "", fmt.Errorf("the master key does not match this database: it is sealed under master key %s, and the loaded keys are %s",
				under, strings.Join(s.KeyIDs(), ", "))
		}
		return "", fmt.Errorf("the master key does not match this database (loaded keys: %s)", strings.Join(s.KeyIDs(), ", "))
	}
	return out, nil
}

func putKeyCheck(tx *Tx, sealed string) error {
	meta, err := tx.btx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	return meta.Put([]byte(keyCheckKey), []byte(sealed))
}

// checkSealedUnder fails when a value anywhere in the database holds a
// sealed value that is not under key kid. It reads the raw bytes of every
// value, so it finds sealed values whatever record holds them.
func (tx *Tx) checkSealedUnder(kid string) error {
	var stale []string
	var walk func(path []string, b *bolt.Bucket) error
	walk = func(path []string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(append(path[:len(path):len(path)], string(k)), b.Bucket(k))
			}
			for _, id := range sealedKeyIDsIn(v) {
				if id != kid {
					stale = append(stale, strings.Join(path, "/")+"/"+string(k))
					break
				}
			}
			return nil
		})
	}
	err := tx.btx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return walk([]string{string(name)}, b)
	})
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		more := ""
		if len(stale) > 5 {
			more = fmt.Sprintf(" and %d more", len(stale)-5)
			stale = stale[:5]
		}
		return fmt.Errorf("sealed values that no owner re-sealed remain in %s%s: they would not open after the rotation",
			strings.Join(stale, ", "), more)
	}
	return nil
}

// minSealedPayload is the base64 length of the shortest sealed payload: a
// 12-byte nonce and a 16-byte tag.
const minSealedPayload = (12 + 16) * 4 / 3

// sealedKeyIDsIn finds the sealed values in raw bytes (such as a JSON
// record) and returns the key id of each: "" for a v1 value, which names no
// key. A text that only mentions the prefix, without a payload after it,
// is not counted.
func sealedKeyIDsIn(raw []byte) []string {
	var ids []string
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte("sealed:v"))
		if j < 0 {
			return ids
		}
		rest := raw[i+j:]
		i += j + len("sealed:v")
		var id string
		switch {
		case bytes.HasPrefix(rest, []byte(sealedV1Prefix)):
			rest = rest[len(sealedV1Prefix):]
		case bytes.HasPrefix(rest, []byte(sealedV2Prefix)):
			rest = rest[len(sealedV2Prefix):]
			if len(rest) < keyIDLen+1 || rest[keyIDLen] != ':' || !isKeyID(string(rest[:keyIDLen])) {
				continue
			}
			id, rest = string(rest[:keyIDLen]), rest[keyIDLen+1:]
		default:
			continue
		}
		if base64Run(rest) >= minSealedPayload {
			ids = append(ids, id)
		}
	}
}

// base64Run returns how many bytes at the start of b are in the raw
// standard base64 alphabet.
func base64Run(b []byte) int {
	for i, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return i
		}
	}
	return len(b)
}
