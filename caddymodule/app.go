// Package caddymodule adapts caddy-paas to Caddy: module types, Caddyfile
// parsing and CLI commands. It holds no logic of its own; the engine is in
// package platform.
package caddymodule

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/builder/gitsource"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/storage"
)

func init() {
	caddy.RegisterModule(App{})
}

// engines keeps one engine per data directory across config loads: Caddy
// provisions a new config before it cleans up the old one, so the engine
// (database, Docker client, routing table, goroutines) is shared and only
// the last user's Cleanup stops it.
var engines = caddy.NewUsagePool()

// App is the `paas` app: it owns the engine that runs apps in containers
// and routes their hosts. Configure it with the global Caddyfile option
// `paas { ... }` or under "apps": {"paas": {...}} in JSON.
type App struct {
	// DataDir is where the database and the master key live. Default: the
	// "paas" folder in Caddy's data directory.
	DataDir string `json:"data_dir,omitempty"`
	// BaseDomain is the domain under which every app gets a host,
	// <app>.<base_domain>. Required.
	BaseDomain string `json:"base_domain,omitempty"`
	// DockerHost is the Docker engine's address, such as
	// unix:///var/run/docker.sock or tcp://127.0.0.1:2375. Default: the
	// DOCKER_HOST environment variable, else the local socket.
	DockerHost string `json:"docker_host,omitempty"`
	// UpstreamMode is how Caddy reaches replicas: "host" (default) publishes
	// each replica's port on 127.0.0.1 at an ephemeral port, for Caddy on
	// the host; "network" dials the replica on the Docker network, for
	// Caddy in a container on that network.
	UpstreamMode string `json:"upstream_mode,omitempty"`
	// Network is the Docker network replicas join in network mode.
	// Default: caddy-paas.
	Network string `json:"network,omitempty"`
	// HealthTimeout bounds how long a new replica has to become healthy
	// before its deploy fails. Default: 60s.
	HealthTimeout caddy.Duration `json:"health_timeout,omitempty"`
	// DrainTimeout bounds how long a replacing deploy waits for the old
	// replicas' requests in flight before stopping them. Default: 30s.
	DrainTimeout caddy.Duration `json:"drain_timeout,omitempty"`
	// BuildTimeout bounds a build from source (fetch and build together),
	// and then the release command on its own. Default: 30m.
	BuildTimeout caddy.Duration `json:"build_timeout,omitempty"`
	// KeepImages is how many built images of each app are kept for
	// rollbacks; older ones are pruned. Default: 5.
	KeepImages int `json:"keep_images,omitempty"`
	// Git says which repository URLs apps may be built from. By default
	// only https and ssh URLs of public addresses: loopback, private and
	// link-local hosts are refused (SSRF) unless listed in allow_hosts.
	Git *GitPolicy `json:"git,omitempty"`
	// PublicIPs are this server's public addresses; domain checks tell
	// whether a domain resolves to one of them. Default: the addresses of
	// the machine's interfaces.
	PublicIPs []string `json:"public_ips,omitempty"`
	// SessionIdle ends a dashboard session unused for this long.
	// Default: 12h.
	SessionIdle caddy.Duration `json:"session_idle,omitempty"`
	// SessionLifetime ends a dashboard session this long after login,
	// used or not. Default: 168h (7 days).
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	key    string
	engine *platform.Engine
	pooled *pooledEngine
	logger *zap.Logger
	ctx    caddy.Context
	// syncCerts is set when this config has a certificate storage, and
	// so a TLS app whose cache the uploads must be synced to.
	syncCerts bool
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "paas", New: func() caddy.Module { return new(App) }}
}

// GitPolicy is the operator's policy for repository URLs.
type GitPolicy struct {
	// AllowHosts lists hosts (names, IP addresses or CIDR prefixes) that
	// may be fetched from even though they are loopback, private or
	// link-local: an intranet Git server, for example.
	AllowHosts []string `json:"allow_hosts,omitempty"`
	// AllowHTTP accepts plain http:// URLs (the code and any token travel
	// in clear text).
	AllowHTTP bool `json:"allow_http,omitempty"`
	// AllowFile accepts file:// URLs, read from this machine: for local
	// mirrors and tests, never for URLs that tenants type.
	AllowFile bool `json:"allow_file,omitempty"`
}

// pooledEngine is an engine with what it owns, for the usage pool.
type pooledEngine struct {
	engine *platform.Engine
	auth   *auth.Service
	store  *platform.Store
	db     *storage.DB
	sealer *storage.Sealer
	dir    string
	docker *containers.Docker
	// certCache keeps Caddy's certificate cache in step with the uploads
	// across config loads.
	certCache tlsCertCache
}

// rotateKey re-seals every secret of the data directory under a new
// master key.
func (p *pooledEngine) rotateKey(ctx context.Context) (string, error) {
	return storage.RotateMasterKey(p.dir, p.db, p.sealer, p.store, p.auth)
}

// Destruct stops the engine when its last config goes away.
func (p *pooledEngine) Destruct() error {
	p.engine.Close()
	p.docker.Close()
	return p.db.Close()
}

// Provision sets defaults, validates, and attaches to (or opens) the engine
// of the data directory.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	if a.BaseDomain == "" {
		return fmt.Errorf("paas: base_domain is required")
	}
	base, err := platform.NormalizeDomain(a.BaseDomain)
	if err != nil {
		return fmt.Errorf("paas: base_domain: %w", err)
	}
	a.BaseDomain = base
	if a.DataDir == "" {
		a.DataDir = filepath.Join(caddy.AppDataDir(), "paas")
	}
	if a.DataDir, err = filepath.Abs(a.DataDir); err != nil {
		return fmt.Errorf("paas: data_dir: %w", err)
	}
	switch a.UpstreamMode {
	case "":
		a.UpstreamMode = platform.UpstreamHost
	case platform.UpstreamHost, platform.UpstreamNetwork:
	default:
		return fmt.Errorf("paas: upstream_mode must be %q or %q, got %q", platform.UpstreamHost, platform.UpstreamNetwork, a.UpstreamMode)
	}
	if a.Network == "" {
		a.Network = "caddy-paas"
	}
	if a.HealthTimeout < 0 || a.DrainTimeout < 0 || a.BuildTimeout < 0 || a.KeepImages < 0 {
		return fmt.Errorf("paas: timeouts must not be negative")
	}
	cfg := platform.Config{
		BaseDomain:    a.BaseDomain,
		UpstreamMode:  a.UpstreamMode,
		Network:       a.Network,
		HealthTimeout: time.Duration(a.HealthTimeout),
		DrainTimeout:  time.Duration(a.DrainTimeout),
		LogDir:        filepath.Join(a.DataDir, "logs"),
		WorkDir:       filepath.Join(a.DataDir, "work"),
		BuildTimeout:  time.Duration(a.BuildTimeout),
		KeepImages:    a.KeepImages,
		PublicIPs:     a.PublicIPs,
	}
	if a.Git != nil {
		cfg.GitPolicy = gitsource.URLPolicy{AllowHosts: a.Git.AllowHosts, AllowHTTP: a.Git.AllowHTTP, AllowFile: a.Git.AllowFile}
	}
	if a.SessionIdle < 0 || a.SessionLifetime < 0 {
		return fmt.Errorf("paas: session durations must not be negative")
	}
	authCfg := auth.Config{SessionIdle: time.Duration(a.SessionIdle), SessionLifetime: time.Duration(a.SessionLifetime)}
	a.key = a.DataDir
	val, loaded, err := engines.LoadOrNew(a.key, func() (caddy.Destructor, error) {
		return openEngine(a.DataDir, a.DockerHost, cfg, authCfg, a.logger)
	})
	if err != nil {
		return fmt.Errorf("paas: %w", err)
	}
	a.pooled = val.(*pooledEngine)
	a.engine = a.pooled.engine
	if loaded {
		a.engine.Configure(cfg, a.logger)
		a.pooled.auth.Configure(authCfg, a.logger)
	}
	st := configStorage(ctx)
	if st == nil {
		return nil // a context made outside a config load (tests)
	}
	a.engine.SetCertLookup(storedCertificate(st))
	a.pooled.certCache.use(st, a.logger.Named("certs"))
	a.syncCerts = true
	// Certificate outcomes, for the domain status: Caddy's TLS app emits
	// them as events of this config.
	if ev, err := ctx.App("events"); err == nil {
		if events, ok := ev.(*caddyevents.App); ok {
			for _, name := range []string{"cert_failed", "cert_obtained"} {
				if err := events.On(name, certEvents{a.engine}); err != nil {
					return fmt.Errorf("paas: subscribing to %s: %w", name, err)
				}
			}
		}
	}
	return nil
}

// certEvents passes certificate events to the engine.
type certEvents struct{ engine *platform.Engine }

// Handle records a cert_failed or cert_obtained event.
func (h certEvents) Handle(_ context.Context, e caddy.Event) error {
	host, _ := e.Data["identifier"].(string)
	if host == "" {
		return nil
	}
	msg := ""
	if e.Name() == "cert_failed" {
		msg = "failed"
		if err, ok := e.Data["error"].(error); ok && err != nil {
			msg = err.Error()
		}
	}
	h.engine.CertEvent(host, msg)
	return nil
}

// configStorage is the config's certificate storage, or nil for a context
// made outside a config load (caddy.Context.Storage panics there).
func configStorage(ctx caddy.Context) (st certmagic.Storage) {
	defer func() {
		if recover() != nil {
			st = nil
		}
	}()
	return ctx.Storage()
}

// storedCertificate finds a host's certificate in Caddy's certificate
// storage, whichever issuer obtained it.
func storedCertificate(storage certmagic.Storage) platform.CertLookup {
	return func(ctx context.Context, host string) (*x509.Certificate, bool) {
		issuers, err := storage.List(ctx, certmagic.StorageKeys.CertsPrefix(""), false)
		if err != nil {
			return nil, false
		}
		names := []string{host}
		if _, parent, ok := strings.Cut(host, "."); ok && strings.Contains(parent, ".") {
			names = append(names, "*."+parent) // a wildcard serves it too
		}
		now := time.Now()
		for _, name := range names {
			for _, issuer := range issuers {
				data, err := storage.Load(ctx, certmagic.StorageKeys.SiteCert(path.Base(issuer), name))
				if err != nil {
					continue
				}
				block, _ := pem.Decode(data)
				if block == nil {
					continue
				}
				cert, err := x509.ParseCertificate(block.Bytes)
				if err == nil && cert.VerifyHostname(host) == nil && now.Before(cert.NotAfter) {
					return cert, true
				}
			}
		}
		return nil, false
	}
}

func openEngine(dir, dockerHost string, cfg platform.Config, authCfg auth.Config, logger *zap.Logger) (*pooledEngine, error) {
	db, err := storage.Open(dir)
	if err != nil {
		return nil, err
	}
	sealer, err := storage.OpenSealer(dir, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	docker, err := containers.NewDocker(dockerHost)
	if err != nil {
		db.Close()
		return nil, err
	}
	store := platform.NewStore(db, sealer)
	engine := platform.NewEngine(cfg, store, docker, logger)
	authSvc, err := auth.NewService(db, sealer, authCfg, logger)
	if err != nil {
		docker.Close()
		db.Close()
		return nil, err
	}
	// First start: no user yet. The one-time setup token signs up the
	// first admin on the paas_dashboard site; it lives in memory only and
	// a restart makes a new one.
	if tok, err := authSvc.IssueSetupToken(); err != nil {
		logger.Error("issuing the setup token", zap.Error(err))
	} else if tok != "" {
		logger.Warn("no user yet: open the paas_dashboard site and sign up the first admin with this one-time setup token, or run `caddy paas users create --admin EMAIL`",
			zap.String("setup_token", tok))
	}
	return &pooledEngine{engine: engine, auth: authSvc, store: store, db: db, sealer: sealer, dir: dir, docker: docker}, nil
}

// Start starts the engine on its first config; later configs find it
// running.
func (a *App) Start() error {
	// Every app is provisioned now: the HTTP app's sites are known.
	if a.ctx.Context != nil {
		if mod, err := a.ctx.AppIfConfigured("http"); err == nil {
			if h, ok := mod.(*caddyhttp.App); ok {
				a.engine.SetReservedHosts(reservedHosts(h))
			}
		}
	}
	if a.syncCerts {
		// Every app is provisioned now, the TLS app's cache included.
		a.engine.SetCertCache(&a.pooled.certCache)
	}
	return a.engine.Start()
}

// Stop does nothing: the engine outlives the config, Cleanup releases it.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the engine.
func (a *App) Cleanup() error {
	if a.key == "" {
		return nil
	}
	_, err := engines.Delete(a.key)
	return err
}

// Engine returns the engine this app runs.
func (a *App) Engine() *platform.Engine { return a.engine }

// Backend is what the API front doors call: the engine, the identity
// service and the key rotation.
func (a *App) Backend() *admin.Backend {
	return &admin.Backend{Engine: a.engine, Auth: a.pooled.auth, RotateKey: a.pooled.rotateKey}
}

// paasEngine finds the engine of the config that ctx belongs to.
func paasEngine(ctx caddy.Context) (*platform.Engine, error) {
	mod, err := ctx.App("paas")
	if err != nil {
		return nil, fmt.Errorf("loading the paas app: %w", err)
	}
	return mod.(*App).engine, nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*pooledEngine)(nil)
)
