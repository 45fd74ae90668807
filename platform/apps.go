package platform

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/builder"
	"github.com/caddy-paas/caddy-paas/containers"
)

// MaskedValue replaces every env value in API answers.
const MaskedValue = "********"

// App statuses shown to users.
const (
	AppNew         = "new"
	AppDeploying   = "deploying"
	AppRunning     = "running"
	AppDegraded    = "degraded"
	AppUnavailable = "unavailable"
	AppStopped     = "stopped"
)

// AppView is an app as the API shows it: env values masked, with its hosts
// and live status.
type AppView struct {
	Name string `json:"name"`
	// Team is the team that owns the app.
	Team       string            `json:"team"`
	Image      string            `json:"image,omitempty"`
	Port       int               `json:"port"`
	Env        map[string]string `json:"env"`
	Replicas   int               `json:"replicas"`
	HealthPath string            `json:"health_path,omitempty"`
	Domains    []string          `json:"domains"`
	// Memory is the memory limit of each replica, in bytes (absent: no
	// limit).
	Memory int64 `json:"memory,omitempty"`
	// CPUs is how many CPUs each replica may use (absent: no limit).
	CPUs float64 `json:"cpus,omitempty"`
	// Git is the repository the app is built from (no credentials).
	Git *GitSource `json:"git,omitempty"`
	// GitAuth says how the repository is reached: token, deploy_key or "".
	GitAuth string `json:"git_auth,omitempty"`
	// DeployKey is the public half of the app's SSH deploy key.
	DeployKey string `json:"deploy_key,omitempty"`
	// Redirects are the app's redirect rules.
	Redirects []Redirect `json:"redirects,omitempty"`
	// WWWRedirect is the www/apex switch.
	WWWRedirect string `json:"www_redirect,omitempty"`
	// Maintenance is the maintenance mode.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// HSTS tells whether Strict-Transport-Security is sent.
	HSTS bool `json:"hsts,omitempty"`
	// KnownHosts are the SSH host keys remembered for the repository.
	KnownHosts    string   `json:"known_hosts,omitempty"`
	Hosts         []string `json:"hosts"`
	Status        string   `json:"status"`
	ReadyReplicas int      `json:"ready_replicas"`
	Current       string   `json:"current_deployment,omitempty"`
	// Deployment is the id of the deploy this request started, if any.
	Deployment string `json:"deployment,omitempty"`
	// LastDeploy is the newest deployment, whatever its outcome.
	LastDeploy *DeploySummary `json:"last_deploy,omitempty"`
	// Usage is the CPU and memory of the running replicas (sampled every
	// few seconds), when any runs.
	Usage     *AppUsage `json:"usage,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DeploySummary names a deployment in an app's view.
type DeploySummary struct {
	ID          string           `json:"id"`
	Status      DeploymentStatus `json:"status"`
	CreatedAt   time.Time        `json:"created_at"`
	TriggeredBy string           `json:"triggered_by,omitempty"`
}

func (e *Engine) view(a *App, latest *Deployment) *AppView {
	v := &AppView{
		Name: a.Name, Team: a.TeamName(), Image: a.Image, Port: a.Port, Replicas: a.Replicas,
		HealthPath: a.HealthPath, Domains: append([]string{}, a.Domains...),
		Hosts: e.hosts(a), Current: a.Current, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		Env: make(map[string]string, len(a.Env)), DeployKey: a.DeployKeyPublic,
		Redirects: a.Redirects, WWWRedirect: a.WWWRedirect, Maintenance: a.Maintenance, HSTS: a.HSTS,
		KnownHosts: a.KnownHosts, Memory: a.Memory, CPUs: a.CPUs,
	}
	if a.Git != nil {
		g := *a.Git
		g.Token = ""
		v.Git = &g
		switch {
		case a.GitToken != "":
			v.GitAuth = "token"
		case a.DeployKey != "":
			v.GitAuth = "deploy_key"
		}
	}
	for k := range a.Env {
		v.Env[k] = MaskedValue
	}
	if route := e.table.Route(a.Name); route != nil {
		v.ReadyReplicas = route.Ready()
	}
	v.Usage = e.usageOf(a.Name)
	if latest != nil {
		v.LastDeploy = &DeploySummary{ID: latest.ID, Status: latest.Status, CreatedAt: latest.CreatedAt, TriggeredBy: latest.TriggeredBy}
	}
	switch {
	case a.Stopped:
		v.Status = AppStopped
	case latest != nil && !latest.Status.Finished():
		v.Status = AppDeploying
	case a.Current == "":
		v.Status = AppNew
	case v.ReadyReplicas == 0:
		v.Status = AppUnavailable
	case v.ReadyReplicas < a.Replicas:
		v.Status = AppDegraded
	default:
		v.Status = AppRunning
	}
	return v
}

func (e *Engine) latestDeployment(app string) *Deployment {
	list, err := e.store.ListDeployments(app)
	if err != nil || len(list) == 0 {
		return nil
	}
	return list[0]
}

// Apps lists every app.
func (e *Engine) Apps() ([]*AppView, error) {
	apps, err := e.store.listForViews()
	if err != nil {
		return nil, err
	}
	out := make([]*AppView, 0, len(apps))
	for _, a := range apps {
		out = append(out, e.view(a.app, a.latest))
	}
	return out, nil
}

// App returns one app.
func (e *Engine) App(name string) (*AppView, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	return e.view(a, e.latestDeployment(name)), nil
}

// resolveImage checks, before anything is stored, that an image can run.
func (e *Engine) resolveImage(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := builder.Resolve(ctx, e.rt, ref); err != nil {
		if errors.Is(err, containers.ErrImageNotFound) {
			return invalid("image %q is not present locally and could not be pulled", ref)
		}
		return err
	}
	return nil
}

// claimHosts refuses hosts that another app already answers on, and
// records a's custom domains in the domains index (releasing the ones it
// dropped). Every check is a lookup: creating the 10,000th app costs what
// the first did.
func (e *Engine) claimHosts(tx *StoreTx, a *App, previous []string) error {
	base := e.config().BaseDomain
	// a's own host must not be another app's custom domain.
	if base != "" {
		if owner, _ := tx.DomainOwner(a.Name + "." + base); owner != "" && owner != a.Name {
			return conflict("domain %s already belongs to app %s", a.Name+"."+base, owner)
		}
	}
	for _, d := range a.Domains {
		// Only a new claim is checked: a site added to the config later
		// must not block every change of the app.
		if !slices.Contains(previous, d) {
			if err := e.checkNotReserved(d); err != nil {
				return err
			}
		}
		if owner, _ := tx.DomainOwner(d); owner != "" && owner != a.Name {
			return conflict("domain %s already belongs to app %s", d, owner)
		}
		// A custom domain must not be another app's own host.
		if name, ok := strings.CutSuffix(d, "."+base); ok && base != "" && name != a.Name {
			if _, err := tx.App(name); err == nil {
				return conflict("domain %s already belongs to app %s", d, name)
			}
		}
	}
	return tx.SetDomains(a.Name, previous, a.Domains)
}

// CreateApp validates and stores a new app. With an image, it records the
// first deployment and starts it.
func (e *Engine) CreateApp(ctx context.Context, in AppInput) (*AppView, error) {
	if err := ValidateAppName(in.Name); err != nil {
		return nil, err
	}
	if in.Team == "" {
		in.Team = DefaultTeam
	}
	if !appNameRe.MatchString(in.Team) {
		return nil, invalid("team name %q is invalid", truncate(in.Team, 80))
	}
	a := &App{Name: in.Name, Team: in.Team, Image: in.Image, Port: 8080, Replicas: 1, Env: in.Env, Build: in.Build, WebhookSecret: newSecret()}
	if in.Git != nil {
		if in.Image != "" {
			return nil, invalid("give an image or a git repository, not both")
		}
		g := *in.Git
		if g.Ref == "" {
			g.Ref = DefaultGitRef
		}
		if err := validateGit(&g, e.config().GitPolicy); err != nil {
			return nil, err
		}
		a.GitToken, g.Token = g.Token, ""
		a.Git = &g
	}
	if a.Build != nil {
		if err := a.Build.Validate(); err != nil {
			return nil, invalid("build: %v", err)
		}
	}
	if a.Env == nil {
		a.Env = map[string]string{}
	}
	a.setPortChosen(in.Port != nil)
	if in.Port != nil {
		a.Port = *in.Port
	}
	if _, err := a.setLimits(in.Memory, in.CPUs); err != nil {
		return nil, err
	}
	if in.Replicas != nil {
		a.Replicas = *in.Replicas
	}
	if in.HealthPath != nil {
		a.HealthPath = *in.HealthPath
	}
	var err error
	if a.Domains, err = normalizeDomains(in.Domains); err != nil {
		return nil, err
	}
	if err := e.validateSpec(a); err != nil {
		return nil, err
	}
	if a.Image != "" {
		if err := e.resolveImage(ctx, a.Image); err != nil {
			return nil, err
		}
	}
	var d *Deployment
	err = e.mutate(func(tx *StoreTx) error {
		if _, err := tx.App(a.Name); err == nil {
			return conflict("app %q already exists", a.Name)
		} else if StatusOf(err) != 404 {
			return err
		}
		if base := e.config().BaseDomain; base != "" {
			if err := e.checkNotReserved(a.Name + "." + base); err != nil {
				return err
			}
		}
		if err := e.claimHosts(tx, a, nil); err != nil {
			return err
		}
		a.CreatedAt = time.Now().UTC()
		if err := tx.PutApp(a); err != nil {
			return err
		}
		if a.Image != "" || a.Git != nil {
			d = deploymentFor(a)
			d.TriggeredBy = ActorFrom(ctx)
			if err := tx.NewDeployment(d); err != nil {
				return err
			}
		}
		return nil
	}, func() {
		e.routeApp(a)
		if d != nil {
			e.enqueueDeployment(d)
		}
	})
	if err != nil {
		return nil, err
	}
	e.log().Info("app created", zap.String("app", a.Name))
	v := e.view(a, d)
	if d != nil {
		v.Deployment = d.ID
	}
	return v, nil
}

func (e *Engine) validateSpec(a *App) error {
	if a.Image != "" {
		if err := ValidateImage(a.Image); err != nil {
			return err
		}
	}
	if err := validatePort(a.Port); err != nil {
		return err
	}
	if err := validateReplicas(a.Replicas); err != nil {
		return err
	}
	if err := validateHealthPath(a.HealthPath); err != nil {
		return err
	}
	return validateEnv(a.Env)
}

func deploymentFor(a *App) *Deployment {
	env := make(map[string]string, len(a.Env))
	for k, v := range a.Env {
		env[k] = v
	}
	d := &Deployment{
		App: a.Name, Image: a.Image, Port: a.Port, Replicas: a.Replicas,
		HealthPath: a.HealthPath, Env: env, Source: SourceImage,
	}
	if a.Git != nil && a.Image == "" {
		g := *a.Git
		g.Token = ""
		d.Source, d.Git, d.Image = SourceGit, &g, ""
	}
	return d
}

// mutate runs fn in one store transaction and then, still holding the
// record lock, after (which routes hosts and queues deploys). Holding the
// lock across both keeps the routing table's hosts and the deploy queue in
// the order of the records: two concurrent deploys of an app run in the
// order of their versions, and a finishing change cannot bring back a
// domain that a later one gave up.
func (e *Engine) mutate(fn func(tx *StoreTx) error, after func()) error {
	e.recordMu.Lock()
	defer e.recordMu.Unlock()
	if err := e.store.Update(fn); err != nil {
		return err
	}
	if after != nil {
		after()
	}
	return nil
}

func (e *Engine) enqueueDeployment(d *Deployment) {
	app, id := d.App, d.ID
	e.queues.Enqueue(app, func(ctx context.Context) { e.runDeployment(ctx, app, id) })
}

func applyEnvPatch(env map[string]string, patch map[string]*string) map[string]string {
	out := make(map[string]string, len(env)+len(patch))
	for k, v := range env {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

// UpdateApp changes an app. A change to what its containers run (image,
// port, env, replicas, health path, limits) starts a deploy; a change of domains
// only changes the routing table.
func (e *Engine) UpdateApp(ctx context.Context, name string, p AppPatch) (*AppView, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if p.Image != nil && *p.Image != "" {
		if err := ValidateImage(*p.Image); err != nil {
			return nil, err
		}
		if err := e.resolveImage(ctx, *p.Image); err != nil {
			return nil, err
		}
	}
	var a *App
	var d *Deployment
	err := e.mutate(func(tx *StoreTx) error {
		var err error
		if a, err = tx.App(name); err != nil {
			return err
		}
		redeploy := false
		if p.Image != nil && *p.Image != a.Image {
			a.Image, redeploy = *p.Image, true
		}
		if p.Port != nil {
			// Given, the port is the user's choice from now on, even the
			// value it had: it wins over paas.json, so a build may now
			// run on another port than its last deploy did.
			if *p.Port != a.Port || (!a.portSet() && a.Git != nil) {
				a.Port, redeploy = *p.Port, true
			}
			a.setPortChosen(true)
		}
		if changed, err := a.setLimits(p.Memory, p.CPUs); err != nil {
			return err
		} else if changed {
			redeploy = true
		}
		if p.Replicas != nil && *p.Replicas != a.Replicas {
			a.Replicas, redeploy = *p.Replicas, true
		}
		if p.HealthPath != nil && *p.HealthPath != a.HealthPath {
			a.HealthPath, redeploy = *p.HealthPath, true
		}
		if len(p.Env) > 0 {
			a.Env, redeploy = applyEnvPatch(a.Env, p.Env), true
		}
		if p.Git != nil {
			g := *p.Git
			if g.URL == "" && a.Git != nil {
				g.URL = a.Git.URL
			}
			if g.Ref == "" {
				g.Ref = DefaultGitRef
				if a.Git != nil {
					g.Ref = a.Git.Ref
				}
			}
			if err := validateGit(&g, e.config().GitPolicy); err != nil {
				return err
			}
			// Another origin drops the stored token (and known hosts)
			// unless this change gives a new one.
			rebindGit(a, g.URL, g.Token)
			if g.Token != "" {
				a.GitToken, g.Token = g.Token, ""
			}
			if g.Username == "" && a.Git != nil {
				g.Username = a.Git.Username
			}
			a.Git, a.Image, redeploy = &g, "", true
		}
		if p.Build != nil {
			if err := p.Build.Validate(); err != nil {
				return invalid("build: %v", err)
			}
			b := *p.Build
			a.Build, redeploy = &b, a.Git != nil
		}
		if p.WWWRedirect != nil {
			if err := validateWWW(*p.WWWRedirect); err != nil {
				return err
			}
			a.WWWRedirect = *p.WWWRedirect
		}
		if p.Maintenance != nil {
			if err := validateMaintenance(p.Maintenance); err != nil {
				return err
			}
			m := *p.Maintenance
			a.Maintenance = &m
		}
		if p.HSTS != nil {
			a.HSTS = *p.HSTS
		}
		if p.KnownHosts != nil {
			if len(*p.KnownHosts) > 64<<10 || strings.ContainsRune(*p.KnownHosts, 0) {
				return invalid("known_hosts must be known_hosts lines, at most 64 KiB")
			}
			a.KnownHosts = *p.KnownHosts
		}
		if p.Domains != nil {
			previous := a.Domains
			if a.Domains, err = normalizeDomains(*p.Domains); err != nil {
				return err
			}
			if err := e.claimHosts(tx, a, previous); err != nil {
				return err
			}
		}
		if err := e.validateSpec(a); err != nil {
			return err
		}
		if err := tx.PutApp(a); err != nil {
			return err
		}
		if redeploy && !p.NoDeploy && (a.Image != "" || a.Git != nil) && !a.Stopped {
			d = deploymentFor(a)
			d.TriggeredBy = ActorFrom(ctx)
			if err := tx.NewDeployment(d); err != nil {
				return err
			}
		}
		return nil
	}, func() {
		e.routeApp(a)
		if d != nil {
			e.enqueueDeployment(d)
		}
	})
	if err != nil {
		return nil, err
	}
	if p.Domains != nil {
		e.reloadCerts() // the hosts an uploaded certificate serves changed
	}
	v := e.view(a, d)
	if d != nil {
		v.Deployment = d.ID
	}
	return v, nil
}

// DeleteApp removes an app, its deployments and its containers. A deploy of
// the app in progress is canceled.
func (e *Engine) DeleteApp(ctx context.Context, name string) error {
	if err := ValidateAppName(name); err != nil {
		return notFound("app %q not found", truncate(name, 80))
	}
	var old []*Replica
	err := e.mutate(func(tx *StoreTx) error {
		if _, err := tx.App(name); err != nil {
			return err
		}
		return tx.DeleteApp(name)
	}, func() {
		e.queues.Cancel(name)
		old = e.table.Remove(name)
	})
	if err != nil {
		return err
	}
	for _, r := range old {
		r.SetState(ReplicaDraining)
	}
	done := e.queues.Enqueue(name, func(ctx context.Context) {
		rmCtx, cancel := context.WithTimeout(e.ctx, time.Minute)
		defer cancel()
		// After the app's deploys (this job runs after them): no fetch of
		// the app is in progress.
		defer e.removeGitCache(rmCtx, name)
		list, err := e.rt.List(rmCtx, e.labels(map[string]string{containers.LabelApp: name}))
		if err != nil {
			e.log().Warn("listing containers of deleted app", zap.String("app", name), zap.Error(err))
			return
		}
		for _, c := range list {
			if err := e.rt.Remove(rmCtx, c.ID); err != nil {
				e.log().Warn("removing container of deleted app", zap.String("app", name), zap.Error(err))
			}
		}
	})
	select {
	case <-done:
	case <-ctx.Done():
	}
	e.logs.removeApp(name)
	e.reloadCerts()
	e.log().Info("app deleted", zap.String("app", name))
	return nil
}

// Deploy records a deployment of an app (a new image, env changes, or the
// same spec again) and starts it. It returns at once; the deployment's
// status tells how it goes.
func (e *Engine) Deploy(ctx context.Context, name string, in DeployInput) (*Deployment, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if in.Image != "" {
		if err := ValidateImage(in.Image); err != nil {
			return nil, err
		}
	}
	current, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	var git *GitSource
	if in.Git != nil || (in.Image == "" && current.Git != nil) {
		if in.Image != "" {
			return nil, invalid("give an image or a git ref, not both")
		}
		g := GitSource{Ref: DefaultGitRef}
		if current.Git != nil {
			g = *current.Git
		}
		if in.Git != nil && in.Git.URL != "" {
			g.URL = in.Git.URL
		}
		if in.Git != nil && in.Git.Ref != "" {
			g.Ref = in.Git.Ref
		}
		if in.Git != nil && in.Git.Token != "" {
			g.Token = in.Git.Token
		}
		if in.Git != nil && in.Git.Username != "" {
			g.Username = in.Git.Username
		}
		if err := validateGit(&g, e.config().GitPolicy); err != nil {
			return nil, err
		}
		git = &g
	}
	img := in.Image
	if img == "" && git == nil {
		img = current.Image
	}
	if img == "" && git == nil {
		return nil, invalid("app %q has no image and no git repository: give one", name)
	}
	if git == nil {
		if err := e.resolveImage(ctx, img); err != nil {
			return nil, err
		}
	}
	var d *Deployment
	err = e.mutate(func(tx *StoreTx) error {
		a, err := tx.App(name)
		if err != nil {
			return err
		}
		if git != nil {
			// The app keeps tracking its ref; a deploy of another ref is
			// one-off. A new url is the app's from now on; on another
			// origin it drops the stored token (and known hosts) unless
			// this deploy gives a new one.
			rebindGit(a, git.URL, git.Token)
			if a.Git == nil {
				a.Git = &GitSource{URL: git.URL, Ref: git.Ref}
			}
			a.Git.URL = git.URL
			if git.Token != "" {
				a.GitToken = git.Token
			}
			if in.Git != nil && in.Git.Username != "" {
				a.Git.Username = in.Git.Username
			}
			git.Token, git.Username = "", a.Git.Username
			a.Image = ""
		} else {
			a.Image = img
		}
		a.Env = applyEnvPatch(a.Env, in.Env)
		a.Stopped = false
		if err := e.validateSpec(a); err != nil {
			return err
		}
		if err := tx.PutApp(a); err != nil {
			return err
		}
		d = deploymentFor(a)
		d.TriggeredBy = ActorFrom(ctx)
		if git != nil {
			d.Source, d.Git, d.Image = SourceGit, git, ""
		} else {
			d.Source, d.Git = SourceImage, nil
		}
		return tx.NewDeployment(d)
	}, func() { e.enqueueDeployment(d) })
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Rollback deploys again what an earlier deployment ran: its image, env,
// port, replicas and health path, which become the app's again.
func (e *Engine) Rollback(ctx context.Context, name, target string) (*Deployment, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if target == "" {
		return nil, invalid("deployment is required")
	}
	t, err := e.store.GetDeployment(name, target)
	if err != nil {
		return nil, err
	}
	if err := e.resolveImage(ctx, t.Image); err != nil {
		return nil, err
	}
	var d *Deployment
	err = e.mutate(func(tx *StoreTx) error {
		a, err := tx.App(name)
		if err != nil {
			return err
		}
		a.Image, a.Port, a.Replicas, a.HealthPath, a.Env = t.Image, t.Port, t.Replicas, t.HealthPath, t.Env
		a.Stopped = false
		if err := tx.PutApp(a); err != nil {
			return err
		}
		d = deploymentFor(a)
		d.TriggeredBy = ActorFrom(ctx)
		d.RollbackOf = t.ID
		return tx.NewDeployment(d)
	}, func() { e.enqueueDeployment(d) })
	if err != nil {
		return nil, err
	}
	return d, nil
}

// StopApp takes an app out of service: its replicas drain and stop, and its
// hosts answer 503 until it starts again.
func (e *Engine) StopApp(ctx context.Context, name string) (*AppView, error) {
	return e.setStopped(ctx, name, true)
}

// StartApp runs a stopped app's current deployment again.
func (e *Engine) StartApp(ctx context.Context, name string) (*AppView, error) {
	return e.setStopped(ctx, name, false)
}

func (e *Engine) setStopped(ctx context.Context, name string, stopped bool) (*AppView, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	var a *App
	err := e.store.Update(func(tx *StoreTx) error {
		var err error
		if a, err = tx.App(name); err != nil {
			return err
		}
		if !stopped && a.Current == "" {
			return conflict("app %q has never been deployed", name)
		}
		a.Stopped = stopped
		return tx.PutApp(a)
	})
	if err != nil {
		return nil, err
	}
	done := e.queues.Enqueue(name, func(ctx context.Context) { e.reconcileApp(ctx, name) })
	select {
	case <-done:
	case <-ctx.Done():
	}
	return e.App(name)
}

// Deployments lists an app's deployments, newest first.
func (e *Engine) Deployments(name string) ([]*Deployment, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	list, err := e.store.ListDeployments(name)
	if list == nil {
		list = []*Deployment{}
	}
	return list, err
}

// Deployment returns one deployment of an app.
func (e *Engine) Deployment(name, id string) (*Deployment, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if _, err := e.store.GetApp(name); err != nil {
		return nil, err
	}
	return e.store.GetDeployment(name, id)
}

// FollowLog writes a deployment's log to w: all of it when the deploy is
// over, else what there is and then what comes until it ends or ctx does.
func (e *Engine) FollowLog(ctx context.Context, name, id string, w io.Writer, flush func()) error {
	d, err := e.Deployment(name, id)
	if err != nil {
		return err
	}
	// A deploy still queued has no log yet: wait for it to start.
	for d.Status == StatusPending && !e.logs.exists(name, id) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if d, err = e.store.GetDeployment(name, id); err != nil {
			return err
		}
	}
	return e.logs.follow(ctx, name, id, w, flush)
}

// Status is the engine's own state, for the status endpoint.
type Status struct {
	Apps        int   `json:"apps"`
	Attachments int64 `json:"config_loads"`
}

// Status reports the engine's state.
func (e *Engine) Status() Status {
	return Status{Apps: e.table.Len(), Attachments: e.Attachments()}
}
