package platform

import (
	"encoding/json"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"golang.org/x/net/idna"

	"github.com/caddy-paas/caddy-paas/builder"
	"github.com/caddy-paas/caddy-paas/builder/gitsource"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/internal/pattern"
)

// Limits on what an app may hold. They keep one app's record small and
// refuse absurd input early, before anything is stored.
const (
	MaxReplicas      = 50
	MaxEnvVars       = 200
	MaxEnvValueBytes = 32 << 10
	MaxEnvTotalBytes = 256 << 10
	MaxDomains       = 50
	// MinMemoryBytes is the smallest memory limit Docker accepts (6 MiB).
	MinMemoryBytes = 6 << 20
	// MaxMemoryBytes bounds a memory limit (1 PiB): anything larger is a
	// typo.
	MaxMemoryBytes = 1 << 50
	// MinCPUs and MaxCPUs bound a CPU limit; Docker counts CPU time in
	// hundredths of a CPU at the finest.
	MinCPUs = 0.01
	MaxCPUs = 1024
)

var (
	appNameRe = pattern.MustBounded(`^[a-z][a-z0-9-]*$`, 63)
	envKeyRe  = pattern.MustBounded(`^[A-Za-z_][A-Za-z0-9_]*$`, 255)
	labelRe   = pattern.MustBounded(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`, 63)
)

// App is the desired state of one app, with env values in plain text. It
// lives in memory only; storage holds env values sealed.
type App struct {
	Name string `json:"name"`
	// Team is the team that owns the app ("" in records older than teams:
	// the default team).
	Team  string `json:"team,omitempty"`
	Image string `json:"image,omitempty"`
	Port  int    `json:"port"`
	// PortSet tells whether the user chose Port (when creating or
	// changing the app). A port the user chose wins over paas.json's and
	// over the one a generated image listens on; an unchosen one (the
	// default, 8080) gives way to them. Nil in records older than this
	// field: see portSet.
	PortSet    *bool             `json:"port_set,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Replicas   int               `json:"replicas"`
	HealthPath string            `json:"health_path,omitempty"`
	Domains    []string          `json:"domains,omitempty"`
	// Memory is the memory limit of each replica and of the release
	// command, in bytes; 0 means no limit.
	Memory int64 `json:"memory,omitempty"`
	// CPUs is how many CPUs each replica and the release command may use
	// (0.5 is half of one); 0 means no limit.
	CPUs float64 `json:"cpus,omitempty"`
	// Git is the repository the app is built from, with the branch (or
	// tag, or commit) that deploys and pushes track.
	Git *GitSource `json:"git,omitempty"`
	// Build holds the app's build settings; they win over the
	// repository's paas.json.
	Build *builder.BuildConfig `json:"build,omitempty"`
	// GitToken is the HTTPS access token of a private repository; sealed.
	GitToken string `json:"-"`
	// DeployKey is the private half of the app's SSH deploy key; sealed.
	DeployKey string `json:"-"`
	// DeployKeyPublic is the public half, for the git host.
	DeployKeyPublic string `json:"deploy_key_public,omitempty"`
	// KnownHosts holds the SSH host keys seen on first use (known_hosts
	// lines); a changed host key is refused.
	KnownHosts string `json:"known_hosts,omitempty"`
	// WebhookSecret signs the app's push webhooks. It is sealed at rest and
	// shown only when it is created.
	WebhookSecret string `json:"-"`
	// Redirects are the app's redirect rules, tried in order.
	Redirects []Redirect `json:"redirects,omitempty"`
	// WWWRedirect sends www.<host> to <host> ("to-apex") or the other way
	// ("to-www"), when both are hosts of the app.
	WWWRedirect string `json:"www_redirect,omitempty"`
	// Maintenance shows a maintenance page instead of the app.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// HSTS adds Strict-Transport-Security to the app's HTTPS answers.
	HSTS bool `json:"hsts,omitempty"`
	// Stopped is true when the user stopped the app: no replica runs and
	// its hosts answer 503.
	Stopped bool `json:"stopped,omitempty"`
	// Current is the id of the live deployment.
	Current   string    `json:"current_deployment,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// GitSource is a repository and a ref (branch, tag or commit).
type GitSource struct {
	// URL is the repository's URL (https://, ssh:// or git@host:path).
	URL string `json:"url"`
	// Ref is a branch, a tag or a commit. Default: main.
	Ref string `json:"ref,omitempty"`
	// Username goes with Token for HTTPS (default x-access-token; GitLab
	// wants oauth2, Bitbucket the account name).
	Username string `json:"username,omitempty"`
	// Token is an access token for a private repository over HTTPS. It is
	// accepted on input only: sealed at rest, never shown again.
	Token string `json:"token,omitempty"`
}

// AppInput is what a user gives to create an app. Pointers tell "not given"
// from a zero value.
type AppInput struct {
	Name string `json:"name"`
	// Team is the team that owns the app. Default: the default team.
	Team       string            `json:"team,omitempty"`
	Image      string            `json:"image,omitempty"`
	Port       *int              `json:"port,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Replicas   *int              `json:"replicas,omitempty"`
	HealthPath *string           `json:"health_path,omitempty"`
	Domains    []string          `json:"domains,omitempty"`
	// Memory limits the memory of each replica: a number of bytes, or a
	// string such as "512m" or "1g" (units k, m, g, t are powers of
	// 1024), at least 6 MiB. Absent or 0: no limit.
	Memory *MemorySize `json:"memory,omitempty"`
	// CPUs limits how many CPUs each replica may use, such as 0.5 or 2
	// (0.01 to 1024). Absent or 0: no limit.
	CPUs *float64 `json:"cpus,omitempty"`
	// Git builds the app from a repository instead of running an image.
	Git *GitSource `json:"git,omitempty"`
	// Build holds build settings for Git and upload deploys.
	Build *builder.BuildConfig `json:"build,omitempty"`
}

// AppPatch changes some fields of an app. Env keys map to a new value, or to
// null to remove the key.
type AppPatch struct {
	Image      *string            `json:"image,omitempty"`
	Port       *int               `json:"port,omitempty"`
	Env        map[string]*string `json:"env,omitempty"`
	Replicas   *int               `json:"replicas,omitempty"`
	HealthPath *string            `json:"health_path,omitempty"`
	Domains    *[]string          `json:"domains,omitempty"`
	// Memory changes the memory limit of each replica: a number of bytes,
	// or a string such as "512m" or "1g", at least 6 MiB; 0 removes the
	// limit. A change redeploys.
	Memory *MemorySize `json:"memory,omitempty"`
	// CPUs changes how many CPUs each replica may use (0.01 to 1024); 0
	// removes the limit. A change redeploys.
	CPUs *float64 `json:"cpus,omitempty"`
	// Git changes the repository (url) or the tracked ref.
	Git *GitSource `json:"git,omitempty"`
	// Build replaces the build settings.
	Build *builder.BuildConfig `json:"build,omitempty"`
	// WWWRedirect sets the www/apex switch: "to-apex", "to-www" or "".
	WWWRedirect *string `json:"www_redirect,omitempty"`
	// Maintenance turns the maintenance page on or off.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// HSTS turns Strict-Transport-Security on or off.
	HSTS *bool `json:"hsts,omitempty"`
	// KnownHosts replaces the remembered SSH host keys ("" forgets them,
	// after the git host rotated its key).
	KnownHosts *string `json:"known_hosts,omitempty"`
	// NoDeploy saves the change without starting a deploy: it applies on
	// the next one.
	NoDeploy bool `json:"no_deploy,omitempty"`
}

// portSet reports whether the user chose the app's port. Records older
// than PortSet tell only by the value: 8080 was the default, which a
// generated image or paas.json may replace.
func (a *App) portSet() bool {
	if a.PortSet != nil {
		return *a.PortSet
	}
	return a.Port != 8080
}

// setPortChosen records that the user gave the app's port.
func (a *App) setPortChosen(chosen bool) { a.PortSet = &chosen }

// MemorySize is a memory size as a user gives it: a number of bytes, or a
// string of a number with an optional unit k, m, g or t (powers of 1024,
// as Docker reads them; "512m", "1.5g", "512MiB" and "1GB" all work).
// Decoding takes any JSON value as it is; Bytes checks it, so that a bad
// value is refused with a clear message instead of a decoding error.
type MemorySize string

// UnmarshalJSON keeps a JSON string's text, or any other value's JSON.
func (m *MemorySize) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = MemorySize(s)
		return nil
	}
	*m = MemorySize(b)
	return nil
}

// JSONSchema describes what MemorySize accepts, for the OpenAPI document.
func (MemorySize) JSONSchema() map[string]any {
	return map[string]any{
		"description": `bytes, or a number with a unit k, m, g or t (powers of 1024), such as "512m" or "1g"; 0 means no limit`,
		"anyOf":       []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}},
	}
}

var memoryRe = regexp.MustCompile(`(?i)^(\d+(?:\.\d+)?) ?([kmgt]?)(?:i?b)?$`)

// Bytes is the size in bytes: 0 (no limit), or MinMemoryBytes to
// MaxMemoryBytes.
func (m MemorySize) Bytes() (int64, error) {
	s := strings.TrimSpace(string(m))
	parts := memoryRe.FindStringSubmatch(s)
	if parts == nil {
		return 0, invalid(`memory %q is not a size: give bytes, or a number with a unit k, m, g or t, such as "512m" or "1g"`, truncate(s, 40))
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[strings.ToLower(parts[2])]
	var n int64
	if i, err := strconv.ParseInt(parts[1], 10, 64); err == nil && i <= MaxMemoryBytes>>shift {
		n = i << shift
	} else if f, err := strconv.ParseFloat(parts[1], 64); err == nil && f*float64(int64(1)<<shift) <= MaxMemoryBytes {
		n = int64(f * float64(int64(1)<<shift))
	} else {
		return 0, invalid("memory %s is too large (at most %d bytes)", truncate(s, 40), int64(MaxMemoryBytes))
	}
	if n != 0 && n < MinMemoryBytes {
		return 0, invalid("memory %s is below the minimum of 6 MiB (0 means no limit)", truncate(s, 40))
	}
	return n, nil
}

func validateCPUs(cpus float64) error {
	if cpus == 0 {
		return nil
	}
	if math.IsNaN(cpus) || cpus < MinCPUs || cpus > MaxCPUs {
		return invalid("cpus %v is out of range %v-%d (0 means no limit)", cpus, MinCPUs, MaxCPUs)
	}
	return nil
}

// setLimits applies the limits a user gave (nil leaves one as it is),
// refusing bad ones, and reports whether they changed.
func (a *App) setLimits(memory *MemorySize, cpus *float64) (changed bool, err error) {
	if memory != nil {
		n, err := memory.Bytes()
		if err != nil {
			return false, err
		}
		if n != a.Memory {
			a.Memory, changed = n, true
		}
	}
	if cpus != nil {
		if err := validateCPUs(*cpus); err != nil {
			return false, err
		}
		if *cpus != a.CPUs {
			a.CPUs, changed = *cpus, true
		}
	}
	return changed, nil
}

// limits are the container limits of the app's replicas and of its
// release command. Every container gets the pids limit, limits or not.
func (a *App) limits() containers.Limits {
	return containers.Limits{
		MemoryBytes: a.Memory,
		NanoCPUs:    int64(math.Round(a.CPUs * 1e9)),
		PidsLimit:   containers.DefaultPidsLimit,
	}
}

// ValidateAppName checks an app name against ^[a-z][a-z0-9-]{0,62}$.
func ValidateAppName(name string) error {
	if !appNameRe.MatchString(name) {
		return invalid("invalid app name %q: use 1-63 lowercase letters, digits and dashes, starting with a letter", truncate(name, 80))
	}
	// The name is a DNS label of the app's host: it cannot end with a dash.
	if strings.HasSuffix(name, "-") {
		return invalid("invalid app name %q: it is a DNS label and cannot end with a dash", name)
	}
	return nil
}

// ValidateImage checks that ref is a well-formed image reference.
func ValidateImage(ref string) error {
	if ref == "" {
		return invalid("image is required")
	}
	if len(ref) > 512 || strings.HasPrefix(ref, "-") {
		return invalid("invalid image reference %q", truncate(ref, 80))
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return invalid("invalid image reference %q: %v", truncate(ref, 80), err)
	}
	return nil
}

// validateGit checks a repository URL (its form, and that its host may be
// reached under policy) and a ref. The fetch checks the host again, with
// the address it resolves to then.
func validateGit(g *GitSource, policy gitsource.URLPolicy) error {
	if g == nil {
		return nil
	}
	if g.URL == "" {
		return invalid("git.url is required")
	}
	if err := gitsource.ValidateURL(g.URL, policy); err != nil {
		return invalid("git.url: %v", err)
	}
	if g.Ref != "" {
		if err := gitsource.ValidateRef(g.Ref); err != nil {
			return invalid("git.ref: %v", err)
		}
	}
	return nil
}

func validatePort(port int) error {
	if port < 1 || port > 65535 {
		return invalid("port %d is out of range 1-65535", port)
	}
	return nil
}

func validateReplicas(n int) error {
	if n < 1 || n > MaxReplicas {
		return invalid("replicas %d is out of range 1-%d", n, MaxReplicas)
	}
	return nil
}

func validateHealthPath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 256 || !strings.HasPrefix(p, "/") {
		return invalid("health_path must be a path starting with / (at most 256 characters)")
	}
	u, err := url.ParseRequestURI(p)
	if err != nil || u.Host != "" || strings.ContainsAny(p, " \t\r\n\x00\\") {
		return invalid("health_path %q is not a valid request path", truncate(p, 80))
	}
	return nil
}

// validateEnv checks keys and sizes. Its messages name keys, never values.
func validateEnv(env map[string]string) error {
	if len(env) > MaxEnvVars {
		return invalid("too many env variables: %d (at most %d)", len(env), MaxEnvVars)
	}
	total := 0
	for k, v := range env {
		if !envKeyRe.MatchString(k) {
			return invalid("invalid env key %q: use letters, digits and underscores, not starting with a digit", truncate(k, 80))
		}
		if len(v) > MaxEnvValueBytes {
			return invalid("env value of %s is %d bytes (at most %d)", k, len(v), MaxEnvValueBytes)
		}
		if strings.ContainsRune(v, 0) {
			return invalid("env value of %s contains a NUL byte", k)
		}
		total += len(k) + len(v)
	}
	if total > MaxEnvTotalBytes {
		return invalid("env is %d bytes in all (at most %d)", total, MaxEnvTotalBytes)
	}
	return nil
}

// NormalizeDomain lowercases a domain, converts an internationalized name
// to punycode (IDNA), and checks that it is a plain host name: labels of
// letters, digits and dashes, no port, no wildcard, no placeholder braces.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || len(d) > 253 {
		return "", invalid("invalid domain %q", truncate(d, 80))
	}
	// Internationalized names are kept in their ASCII (punycode) form,
	// the form TLS and DNS use.
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", invalid("invalid domain %q: %v", truncate(d, 80), err)
	}
	d = ascii
	if len(d) > 253 {
		return "", invalid("invalid domain %q: longer than 253 characters", truncate(d, 80))
	}
	for _, label := range strings.Split(d, ".") {
		if !labelRe.MatchString(label) {
			return "", invalid("invalid domain %q: each label must be letters, digits and dashes", truncate(d, 80))
		}
	}
	return d, nil
}

func normalizeDomains(list []string) ([]string, error) {
	if len(list) > MaxDomains {
		return nil, invalid("too many domains: %d (at most %d)", len(list), MaxDomains)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(list))
	for _, d := range list {
		n, err := NormalizeDomain(d)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
