package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

// Store is the persistence the engine needs: one bbolt file and a sealer
// for secrets. Every method that changes state is one transaction.
type Store struct {
	db     *storage.DB
	sealer *storage.Sealer
}

// InstanceID is the id of the data directory, put on every container.
func (s *Store) InstanceID() (string, error) { return s.db.InstanceID() }

// NewStore wraps an open database and a sealer.
func NewStore(db *storage.DB, sealer *storage.Sealer) *Store {
	return &Store{db: db, sealer: sealer}
}

var (
	appsBucket        = []string{"apps"}
	deploymentsBucket = "deployments"
)

func deploymentsOf(app string) []string { return []string{deploymentsBucket, app} }

// appRecord is an App as stored: env values sealed.
type appRecord struct {
	App
	SealedEnv     map[string]string `json:"sealed_env,omitempty"`
	SealedWebhook string            `json:"sealed_webhook_secret,omitempty"`
	SealedToken   string            `json:"sealed_git_token,omitempty"`
	SealedKey     string            `json:"sealed_deploy_key,omitempty"`
}

// secretFields lists an app's sealed single values: where they live in
// the record, and their additional data.
func (rec *appRecord) secretFields(a *App) []struct {
	plain  *string
	sealed *string
	aad    string
} {
	return []struct {
		plain  *string
		sealed *string
		aad    string
	}{
		{&a.WebhookSecret, &rec.SealedWebhook, "webhook/" + a.Name},
		{&a.GitToken, &rec.SealedToken, "git-token/" + a.Name},
		{&a.DeployKey, &rec.SealedKey, "deploy-key/" + a.Name},
	}
}

type deploymentRecord struct {
	Deployment
	SealedEnv map[string]string `json:"sealed_env,omitempty"`
}

func envAAD(kind, app, key string) string { return kind + "/" + app + "/" + key }

func (s *Store) sealEnv(kind, app string, env map[string]string) (map[string]string, error) {
	if len(env) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(env))
	for k, v := range env {
		sealed, err := s.sealer.Seal(v, envAAD(kind, app, k))
		if err != nil {
			return nil, fmt.Errorf("sealing env %s: %w", k, err)
		}
		out[k] = sealed
	}
	return out, nil
}

func (s *Store) openEnv(kind, app string, sealed map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(sealed))
	for k, v := range sealed {
		plain, err := s.sealer.Open(v, envAAD(kind, app, k))
		if err != nil {
			return nil, fmt.Errorf("opening env %s of %s: %w", k, app, err)
		}
		out[k] = plain
	}
	return out, nil
}

func (s *Store) putApp(tx *storage.Tx, a *App) error {
	sealed, err := s.sealEnv("env", a.Name, a.Env)
	if err != nil {
		return err
	}
	rec := appRecord{App: *a, SealedEnv: sealed}
	rec.Env = nil
	if rec.Git != nil {
		g := *rec.Git
		g.Token = "" // sealed below, never stored in the clear
		rec.Git = &g
	}
	for _, f := range rec.secretFields(a) {
		if *f.plain == "" {
			continue
		}
		if *f.sealed, err = s.sealer.Seal(*f.plain, f.aad); err != nil {
			return fmt.Errorf("sealing a secret of %s: %w", a.Name, err)
		}
	}
	rec.WebhookSecret, rec.GitToken, rec.DeployKey = "", "", ""
	return tx.Put(appsBucket, a.Name, rec)
}

func (s *Store) decodeApp(raw []byte) (*App, error) {
	var rec appRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decoding app: %w", err)
	}
	env, err := s.openEnv("env", rec.Name, rec.SealedEnv)
	if err != nil {
		return nil, err
	}
	a := rec.App
	a.Env = env
	for _, f := range rec.secretFields(&a) {
		if *f.sealed == "" {
			continue
		}
		if *f.plain, err = s.sealer.Open(*f.sealed, f.aad); err != nil {
			return nil, fmt.Errorf("opening a secret of %s: %w", rec.Name, err)
		}
	}
	return &a, nil
}

func (s *Store) getApp(tx *storage.Tx, name string) (*App, error) {
	var raw json.RawMessage
	if err := tx.Get(appsBucket, name, &raw); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, notFound("app %q not found", name)
		}
		return nil, err
	}
	return s.decodeApp(raw)
}

func (s *Store) putDeployment(tx *storage.Tx, d *Deployment) error {
	sealed, err := s.sealEnv("deploy-env/"+d.ID, d.App, d.Env)
	if err != nil {
		return err
	}
	rec := deploymentRecord{Deployment: *d, SealedEnv: sealed}
	return tx.Put(deploymentsOf(d.App), fmt.Sprintf("%08d", d.Version), rec)
}

func (s *Store) decodeDeployment(raw []byte) (*Deployment, error) {
	var rec deploymentRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decoding deployment: %w", err)
	}
	env, err := s.openEnv("deploy-env/"+rec.ID, rec.App, rec.SealedEnv)
	if err != nil {
		return nil, err
	}
	d := rec.Deployment
	d.Env = env
	return &d, nil
}

func (s *Store) listDeployments(tx *storage.Tx, app string) ([]*Deployment, error) {
	var out []*Deployment
	err := tx.ForEach(deploymentsOf(app), func(_ string, raw json.RawMessage) error {
		d, err := s.decodeDeployment(raw)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

func (s *Store) getDeployment(tx *storage.Tx, app, id string) (*Deployment, error) {
	list, err := s.listDeployments(tx, app)
	if err != nil {
		return nil, err
	}
	for _, d := range list {
		if d.ID == id {
			return d, nil
		}
	}
	return nil, notFound("deployment %q of app %q not found", id, app)
}

// ListApps returns every app, sorted by name.
func (s *Store) ListApps() ([]*App, error) {
	var out []*App
	err := s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(appsBucket, func(_ string, raw json.RawMessage) error {
			a, err := s.decodeApp(raw)
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// GetApp returns one app.
func (s *Store) GetApp(name string) (*App, error) {
	var a *App
	err := s.db.View(func(tx *storage.Tx) error {
		var err error
		a, err = s.getApp(tx, name)
		return err
	})
	return a, err
}

// ListDeployments returns an app's deployments, newest first.
func (s *Store) ListDeployments(app string) ([]*Deployment, error) {
	var out []*Deployment
	err := s.db.View(func(tx *storage.Tx) error {
		if _, err := s.getApp(tx, app); err != nil {
			return err
		}
		var err error
		out, err = s.listDeployments(tx, app)
		return err
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// GetDeployment returns one deployment of an app.
func (s *Store) GetDeployment(app, id string) (*Deployment, error) {
	var d *Deployment
	err := s.db.View(func(tx *storage.Tx) error {
		var err error
		d, err = s.getDeployment(tx, app, id)
		return err
	})
	return d, err
}

// Update runs fn in one transaction with helpers bound to it.
func (s *Store) Update(fn func(tx *StoreTx) error) error {
	return s.db.Update(func(tx *storage.Tx) error { return fn(&StoreTx{s: s, tx: tx}) })
}

// StoreTx is a transaction over apps and deployments.
type StoreTx struct {
	s  *Store
	tx *storage.Tx
}

// App reads an app.
func (t *StoreTx) App(name string) (*App, error) { return t.s.getApp(t.tx, name) }

// PutApp writes an app.
func (t *StoreTx) PutApp(a *App) error {
	a.UpdatedAt = time.Now().UTC()
	return t.s.putApp(t.tx, a)
}

// Apps lists every app.
func (t *StoreTx) Apps() ([]*App, error) {
	var out []*App
	err := t.tx.ForEach(appsBucket, func(_ string, raw json.RawMessage) error {
		a, err := t.s.decodeApp(raw)
		if err == nil {
			out = append(out, a)
		}
		return err
	})
	return out, err
}

var domainsBucket = []string{"domains"}

// DomainOwner returns the app that a custom domain belongs to, or "".
func (t *StoreTx) DomainOwner(domain string) (string, error) {
	var owner string
	err := t.tx.Get(domainsBucket, domain, &owner)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	return owner, err
}

// SetDomains moves app's entries in the domains index from previous to now.
func (t *StoreTx) SetDomains(app string, previous, now []string) error {
	keep := map[string]bool{}
	for _, d := range now {
		keep[d] = true
		if err := t.tx.Put(domainsBucket, d, app); err != nil {
			return err
		}
	}
	for _, d := range previous {
		if !keep[d] {
			if err := t.tx.Delete(domainsBucket, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteApp removes an app, its domains and its deployments.
func (t *StoreTx) DeleteApp(name string) error {
	a, err := t.App(name)
	if err != nil {
		return err
	}
	if err := t.SetDomains(name, a.Domains, nil); err != nil {
		return err
	}
	if err := t.tx.Delete(appsBucket, name); err != nil {
		return err
	}
	if err := t.tx.DeleteBucket([]string{"webhooks", name}); err != nil {
		return err
	}
	if err := t.tx.DeleteBucket(certsOf(name)); err != nil {
		return err
	}
	return t.tx.DeleteBucket(deploymentsOf(name))
}

// NewDeployment records a new pending deployment with the next version.
func (t *StoreTx) NewDeployment(d *Deployment) error {
	seq, err := t.tx.NextSequence(deploymentsOf(d.App))
	if err != nil {
		return err
	}
	d.Version = int(seq)
	d.ID = newDeploymentID()
	d.Status = StatusPending
	d.CreatedAt = time.Now().UTC()
	return t.s.putDeployment(t.tx, d)
}

// PutDeployment writes a deployment.
func (t *StoreTx) PutDeployment(d *Deployment) error { return t.s.putDeployment(t.tx, d) }

// Deployment reads one deployment.
func (t *StoreTx) Deployment(app, id string) (*Deployment, error) {
	return t.s.getDeployment(t.tx, app, id)
}

// Deployments lists an app's deployments, oldest first.
func (t *StoreTx) Deployments(app string) ([]*Deployment, error) {
	return t.s.listDeployments(t.tx, app)
}
