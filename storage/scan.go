package storage

import (
	"bytes"
	"encoding/json"
)

// ScanBackward calls fn with each record of the bucket at path whose key
// sorts before `before` (every record when before is ""), newest key
// first, until fn returns false. Nested buckets are skipped.
func (tx *Tx) ScanBackward(path []string, before string, fn func(key string, raw json.RawMessage) (bool, error)) error {
	b, err := tx.bucket(path, false)
	if err != nil || b == nil {
		return err
	}
	c := b.Cursor()
	var k, v []byte
	if before == "" {
		k, v = c.Last()
	} else {
		k, v = c.Seek([]byte(before))
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && bytes.Compare(k, []byte(before)) >= 0 {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if v == nil {
			continue
		}
		more, err := fn(string(k), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Count returns the number of records in the bucket at path.
func (tx *Tx) Count(path []string) (int, error) {
	b, err := tx.bucket(path, false)
	if err != nil || b == nil {
		return 0, err
	}
	return b.Stats().KeyN, nil
}
