package storage

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

type record struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func openTestDB(t *testing.T) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func latestVersion() int { return migrations[len(migrations)-1].Version }

func TestOpenRunsMigrations(t *testing.T) {
	db, dir := openTestDB(t)
	v, err := db.SchemaVersion()
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v != latestVersion() {
		t.Errorf("SchemaVersion = %d, want %d", v, latestVersion())
	}
	err = db.bolt.View(func(btx *bolt.Tx) error {
		for _, name := range []string{"apps", "deployments", "meta"} {
			if btx.Bucket([]byte(name)) == nil {
				t.Errorf("bucket %q missing after migrations", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatalf("database file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
}

func TestOpenCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("data dir: %v", err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("data dir mode = %v, want a directory closed to group and others", fi.Mode())
	}
}

func TestReopenKeepsDataAndVersion(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.Put([]string{"apps"}, "a", record{Name: "a", Count: 7}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(); err != nil || v != latestVersion() {
		t.Errorf("SchemaVersion after reopen = (%d, %v), want %d", v, err, latestVersion())
	}
	var got record
	if err := db.View(func(tx *Tx) error { return tx.Get([]string{"apps"}, "a", &got) }); err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got != (record{Name: "a", Count: 7}) {
		t.Errorf("record after reopen = %+v", got)
	}
}

func setSchemaVersion(t *testing.T, dir, value string) {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = db.bolt.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(metaBucket).Put([]byte(schemaKey), []byte(value))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	newer := latestVersion() + 1
	setSchemaVersion(t, dir, strconv.Itoa(newer))
	db, err := Open(dir)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with a newer schema succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), strconv.Itoa(newer)) {
		t.Errorf("error %q does not say the schema version %d is newer", err, newer)
	}
	// The refusal must not have changed the file: the version stays.
	b, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.View(func(btx *bolt.Tx) error {
		v, err := schemaVersion(btx)
		if err != nil {
			return err
		}
		if v != newer {
			t.Errorf("schema version after refused open = %d, want %d", v, newer)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesMalformedSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	setSchemaVersion(t, dir, "not-a-number")
	db, err := Open(dir)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with a malformed schema version succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "malformed") {
		t.Errorf("error %q does not say the version is malformed", err)
	}
}

func TestMigrateOrderAndFailure(t *testing.T) {
	db, _ := openTestDB(t)
	base := latestVersion()
	var applied []int
	step := func(v int) Migration {
		return Migration{Version: v, Name: "step " + strconv.Itoa(v), Apply: func(tx *Tx) error {
			applied = append(applied, v)
			return tx.Put([]string{"migrated"}, strconv.Itoa(v), record{Count: v})
		}}
	}
	list := append(append([]Migration(nil), migrations...), step(base+1), step(base+2))
	if err := db.migrate(list); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if want := []int{base + 1, base + 2}; !reflect.DeepEqual(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if v, _ := db.SchemaVersion(); v != base+2 {
		t.Errorf("SchemaVersion = %d, want %d", v, base+2)
	}

	// Running the same list again applies nothing.
	applied = nil
	if err := db.migrate(list); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second migrate applied %v, want nothing", applied)
	}

	// A failing migration keeps neither its writes nor the version bump.
	boom := errors.New("boom")
	failing := Migration{Version: base + 3, Name: "failing", Apply: func(tx *Tx) error {
		if err := tx.Put([]string{"migrated"}, "partial", record{Name: "partial"}); err != nil {
			return err
		}
		return boom
	}}
	err := db.migrate(append(list, failing))
	if !errors.Is(err, boom) {
		t.Fatalf("migrate with a failing step = %v, want it to wrap %v", err, boom)
	}
	if !strings.Contains(err.Error(), "failing") {
		t.Errorf("error %q does not name the migration", err)
	}
	if v, _ := db.SchemaVersion(); v != base+2 {
		t.Errorf("SchemaVersion after failed migration = %d, want %d", v, base+2)
	}
	var r record
	err = db.View(func(tx *Tx) error { return tx.Get([]string{"migrated"}, "partial", &r) })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("write of the failed migration was kept: Get = %+v, %v", r, err)
	}
}

func TestMigrateRefusesGap(t *testing.T) {
	db, _ := openTestDB(t)
	base := latestVersion()
	called := false
	list := append(append([]Migration(nil), migrations...), Migration{Version: base + 2, Name: "gap", Apply: func(tx *Tx) error {
		called = true
		return nil
	}})
	err := db.migrate(list)
	if err == nil || !strings.Contains(err.Error(), "no migration path") {
		t.Fatalf("migrate over a gap = %v, want a no-migration-path error", err)
	}
	if called {
		t.Error("a migration after a gap was applied")
	}
}

func TestTxPutGetDelete(t *testing.T) {
	db, _ := openTestDB(t)
	apps := []string{"apps"}
	nested := []string{"deployments", "hello"}
	deep := []string{"x", "y", "z"}

	err := db.Update(func(tx *Tx) error {
		for _, p := range []struct {
			path []string
			key  string
			rec  record
		}{
			{apps, "hello", record{Name: "hello", Count: 1}},
			{apps, "world", record{Name: "world", Count: 2}},
			{nested, "00000001", record{Name: "d1", Count: 3}},
			{deep, "k", record{Name: "deep", Count: 4}},
		} {
			if err := tx.Put(p.path, p.key, p.rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}

	for _, tc := range []struct {
		name    string
		path    []string
		key     string
		want    record
		wantErr error
	}{
		{name: "top bucket", path: apps, key: "hello", want: record{Name: "hello", Count: 1}},
		{name: "other key", path: apps, key: "world", want: record{Name: "world", Count: 2}},
		{name: "nested bucket", path: nested, key: "00000001", want: record{Name: "d1", Count: 3}},
		{name: "deep bucket", path: deep, key: "k", want: record{Name: "deep", Count: 4}},
		{name: "missing key", path: apps, key: "nope", wantErr: ErrNotFound},
		{name: "missing top bucket", path: []string{"nope"}, key: "hello", wantErr: ErrNotFound},
		{name: "missing nested bucket", path: []string{"deployments", "nope"}, key: "x", wantErr: ErrNotFound},
		{name: "key that is a bucket", path: []string{"deployments"}, key: "hello", wantErr: ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got record
			err := db.View(func(tx *Tx) error { return tx.Get(tc.path, tc.key, &got) })
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Get = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got != tc.want {
				t.Errorf("Get = %+v, want %+v", got, tc.want)
			}
		})
	}

	// Overwrite, then delete (twice: a missing key is not an error).
	err = db.Update(func(tx *Tx) error {
		if err := tx.Put(apps, "hello", record{Name: "hello", Count: 10}); err != nil {
			return err
		}
		var r record
		if err := tx.Get(apps, "hello", &r); err != nil || r.Count != 10 {
			t.Errorf("Get in the same transaction = (%+v, %v), want the new value", r, err)
		}
		if err := tx.Delete(apps, "world"); err != nil {
			return err
		}
		if err := tx.Delete(apps, "world"); err != nil {
			t.Errorf("Delete of a missing key: %v", err)
		}
		if err := tx.Delete([]string{"no", "such"}, "key"); err != nil {
			t.Errorf("Delete in a missing bucket: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := db.View(func(tx *Tx) error { return tx.Get(apps, "world", &r) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = (%+v, %v), want ErrNotFound", r, err)
	}
	if err := db.View(func(tx *Tx) error { return tx.Get(apps, "hello", &r) }); err != nil || r.Count != 10 {
		t.Errorf("Get after overwrite = (%+v, %v), want count 10", r, err)
	}
}

func TestTxGetDecodeError(t *testing.T) {
	db, _ := openTestDB(t)
	if err := db.Update(func(tx *Tx) error { return tx.Put([]string{"apps"}, "s", "a string") }); err != nil {
		t.Fatal(err)
	}
	var r record
	err := db.View(func(tx *Tx) error { return tx.Get([]string{"apps"}, "s", &r) })
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("Get into a mismatched type = %v, want a decoding error", err)
	}
}

func TestTxPutUnencodable(t *testing.T) {
	db, _ := openTestDB(t)
	err := db.Update(func(tx *Tx) error { return tx.Put([]string{"apps"}, "c", make(chan int)) })
	if err == nil || !strings.Contains(err.Error(), "encoding") {
		t.Errorf("Put of a channel = %v, want an encoding error", err)
	}
}

func TestTxEmptyPath(t *testing.T) {
	db, _ := openTestDB(t)
	err := db.Update(func(tx *Tx) error {
		var r record
		if err := tx.Get(nil, "k", &r); err == nil {
			t.Error("Get with an empty path succeeded")
		}
		if err := tx.Put(nil, "k", record{}); err == nil {
			t.Error("Put with an empty path succeeded")
		}
		if _, err := tx.NextSequence(nil); err == nil {
			t.Error("NextSequence with an empty path succeeded")
		}
		if err := tx.ForEach(nil, func(string, json.RawMessage) error { return nil }); err == nil {
			t.Error("ForEach with an empty path succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTxForEach(t *testing.T) {
	db, _ := openTestDB(t)
	path := []string{"deployments", "app"}
	err := db.Update(func(tx *Tx) error {
		// Put in another order than the keys sort in.
		for _, k := range []string{"00000003", "00000001", "00000002"} {
			n, _ := strconv.Atoi(k)
			if err := tx.Put(path, k, record{Name: k, Count: n}); err != nil {
				return err
			}
		}
		// A nested bucket inside the bucket is skipped.
		return tx.Put(append(path, "child"), "x", record{Name: "child"})
	})
	if err != nil {
		t.Fatal(err)
	}

	var keys []string
	var counts []int
	err = db.View(func(tx *Tx) error {
		return tx.ForEach(path, func(key string, raw json.RawMessage) error {
			var r record
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			keys = append(keys, key)
			counts = append(counts, r.Count)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("ForEach: %v", err)
	}
	if want := []string{"00000001", "00000002", "00000003"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("ForEach keys = %v, want %v", keys, want)
	}
	if want := []int{1, 2, 3}; !reflect.DeepEqual(counts, want) {
		t.Errorf("ForEach values = %v, want %v", counts, want)
	}

	// A missing bucket has nothing to visit.
	visited := 0
	err = db.View(func(tx *Tx) error {
		return tx.ForEach([]string{"deployments", "none"}, func(string, json.RawMessage) error { visited++; return nil })
	})
	if err != nil || visited != 0 {
		t.Errorf("ForEach of a missing bucket = (%d visits, %v), want none", visited, err)
	}

	// An error from fn stops the walk and is returned.
	stop := errors.New("stop")
	visited = 0
	err = db.View(func(tx *Tx) error {
		return tx.ForEach(path, func(string, json.RawMessage) error { visited++; return stop })
	})
	if !errors.Is(err, stop) || visited != 1 {
		t.Errorf("ForEach with a failing fn = (%d visits, %v), want 1 visit and the error", visited, err)
	}
}

func TestTxDeleteBucket(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delete []string
		gone   [][]string // paths whose record "k" must be gone
		kept   [][]string // paths whose record "k" must remain
	}{
		{
			name:   "nested",
			delete: []string{"deployments", "a"},
			gone:   [][]string{{"deployments", "a"}, {"deployments", "a", "inner"}},
			kept:   [][]string{{"deployments", "b"}, {"apps"}},
		},
		{
			name:   "top level",
			delete: []string{"deployments"},
			gone:   [][]string{{"deployments", "a"}, {"deployments", "b"}, {"deployments", "a", "inner"}},
			kept:   [][]string{{"apps"}},
		},
		{
			name:   "missing nested",
			delete: []string{"deployments", "nope"},
			kept:   [][]string{{"deployments", "a"}, {"deployments", "b"}, {"apps"}},
		},
		{
			name:   "missing parent",
			delete: []string{"nope", "a"},
			kept:   [][]string{{"deployments", "a"}, {"deployments", "b"}, {"apps"}},
		},
		{
			name:   "missing top level",
			delete: []string{"nope"},
			kept:   [][]string{{"deployments", "a"}, {"deployments", "b"}, {"apps"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			all := [][]string{{"deployments", "a"}, {"deployments", "a", "inner"}, {"deployments", "b"}, {"apps"}}
			err := db.Update(func(tx *Tx) error {
				for _, p := range all {
					if err := tx.Put(p, "k", record{Name: strings.Join(p, "/")}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *Tx) error { return tx.DeleteBucket(tc.delete) }); err != nil {
				t.Fatalf("DeleteBucket(%v): %v", tc.delete, err)
			}
			err = db.View(func(tx *Tx) error {
				for _, p := range tc.gone {
					var r record
					if err := tx.Get(p, "k", &r); !errors.Is(err, ErrNotFound) {
						t.Errorf("%v/k after DeleteBucket(%v): (%+v, %v), want ErrNotFound", p, tc.delete, r, err)
					}
				}
				for _, p := range tc.kept {
					var r record
					if err := tx.Get(p, "k", &r); err != nil || r.Name != strings.Join(p, "/") {
						t.Errorf("%v/k after DeleteBucket(%v): (%+v, %v), want it kept", p, tc.delete, r, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTxNextSequence(t *testing.T) {
	db, _ := openTestDB(t)
	a := []string{"deployments", "a"}
	b := []string{"deployments", "b"}
	var got []uint64
	err := db.Update(func(tx *Tx) error {
		for _, p := range [][]string{a, a, b, a, b} {
			n, err := tx.NextSequence(p)
			if err != nil {
				return err
			}
			got = append(got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, 2, 1, 3, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("sequences = %v, want %v", got, want)
	}
	// The sequence persists across transactions.
	var n uint64
	if err := db.Update(func(tx *Tx) error { var err error; n, err = tx.NextSequence(a); return err }); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("next sequence of a in a new transaction = %d, want 4", n)
	}
	// A rolled-back transaction does not consume a number.
	rollback := errors.New("rollback")
	err = db.Update(func(tx *Tx) error {
		if _, err := tx.NextSequence(a); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { var err error; n, err = tx.NextSequence(a); return err }); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("next sequence after a rolled-back transaction = %d, want 5", n)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	db, _ := openTestDB(t)
	if err := db.Update(func(tx *Tx) error { return tx.Put([]string{"apps"}, "keep", record{Name: "keep", Count: 1}) }); err != nil {
		t.Fatal(err)
	}
	fail := errors.New("fn failed")
	err := db.Update(func(tx *Tx) error {
		if err := tx.Put([]string{"apps"}, "new", record{Name: "new"}); err != nil {
			return err
		}
		if err := tx.Put([]string{"apps"}, "keep", record{Name: "keep", Count: 99}); err != nil {
			return err
		}
		if err := tx.Put([]string{"fresh", "bucket"}, "x", record{Name: "x"}); err != nil {
			return err
		}
		if err := tx.Delete([]string{"apps"}, "keep"); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("Update = %v, want the fn's error", err)
	}
	err = db.View(func(tx *Tx) error {
		var r record
		if err := tx.Get([]string{"apps"}, "new", &r); !errors.Is(err, ErrNotFound) {
			t.Errorf("apps/new = (%+v, %v), want ErrNotFound", r, err)
		}
		if err := tx.Get([]string{"apps"}, "keep", &r); err != nil || r.Count != 1 {
			t.Errorf("apps/keep = (%+v, %v), want the value from before", r, err)
		}
		if err := tx.Get([]string{"fresh", "bucket"}, "x", &r); !errors.Is(err, ErrNotFound) {
			t.Errorf("fresh/bucket/x = (%+v, %v), want ErrNotFound", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bucket the failed transaction created does not exist either.
	_ = db.bolt.View(func(btx *bolt.Tx) error {
		if btx.Bucket([]byte("fresh")) != nil {
			t.Error("bucket created by a failed transaction exists")
		}
		return nil
	})
}

func TestViewIsReadOnly(t *testing.T) {
	db, _ := openTestDB(t)
	err := db.View(func(tx *Tx) error { return tx.Put([]string{"apps"}, "x", record{}) })
	if err == nil {
		t.Fatal("Put in a View succeeded, want an error")
	}
	var r record
	if err := db.View(func(tx *Tx) error { return tx.Get([]string{"apps"}, "x", &r) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("record written in a View exists: (%+v, %v)", r, err)
	}
}

func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.InstanceID()
	if err != nil || len(id) < 8 {
		t.Fatalf("InstanceID = %q, %v, want a random id", id, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := db.InstanceID()
	db.Close()
	if err != nil || again != id {
		t.Errorf("InstanceID after reopen = %q, %v, want %q", again, err, id)
	}
	other, _ := openTestDB(t)
	otherID, err := other.InstanceID()
	if err != nil || otherID == id {
		t.Errorf("another data directory has instance id %q (%v), want a different one", otherID, err)
	}
}

func TestInstanceIDMissing(t *testing.T) {
	db, _ := openTestDB(t)
	err := db.bolt.Update(func(btx *bolt.Tx) error { return btx.Bucket(metaBucket).Delete([]byte(instanceKey)) })
	if err != nil {
		t.Fatal(err)
	}
	if id, err := db.InstanceID(); err == nil {
		t.Errorf("InstanceID without one stored = %q, want an error", id)
	}
}

// TestOpenUpgradesOldSchema opens a database left at schema version 1 by an
// older build: the later migrations run and the data stays.
func TestOpenUpgradesOldSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = db.bolt.Update(func(btx *bolt.Tx) error {
		meta := btx.Bucket(metaBucket)
		if err := meta.Delete([]byte(instanceKey)); err != nil {
			return err
		}
		return meta.Put([]byte(schemaKey), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.Put([]string{"apps"}, "old", record{Name: "old"}) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(dir)
	if err != nil {
		t.Fatalf("Open of a version-1 database: %v", err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(); v != latestVersion() {
		t.Errorf("SchemaVersion = %d, want %d", v, latestVersion())
	}
	if id, err := db.InstanceID(); err != nil || id == "" {
		t.Errorf("InstanceID after upgrade = %q, %v", id, err)
	}
	var r record
	if err := db.View(func(tx *Tx) error { return tx.Get([]string{"apps"}, "old", &r) }); err != nil || r.Name != "old" {
		t.Errorf("record from before the upgrade = %+v, %v", r, err)
	}
}
