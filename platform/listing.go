package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/caddy-paas/caddy-paas/storage"
)

// sealedPlaceholder stands for a secret that a listing does not open: views
// only need to know that it is set.
const sealedPlaceholder = "(sealed)"

// listedApp is an app for a view, with its newest deployment.
type listedApp struct {
	app    *App
	latest *Deployment
}

// listForViews reads every app and its newest deployment in one read
// transaction, without opening any sealed value: a view shows env keys and
// whether credentials are set, never their values, so a list of many apps
// costs no decryption.
func (s *Store) listForViews() ([]listedApp, error) {
	var out []listedApp
	err := s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(appsBucket, func(_ string, raw json.RawMessage) error {
			var rec appRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("decoding app: %w", err)
			}
			a := rec.App
			a.Env = make(map[string]string, len(rec.SealedEnv))
			for k := range rec.SealedEnv {
				a.Env[k] = sealedPlaceholder
			}
			for _, f := range rec.secretFields(&a) {
				if *f.sealed != "" {
					*f.plain = sealedPlaceholder
				}
			}
			item := listedApp{app: &a}
			err := tx.ScanBackward(deploymentsOf(a.Name), "", func(_ string, raw json.RawMessage) (bool, error) {
				var d deploymentRecord
				if err := json.Unmarshal(raw, &d); err != nil {
					return false, fmt.Errorf("decoding deployment: %w", err)
				}
				latest := d.Deployment
				latest.Env = nil
				item.latest = &latest
				return false, nil
			})
			if err != nil {
				return err
			}
			out = append(out, item)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].app.Name < out[j].app.Name })
	return out, err
}

// appTeam reads only an app's team: the authorization check before every
// operation on an app needs no decryption.
func (s *Store) appTeam(name string) (string, error) {
	var rec struct {
		Team string `json:"team"`
	}
	err := s.db.View(func(tx *storage.Tx) error { return tx.Get(appsBucket, name, &rec) })
	if errors.Is(err, storage.ErrNotFound) {
		return "", notFound("app %q not found", name)
	}
	if err != nil {
		return "", err
	}
	a := App{Team: rec.Team}
	return a.TeamName(), nil
}
