package storage

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Migration moves the database from schema version Version-1 to Version.
type Migration struct {
	Version int
	Name    string
	Apply   func(tx *Tx) error
}

// migrations are applied in order, each in its own transaction with the
// version bump, so a crash leaves the database at one version or the next.
var migrations = []Migration{
	{Version: 1, Name: "create buckets", Apply: func(tx *Tx) error {
		for _, name := range []string{"apps", "deployments"} {
			if _, err := tx.bucket([]string{name}, true); err != nil {
				return err
			}
		}
		return nil
	}},
	{Version: 2, Name: "instance id", Apply: func(tx *Tx) error {
		// The instance id tells this data directory's containers apart from
		// those of another caddy-paas on the same Docker engine.
		b := make([]byte, 6)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		meta, err := tx.btx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		return meta.Put([]byte(instanceKey), []byte(hex.EncodeToString(b)))
	}},
	{Version: 3, Name: "domains index", Apply: func(tx *Tx) error {
		// domain -> app for custom domains, so that uniqueness is one
		// lookup, not a scan of every app.
		_, err := tx.bucket([]string{"domains"}, true)
		if err != nil {
			return err
		}
		return tx.ForEach([]string{"apps"}, func(_ string, raw json.RawMessage) error {
			var a struct {
				Name    string   `json:"name"`
				Domains []string `json:"domains"`
			}
			if err := json.Unmarshal(raw, &a); err != nil {
				return err
			}
			for _, d := range a.Domains {
				if err := tx.Put([]string{"domains"}, d, a.Name); err != nil {
					return err
				}
			}
			return nil
		})
	}},
}

const instanceKey = "instance_id"

// InstanceID returns the random id of this data directory.
func (db *DB) InstanceID() (string, error) {
	var id string
	err := db.bolt.View(func(btx *bolt.Tx) error {
		if b := btx.Bucket(metaBucket); b != nil {
			id = string(b.Get([]byte(instanceKey)))
		}
		if id == "" {
			return fmt.Errorf("database has no instance id")
		}
		return nil
	})
	return id, err
}

var metaBucket = []byte("meta")

const schemaKey = "schema_version"

// SchemaVersion reports the schema version the database is at.
func (db *DB) SchemaVersion() (int, error) {
	var v int
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		v, err = schemaVersion(btx)
		return err
	})
	return v, err
}

func schemaVersion(btx *bolt.Tx) (int, error) {
	b := btx.Bucket(metaBucket)
	if b == nil {
		return 0, nil
	}
	raw := b.Get([]byte(schemaKey))
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, fmt.Errorf("schema version %q is malformed", raw)
	}
	return v, nil
}

func (db *DB) migrate(list []Migration) error {
	latest := 0
	if len(list) > 0 {
		latest = list[len(list)-1].Version
	}
	for _, m := range list {
		err := db.bolt.Update(func(btx *bolt.Tx) error {
			current, err := schemaVersion(btx)
			if err != nil {
				return err
			}
			if current > latest {
				return fmt.Errorf("database schema version %d is newer than this build knows (%d)", current, latest)
			}
			if current >= m.Version {
				return nil
			}
			if current != m.Version-1 {
				return fmt.Errorf("no migration path from schema version %d to %d", current, m.Version)
			}
			if err := m.Apply(&Tx{btx: btx}); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
			}
			meta, err := btx.CreateBucketIfNotExists(metaBucket)
			if err != nil {
				return err
			}
			return meta.Put([]byte(schemaKey), []byte(strconv.Itoa(m.Version)))
		})
		if err != nil {
			return err
		}
	}
	return nil
}
