package mcp

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/platform"
)

// fakeEngine records the calls the API makes. It knows the apps of apps
// (name to team); the others do not exist. The embedded admin.Engine keeps
// it an Engine while the interface grows: a method not written here
// panics if a test reaches it.
type fakeEngine struct {
	admin.Engine

	apps map[string]string
	log  string

	mu    sync.Mutex
	calls []string
}

func (f *fakeEngine) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeEngine) called(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (f *fakeEngine) view(name string) (*platform.AppView, error) {
	team, ok := f.apps[name]
	if !ok {
		return nil, &platform.Error{Status: http.StatusNotFound, Message: "app \"" + name + "\" not found"}
	}
	return &platform.AppView{Name: name, Team: team, Image: "img:1", Port: 8080, Replicas: 1,
		Env: map[string]string{}, Domains: []string{}, Hosts: []string{name + ".test"}, Status: platform.AppNew}, nil
}

func (f *fakeEngine) Apps() ([]*platform.AppView, error) {
	f.record("Apps")
	var out []*platform.AppView
	names := make([]string, 0, len(f.apps))
	for n := range f.apps {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v, _ := f.view(n)
		out = append(out, v)
	}
	return out, nil
}

func (f *fakeEngine) App(name string) (*platform.AppView, error) {
	f.record("App " + name)
	return f.view(name)
}

func (f *fakeEngine) CreateApp(ctx context.Context, in platform.AppInput) (*platform.AppView, error) {
	f.record("CreateApp " + in.Name)
	return &platform.AppView{Name: in.Name, Team: in.Team}, nil
}

func (f *fakeEngine) UpdateApp(ctx context.Context, name string, p platform.AppPatch) (*platform.AppView, error) {
	f.record("UpdateApp " + name)
	return f.view(name)
}

func (f *fakeEngine) DeleteApp(ctx context.Context, name string) error {
	f.record("DeleteApp " + name)
	_, err := f.view(name)
	return err
}

func (f *fakeEngine) Deploy(ctx context.Context, name string, in platform.DeployInput) (*platform.Deployment, error) {
	f.record("Deploy " + name + " " + in.Image)
	return &platform.Deployment{ID: "d1", App: name, Image: in.Image, Status: platform.StatusPending}, nil
}

func (f *fakeEngine) Rollback(ctx context.Context, name, deployment string) (*platform.Deployment, error) {
	f.record("Rollback " + name + " " + deployment)
	return &platform.Deployment{ID: "d2", App: name, RollbackOf: deployment, Status: platform.StatusPending}, nil
}

func (f *fakeEngine) StopApp(ctx context.Context, name string) (*platform.AppView, error) {
	f.record("StopApp " + name)
	return f.view(name)
}

func (f *fakeEngine) StartApp(ctx context.Context, name string) (*platform.AppView, error) {
	f.record("StartApp " + name)
	return f.view(name)
}

func (f *fakeEngine) Deployments(name string) ([]*platform.Deployment, error) {
	f.record("Deployments " + name)
	return []*platform.Deployment{{ID: "d1", App: name}}, nil
}

func (f *fakeEngine) Deployment(name, id string) (*platform.Deployment, error) {
	f.record("Deployment " + name + " " + id)
	return &platform.Deployment{ID: id, App: name}, nil
}

func (f *fakeEngine) DeployUpload(ctx context.Context, name string, archive io.Reader) (*platform.Deployment, error) {
	f.record("DeployUpload " + name)
	return &platform.Deployment{ID: "d3", App: name}, nil
}

func (f *fakeEngine) CancelDeployment(name, id string) (*platform.Deployment, error) {
	f.record("CancelDeployment " + name + " " + id)
	return &platform.Deployment{ID: id, App: name}, nil
}

func (f *fakeEngine) Webhook(name string, rotate bool) (*platform.WebhookInfo, error) {
	f.record("Webhook " + name)
	return &platform.WebhookInfo{}, nil
}

func (f *fakeEngine) CreateDeployKey(name string) (string, error) {
	f.record("CreateDeployKey " + name)
	return "ssh-ed25519 AAAA", nil
}

func (f *fakeEngine) Redirects(name string) ([]platform.Redirect, error) {
	f.record("Redirects " + name)
	return []platform.Redirect{}, nil
}

func (f *fakeEngine) AddRedirect(name string, r platform.Redirect) (*platform.Redirect, error) {
	f.record("AddRedirect " + name)
	r.ID = "r1"
	return &r, nil
}

func (f *fakeEngine) RemoveRedirect(name, id string) error {
	f.record("RemoveRedirect " + name + " " + id)
	return nil
}

func (f *fakeEngine) Domains(ctx context.Context, name string) ([]platform.DomainStatus, error) {
	f.record("Domains " + name)
	return []platform.DomainStatus{}, nil
}

func (f *fakeEngine) AddDomains(ctx context.Context, name string, domains []string) (*platform.AppView, error) {
	f.record("AddDomains " + name)
	return f.view(name)
}

func (f *fakeEngine) RemoveDomain(ctx context.Context, name, domain string) (*platform.AppView, error) {
	f.record("RemoveDomain " + name + " " + domain)
	return f.view(name)
}

func (f *fakeEngine) Certs(name string) ([]platform.CustomCert, error) {
	f.record("Certs " + name)
	return []platform.CustomCert{}, nil
}

func (f *fakeEngine) UploadCert(name string, in platform.CertInput) (*platform.CustomCert, error) {
	f.record("UploadCert " + name)
	return &platform.CustomCert{}, nil
}

func (f *fakeEngine) RemoveCert(name, id string) error {
	f.record("RemoveCert " + name + " " + id)
	return nil
}

func (f *fakeEngine) FollowLog(ctx context.Context, name, id string, w io.Writer, flush func()) error {
	f.record("FollowLog " + name + " " + id)
	_, err := io.WriteString(w, f.log)
	return err
}

func (f *fakeEngine) Status() platform.Status {
	f.record("Status")
	return platform.Status{Apps: len(f.apps)}
}

func (f *fakeEngine) AppTeam(name string) (string, error) {
	if team, ok := f.apps[name]; ok {
		return team, nil
	}
	return "", &platform.Error{Status: http.StatusNotFound, Message: "app \"" + name + "\" not found"}
}

func (f *fakeEngine) TeamHasApps(team string) (bool, error) {
	for _, t := range f.apps {
		if t == team {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeEngine) EnvKeys(name string) (map[string]string, error) {
	f.record("EnvKeys " + name)
	return map[string]string{"SECRET": "********"}, nil
}

func (f *fakeEngine) RevealEnv(name, key string) (string, error) {
	f.record("RevealEnv " + name + " " + key)
	return "", nil
}
