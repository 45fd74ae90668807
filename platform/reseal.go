package platform

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddy-paas/caddy-paas/storage"
)

// DB returns the database the store keeps its records in.
func (s *Store) DB() *storage.DB { return s.db }

// Sealer returns the sealer of the store's secrets.
func (s *Store) Sealer() *storage.Sealer { return s.sealer }

// Reseal re-seals every sealed value the platform stores, for a master key
// rotation (storage.RotateMasterKey): the env values and single secrets of
// each app, the env of each deployment, and the key of each uploaded
// certificate. It reads the records as stored, without opening them as the
// getters do, and rewrites only their sealed fields, each with the
// additional data it was sealed with.
func (s *Store) Reseal(tx *storage.Tx, reseal func(sealed, aad string) (string, error)) error {
	if err := s.resealApps(tx, reseal); err != nil {
		return err
	}
	if err := s.resealDeployments(tx, reseal); err != nil {
		return err
	}
	return resealCerts(tx, reseal)
}

// resealRecords rewrites each record of a bucket that fn re-sealed; fn
// gets the raw record and returns it decoded and re-sealed, or nil to leave
// it. Only the record's sealed members ("sealed_...") are replaced: the
// rest stays as stored.
func resealRecords(tx *storage.Tx, bucket []string, fn func(key string, raw json.RawMessage) (any, error)) error {
	changed := map[string]json.RawMessage{}
	err := tx.ForEach(bucket, func(key string, raw json.RawMessage) error {
		rec, err := fn(key, raw)
		if err != nil || rec == nil {
			return err
		}
		patched, err := patchSealed(raw, rec)
		if err != nil {
			return fmt.Errorf("re-sealing %v/%s: %w", bucket, key, err)
		}
		changed[key] = patched
		return nil
	})
	if err != nil {
		return err
	}
	// Written after the walk: a bucket is not changed while a cursor
	// walks it.
	for key, rec := range changed {
		if err := tx.Put(bucket, key, rec); err != nil {
			return err
		}
	}
	return nil
}

// patchSealed returns the raw record with its sealed members replaced by
// those of rec.
func patchSealed(raw json.RawMessage, rec any) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var resealed map[string]json.RawMessage
	if err := json.Unmarshal(data, &resealed); err != nil {
		return nil, err
	}
	for name, v := range resealed {
		if strings.HasPrefix(name, "sealed_") {
			obj[name] = v
		}
	}
	return json.Marshal(obj)
}

func resealEnv(env map[string]string, kind, app string, reseal func(sealed, aad string) (string, error)) error {
	for k, v := range env {
		nv, err := reseal(v, envAAD(kind, app, k))
		if err != nil {
			return fmt.Errorf("env %s: %w", k, err)
		}
		env[k] = nv
	}
	return nil
}

func (s *Store) resealApps(tx *storage.Tx, reseal func(sealed, aad string) (string, error)) error {
	return resealRecords(tx, appsBucket, func(key string, raw json.RawMessage) (any, error) {
		var rec appRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("decoding app %s: %w", key, err)
		}
		// The same additional data as putApp: from the record's name and
		// the record's secretFields.
		if err := resealEnv(rec.SealedEnv, "env", rec.Name, reseal); err != nil {
			return nil, fmt.Errorf("re-sealing app %s: %w", rec.Name, err)
		}
		n := len(rec.SealedEnv)
		for _, f := range rec.secretFields(&rec.App) {
			if *f.sealed == "" {
				continue
			}
			n++
			nv, err := reseal(*f.sealed, f.aad)
			if err != nil {
				return nil, fmt.Errorf("re-sealing a secret of app %s: %w", rec.Name, err)
			}
			*f.sealed = nv
		}
		if n == 0 {
			return nil, nil
		}
		return rec, nil
	})
}

func (s *Store) resealDeployments(tx *storage.Tx, reseal func(sealed, aad string) (string, error)) error {
	apps, err := tx.Buckets([]string{deploymentsBucket})
	if err != nil {
		return err
	}
	for _, app := range apps {
		err := resealRecords(tx, deploymentsOf(app), func(key string, raw json.RawMessage) (any, error) {
			var rec deploymentRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return nil, fmt.Errorf("decoding deployment %s of %s: %w", key, app, err)
			}
			if len(rec.SealedEnv) == 0 {
				return nil, nil
			}
			// The same additional data as putDeployment.
			if err := resealEnv(rec.SealedEnv, "deploy-env/"+rec.ID, rec.App, reseal); err != nil {
				return nil, fmt.Errorf("re-sealing deployment %s of %s: %w", rec.ID, app, err)
			}
			return rec, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// certKeyAAD is the additional data of an uploaded certificate's key, as
// UploadCert seals it and reloadCerts opens it.
func certKeyAAD(app, id string) string { return "cert-key/" + app + "/" + id }

func resealCerts(tx *storage.Tx, reseal func(sealed, aad string) (string, error)) error {
	apps, err := tx.Buckets([]string{"certs"})
	if err != nil {
		return err
	}
	for _, app := range apps {
		err := resealRecords(tx, certsOf(app), func(key string, raw json.RawMessage) (any, error) {
			var rec certRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return nil, fmt.Errorf("decoding certificate %s of %s: %w", key, app, err)
			}
			if rec.SealedKey == "" {
				return nil, nil
			}
			nv, err := reseal(rec.SealedKey, certKeyAAD(app, rec.ID))
			if err != nil {
				return nil, fmt.Errorf("re-sealing the key of certificate %s of %s: %w", rec.ID, app, err)
			}
			rec.SealedKey = nv
			return rec, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

var _ storage.Resealer = (*Store)(nil)
