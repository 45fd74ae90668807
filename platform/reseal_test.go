package platform

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-paas/caddy-paas/storage"
)

// selfSignedPEM returns a PEM certificate for names and its PEM key.
func selfSignedPEM(t *testing.T, names ...string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// sealedInFile walks every bucket of a closed database file, recursively,
// and returns each sealed value it finds in the raw bytes of a key or a
// value ("sealed:v..."), by where it is. It knows nothing of the records,
// so a sealed field that a rotation forgot is found too.
func sealedInFile(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer db.Close()
	found := map[string][]string{}
	scan := func(where string, raw []byte) {
		for rest := raw; ; {
			i := bytes.Index(rest, []byte("sealed:v"))
			if i < 0 {
				return
			}
			end := i + len("sealed:v")
			for end < len(rest) && rest[end] != '"' && rest[end] != ',' && rest[end] != '}' {
				end++
			}
			found[where] = append(found[where], string(rest[i:end]))
			rest = rest[i+len("sealed:v"):]
		}
	}
	var walk func(path string, b *bolt.Bucket) error
	walk = func(path string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			where := path + "/" + string(k)
			scan(where+" (key)", k)
			if v == nil {
				return walk(where, b.Bucket(k))
			}
			scan(where, v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestRotateMasterKeyResealsEverything fills a store with every kind of
// sealed value the platform keeps, rotates the master key, and checks that
// everything reads back and that no sealed value in the file is under
// another key.
func TestRotateMasterKeyResealsEverything(t *testing.T) {
	t.Setenv(storage.MasterKeyEnv, "")
	h := newStoppedHarness(t)
	oldSealer := h.store.Sealer()
	oldID := oldSealer.KeyID()

	apps := map[string]*App{
		"app": {Name: "app", Image: "hello:v1", Port: 8080, Replicas: 1,
			Env:           map[string]string{"SECRET": canary + "-env", "EMPTY": "", "OTHER": canary + "-other"},
			Git:           &GitSource{URL: "https://git.example.com/app.git", Ref: "main"},
			GitToken:      canary + "-token",
			WebhookSecret: canary + "-webhook",
			DeployKey:     "-----BEGIN OPENSSH PRIVATE KEY-----\n" + canary + "-deploykey\n-----END OPENSSH PRIVATE KEY-----\n",
		},
		"plain": {Name: "plain", Image: "hello:v1", Port: 8080, Replicas: 1},
		"env-only": {Name: "env-only", Image: "hello:v2", Port: 8080, Replicas: 1,
			Env: map[string]string{"ONLY": canary + "-only"}},
	}
	deployEnvs := map[string][]map[string]string{
		"app":      {{"SECRET": canary + "-d1"}, {"SECRET": canary + "-d2", "MORE": canary + "-d2more"}},
		"plain":    {nil},
		"env-only": {{"ONLY": canary + "-d"}},
	}
	wantSealed := 1 // the key check
	err := h.store.Update(func(tx *StoreTx) error {
		for _, a := range apps {
			cp := *a
			if err := tx.PutApp(&cp); err != nil {
				return err
			}
			wantSealed += len(a.Env)
			for _, s := range []string{a.GitToken, a.WebhookSecret, a.DeployKey} {
				if s != "" {
					wantSealed++
				}
			}
			for _, env := range deployEnvs[a.Name] {
				d := deploymentFor(&cp)
				d.Env = env
				if err := tx.NewDeployment(d); err != nil {
					return err
				}
				wantSealed += len(env)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSignedPEM(t, "app."+testBase)
	cert, err := h.e.UploadCert("app", CertInput{Cert: certPEM, Key: keyPEM})
	if err != nil {
		t.Fatalf("UploadCert: %v", err)
	}
	wantSealed++

	// What a reader gets, before the rotation: the same must come back
	// after it.
	type snapshot struct {
		apps        map[string]*App
		deployments map[string][]*Deployment
	}
	read := func(st *Store) snapshot {
		t.Helper()
		s := snapshot{apps: map[string]*App{}, deployments: map[string][]*Deployment{}}
		list, err := st.ListApps()
		if err != nil {
			t.Fatalf("ListApps: %v", err)
		}
		for _, a := range list {
			one, err := st.GetApp(a.Name)
			if err != nil || !reflect.DeepEqual(one, a) {
				t.Fatalf("GetApp(%s) = %+v, %v, want %+v", a.Name, one, err, a)
			}
			s.apps[a.Name] = a
			ds, err := st.ListDeployments(a.Name)
			if err != nil {
				t.Fatalf("ListDeployments(%s): %v", a.Name, err)
			}
			for _, d := range ds {
				one, err := st.GetDeployment(a.Name, d.ID)
				if err != nil || !reflect.DeepEqual(one, d) {
					t.Fatalf("GetDeployment(%s, %s) = %+v, %v", a.Name, d.ID, one, err)
				}
			}
			s.deployments[a.Name] = ds
		}
		return s
	}
	before := read(h.store)
	for name, a := range apps {
		got := before.apps[name]
		if got == nil {
			t.Fatalf("app %s missing", name)
		}
		if !reflect.DeepEqual(got.Env, a.Env) && len(a.Env)+len(got.Env) > 0 ||
			got.GitToken != a.GitToken || got.WebhookSecret != a.WebhookSecret || got.DeployKey != a.DeployKey {
			t.Fatalf("app %s before the rotation does not read back its secrets", name)
		}
		if len(before.deployments[name]) != len(deployEnvs[name]) {
			t.Fatalf("app %s has %d deployments, want %d", name, len(before.deployments[name]), len(deployEnvs[name]))
		}
	}

	newID, err := storage.RotateMasterKey(h.dir, h.store.DB(), h.store.Sealer(), h.store)
	if err != nil {
		t.Fatalf("RotateMasterKey: %v", err)
	}
	if newID == oldID || h.store.Sealer().KeyID() != newID {
		t.Fatalf("after the rotation the key is %s (new %s, old %s)", h.store.Sealer().KeyID(), newID, oldID)
	}

	// (a) Everything reads back through the getters, in this process...
	checkReads := func(step string, st *Store, e *Engine) {
		t.Helper()
		after := read(st)
		if !reflect.DeepEqual(after, before) {
			t.Errorf("%s: the store reads back differently:\n got %+v\nwant %+v", step, after, before)
		}
		for name, ds := range after.deployments {
			for i, d := range ds {
				// Newest first.
				want := deployEnvs[name][len(ds)-1-i]
				if len(want)+len(d.Env) > 0 && !reflect.DeepEqual(d.Env, want) {
					t.Errorf("%s: deployment %d of %s has env %v, want %v", step, d.Version, name, d.Env, want)
				}
			}
		}
		// The certificate's key opens: the index is rebuilt from the
		// store, and the certificate is served with its key.
		e.certs.Store(&certIndex{})
		e.reloadCerts()
		served := e.CertificateFor("app." + testBase)
		if served == nil || served.PrivateKey == nil || served.Leaf == nil {
			t.Fatalf("%s: the uploaded certificate is not served after the rotation", step)
		}
		if got := served.Leaf.Subject.CommonName; got != "app."+testBase {
			t.Errorf("%s: served certificate is for %s", step, got)
		}
		certs, err := e.Certs("app")
		if err != nil || len(certs) != 1 || certs[0].ID != cert.ID {
			t.Errorf("%s: Certs = %+v, %v", step, certs, err)
		}
	}
	checkReads("same process", h.store, h.e)

	// (b) No sealed value anywhere in the file is under another key.
	h.db.Close()
	dbFile := filepath.Join(h.dir, storage.DBFile)
	found := sealedInFile(t, dbFile)
	n := 0
	for where, values := range found {
		for _, v := range values {
			n++
			if !strings.HasPrefix(v, "sealed:v2:"+newID+":") {
				t.Errorf("%s holds a sealed value not under the new key %s: %.30s...", where, newID, v)
			}
		}
	}
	if n != wantSealed {
		t.Errorf("found %d sealed values in the file, want %d: %v", n, wantSealed, found)
	}
	raw, err := os.ReadFile(dbFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(canary)) {
		t.Error("the database file holds a secret in plain text")
	}

	// ...and in a new process, which loads only the new key.
	db, err := storage.Open(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sealer, err := storage.OpenSealer(h.dir, db)
	if err != nil {
		t.Fatalf("OpenSealer after the rotation: %v", err)
	}
	if sealer.KeyID() != newID || len(sealer.KeyIDs()) != 1 {
		t.Fatalf("a new process loads keys %v, want only %s", sealer.KeyIDs(), newID)
	}
	st := NewStore(db, sealer)
	e := NewEngine(h.cfg, st, h.rt, h.e.log())
	defer e.Close()
	checkReads("new process", st, e)
}

// TestResealLeavesOtherFieldsAlone checks that a re-sealed record differs
// from the stored one in its sealed members only.
func TestResealLeavesOtherFieldsAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want string
	}{
		{
			name: "sealed members replaced, unknown members kept",
			raw:  `{"name":"a","future_field":{"x":[1,2]},"sealed_env":{"K":"old"},"sealed_git_token":"old"}`,
			want: `{"future_field":{"x":[1,2]},"name":"a","sealed_env":{"K":"new"},"sealed_git_token":"new"}`,
		},
		{
			name: "no sealed members",
			raw:  `{"name":"a","port":80}`,
			want: `{"name":"a","port":80}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := map[string]any{"name": "ignored", "port": 1, "sealed_env": map[string]string{"K": "new"}, "sealed_git_token": "new"}
			if !strings.Contains(tc.raw, "sealed_") {
				rec = map[string]any{"name": "ignored", "port": 1}
			}
			got, err := patchSealed([]byte(tc.raw), rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("patchSealed = %s, want %s", got, tc.want)
			}
		})
	}
}
