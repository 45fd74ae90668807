// Package containers is the platform's only way to the Docker engine. It
// exposes a small allowlist of operations (images, containers with our
// labels, one network, events) and nothing else: no exec, no plugins, no
// privileged or host-mounted containers.
package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// Labels put on every container the platform creates.
const (
	LabelApp        = "paas.app"
	LabelDeployment = "paas.deployment"
	// LabelInstance holds the id of the data directory whose engine owns
	// the container, so that two caddy-paas on one Docker engine never
	// touch each other's containers.
	LabelInstance = "paas.instance"
)

// ErrImageNotFound is returned when an image is neither present locally nor
// pullable.
var ErrImageNotFound = errors.New("image not found")

// Spec describes a replica container to create.
type Spec struct {
	// Name is the container name.
	Name string
	// Image is the image reference.
	Image string
	// Env holds KEY=VALUE pairs; they are passed to the engine as an array,
	// never through a shell.
	Env []string
	// Labels are added to the container.
	Labels map[string]string
	// Port is the container port the app listens on.
	Port int
	// Network, when set, attaches the container to that network and the
	// replica is reached at its address there; otherwise the port is
	// published on 127.0.0.1 at an ephemeral port.
	Network string
	// Limits caps what the container may use.
	Limits
}

// DefaultPidsLimit caps the processes and threads of every container the
// platform creates, so that a fork bomb in one app cannot exhaust the
// host's process table.
const DefaultPidsLimit = 4096

// Limits caps the resources of one container.
type Limits struct {
	// MemoryBytes limits memory; 0 means no limit.
	MemoryBytes int64
	// NanoCPUs limits CPU time, in billionths of a CPU (5e8 is half of
	// one); 0 means no limit.
	NanoCPUs int64
	// PidsLimit caps the container's processes and threads; 0 means
	// DefaultPidsLimit.
	PidsLimit int64
}

// resources is the Docker form of the limits. The pids limit is always
// set: a container without one may fork until the host cannot.
func (l Limits) resources() container.Resources {
	pids := l.PidsLimit
	if pids <= 0 {
		pids = DefaultPidsLimit
	}
	return container.Resources{Memory: l.MemoryBytes, NanoCPUs: l.NanoCPUs, PidsLimit: &pids}
}

// Container is what the platform needs to know about one container.
type Container struct {
	ID       string
	Name     string
	Image    string
	Labels   map[string]string
	Running  bool
	ExitCode int
	// Health is the Docker health status ("starting", "healthy",
	// "unhealthy"), or "" when the image has no HEALTHCHECK.
	Health string
	// Addr is host:port to dial the app at, or "" when not running.
	Addr string
}

// Event is a container lifecycle event of one of our containers.
type Event struct {
	ContainerID string
	Action      string
	Labels      map[string]string
}

// ImageInfo is what the platform needs to know about an image.
type ImageInfo struct {
	ID             string
	HasHealthcheck bool
}

// Docker talks to one Docker engine.
type Docker struct {
	cli *client.Client

	// The client negotiates the API version lazily on its first request,
	// unsynchronized; negotiating once, under a lock, before any other
	// request keeps concurrent first requests from racing.
	negotiateMu sync.Mutex
	negotiated  atomic.Bool
}

// negotiate settles the API version with the engine once it answers.
func (d *Docker) negotiate(ctx context.Context) {
	if d.negotiated.Load() {
		return
	}
	d.negotiateMu.Lock()
	defer d.negotiateMu.Unlock()
	if d.negotiated.Load() {
		return
	}
	if _, err := d.cli.Ping(ctx); err != nil {
		return
	}
	d.cli.NegotiateAPIVersion(ctx)
	d.negotiated.Store(true)
}

// NewDocker connects to the engine at host (a URL such as
// unix:///var/run/docker.sock; empty means the environment's default),
// negotiating the API version with the engine.
func NewDocker(host string) (*Docker, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	return &Docker{cli: cli}, nil
}

// Close releases the client.
func (d *Docker) Close() error { return d.cli.Close() }

// Ping checks that the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	d.negotiate(ctx)
	if _, err := d.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine does not answer: %w", err)
	}
	return nil
}

// InspectImage returns the local image, or ErrImageNotFound.
func (d *Docker) InspectImage(ctx context.Context, ref string) (ImageInfo, error) {
	d.negotiate(ctx)
	img, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		if client.IsErrNotFound(err) {
			return ImageInfo{}, fmt.Errorf("%w: %s", ErrImageNotFound, ref)
		}
		return ImageInfo{}, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	info := ImageInfo{ID: img.ID}
	if img.Config != nil && img.Config.Healthcheck != nil {
		hc := img.Config.Healthcheck.Test
		info.HasHealthcheck = len(hc) > 0 && hc[0] != "NONE"
	}
	return info, nil
}

// PullImage pulls ref from its registry.
func (d *Docker) PullImage(ctx context.Context, ref string) error {
	d.negotiate(ctx)
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("%w: pulling %s: %v", ErrImageNotFound, ref, err)
	}
	defer rc.Close()
	// The pull happens while the progress stream is read; an error inside
	// the stream is reported by the later inspect.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	return nil
}

// EnsureNetwork creates the bridge network name unless it exists.
func (d *Docker) EnsureNetwork(ctx context.Context, name string) error {
	d.negotiate(ctx)
	if _, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{}); err == nil {
		return nil
	} else if !client.IsErrNotFound(err) {
		return fmt.Errorf("inspecting network %s: %w", name, err)
	}
	_, err := d.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{"paas.network": "true"},
	})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("creating network %s: %w", name, err)
	}
	return nil
}

// CreateAndStart creates the container described by spec, starts it and
// returns it inspected. On failure nothing is left behind.
func (d *Docker) CreateAndStart(ctx context.Context, spec Spec) (Container, error) {
	d.negotiate(ctx)
	port, err := nat.NewPort("tcp", strconv.Itoa(spec.Port))
	if err != nil {
		return Container{}, fmt.Errorf("port %d: %w", spec.Port, err)
	}
	cfg := &container.Config{
		Image:        spec.Image,
		Env:          spec.Env,
		Labels:       spec.Labels,
		ExposedPorts: nat.PortSet{port: struct{}{}},
	}
	hostCfg := &container.HostConfig{
		// The reconciler replaces crashed replicas; a Docker restart would
		// give a published replica a new ephemeral port behind our back.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
			"max-size": "10m", "max-file": "3",
		}},
		Resources: spec.Limits.resources(),
	}
	var netCfg *network.NetworkingConfig
	if spec.Network != "" {
		hostCfg.NetworkMode = container.NetworkMode(spec.Network)
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			spec.Network: {},
		}}
	} else {
		hostCfg.PortBindings = nat.PortMap{port: []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: ""}}}
	}
	// The engine finishes a create whose client went away, and the
	// container would then belong to no one: the create is not cut short
	// by ctx, and one made after ctx ended is removed at once.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	created, err := d.cli.ContainerCreate(cctx, cfg, hostCfg, netCfg, nil, spec.Name)
	cancel()
	if err != nil {
		return Container{}, fmt.Errorf("creating container %s: %w", spec.Name, err)
	}
	if err := ctx.Err(); err != nil {
		_ = d.Remove(context.WithoutCancel(ctx), created.ID)
		return Container{}, fmt.Errorf("creating container %s: %w", spec.Name, err)
	}
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		_ = d.Remove(context.WithoutCancel(ctx), created.ID)
		return Container{}, fmt.Errorf("starting container %s: %w", spec.Name, err)
	}
	c, err := d.Inspect(ctx, created.ID)
	if err != nil {
		_ = d.Remove(context.WithoutCancel(ctx), created.ID)
		return Container{}, err
	}
	return c, nil
}

// Inspect returns the container's current state.
func (d *Docker) Inspect(ctx context.Context, id string) (Container, error) {
	d.negotiate(ctx)
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return Container{}, fmt.Errorf("inspecting container %s: %w", id, err)
	}
	c := Container{ID: info.ID, Name: strings.TrimPrefix(info.Name, "/")}
	if info.Config != nil {
		c.Labels = info.Config.Labels
		c.Image = info.Config.Image
	}
	if info.State != nil {
		c.Running = info.State.Running
		c.ExitCode = info.State.ExitCode
		if info.State.Health != nil {
			c.Health = info.State.Health.Status
		}
	}
	if c.Running && info.NetworkSettings != nil && info.Config != nil {
		c.Addr = dialAddr(info.NetworkSettings, info.HostConfig, info.Config.ExposedPorts)
	}
	return c, nil
}

// dialAddr finds the address to reach the app: the published loopback port,
// or the container's address on its network.
func dialAddr(ns *container.NetworkSettings, hc *container.HostConfig, exposed nat.PortSet) string {
	for port := range exposed {
		for _, b := range ns.Ports[port] {
			if b.HostPort != "" && (b.HostIP == "127.0.0.1" || b.HostIP == "") {
				return net.JoinHostPort("127.0.0.1", b.HostPort)
			}
		}
		if hc != nil {
			if ep, ok := ns.Networks[string(hc.NetworkMode)]; ok && ep.IPAddress != "" {
				return net.JoinHostPort(ep.IPAddress, port.Port())
			}
		}
	}
	return ""
}

// Stop asks the container to stop, killing it after timeout.
func (d *Docker) Stop(ctx context.Context, id string, timeout time.Duration) error {
	d.negotiate(ctx)
	secs := int(timeout.Seconds())
	if err := d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	return nil
}

// Remove force-removes the container; a missing container is not an error.
func (d *Docker) Remove(ctx context.Context, id string) error {
	d.negotiate(ctx)
	err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	return nil
}

// List returns every container (running or not) that has the label key,
// with labels matching the given values.
func (d *Docker) List(ctx context.Context, labels map[string]string) ([]Container, error) {
	d.negotiate(ctx)
	args := filters.NewArgs()
	args.Add("label", LabelApp)
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	out := make([]Container, 0, len(list))
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, Container{
			ID: c.ID, Name: name, Image: c.Image, Labels: c.Labels,
			Running: c.State == "running",
		})
	}
	return out, nil
}

// Events streams start/die/destroy events of our containers until ctx ends.
// The error channel receives one error when the stream breaks.
func (d *Docker) Events(ctx context.Context) (<-chan Event, <-chan error) {
	d.negotiate(ctx)
	args := filters.NewArgs()
	args.Add("type", string(events.ContainerEventType))
	args.Add("label", LabelApp)
	for _, a := range []string{"start", "die", "destroy", "health_status"} {
		args.Add("event", a)
	}
	msgs, errs := d.cli.Events(ctx, events.ListOptions{Filters: args})
	out := make(chan Event)
	outErr := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-msgs:
				ev := Event{ContainerID: m.Actor.ID, Action: string(m.Action), Labels: m.Actor.Attributes}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case err := <-errs:
				outErr <- err
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, outErr
}

// RunOnce runs cmd (an argument array, no shell) in a new container made
// from spec, copies its output to log, waits for it to exit and removes it.
// It returns the exit code. When ctx ends first, the container is killed
// and removed, and the error says why.
func (d *Docker) RunOnce(ctx context.Context, spec Spec, cmd []string, log io.Writer) (int, error) {
	d.negotiate(ctx)
	cfg := &container.Config{
		Image:      spec.Image,
		Env:        spec.Env,
		Labels:     spec.Labels,
		Entrypoint: cmd,
		Cmd:        nil,
	}
	hostCfg := &container.HostConfig{Resources: spec.Limits.resources()}
	var netCfg *network.NetworkingConfig
	if spec.Network != "" {
		hostCfg.NetworkMode = container.NetworkMode(spec.Network)
	}
	created, err := d.cli.ContainerCreate(ctx, cfg, hostCfg, netCfg, nil, spec.Name)
	if err != nil {
		return -1, fmt.Errorf("creating container %s: %w", spec.Name, err)
	}
	defer func() {
		// Force-removal kills a command still running (ctx ended): it
		// must not outlive the deploy that ran it.
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = d.Remove(rmCtx, created.ID)
	}()
	waitC, errC := d.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return -1, fmt.Errorf("starting container %s: %w", spec.Name, err)
	}
	logs, err := d.cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err == nil {
		_, _ = stdcopy.StdCopy(log, log, logs)
		logs.Close()
	}
	select {
	case res := <-waitC:
		if res.Error != nil {
			return -1, fmt.Errorf("waiting for container %s: %s", spec.Name, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-errC:
		if cause := context.Cause(ctx); cause != nil {
			return -1, fmt.Errorf("waiting for container %s: %w", spec.Name, cause)
		}
		return -1, fmt.Errorf("waiting for container %s: %w", spec.Name, err)
	}
}

// LogOptions selects a container's log lines.
type LogOptions struct {
	// Tail is how many of the last lines to show (0: all).
	Tail int
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
	// Timestamps prefixes each line with its time.
	Timestamps bool
}

// Logs copies a container's output (stdout and stderr) to w.
func (d *Docker) Logs(ctx context.Context, id string, opts LogOptions, w io.Writer) error {
	o := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Timestamps: opts.Timestamps}
	if opts.Tail > 0 {
		o.Tail = strconv.Itoa(opts.Tail)
	}
	rc, err := d.cli.ContainerLogs(ctx, id, o)
	if err != nil {
		return fmt.Errorf("reading logs of container %s: %w", shortID(id), err)
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading logs of container %s: %w", shortID(id), err)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
