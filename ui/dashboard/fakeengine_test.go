package dashboard

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
)

// fakeEngine is the platform as the API sees it, in memory: apps (each in
// a team), their deployments, env keys, domains and logs. It records the
// calls that change something. The embedded admin.Engine keeps it an
// Engine while the interface grows: a method not written here panics if a
// test reaches it.
type fakeEngine struct {
	admin.Engine

	mu      sync.Mutex
	apps    map[string]*platform.AppView
	deploys map[string][]*platform.Deployment
	env     map[string]map[string]string
	domains map[string][]platform.DomainStatus
	log     string
	changes []string
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{apps: map[string]*platform.AppView{}, deploys: map[string][]*platform.Deployment{},
		env: map[string]map[string]string{}, domains: map[string][]platform.DomainStatus{}}
}

// add puts an app in team, running one live deployment.
func (f *fakeEngine) add(name, team string) *platform.AppView {
	f.mu.Lock()
	defer f.mu.Unlock()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := &platform.AppView{Name: name, Team: team, Image: "registry.example/" + name + ":1", Port: 8080, Replicas: 2, ReadyReplicas: 2,
		Env: map[string]string{}, Domains: []string{}, Hosts: []string{name + ".apps.example"}, Status: platform.AppRunning,
		Current: "d2" + name, CreatedAt: created, UpdatedAt: created}
	f.apps[name] = v
	started, finished := created.Add(time.Minute), created.Add(time.Minute+42*time.Second)
	f.deploys[name] = []*platform.Deployment{
		{ID: "d2" + name, App: name, Version: 2, Status: platform.StatusLive, Image: v.Image, Source: platform.SourceImage, CreatedAt: created, StartedAt: &started, FinishedAt: &finished},
		{ID: "d1" + name, App: name, Version: 1, Status: platform.StatusSuperseded, Image: v.Image, Source: platform.SourceImage, CreatedAt: created.Add(-time.Hour), StartedAt: &started, FinishedAt: &finished},
	}
	f.env[name] = map[string]string{"DATABASE_URL": platform.MaskedValue}
	f.domains[name] = []platform.DomainStatus{{Domain: name + ".apps.example", Default: true, DNS: platform.DNSCheck{PointsHere: true, Message: "points here"}, Certificate: platform.CertStatus{Source: "automatic"}}}
	return v
}

func (f *fakeEngine) change(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, c)
}

func (f *fakeEngine) changed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

func notFound(name string) error {
	return &platform.Error{Status: http.StatusNotFound, Message: "app \"" + name + "\" not found"}
}

func (f *fakeEngine) app(name string) (*platform.AppView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.apps[name]
	if !ok {
		return nil, notFound(name)
	}
	c := *v
	return &c, nil
}

func (f *fakeEngine) Apps() ([]*platform.AppView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*platform.AppView, 0, len(f.apps))
	for _, v := range f.apps {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *platform.AppView) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out, nil
}

func (f *fakeEngine) App(name string) (*platform.AppView, error) { return f.app(name) }

func (f *fakeEngine) AppTeam(name string) (string, error) {
	v, err := f.app(name)
	if err != nil {
		return "", err
	}
	return v.Team, nil
}

func (f *fakeEngine) TeamHasApps(team string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.apps {
		if v.Team == team {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeEngine) Deployments(name string) ([]*platform.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deploys[name]), nil
}

func (f *fakeEngine) EnvKeys(name string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k := range f.env[name] {
		out[k] = platform.MaskedValue
	}
	return out, nil
}

func (f *fakeEngine) Domains(ctx context.Context, name string) ([]platform.DomainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.domains[name]), nil
}

func (f *fakeEngine) FollowLog(ctx context.Context, name, id string, w io.Writer, flush func()) error {
	_, err := io.WriteString(w, f.log)
	return err
}

func (f *fakeEngine) AppLogs(ctx context.Context, name string, opts containers.LogOptions, w io.Writer, flush func()) error {
	_, err := io.WriteString(w, f.log)
	return err
}

func (f *fakeEngine) Status() platform.Status { return platform.Status{Apps: len(f.apps)} }

func (f *fakeEngine) CreateApp(ctx context.Context, in platform.AppInput) (*platform.AppView, error) {
	f.change("CreateApp " + in.Name)
	return &platform.AppView{Name: in.Name, Team: in.Team}, nil
}

func (f *fakeEngine) DeleteApp(ctx context.Context, name string) error {
	f.change("DeleteApp " + name)
	return nil
}

func (f *fakeEngine) UpdateApp(ctx context.Context, name string, p platform.AppPatch) (*platform.AppView, error) {
	f.change("UpdateApp " + name)
	return f.app(name)
}

func (f *fakeEngine) ScaleApp(ctx context.Context, name string, replicas int) (*platform.AppView, error) {
	f.change("ScaleApp " + name)
	return f.app(name)
}

func (f *fakeEngine) Rollback(ctx context.Context, name, deployment string) (*platform.Deployment, error) {
	f.change("Rollback " + name + " " + deployment)
	return &platform.Deployment{ID: "d3", App: name, RollbackOf: deployment, Status: platform.StatusPending}, nil
}
