package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/builder"
	"github.com/caddy-paas/caddy-paas/containers"
)

// runDeployment is the blue-green pipeline for one recorded deployment. It
// runs in the app's queue, so deploys of one app never overlap. The old
// replicas keep serving until the new ones are healthy; on any failure the
// new replicas are removed and the old version goes on serving.
func (e *Engine) runDeployment(ctx context.Context, app, id string) {
	log := e.log().With(zap.String("app", app), zap.String("deployment", id))
	d, err := e.store.GetDeployment(app, id)
	if err != nil {
		log.Debug("deployment gone before it ran", zap.Error(err))
		return
	}
	if d.Status != StatusPending {
		return
	}
	a, err := e.store.GetApp(app)
	if err != nil {
		return
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e.running.Store(id, cancel)
	defer e.running.Delete(id)

	out, err := e.logs.create(app, id)
	if err != nil {
		log.Warn("no deployment log", zap.Error(err))
		out = nil
	}
	say := func(format string, args ...any) {
		if out != nil {
			out.Printf(format, args...)
		}
	}
	defer func() {
		if out != nil {
			out.close()
			e.logs.prune(app, keepLogs)
		}
	}()
	fail := func(reason string) {
		if errors.Is(context.Cause(ctx), errCanceledByUser) {
			reason = errCanceledByUser.Error()
		}
		log.Warn("deploy failed", zap.String("reason", reason))
		say("deploy failed: %s", reason)
		e.setStatus(d, StatusFailed, reason)
	}
	say("deployment %s (version %d) of %s", d.ID, d.Version, app)

	now := time.Now().UTC()
	d.StartedAt = &now
	if err := e.setStatus(d, StatusBuilding, ""); err != nil {
		return
	}
	if d.Source == SourceGit || d.Source == SourceUpload {
		if err := e.buildStage(ctx, a, d, say, out); err != nil {
			fail(err.Error())
			return
		}
		// Keep what the build found (image, commit, port...) on record.
		if err := e.setStatus(d, StatusBuilding, ""); err != nil {
			return
		}
		defer e.pruneImages(context.WithoutCancel(ctx), app)
	} else {
		say("resolving image %s", d.Image)
	}
	info, err := builder.Resolve(ctx, e.rt, d.Image)
	if err != nil {
		fail(err.Error())
		return
	}
	say("image %s is %s", d.Image, info.ID)
	if err := e.boundedRelease(ctx, a, d, say, out); err != nil {
		fail(err.Error())
		return
	}

	if err := e.setStatus(d, StatusStarting, ""); err != nil {
		return
	}
	say("starting %d replica(s), waiting up to %s for them to be healthy", d.Replicas, e.config().HealthTimeout)
	replicas, err := e.startReplicas(ctx, a, d, info.HasHealthcheck, d.Replicas)
	if err != nil {
		fail(err.Error())
		return
	}

	// Record the new version first, then swap: a crash in between leaves a
	// store that names the new deployment, whose containers run, and the
	// reconciler serves them.
	var previous string
	stopped := false
	err = e.store.Update(func(tx *StoreTx) error {
		cur, err := tx.App(app)
		if err != nil {
			return err
		}
		dd, err := tx.Deployment(app, d.ID)
		if err != nil {
			return err
		}
		if dd.Status != StatusStarting {
			return conflict("deployment was %s while starting", dd.Status)
		}
		previous = cur.Current
		if previous != "" && previous != d.ID {
			if old, err := tx.Deployment(app, previous); err == nil && old.Status == StatusLive {
				old.Status = StatusSuperseded
				if err := tx.PutDeployment(old); err != nil {
					return err
				}
			}
		}
		done := time.Now().UTC()
		dd.Status, dd.Reason, dd.FinishedAt = StatusLive, "", &done
		*d = *dd
		cur.Current = d.ID
		// A stop that came while this deploy ran wins: the deployment is
		// recorded (a start runs it) but takes no traffic.
		stopped = cur.Stopped
		if err := tx.PutDeployment(dd); err != nil {
			return err
		}
		return tx.PutApp(cur)
	})
	if err != nil {
		e.removeReplicas(replicas)
		fail(fmt.Sprintf("recording the deployment: %v", err))
		return
	}

	if stopped {
		say("the app was stopped meanwhile: the deployment is recorded and takes no traffic")
		e.removeReplicas(replicas)
		log.Info("deployment recorded; the app was stopped meanwhile, so it takes no traffic")
		return
	}
	// Hosts are not touched here: they change only with the app record, in
	// the same transaction (see setHostsTx), so a finishing deploy cannot
	// bring back a domain the app gave up meanwhile.
	old := e.table.EnsureRoute(app).SetReplicas(replicas)
	say("live: %d replica(s) serving; %d old replica(s) draining", len(replicas), len(old))
	log.Info("deployment live", zap.Int("replicas", len(replicas)), zap.String("image", d.Image),
		zap.String("previous", previous))
	e.drain(old)
}

// errReleaseTimeout is the cause of a release command's context when the
// build timeout ran out.
var errReleaseTimeout = errors.New("the release command ran out of time")

// boundedRelease runs the release command (if the deployment has one)
// bounded by the build timeout, counted from its start: fetch and build
// have theirs, and a release command that hangs must not hold the app's
// deploy queue forever. One that overruns is killed and removed, and the
// deploy fails; the old version keeps serving.
func (e *Engine) boundedRelease(ctx context.Context, a *App, d *Deployment, say func(string, ...any), out *liveLog) error {
	if len(d.Release) == 0 {
		return nil
	}
	timeout := e.config().BuildTimeout
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errReleaseTimeout)
	defer cancel()
	var w io.Writer = io.Discard // no deployment log
	if out != nil {
		w = out
	}
	err := e.release(rctx, a, d, say, w)
	if err == nil {
		return nil
	}
	// Whatever the runtime left of the command (a container created as the
	// deadline came) goes: no replica of this deployment runs yet.
	e.removeDeploymentContainers(d.App, d.ID)
	if errors.Is(context.Cause(rctx), errReleaseTimeout) && ctx.Err() == nil {
		return fmt.Errorf("release command did not finish within %s", timeout)
	}
	return err
}

// setStatus records a status change of a deployment that is still in
// progress. It refuses to overwrite a final status.
func (e *Engine) setStatus(d *Deployment, status DeploymentStatus, reason string) error {
	return e.store.Update(func(tx *StoreTx) error {
		cur, err := tx.Deployment(d.App, d.ID)
		if err != nil {
			return err
		}
		if cur.Status.Finished() {
			return conflict("deployment already %s", cur.Status)
		}
		d.Status, d.Reason = status, reason
		if status.Finished() {
			now := time.Now().UTC()
			d.FinishedAt = &now
		}
		return tx.PutDeployment(d)
	})
}

// containerEnv is the env a replica gets: the deployment's, plus PORT
// unless the app sets it. Values are only ever in memory here.
func containerEnv(d *Deployment) []string {
	env := make([]string, 0, len(d.Env)+1)
	for k, v := range d.Env {
		env = append(env, k+"="+v)
	}
	if _, ok := d.Env["PORT"]; !ok {
		env = append(env, "PORT="+strconv.Itoa(d.Port))
	}
	sort.Strings(env)
	return env
}

func shortID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startReplicas creates n replicas of deployment d and waits until all are
// healthy. When one fails, all of them are removed and the reason returned.
func (e *Engine) startReplicas(ctx context.Context, a *App, d *Deployment, hasHealthcheck bool, n int) ([]*Replica, error) {
	cfg := e.config()
	network := ""
	if cfg.UpstreamMode == UpstreamNetwork {
		network = cfg.Network
		if err := e.rt.EnsureNetwork(ctx, network); err != nil {
			return nil, err
		}
	}
	probe := newHealthProbe(e.rt, hasHealthcheck, d.HealthPath)
	out := make([]*Replica, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			spec := containers.Spec{
				Name:  fmt.Sprintf("paas-%s-%s-%s", a.Name, d.ID, shortID()),
				Image: d.Image,
				Env:   containerEnv(d),
				Labels: e.labels(map[string]string{
					containers.LabelApp:        a.Name,
					containers.LabelDeployment: d.ID,
				}),
				Port:    d.Port,
				Network: network,
				Limits:  a.limits(),
			}
			c, err := e.rt.CreateAndStart(ctx, spec)
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = NewReplica(c.ID, d.ID, "")
			addr, err := probe.wait(ctx, c.ID, cfg.HealthTimeout)
			if err != nil {
				errs[i] = err
				return
			}
			out[i].Addr = addr
			out[i].SetState(ReplicaReady)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.removeReplicas(out)
		// A create or start cut short (a canceled deploy) may still have
		// left a container that no replica records: find them by label.
		e.removeDeploymentContainers(a.Name, d.ID)
		// The first reason is the one to show; the others repeat it.
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// removeDeploymentContainers removes every container of one deployment,
// found by its labels.
func (e *Engine) removeDeploymentContainers(app, deployment string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := e.rt.List(ctx, e.labels(map[string]string{containers.LabelApp: app, containers.LabelDeployment: deployment}))
	if err != nil {
		e.log().Warn("listing the replicas of a failed deploy", zap.String("deployment", deployment), zap.Error(err))
		return
	}
	for _, c := range list {
		if err := e.rt.Remove(ctx, c.ID); err != nil {
			e.log().Warn("removing replica", zap.String("container", c.ID), zap.Error(err))
		}
	}
}

// removeReplicas removes containers at once, with no drain: they never
// served or are already gone.
func (e *Engine) removeReplicas(list []*Replica) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range list {
		if r == nil {
			continue
		}
		if err := e.rt.Remove(ctx, r.ContainerID); err != nil {
			e.log().Warn("removing replica", zap.String("container", r.ContainerID), zap.Error(err))
		}
	}
}

// drain takes replicas out of service: they get no new requests at once,
// finish the ones they have (bounded by the drain timeout), then stop
// gracefully and are removed.
func (e *Engine) drain(list []*Replica) {
	if len(list) == 0 {
		return
	}
	for _, r := range list {
		r.SetState(ReplicaDraining)
		e.draining.Store(r.ContainerID, struct{}{})
	}
	cfg := e.config()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		deadline := time.Now().Add(cfg.DrainTimeout)
		for time.Now().Before(deadline) {
			busy := false
			for _, r := range list {
				if r.InFlight() > 0 {
					busy = true
					break
				}
			}
			if !busy {
				break
			}
			select {
			case <-e.ctx.Done():
				// Leave the containers: the next start removes them.
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StopTimeout+30*time.Second)
		defer cancel()
		for _, r := range list {
			if err := e.rt.Stop(ctx, r.ContainerID, cfg.StopTimeout); err != nil {
				e.log().Warn("stopping drained replica", zap.String("container", r.ContainerID), zap.Error(err))
			}
			if err := e.rt.Remove(ctx, r.ContainerID); err != nil {
				e.log().Warn("removing drained replica", zap.String("container", r.ContainerID), zap.Error(err))
			}
			e.draining.Delete(r.ContainerID)
		}
	}()
}
