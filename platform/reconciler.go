package platform

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/containers"
)

// run is the reconciler's loop: a full pass at start, then one for each
// Docker event about our containers, and a periodic pass for events lost
// while the stream was down.
func (e *Engine) run() {
	defer e.wg.Done()
	e.reconcileAll()

	ticker := time.NewTicker(e.config().ReconcileInterval)
	defer ticker.Stop()
	// backoff grows while the engine is unreachable, so a Docker that is
	// down costs a retry every 30 s, not a full pass every 2 s.
	backoff := 2 * time.Second
	for {
		subscribed := time.Now()
		events, errs := e.rt.Events(e.ctx)
	stream:
		for {
			select {
			case <-e.ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					break stream
				}
				e.onEvent(ev)
			case err := <-errs:
				if e.ctx.Err() == nil {
					e.log().Warn("docker event stream broke; retrying", zap.Error(err))
				}
				break stream
			case <-ticker.C:
				e.reconcileAll()
			}
		}
		if time.Since(subscribed) > time.Minute {
			backoff = 2 * time.Second
		} else if backoff < 30*time.Second {
			backoff *= 2
		}
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(backoff):
			// Events may have been missed while the stream was down.
			e.reconcileAll()
		}
	}
}

// recoverInterrupted settles deployments that a crash or kill interrupted:
// one that was building or starting failed (its containers are orphans the
// reconciler removes, and the previous version keeps serving); one that was
// still pending runs again.
func (e *Engine) recoverInterrupted() {
	var resume []*Deployment
	err := e.store.Update(func(tx *StoreTx) error {
		apps, err := tx.Apps()
		if err != nil {
			return err
		}
		for _, a := range apps {
			list, err := tx.Deployments(a.Name)
			if err != nil {
				return err
			}
			for _, d := range list {
				switch d.Status {
				case StatusBuilding, StatusStarting:
					now := time.Now().UTC()
					d.Status = StatusFailed
					d.Reason = "interrupted: the server stopped during this deploy; the previous version kept serving"
					d.FinishedAt = &now
					if err := tx.PutDeployment(d); err != nil {
						return err
					}
				case StatusPending:
					resume = append(resume, d)
				}
			}
		}
		return nil
	})
	if err != nil {
		e.log().Error("recovering interrupted deploys", zap.Error(err))
		return
	}
	for _, d := range resume {
		app, id := d.App, d.ID
		e.queues.Enqueue(app, func(ctx context.Context) { e.runDeployment(ctx, app, id) })
	}
}

// reconcileAll queues a reconcile of every app whose containers differ from
// what it should run, and removes containers of apps that no longer exist.
func (e *Engine) reconcileAll() {
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	// Containers first: when the engine is unreachable, reading every app
	// would be wasted.
	list, err := e.rt.List(ctx, e.labels(nil))
	if err != nil {
		e.log().Warn("reconcile: listing containers", zap.Error(err))
		return
	}
	apps, err := e.store.ListApps()
	if err != nil {
		e.log().Error("reconcile: listing apps", zap.Error(err))
		return
	}
	byApp := map[string][]containers.Container{}
	for _, c := range list {
		byApp[c.Labels[containers.LabelApp]] = append(byApp[c.Labels[containers.LabelApp]], c)
	}
	known := map[string]bool{}
	for _, a := range apps {
		known[a.Name] = true
		if e.appInSync(a, byApp[a.Name]) {
			continue
		}
		name := a.Name
		e.queues.Enqueue(name, func(ctx context.Context) { e.reconcileApp(ctx, name) })
	}
	for name, cs := range byApp {
		if known[name] {
			continue
		}
		// Re-check inside the app's queue: the app may be being created.
		e.queues.Enqueue(name, func(ctx context.Context) { e.reconcileApp(ctx, name) })
		_ = cs
	}
}

// appInSync reports whether an app's serving replicas are exactly its
// running containers of the current deployment, with nothing else around.
func (e *Engine) appInSync(a *App, cs []containers.Container) bool {
	route := e.table.Route(a.Name)
	if route == nil {
		return false
	}
	serving := map[string]bool{}
	for _, r := range route.Replicas() {
		if r.State() == ReplicaReady {
			serving[r.ContainerID] = true
		}
	}
	if a.Stopped || a.Current == "" {
		return len(serving) == 0 && e.onlyDraining(cs)
	}
	d, err := e.store.GetDeployment(a.Name, a.Current)
	if err != nil || len(serving) != d.Replicas {
		return false
	}
	for _, c := range cs {
		if serving[c.ID] {
			if !c.Running {
				return false
			}
			continue
		}
		if _, ok := e.draining.Load(c.ID); !ok && !e.deployInProgress(c) {
			return false
		}
	}
	return true
}

func (e *Engine) onlyDraining(cs []containers.Container) bool {
	for _, c := range cs {
		if _, ok := e.draining.Load(c.ID); !ok && !e.deployInProgress(c) {
			return false
		}
	}
	return true
}

// deployInProgress reports whether c belongs to a deployment that is still
// starting: it is not an orphan yet.
func (e *Engine) deployInProgress(c containers.Container) bool {
	d, err := e.store.GetDeployment(c.Labels[containers.LabelApp], c.Labels[containers.LabelDeployment])
	return err == nil && !d.Status.Finished()
}

// onEvent reacts to a container event: a serving replica that died leaves
// the table at once (no request is sent to it), then the app is reconciled
// to replace it.
func (e *Engine) onEvent(ev containers.Event) {
	app := ev.Labels[containers.LabelApp]
	if app == "" || ev.Labels[containers.LabelInstance] != e.instance {
		return
	}
	switch ev.Action {
	case "die", "destroy", "stop", "kill", "oom":
	default:
		return
	}
	route := e.table.Route(app)
	if route == nil {
		return
	}
	current := route.Replicas()
	keep := make([]*Replica, 0, len(current))
	dropped := false
	for _, r := range current {
		if r.ContainerID == ev.ContainerID {
			dropped = true
			continue
		}
		keep = append(keep, r)
	}
	if !dropped {
		return
	}
	route.SetReplicas(keep)
	e.log().Warn("replica died; replacing it", zap.String("app", app), zap.String("container", ev.ContainerID), zap.String("event", ev.Action))
	e.queues.Enqueue(app, func(ctx context.Context) { e.reconcileApp(ctx, app) })
}

// reconcileApp makes one app's containers match its desired state: serving
// replicas that died are dropped, running replicas of the current
// deployment are adopted (after a restart), missing ones are started, and
// every other container of the app is removed. It runs in the app's queue.
func (e *Engine) reconcileApp(ctx context.Context, name string) {
	log := e.log().With(zap.String("app", name))
	list, err := e.rt.List(ctx, e.labels(map[string]string{containers.LabelApp: name}))
	if err != nil {
		log.Warn("reconcile: listing containers", zap.Error(err))
		return
	}
	// Read the app and route its hosts under the record lock, so this
	// cannot undo a concurrent change of its domains.
	e.recordMu.Lock()
	a, err := e.store.GetApp(name)
	var route *AppRoute
	switch {
	case err == nil:
		route = e.routeApp(a)
	case StatusOf(err) == 404:
		e.table.Remove(name)
	}
	e.recordMu.Unlock()
	if err != nil {
		if StatusOf(err) == 404 {
			for _, c := range list {
				if _, draining := e.draining.Load(c.ID); !draining {
					_ = e.rt.Remove(ctx, c.ID)
				}
			}
		}
		return
	}

	var d *Deployment
	if a.Current != "" && !a.Stopped {
		if d, err = e.store.GetDeployment(name, a.Current); err != nil {
			log.Error("reconcile: current deployment", zap.Error(err))
			return
		}
	}

	running := map[string]bool{}
	for _, c := range list {
		running[c.ID] = c.Running
	}
	var keep []*Replica
	kept := map[string]bool{}
	serving := map[string]bool{}
	for _, r := range route.Replicas() {
		serving[r.ContainerID] = true
		if d != nil && r.Deployment == d.ID && r.State() == ReplicaReady && running[r.ContainerID] && len(keep) < d.Replicas {
			keep = append(keep, r)
			kept[r.ContainerID] = true
		}
	}

	var adopt []containers.Container
	for _, c := range list {
		if kept[c.ID] {
			continue
		}
		if serving[c.ID] {
			// Leaves the table below and drains: it may have requests in flight.
			continue
		}
		if _, draining := e.draining.Load(c.ID); draining {
			continue
		}
		if d != nil && c.Running && c.Labels[containers.LabelDeployment] == d.ID && len(keep)+len(adopt) < d.Replicas {
			adopt = append(adopt, c)
			continue
		}
		if e.deployInProgress(c) {
			continue
		}
		log.Info("removing container", zap.String("container", c.ID), zap.String("deployment", c.Labels[containers.LabelDeployment]), zap.Bool("running", c.Running))
		if err := e.rt.Remove(ctx, c.ID); err != nil {
			log.Warn("reconcile: removing container", zap.Error(err))
		}
	}

	if d != nil {
		info, imgErr := e.rt.InspectImage(ctx, d.Image)
		probe := newHealthProbe(e.rt, imgErr == nil && info.HasHealthcheck, d.HealthPath)
		for _, c := range adopt {
			addr, err := probe.wait(ctx, c.ID, e.config().HealthTimeout)
			if err != nil {
				log.Warn("reconcile: adopted replica is unhealthy; removing", zap.String("container", c.ID), zap.Error(err))
				_ = e.rt.Remove(ctx, c.ID)
				continue
			}
			r := NewReplica(c.ID, d.ID, addr)
			r.SetState(ReplicaReady)
			keep = append(keep, r)
			// Serve what is ready at once: after a restart, each
			// adopted replica takes requests as soon as it answers.
			route.SetReplicas(keep)
		}
		if missing := d.Replicas - len(keep); missing > 0 && imgErr == nil {
			a2 := *a
			started, err := e.startReplicas(ctx, &a2, d, info.HasHealthcheck, missing)
			if err != nil {
				log.Warn("reconcile: starting replicas", zap.Error(err))
			} else {
				keep = append(keep, started...)
				log.Info("reconcile: started replicas", zap.Int("count", len(started)))
			}
		} else if imgErr != nil && missing > 0 {
			log.Warn("reconcile: image of current deployment is missing", zap.String("image", d.Image), zap.Error(imgErr))
		}
	}
	old := route.SetReplicas(keep)
	var gone []*Replica
	for _, r := range old {
		if !contains(keep, r) {
			gone = append(gone, r)
		}
	}
	e.drain(gone)
}
