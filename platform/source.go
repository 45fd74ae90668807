package platform

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	cryptossh "golang.org/x/crypto/ssh"

	"github.com/caddy-paas/caddy-paas/builder"
	"github.com/caddy-paas/caddy-paas/builder/archive"
	"github.com/caddy-paas/caddy-paas/builder/gitsource"
	"github.com/caddy-paas/caddy-paas/containers"
)

// DefaultGitRef is the ref an app tracks when none is given.
const DefaultGitRef = "main"

func (e *Engine) workDir(parts ...string) string {
	return filepath.Join(append([]string{e.config().WorkDir}, parts...)...)
}

// gitCache is created on first use; its locks must be shared by every
// deploy. Each app has its own area in it (gitsource.Source.Owner is the
// app's name), removed with the app.
func (e *Engine) gitCache() *gitsource.Cache {
	e.gitOnce.Do(func() {
		e.git = &gitsource.Cache{Dir: e.workDir("git"), Logger: e.log().Named("git")}
		// Earlier versions shared one repository per URL between all
		// apps: every checkout names its app now, so nothing reads that
		// area, and objects fetched with one team's credentials must not
		// stay around.
		if err := e.git.RemoveShared(); err != nil {
			e.log().Warn("removing the shared git cache of earlier versions", zap.Error(err))
		}
	})
	e.git.SetPolicy(e.config().GitPolicy)
	return e.git
}

// buildStage turns a git or upload deployment's source into an image: it
// fetches (or takes the extracted upload), builds with the repository's
// Dockerfile or a generated one, and records what it found. Everything it
// says goes to the deployment's log.
func (e *Engine) buildStage(ctx context.Context, a *App, d *Deployment, say func(string, ...any), out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, e.config().BuildTimeout)
	defer cancel()
	work := e.workDir("builds", d.ID)
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return fmt.Errorf("creating the build folder: %w", err)
	}
	switch d.Source {
	case SourceGit:
		say("fetching %s at %s", d.Git.URL, d.Git.Ref)
		co, err := e.gitCache().Checkout(ctx, gitsource.Source{URL: d.Git.URL, Ref: d.Git.Ref, Auth: e.gitAuth(a, d.Git.URL, say), Owner: a.Name}, src)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("fetch stopped: %w", context.Cause(ctx))
			}
			return fmt.Errorf("fetching the repository: %w", err)
		}
		d.Commit, d.CommitMessage = co.Commit, co.Subject
		say("checked out %s: %s", shortSHA(co.Commit), co.Subject)
	case SourceUpload:
		staged := e.workDir("uploads", d.ID)
		if err := os.Rename(staged, src); err != nil {
			return fmt.Errorf("the uploaded source is gone (was the server restarted?): %w", err)
		}
		say("building the uploaded source")
	default:
		return fmt.Errorf("deployment source %q cannot be built", d.Source)
	}
	settings := builder.BuildConfig{}
	if a.Build != nil {
		settings = *a.Build
	}
	res, err := builder.Build(ctx, e.rt, builder.Request{App: a.Name, Deployment: d.ID, Dir: src, Settings: settings}, out)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build stopped: %w", context.Cause(ctx))
		}
		return err
	}
	d.Image, d.Stack, d.Build = res.Image, res.Stack, &settings
	cfg := res.Config
	// The port the user chose wins; else paas.json's, else the one the
	// generated image listens on.
	if !a.portSet() {
		if cfg.Port != 0 {
			d.Port = cfg.Port
		} else if res.Port != 0 {
			d.Port = res.Port
		}
	}
	if d.HealthPath == "" && cfg.HealthPath != "" {
		if err := validateHealthPath(cfg.HealthPath); err != nil {
			return fmt.Errorf("%s: %w", builder.RepoConfigFile, err)
		}
		d.HealthPath = cfg.HealthPath
	}
	for k, v := range cfg.Env {
		if _, set := d.Env[k]; !set {
			if d.Env == nil {
				d.Env = map[string]string{}
			}
			d.Env[k] = v
		}
	}
	if err := validateEnv(d.Env); err != nil {
		return fmt.Errorf("%s: %w", builder.RepoConfigFile, err)
	}
	d.Release = cfg.Release
	return nil
}

// gitAuth is how to authenticate to an app's repository when fetching
// fetchURL: its HTTPS token, or its SSH deploy key with the host keys seen
// so far (a new host's key is accepted on first use and remembered; a
// changed one is refused). The token is bound to the origin of the app's
// URL: a fetch of a URL on another origin (a deployment recorded before
// the app's URL changed) gets none.
func (e *Engine) gitAuth(a *App, fetchURL string, say func(string, ...any)) gitsource.Auth {
	var auth gitsource.Auth
	if a.Git == nil {
		return auth
	}
	u, err := url.Parse(fetchURL)
	ssh := err != nil || u.Scheme == "ssh" || u.Scheme == ""
	switch {
	case a.GitToken != "" && !ssh && sameGitOrigin(a.Git.URL, fetchURL):
		auth.Username, auth.Token = a.Git.Username, a.GitToken
	case a.DeployKey != "" && ssh:
		auth.PrivateKeyPEM = []byte(a.DeployKey)
		auth.KnownHosts = []byte(a.KnownHosts)
		auth.AcceptNewHostKey = func(host string, key cryptossh.PublicKey) error {
			line := gitsource.KnownHostsLine(host, key)
			say("first connection to %s: remembering its host key %s", host, cryptossh.FingerprintSHA256(key))
			return e.store.Update(func(tx *StoreTx) error {
				cur, err := tx.App(a.Name)
				if err != nil {
					return err
				}
				cur.KnownHosts += line + "\n"
				return tx.PutApp(cur)
			})
		}
	}
	return auth
}

// sameGitOrigin reports whether two repository URLs are on the same
// scheme, host and port, the origin an app's HTTPS token is bound to. A URL
// that does not parse is on no origin.
func sameGitOrigin(a, b string) bool {
	oa, err := gitsource.Origin(a)
	if err != nil {
		return false
	}
	ob, err := gitsource.Origin(b)
	return err == nil && oa == ob
}

// rebindGit is called when a's repository becomes newURL, before a.Git
// changes; token is the token given with the change, if any. A stored
// HTTPS token is bound to the origin (scheme, host and port) of the URL it
// was given for: on another origin it is dropped, with the user name that
// went with it, unless the same change gives a new token, so that whoever
// may change the URL cannot have the token sent to a server of theirs. The
// SSH host keys remembered are forgotten on another host. The deploy key
// stays: its private half is never sent.
func rebindGit(a *App, newURL, token string) {
	oldURL := ""
	if a.Git != nil {
		oldURL = a.Git.URL
	}
	if sameGitOrigin(oldURL, newURL) {
		return
	}
	if token == "" {
		a.GitToken = ""
		if a.Git != nil {
			a.Git.Username = ""
		}
	}
	if a.Git != nil && gitHost(oldURL) != gitHost(newURL) {
		a.KnownHosts = "" // another server: its key is learned anew
	}
}

// removeGitCache removes the git cache of a deleted app.
func (e *Engine) removeGitCache(ctx context.Context, app string) {
	if err := e.gitCache().Remove(ctx, app); err != nil {
		e.log().Warn("removing the git cache of deleted app", zap.String("app", app), zap.Error(err))
	}
}

// gitHost is the host (and port) of a repository URL, for telling
// servers apart; "" when it has none.
func gitHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	// scp-like: user@host:path
	if at := strings.Index(raw, "@"); at >= 0 {
		if colon := strings.Index(raw[at:], ":"); colon > 0 {
			return raw[at+1 : at+colon]
		}
	}
	return ""
}

// CreateDeployKey makes a new SSH deploy key for an app (replacing any
// other) and returns its public half, to add to the git host as a
// read-only deploy key. The private half is sealed at rest.
func (e *Engine) CreateDeployKey(name string) (string, error) {
	if err := ValidateAppName(name); err != nil {
		return "", notFound("app %q not found", truncate(name, 80))
	}
	priv, pub, err := gitsource.GenerateDeployKey()
	if err != nil {
		return "", err
	}
	err = e.store.Update(func(tx *StoreTx) error {
		a, err := tx.App(name)
		if err != nil {
			return err
		}
		a.DeployKey, a.DeployKeyPublic = string(priv), pub
		return tx.PutApp(a)
	})
	return pub, err
}

// release runs the deployment's release command once in a container of
// the new image, with its env, before any replica starts. A failure fails
// the deploy; the old version keeps serving. It runs under the app's
// limits.
func (e *Engine) release(ctx context.Context, a *App, d *Deployment, say func(string, ...any), out io.Writer) error {
	if len(d.Release) == 0 {
		return nil
	}
	say("running the release command %q", d.Release)
	network := ""
	if cfg := e.config(); cfg.UpstreamMode == UpstreamNetwork {
		network = cfg.Network
	}
	code, err := e.rt.RunOnce(ctx, containers.Spec{
		Name:    fmt.Sprintf("paas-%s-%s-release", d.App, d.ID),
		Image:   d.Image,
		Env:     containerEnv(d),
		Labels:  e.labels(map[string]string{containers.LabelApp: d.App, containers.LabelDeployment: d.ID}),
		Network: network,
		Limits:  a.limits(),
	}, d.Release, out)
	if err != nil {
		return fmt.Errorf("release command: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("release command exited with code %d", code)
	}
	say("release command done")
	return nil
}

// pruneImages removes an app's built images beyond the newest KeepImages,
// never the ones its recent deployments run.
func (e *Engine) pruneImages(ctx context.Context, app string) {
	tags, err := e.rt.ImageTags(ctx, app)
	if err != nil {
		e.log().Warn("listing images to prune", zap.String("app", app), zap.Error(err))
		return
	}
	keep := e.config().KeepImages
	inUse := map[string]bool{}
	if list, err := e.store.ListDeployments(app); err == nil {
		for i, d := range list {
			if i < keep || d.Status == StatusLive {
				inUse[d.Image] = true
			}
		}
	}
	for i, tag := range tags {
		if i < keep || inUse[tag] {
			continue
		}
		if err := e.rt.RemoveImage(ctx, tag); err != nil {
			e.log().Warn("pruning image", zap.String("image", tag), zap.Error(err))
		}
	}
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// MaxUploadBytes caps an uploaded source archive.
const MaxUploadBytes = 200 << 20

// DeployUpload extracts an uploaded source archive (zip, tar.gz or tar),
// refusing it whole if any entry is unsafe, then records and starts a
// deploy that builds it.
func (e *Engine) DeployUpload(ctx context.Context, name string, r io.Reader) (*Deployment, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if _, err := e.store.GetApp(name); err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	stage := e.workDir("uploads", "staging-"+hex.EncodeToString(b))
	if err := os.MkdirAll(filepath.Dir(stage), 0o700); err != nil {
		return nil, fmt.Errorf("creating the upload folder: %w", err)
	}
	br := bufio.NewReader(r)
	header, _ := br.Peek(512)
	format, err := archive.DetectFormat(header)
	if err != nil {
		return nil, invalid("upload: %v", err)
	}
	if _, err := archive.Extract(br, format, stage, archive.Limits{MaxArchiveBytes: MaxUploadBytes, StripSingleRoot: true}); err != nil {
		if errors.Is(err, archive.ErrTooLarge) {
			return nil, &Error{Status: 413, Message: "upload: " + err.Error()}
		}
		if errors.Is(err, archive.ErrRefused) {
			return nil, invalid("upload: %v", err)
		}
		return nil, fmt.Errorf("extracting the upload: %w", err)
	}
	var d *Deployment
	err = e.mutate(func(tx *StoreTx) error {
		a, err := tx.App(name)
		if err != nil {
			return err
		}
		a.Stopped = false
		if err := tx.PutApp(a); err != nil {
			return err
		}
		d = deploymentFor(a)
		d.TriggeredBy = ActorFrom(ctx)
		d.Source, d.Git, d.Image = SourceUpload, nil, ""
		if err := tx.NewDeployment(d); err != nil {
			return err
		}
		// Named after the deployment, for the build stage to find.
		return os.Rename(stage, e.workDir("uploads", d.ID))
	}, func() { e.enqueueDeployment(d) })
	if err != nil {
		os.RemoveAll(stage)
		return nil, err
	}
	return d, nil
}

// CancelDeployment stops a deploy that has not finished: a pending one
// never runs, a running one is interrupted (its new replicas removed). The
// previous version keeps serving.
func (e *Engine) CancelDeployment(name, id string) (*Deployment, error) {
	d, err := e.Deployment(name, id)
	if err != nil {
		return nil, err
	}
	if d.Status.Finished() {
		return nil, conflict("deployment %s is already %s", id, d.Status)
	}
	if cancel, ok := e.running.Load(id); ok {
		cancel.(context.CancelCauseFunc)(errCanceledByUser)
	} else {
		_ = e.setStatus(d, StatusFailed, errCanceledByUser.Error())
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if d, err = e.store.GetDeployment(name, id); err != nil || d.Status.Finished() {
			return d, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d, nil
}

var errCanceledByUser = errors.New("canceled by a user")
