package storage

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// secretOwner keeps sealed strings in the bucket "secrets", each bound to
// "secret/<key>", as the platform keeps its records.
type secretOwner struct {
	// failAfter makes Reseal fail after re-sealing that many values
	// (when >= 0).
	failAfter int
	// ignore makes Reseal re-seal nothing, as an owner that forgot them.
	ignore bool
}

var secretsBucket = []string{"secrets"}

func secretAAD(key string) string { return "secret/" + key }

func (o *secretOwner) Reseal(tx *Tx, reseal func(sealed, aad string) (string, error)) error {
	if o.ignore {
		return nil
	}
	done := 0
	sealed := map[string]string{}
	err := tx.ForEach(secretsBucket, func(key string, raw json.RawMessage) error {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		sealed[key] = v
		return nil
	})
	if err != nil {
		return err
	}
	for key, v := range sealed {
		if o.failAfter >= 0 && done >= o.failAfter {
			return errors.New("owner failed")
		}
		nv, err := reseal(v, secretAAD(key))
		if err != nil {
			return fmt.Errorf("secret %s: %w", key, err)
		}
		if err := tx.Put(secretsBucket, key, nv); err != nil {
			return err
		}
		done++
	}
	return nil
}

func newOwner() *secretOwner { return &secretOwner{failAfter: -1} }

// keyDir is a data directory with a database and its sealer, made the way
// the app makes them at start.
type keyDir struct {
	t   *testing.T
	dir string
	db  *DB
	s   *Sealer
}

func openKeyDir(t *testing.T, dir string) *keyDir {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSealer(dir, db)
	if err != nil {
		db.Close()
		t.Fatalf("OpenSealer: %v", err)
	}
	k := &keyDir{t: t, dir: dir, db: db, s: s}
	t.Cleanup(func() { k.db.Close() })
	return k
}

func newKeyDir(t *testing.T) *keyDir {
	t.Helper()
	t.Setenv(MasterKeyEnv, "")
	return openKeyDir(t, t.TempDir())
}

// reopen closes the database and opens the directory again, as a new
// process would.
func (k *keyDir) reopen() {
	k.t.Helper()
	k.db.Close()
	db, err := Open(k.dir)
	if err != nil {
		k.t.Fatal(err)
	}
	k.db = db
	k.s, err = OpenSealer(k.dir, db)
	if err != nil {
		k.t.Fatalf("OpenSealer after reopening: %v", err)
	}
}

// put stores sealed values of the given plaintexts in the secrets bucket.
func (k *keyDir) put(values map[string]string) {
	k.t.Helper()
	err := k.db.Update(func(tx *Tx) error {
		for key, plain := range values {
			v, err := k.s.Seal(plain, secretAAD(key))
			if err != nil {
				return err
			}
			if err := tx.Put(secretsBucket, key, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		k.t.Fatal(err)
	}
}

func (k *keyDir) putRaw(key, sealed string) {
	k.t.Helper()
	if err := k.db.Update(func(tx *Tx) error { return tx.Put(secretsBucket, key, sealed) }); err != nil {
		k.t.Fatal(err)
	}
}

// check fails unless every value in want opens to its plaintext through
// the sealer.
func (k *keyDir) check(step string, want map[string]string) {
	k.t.Helper()
	got := map[string]string{}
	err := k.db.View(func(tx *Tx) error {
		return tx.ForEach(secretsBucket, func(key string, raw json.RawMessage) error {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			plain, err := k.s.Open(v, secretAAD(key))
			if err != nil {
				return fmt.Errorf("opening %s: %w", key, err)
			}
			got[key] = plain
			return nil
		})
	})
	if err != nil {
		k.t.Fatalf("%s: %v", step, err)
	}
	if len(got) != len(want) {
		k.t.Errorf("%s: %d values, want %d", step, len(got), len(want))
	}
	for key, plain := range want {
		if got[key] != plain {
			k.t.Errorf("%s: %s = %q, want %q", step, key, got[key], plain)
		}
	}
}

// dump returns every value of the database by its bucket path.
func (k *keyDir) dump() map[string]string {
	k.t.Helper()
	out := map[string]string{}
	var walk func(path string, b *bolt.Bucket) error
	walk = func(path string, b *bolt.Bucket) error {
		return b.ForEach(func(key, v []byte) error {
			if v == nil {
				return walk(path+"/"+string(key), b.Bucket(key))
			}
			out[path+"/"+string(key)] = string(v)
			return nil
		})
	}
	err := k.db.bolt.View(func(btx *bolt.Tx) error {
		return btx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// sealedIDs returns the key id of every sealed value in the database
// ("" for v1), found in the raw bytes: a sealed value in any record counts.
func (k *keyDir) sealedIDs() []string {
	k.t.Helper()
	var ids []string
	for _, v := range k.dump() {
		ids = append(ids, sealedKeyIDsIn([]byte(v))...)
	}
	return ids
}

func (k *keyDir) keyFile(name string) []byte {
	k.t.Helper()
	data, err := os.ReadFile(filepath.Join(k.dir, name))
	if err != nil {
		k.t.Fatal(err)
	}
	return data
}

func (k *keyDir) noNextFile() {
	k.t.Helper()
	if _, err := os.Stat(filepath.Join(k.dir, NextMasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
		k.t.Errorf("%s is left behind (stat: %v)", NextMasterKeyFile, err)
	}
}

func (k *keyDir) keyFileID() string {
	k.t.Helper()
	key, err := hex.DecodeString(strings.TrimSpace(string(k.keyFile(MasterKeyFile))))
	if err != nil {
		k.t.Fatal(err)
	}
	return KeyIDOf(key)
}

func TestRotateMasterKey(t *testing.T) {
	for _, tc := range []struct {
		name      string
		values    int
		v1        bool
		rotations int
	}{
		{name: "no values", values: 0, rotations: 1},
		{name: "one value", values: 1, rotations: 1},
		{name: "many values", values: 200, rotations: 1},
		{name: "v1 values", values: 3, v1: true, rotations: 1},
		{name: "three rotations", values: 20, v1: true, rotations: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeyDir(t)
			keyA, err := LoadOrCreateMasterKey(k.dir)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for i := 0; i < tc.values; i++ {
				want[fmt.Sprintf("k%03d", i)] = fmt.Sprintf("%s-%d", canary, i)
			}
			k.put(want)
			if tc.v1 {
				for i := 0; i < 3; i++ {
					key, plain := fmt.Sprintf("v1-%d", i), fmt.Sprintf("%s-v1-%d", canary, i)
					k.putRaw(key, sealV1(t, keyA, plain, secretAAD(key)))
					want[key] = plain
				}
			}
			k.check("before", want)
			before := k.s.KeyID()
			oldSealer, err := NewSealer(keyA)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{before: true}

			for r := 0; r < tc.rotations; r++ {
				id, err := RotateMasterKey(k.dir, k.db, k.s, newOwner())
				if err != nil {
					t.Fatalf("rotation %d: %v", r+1, err)
				}
				if seen[id] {
					t.Fatalf("rotation %d made key %s again", r+1, id)
				}
				seen[id] = true
				if k.s.KeyID() != id {
					t.Errorf("rotation %d: the sealer's primary is %s, want %s", r+1, k.s.KeyID(), id)
				}
				if v, _ := k.s.Seal(canary, "x"); SealedKeyID(v) != id {
					t.Errorf("rotation %d: Seal uses key %s, want %s", r+1, SealedKeyID(v), id)
				}
				k.check(fmt.Sprintf("after rotation %d", r+1), want)
				ids := k.sealedIDs()
				if len(ids) != len(want)+1 { // and the key check
					t.Errorf("rotation %d: %d sealed values in the database, want %d", r+1, len(ids), len(want)+1)
				}
				for _, got := range ids {
					if got != id {
						t.Errorf("rotation %d: a sealed value is under key %q, want %s", r+1, got, id)
					}
				}
				if got := k.keyFileID(); got != id {
					t.Errorf("rotation %d: %s holds key %s, want %s", r+1, MasterKeyFile, got, id)
				}
				fi, err := os.Stat(filepath.Join(k.dir, MasterKeyFile))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("rotation %d: key file mode: %v, %v", r+1, fi, err)
				}
				k.noNextFile()
			}

			// The old key opens nothing any more.
			for key := range want {
				var v string
				_ = k.db.View(func(tx *Tx) error { return tx.Get(secretsBucket, key, &v) })
				if _, err := oldSealer.Open(v, secretAAD(key)); err == nil {
					t.Errorf("the old key still opens %s", key)
				}
			}

			// A new process reads the directory: only the new key.
			last := k.s.KeyID()
			k.reopen()
			if k.s.KeyID() != last || len(k.s.KeyIDs()) != 1 {
				t.Errorf("after reopening: primary %s, keys %v, want only %s", k.s.KeyID(), k.s.KeyIDs(), last)
			}
			k.check("after reopening", want)
		})
	}
}

func TestRotateMasterKeyFailureChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(k *keyDir)
		owners  []Resealer
		wantErr string
	}{
		{name: "owner fails at once", owners: []Resealer{&secretOwner{failAfter: 0}}, wantErr: "owner failed"},
		{name: "owner fails midway", owners: []Resealer{&secretOwner{failAfter: 5}}, wantErr: "owner failed"},
		{name: "second owner fails", owners: []Resealer{newOwner(), &secretOwner{failAfter: 0}}, wantErr: "owner failed"},
		{name: "no owner of the values", owners: nil, wantErr: "secrets/"},
		{name: "owner forgets its values", owners: []Resealer{&secretOwner{ignore: true}}, wantErr: "secrets/"},
		{name: "sealed value in a record nobody owns", prepare: func(k *keyDir) {
			v, _ := k.s.Seal(canary, "other")
			err := k.db.Update(func(tx *Tx) error {
				return tx.Put([]string{"other", "nested"}, "rec", map[string]any{"name": "x", "secret": v})
			})
			if err != nil {
				k.t.Fatal(err)
			}
		}, owners: []Resealer{newOwner()}, wantErr: "other/nested/rec"},
		{name: "value that does not open", prepare: func(k *keyDir) {
			stranger, _ := NewSealer(testKey(k.t))
			v, _ := stranger.Seal(canary, secretAAD("stranger"))
			k.putRaw("stranger", v)
		}, owners: []Resealer{newOwner()}, wantErr: "not loaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeyDir(t)
			want := map[string]string{}
			for i := 0; i < 20; i++ {
				want[fmt.Sprintf("k%02d", i)] = fmt.Sprintf("%s-%d", canary, i)
			}
			k.put(want)
			if tc.prepare != nil {
				tc.prepare(k)
			}
			dbBefore := k.dump()
			keyBefore := k.keyFile(MasterKeyFile)
			idBefore := k.s.KeyID()

			id, err := RotateMasterKey(k.dir, k.db, k.s, tc.owners...)
			if err == nil {
				t.Fatalf("RotateMasterKey succeeded with key %s, want an error", id)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error %q holds a secret", err)
			}
			if got := k.dump(); !equalMaps(got, dbBefore) {
				t.Error("the database changed")
			}
			if got := k.keyFile(MasterKeyFile); !bytes.Equal(got, keyBefore) {
				t.Error("the key file changed")
			}
			k.noNextFile()
			if k.s.KeyID() != idBefore || !equalStrings(k.s.KeyIDs(), []string{idBefore}) {
				t.Errorf("sealer keys: primary %s, loaded %v, want only %s", k.s.KeyID(), k.s.KeyIDs(), idBefore)
			}
			if v, _ := k.s.Seal(canary, "x"); SealedKeyID(v) != idBefore {
				t.Errorf("Seal uses key %s after a failed rotation", SealedKeyID(v))
			}
			k.reopen()
			if k.s.KeyID() != idBefore {
				t.Errorf("after reopening the key is %s, want %s", k.s.KeyID(), idBefore)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRotateMasterKeyRefused(t *testing.T) {
	t.Run("key from the environment", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv(MasterKeyEnv, hex.EncodeToString(testKey(t)))
		k := openKeyDir(t, dir)
		k.put(map[string]string{"a": canary})
		before := k.dump()
		_, err := RotateMasterKey(dir, k.db, k.s, newOwner())
		if err == nil {
			t.Fatal("rotation of a key from the environment succeeded")
		}
		for _, want := range []string{MasterKeyEnv, "key file", "unset", filepath.Join(dir, MasterKeyFile)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		for _, name := range []string{MasterKeyFile, NextMasterKeyFile} {
			if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was created (stat: %v)", name, err)
			}
		}
		if !equalMaps(k.dump(), before) || len(k.s.KeyIDs()) != 1 {
			t.Error("a refused rotation changed the database or the sealer")
		}
	})
	t.Run("next file exists", func(t *testing.T) {
		k := newKeyDir(t)
		next := []byte("left by someone else\n")
		if err := os.WriteFile(filepath.Join(k.dir, NextMasterKeyFile), next, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := RotateMasterKey(k.dir, k.db, k.s, newOwner())
		if err == nil || !strings.Contains(err.Error(), NextMasterKeyFile) {
			t.Fatalf("error = %v, want one naming %s", err, NextMasterKeyFile)
		}
		if got := k.keyFile(NextMasterKeyFile); !bytes.Equal(got, next) {
			t.Error("the existing next file was overwritten")
		}
		if len(k.s.KeyIDs()) != 1 {
			t.Errorf("sealer keys = %v", k.s.KeyIDs())
		}
	})
	t.Run("rotation under way", func(t *testing.T) {
		k := newKeyDir(t)
		k.s.rotating.Lock()
		_, err := RotateMasterKey(k.dir, k.db, k.s, newOwner())
		k.s.rotating.Unlock()
		if err == nil || !strings.Contains(err.Error(), "under way") {
			t.Fatalf("error = %v, want one saying a rotation is under way", err)
		}
		k.noNextFile()
	})
}

// TestOpenSealerInterruptedRotation simulates a crash between the steps of
// a rotation by putting the files back as the crash would leave them.
func TestOpenSealerInterruptedRotation(t *testing.T) {
	for _, tc := range []struct {
		name string
		// crash returns the content of the key file and of the next file
		// that the crash leaves, given the old and the new key; rotated
		// says whether the database went through the rotation.
		rotated   bool
		keyFile   func(oldKey, newKey []byte) []byte
		nextFile  func(oldKey, newKey []byte) []byte
		wantNewID bool
	}{
		{
			name:    "crash before the commit",
			rotated: false,
			keyFile: func(o, n []byte) []byte { return hexLine(o) }, nextFile: func(o, n []byte) []byte { return hexLine(n) },
			wantNewID: false,
		},
		{
			name:    "crash while writing the next file",
			rotated: false,
			keyFile: func(o, n []byte) []byte { return hexLine(o) }, nextFile: func(o, n []byte) []byte { return hexLine(n)[:20] },
			wantNewID: false,
		},
		{
			name:    "empty next file",
			rotated: false,
			keyFile: func(o, n []byte) []byte { return hexLine(o) }, nextFile: func(o, n []byte) []byte { return nil },
			wantNewID: false,
		},
		{
			name:    "next file holds the current key",
			rotated: false,
			keyFile: func(o, n []byte) []byte { return hexLine(o) }, nextFile: func(o, n []byte) []byte { return hexLine(o) },
			wantNewID: false,
		},
		{
			name:    "crash after the commit, before the rename",
			rotated: true,
			keyFile: func(o, n []byte) []byte { return hexLine(o) }, nextFile: func(o, n []byte) []byte { return hexLine(n) },
			wantNewID: true,
		},
		{
			name:    "crash after the rename",
			rotated: true,
			keyFile: func(o, n []byte) []byte { return hexLine(n) }, nextFile: nil,
			wantNewID: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeyDir(t)
			want := map[string]string{"a": canary + "a", "b": canary + "b"}
			k.put(want)
			oldKey := mustHex(t, k.keyFile(MasterKeyFile))
			var newKey []byte
			if tc.rotated {
				if _, err := RotateMasterKey(k.dir, k.db, k.s, newOwner()); err != nil {
					t.Fatal(err)
				}
				newKey = mustHex(t, k.keyFile(MasterKeyFile))
			} else {
				newKey = testKey(t)
			}
			k.db.Close()
			if err := os.WriteFile(filepath.Join(k.dir, MasterKeyFile), tc.keyFile(oldKey, newKey), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.nextFile != nil {
				if err := os.WriteFile(filepath.Join(k.dir, NextMasterKeyFile), tc.nextFile(oldKey, newKey), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			db, err := Open(k.dir)
			if err != nil {
				t.Fatal(err)
			}
			k.db = db
			k.s, err = OpenSealer(k.dir, db)
			if err != nil {
				t.Fatalf("OpenSealer: %v", err)
			}

			wantID := KeyIDOf(oldKey)
			if tc.wantNewID {
				wantID = KeyIDOf(newKey)
			}
			if k.s.KeyID() != wantID || !equalStrings(k.s.KeyIDs(), []string{wantID}) {
				t.Errorf("sealer: primary %s, keys %v, want only %s", k.s.KeyID(), k.s.KeyIDs(), wantID)
			}
			if got := k.keyFileID(); got != wantID {
				t.Errorf("%s holds key %s, want %s", MasterKeyFile, got, wantID)
			}
			k.noNextFile()
			k.check("after OpenSealer", want)
			for _, id := range k.sealedIDs() {
				if id != wantID {
					t.Errorf("a sealed value is under key %q, want %s", id, wantID)
				}
			}
			// And the start after that is an ordinary one.
			k.reopen()
			if k.s.KeyID() != wantID {
				t.Errorf("second start: key %s, want %s", k.s.KeyID(), wantID)
			}
			k.check("second start", want)
		})
	}
}

func hexLine(key []byte) []byte { return []byte(hex.EncodeToString(key) + "\n") }

func mustHex(t *testing.T, data []byte) []byte {
	t.Helper()
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestOpenSealerCommittedRotationWithEnvKey(t *testing.T) {
	k := newKeyDir(t)
	k.put(map[string]string{"a": canary})
	oldLine := k.keyFile(MasterKeyFile)
	if _, err := RotateMasterKey(k.dir, k.db, k.s, newOwner()); err != nil {
		t.Fatal(err)
	}
	newLine := k.keyFile(MasterKeyFile)
	k.db.Close()
	// A crash after the commit; then the operator starts with the old key
	// in the environment.
	if err := os.WriteFile(filepath.Join(k.dir, NextMasterKeyFile), newLine, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(MasterKeyEnv, strings.TrimSpace(string(oldLine)))
	db, err := Open(k.dir)
	if err != nil {
		t.Fatal(err)
	}
	k.db = db
	_, err = OpenSealer(k.dir, db)
	if err == nil || !strings.Contains(err.Error(), MasterKeyEnv) {
		t.Fatalf("OpenSealer = %v, want an error naming %s", err, MasterKeyEnv)
	}
	if got := k.keyFile(NextMasterKeyFile); !bytes.Equal(got, newLine) {
		t.Error("the next file was changed")
	}
	// Unsetting the variable, as the error says, starts with the new key.
	t.Setenv(MasterKeyEnv, "")
	s, err := OpenSealer(k.dir, db)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != KeyIDOf(mustHex(t, newLine)) {
		t.Errorf("key %s, want the rotated one", s.KeyID())
	}
	k.noNextFile()
}

func TestOpenSealerWrongKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{name: "another key file", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), hexLine(testKey(t)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "key file lost", setup: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, MasterKeyFile)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "another key in the environment", setup: func(t *testing.T, dir string) {
			t.Setenv(MasterKeyEnv, hex.EncodeToString(testKey(t)))
		}},
		{name: "a stranger's next file", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), hexLine(testKey(t)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, NextMasterKeyFile), hexLine(testKey(t)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeyDir(t)
			k.put(map[string]string{"a": canary})
			k.db.Close()
			tc.setup(t, k.dir)
			keyBefore, _ := os.ReadFile(filepath.Join(k.dir, MasterKeyFile))
			nextBefore, _ := os.ReadFile(filepath.Join(k.dir, NextMasterKeyFile))
			db, err := Open(k.dir)
			if err != nil {
				t.Fatal(err)
			}
			k.db = db
			s, err := OpenSealer(k.dir, db)
			if err == nil {
				t.Fatalf("OpenSealer with a wrong key succeeded (key %s)", s.KeyID())
			}
			if !strings.Contains(err.Error(), "the master key does not match this database") {
				t.Errorf("error %q does not say the key does not match", err)
			}
			if keyAfter, _ := os.ReadFile(filepath.Join(k.dir, MasterKeyFile)); !bytes.Equal(keyAfter, keyBefore) && len(keyBefore) > 0 {
				t.Error("the key file changed")
			}
			if nextAfter, _ := os.ReadFile(filepath.Join(k.dir, NextMasterKeyFile)); !bytes.Equal(nextAfter, nextBefore) {
				t.Error("the next file changed")
			}
		})
	}
}

func TestOpenSealerKeyCheck(t *testing.T) {
	k := newKeyDir(t)
	keyCheck := func() string {
		var v string
		_ = k.db.bolt.View(func(btx *bolt.Tx) error {
			v = string(btx.Bucket(metaBucket).Get([]byte(keyCheckKey)))
			return nil
		})
		return v
	}
	first := keyCheck()
	if SealedKeyID(first) != k.s.KeyID() {
		t.Fatalf("key check %q is not sealed under the key %s", truncateForLog(first), k.s.KeyID())
	}
	if got, err := k.s.Open(first, keyCheckAAD); err != nil || got != keyCheckValue {
		t.Fatalf("key check opens to (%q, %v)", got, err)
	}
	k.reopen()
	if keyCheck() != first {
		t.Error("a second start rewrote the key check")
	}

	// A database made before key checks gets one at its next start.
	err := k.db.bolt.Update(func(btx *bolt.Tx) error { return btx.Bucket(metaBucket).Delete([]byte(keyCheckKey)) })
	if err != nil {
		t.Fatal(err)
	}
	k.reopen()
	if again := keyCheck(); again == "" || SealedKeyID(again) != k.s.KeyID() {
		t.Errorf("key check after an upgrade = %q", truncateForLog(again))
	}
}

// TestRotateMasterKeyConcurrent seals and opens, in memory and in write
// transactions, while rotations run: nothing fails, and afterwards every
// value in the database is under the last key (a write that follows a
// rotation's commit seals under the new key).
func TestRotateMasterKeyConcurrent(t *testing.T) {
	k := newKeyDir(t)
	k.put(map[string]string{"seed": canary})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string]string{"seed": canary}
	errs := make(chan error, 16)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				plain := fmt.Sprintf("%s-%d-%d", canary, g, i)
				v, err := k.s.Seal(plain, "mem")
				if err != nil {
					errs <- err
					return
				}
				if got, err := k.s.Open(v, "mem"); err != nil || got != plain {
					errs <- fmt.Errorf("in-memory open: %q, %v", got, err)
					return
				}
			}
		}()
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				key, plain := fmt.Sprintf("w%d-%04d", g, i), fmt.Sprintf("%s-w%d-%d", canary, g, i)
				err := k.db.Update(func(tx *Tx) error {
					v, err := k.s.Seal(plain, secretAAD(key))
					if err != nil {
						return err
					}
					return tx.Put(secretsBucket, key, v)
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				want[key] = plain
				mu.Unlock()
				// Read it back in a read transaction, as an API call would.
				var v string
				if err := k.db.View(func(tx *Tx) error { return tx.Get(secretsBucket, key, &v) }); err != nil {
					errs <- err
					return
				}
				if got, err := k.s.Open(v, secretAAD(key)); err != nil || got != plain {
					errs <- fmt.Errorf("stored open: %q, %v", got, err)
					return
				}
			}
		}()
	}
	var last string
	for r := 0; r < 5; r++ {
		id, err := RotateMasterKey(k.dir, k.db, k.s, newOwner())
		if err != nil {
			t.Fatalf("rotation %d: %v", r+1, err)
		}
		last = id
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range k.sealedIDs() {
		if id != last {
			t.Fatalf("a sealed value is under key %q after the last rotation to %s", id, last)
		}
	}
	k.reopen()
	if k.s.KeyID() != last {
		t.Errorf("after reopening: key %s, want %s", k.s.KeyID(), last)
	}
	k.check("after reopening", want)
}

func TestSealedKeyIDsIn(t *testing.T) {
	s := testSealer(t)
	v2, _ := s.Seal(canary, "a")
	v1 := sealV1(t, testKey(t), canary, "a")
	record, _ := json.Marshal(map[string]any{"a": v2, "env": map[string]string{"X": v1, "Y": v2}})
	for _, tc := range []struct {
		name string
		raw  string
		want []string
	}{
		{name: "none", raw: `{"name":"app"}`, want: nil},
		{name: "v2", raw: v2, want: []string{s.KeyID()}},
		{name: "v1", raw: v1, want: []string{""}},
		{name: "in a record", raw: string(record), want: []string{s.KeyID(), "", s.KeyID()}},
		{name: "prefix only", raw: `{"msg":"values look like sealed:v2:0123abcd: and sealed:v1:"}`, want: nil},
		{name: "short payload", raw: "sealed:v2:0123abcd:AAAA", want: nil},
		{name: "other version", raw: strings.Replace(v2, "sealed:v2:", "sealed:v9:", 1), want: nil},
		{name: "bad key id", raw: strings.Replace(v2, s.KeyID(), "zzzzzzzz", 1), want: nil},
		{name: "back to back", raw: v2 + v1, want: []string{s.KeyID(), ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sealedKeyIDsIn([]byte(tc.raw)); !equalStrings(got, tc.want) {
				t.Errorf("sealedKeyIDsIn = %q, want %q", got, tc.want)
			}
		})
	}
}
