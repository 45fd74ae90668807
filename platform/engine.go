// Package platform is the engine of caddy-paas: apps, deployments, the
// blue-green deploy pipeline, the reconciler and the routing table. It talks
// to Docker and bbolt only through the Runtime interface and the Store.
package platform

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/builder/gitsource"
	"github.com/caddy-paas/caddy-paas/containers"
)

// Runtime is the container engine as the platform uses it. containers.Docker
// implements it.
type Runtime interface {
	InspectImage(ctx context.Context, ref string) (containers.ImageInfo, error)
	PullImage(ctx context.Context, ref string) error
	EnsureNetwork(ctx context.Context, name string) error
	CreateAndStart(ctx context.Context, spec containers.Spec) (containers.Container, error)
	Inspect(ctx context.Context, id string) (containers.Container, error)
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	List(ctx context.Context, labels map[string]string) ([]containers.Container, error)
	Events(ctx context.Context) (<-chan containers.Event, <-chan error)
	BuildImage(ctx context.Context, contextTar io.Reader, spec containers.BuildSpec, log io.Writer) (string, error)
	ImageTags(ctx context.Context, app string) ([]string, error)
	RemoveImage(ctx context.Context, ref string) error
	RunOnce(ctx context.Context, spec containers.Spec, cmd []string, log io.Writer) (int, error)
	Logs(ctx context.Context, id string, opts containers.LogOptions, w io.Writer) error
	Exec(ctx context.Context, id string, cmd []string) (*containers.ExecSession, error)
	Usage(ctx context.Context, id string) (containers.Usage, error)
}

// Upstream modes.
const (
	UpstreamHost    = "host"
	UpstreamNetwork = "network"
)

// Config holds the engine's settings. A config reload may change them while
// the engine keeps running.
type Config struct {
	BaseDomain    string
	UpstreamMode  string
	Network       string
	HealthTimeout time.Duration
	DrainTimeout  time.Duration
	// StopTimeout is how long a replica gets to stop gracefully after its
	// drain before it is killed.
	StopTimeout time.Duration
	// LogDir is where deployment logs are kept (one file per deployment).
	// It is read once, when the engine is created.
	LogDir string
	// WorkDir holds build folders, uploads and the git cache. It is read
	// once, when the engine is created.
	WorkDir string
	// GitPolicy says which repository URLs may be fetched.
	GitPolicy gitsource.URLPolicy
	// BuildTimeout bounds a build (fetch and build together), and the
	// release command on its own. Default: 30m.
	BuildTimeout time.Duration
	// KeepImages is how many built images of an app are kept for
	// rollbacks. Default: 5.
	KeepImages int
	// PublicIPs are this server's public addresses, for domain checks.
	// Default: the addresses of its interfaces.
	PublicIPs []string
	// ReconcileInterval is how often the reconciler compares desired state
	// with the containers, besides reacting to Docker events.
	ReconcileInterval time.Duration
	// UsageInterval is how often the replicas' CPU and memory are sampled.
	// Default: 10s.
	UsageInterval time.Duration
}

// Engine runs apps. One engine exists per data directory; it outlives
// config reloads.
type Engine struct {
	cfg    atomic.Pointer[Config]
	logger atomic.Pointer[zap.Logger]

	store *Store
	rt    Runtime
	table *RoutingTable
	logs  *logStore

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queues *appQueues

	// draining holds the container ids of replicas being drained, which the
	// reconciler must leave alone.
	draining sync.Map
	// attachments counts the configs that provisioned against this engine:
	// it changes on a Caddy config load and never on a deploy.
	attachments atomic.Int64
	started     atomic.Bool
	// recordMu orders app-record changes with their effects on the routing
	// table and the deploy queue (see mutate).
	recordMu sync.Mutex
	// running maps the id of each deploy in progress to its cancel.
	running    sync.Map
	gitOnce    sync.Once
	git        *gitsource.Cache
	certLookup atomic.Pointer[CertLookup]
	reserved   atomic.Pointer[ReservedHosts]
	certCache  atomic.Pointer[CertCache]
	certsMu    sync.Mutex
	// certsChanged wakes expireCerts when the uploads change.
	certsChanged chan struct{}
	certErrors   sync.Map // host -> certAttempt
	resolver     atomic.Pointer[Resolver]
	// certs indexes uploaded certificates by host, for handshakes.
	certs atomic.Pointer[certIndex]
	// instance labels this engine's containers (containers.LabelInstance).
	instance string
	// usage holds the last CPU and memory sample of every app.
	usage usageSampler
}

// NewEngine returns an engine over an open store and a runtime. Start runs it.
func NewEngine(cfg Config, store *Store, rt Runtime, logger *zap.Logger) *Engine {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{store: store, rt: rt, table: NewRoutingTable(), ctx: ctx, cancel: cancel, logs: newLogStore(cfg.LogDir), certsChanged: make(chan struct{}, 1)}
	e.queues = newAppQueues(ctx, &e.wg)
	e.Configure(cfg, logger)
	id, err := store.InstanceID()
	if err != nil {
		// Without an id the engine would adopt or remove other instances'
		// containers; a fixed id keeps it to unlabeled-by-others ones.
		e.log().Error("reading instance id", zap.Error(err))
		id = "unknown"
	}
	e.instance = id
	return e
}

// Configure applies new settings and the logger of the current config.
func (e *Engine) Configure(cfg Config, logger *zap.Logger) {
	if cfg.UpstreamMode == "" {
		cfg.UpstreamMode = UpstreamHost
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 60 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = 30 * time.Minute
	}
	if cfg.KeepImages <= 0 {
		cfg.KeepImages = 5
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 30 * time.Second
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	e.cfg.Store(&cfg)
	e.logger.Store(logger)
	e.attachments.Add(1)
}

func (e *Engine) config() *Config      { return e.cfg.Load() }
func (e *Engine) log() *zap.Logger     { return e.logger.Load() }
func (e *Engine) Table() *RoutingTable { return e.table }

// Attachments reports how many Caddy configs have provisioned against this
// engine. Deploys never change it; a config load does.
func (e *Engine) Attachments() int64 { return e.attachments.Load() }

// Start rebuilds the routing table from the store at once (so every app
// has its hosts before the first request), then reconciles with the
// containers and follows Docker events in the background.
func (e *Engine) Start() error {
	if !e.started.CompareAndSwap(false, true) {
		return nil
	}
	apps, err := e.store.ListApps()
	if err != nil {
		return err
	}
	for _, a := range apps {
		e.routeApp(a)
	}
	e.reloadCerts()
	// Settle deploys a crash interrupted before anything new can start,
	// so a deploy asked for right after Start is never taken for one.
	e.recoverInterrupted()
	e.wg.Add(3)
	go e.run()
	go e.sampleUsage()
	go e.expireCerts()
	return nil
}

// Close stops the engine's goroutines. Containers keep running; the next
// start adopts them.
func (e *Engine) Close() {
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		e.log().Warn("engine goroutines still running at close")
	}
}

// labels returns the labels that select this engine's containers, plus
// extra ones.
func (e *Engine) labels(extra map[string]string) map[string]string {
	out := map[string]string{containers.LabelInstance: e.instance}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// hosts returns the hosts an app answers on.
func (e *Engine) hosts(a *App) []string {
	out := make([]string, 0, 1+len(a.Domains))
	if base := e.config().BaseDomain; base != "" {
		out = append(out, a.Name+"."+base)
	}
	return append(out, a.Domains...)
}

// HostAllowed reports whether host belongs to an app; it is the question
// on-demand TLS asks before it gets a certificate.
func (e *Engine) HostAllowed(host string) bool { return e.table.HasHost(NormalizeHost(host)) }

var errStopping = errors.New("engine is stopping")
