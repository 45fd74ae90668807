// Package storage keeps the platform's state in one bbolt file: JSON records in
// named buckets, every change in one transaction, with a schema version and
// ordered migrations. It knows nothing of apps or deployments; the platform
// decides what the records mean.
package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DBFile is the name of the database file in the data directory.
const DBFile = "paas.db"

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// DB is the bbolt database of one data directory.
type DB struct {
	bolt *bolt.DB
}

// Open opens (creating if needed) the database in dir and runs pending
// migrations. It fails after a few seconds when another process holds the file.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	b, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening database in %s: %w", dir, err)
	}
	db := &DB{bolt: b}
	if err := db.migrate(migrations); err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database file.
func (db *DB) Close() error { return db.bolt.Close() }

// Update runs fn in one read-write transaction: all of its changes are kept,
// or none when fn returns an error.
func (db *DB) Update(fn func(tx *Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx}) })
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(tx *Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx}) })
}

// Tx is a transaction. A bucket path such as ["deployments", "hello"] names a
// nested bucket; buckets are created on first write.
type Tx struct {
	btx *bolt.Tx
}

func (tx *Tx) bucket(path []string, create bool) (*bolt.Bucket, error) {
	if len(path) == 0 {
		return nil, errors.New("empty bucket path")
	}
	var b *bolt.Bucket
	for i, name := range path {
		var next *bolt.Bucket
		var err error
		switch {
		case i == 0 && create:
			next, err = tx.btx.CreateBucketIfNotExists([]byte(name))
		case i == 0:
			next = tx.btx.Bucket([]byte(name))
		case create:
			next, err = b.CreateBucketIfNotExists([]byte(name))
		default:
			next = b.Bucket([]byte(name))
		}
		if err != nil {
			return nil, fmt.Errorf("bucket %v: %w", path, err)
		}
		if next == nil {
			return nil, nil
		}
		b = next
	}
	return b, nil
}

// Get decodes the record at key into v, or returns ErrNotFound.
func (tx *Tx) Get(path []string, key string, v any) error {
	b, err := tx.bucket(path, false)
	if err != nil {
		return err
	}
	if b == nil {
		return ErrNotFound
	}
	data := b.Get([]byte(key))
	if data == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding %v/%s: %w", path, key, err)
	}
	return nil
}

// Put stores v as JSON at key.
func (tx *Tx) Put(path []string, key string, v any) error {
	b, err := tx.bucket(path, true)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %v/%s: %w", path, key, err)
	}
	return b.Put([]byte(key), data)
}

// Delete removes key; a missing key is not an error.
func (tx *Tx) Delete(path []string, key string) error {
	b, err := tx.bucket(path, false)
	if err != nil || b == nil {
		return err
	}
	return b.Delete([]byte(key))
}

// DeleteBucket removes a nested bucket and everything in it; a missing bucket
// is not an error.
func (tx *Tx) DeleteBucket(path []string) error {
	if len(path) == 0 {
		return errors.New("empty bucket path")
	}
	if len(path) == 1 {
		err := tx.btx.DeleteBucket([]byte(path[0]))
		if errors.Is(err, bolt.ErrBucketNotFound) {
			return nil
		}
		return err
	}
	parent, err := tx.bucket(path[:len(path)-1], false)
	if err != nil || parent == nil {
		return err
	}
	err = parent.DeleteBucket([]byte(path[len(path)-1]))
	if errors.Is(err, bolt.ErrBucketNotFound) {
		return nil
	}
	return err
}

// ForEach calls fn with each key and its raw JSON in key order. Nested
// buckets are skipped.
func (tx *Tx) ForEach(path []string, fn func(key string, raw json.RawMessage) error) error {
	b, err := tx.bucket(path, false)
	if err != nil || b == nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return nil
		}
		return fn(string(k), v)
	})
}

// Buckets lists the names of the buckets nested in path, in key order.
func (tx *Tx) Buckets(path []string) ([]string, error) {
	b, err := tx.bucket(path, false)
	if err != nil || b == nil {
		return nil, err
	}
	var out []string
	err = b.ForEach(func(k, v []byte) error {
		if v == nil {
			out = append(out, string(k))
		}
		return nil
	})
	return out, err
}

// NextSequence returns the next number of the bucket's sequence (1, 2, ...).
func (tx *Tx) NextSequence(path []string) (uint64, error) {
	b, err := tx.bucket(path, true)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}
