package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/caddy-paas/caddy-paas/internal/pattern"
)

// RepoConfigFile is the per-repository config file, read from the root of
// the source tree. JSON was chosen over TOML: the same format as the API,
// no extra parser, and unknown keys are refused so a typo is an error.
const RepoConfigFile = "paas.json"

// maxRepoConfigBytes caps paas.json before it is parsed.
const maxRepoConfigBytes = 64 << 10

// RepoConfig is paas.json: how to build and run an app from its source.
// Every field is optional; the app's own settings fill what is not given.
type RepoConfig struct {
	// Port is the port the app listens on.
	Port int `json:"port,omitempty"`
	// HealthPath is the HTTP path that answers 2xx/3xx when the app is
	// healthy.
	HealthPath string `json:"health_path,omitempty"`
	// Build configures the image build.
	Build BuildConfig `json:"build,omitempty"`
	// Release is a command (an argument array, run without a shell) run
	// once in a new container of the new image before the swap, such as
	// database migrations; if it fails, the deploy fails and the old
	// version keeps serving.
	Release []string `json:"release,omitempty"`
	// Env holds default env values; the app's own env wins.
	Env map[string]string `json:"env,omitempty"`
}

// BuildConfig says how to build the image.
type BuildConfig struct {
	// Dockerfile is the Dockerfile's path inside the context. Default:
	// Dockerfile; when there is none, one is generated from the detected
	// stack.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Context is the folder, relative to the repository root, that is the
	// build context. Default: the root.
	Context string `json:"context,omitempty"`
	// Target is the Dockerfile stage to build. Default: the last.
	Target string `json:"target,omitempty"`
	// Args are build arguments (ARG values).
	Args map[string]string `json:"args,omitempty"`
	// Stack forces a stack instead of detecting one (see detect.Stacks).
	Stack string `json:"stack,omitempty"`
	// StartCommand replaces the generated image's start command.
	StartCommand string `json:"start_command,omitempty"`
	// BuildCommand replaces the generated Dockerfile's build step.
	BuildCommand string `json:"build_command,omitempty"`
}

var (
	stageRe  = pattern.MustBounded(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`, 64)
	argKeyRe = pattern.MustBounded(`^[A-Za-z_][A-Za-z0-9_]*$`, 128)
)

// Validate checks paths, names and sizes; messages name the field.
func (b BuildConfig) Validate() error {
	for name, p := range map[string]string{"build.dockerfile": b.Dockerfile, "build.context": b.Context} {
		if !within(p) {
			return fmt.Errorf("%s %q must be a relative path inside the repository", name, p)
		}
	}
	if b.Target != "" && !stageRe.MatchString(b.Target) {
		return fmt.Errorf("build.target %q is not a stage name", b.Target)
	}
	if len(b.Args) > 100 {
		return errors.New("build.args: at most 100 arguments")
	}
	for k, v := range b.Args {
		if !argKeyRe.MatchString(k) {
			return fmt.Errorf("build.args: %q is not a valid argument name", k)
		}
		if len(v) > 4096 {
			return fmt.Errorf("build.args: the value of %s is longer than 4096 bytes", k)
		}
	}
	return nil
}

// ReadRepoConfig reads paas.json from the root of dir. A missing file is
// an empty config.
func ReadRepoConfig(dir string) (*RepoConfig, error) {
	f, err := os.Open(filepath.Join(dir, RepoConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return &RepoConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", RepoConfigFile, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRepoConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", RepoConfigFile, err)
	}
	if len(data) > maxRepoConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", RepoConfigFile, maxRepoConfigBytes)
	}
	var cfg RepoConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", RepoConfigFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the object", RepoConfigFile)
	}
	if err := cfg.Build.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", RepoConfigFile, err)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%s: port %d is out of range", RepoConfigFile, cfg.Port)
	}
	for _, a := range cfg.Release {
		if a == "" || len(a) > 4096 || bytes.ContainsRune([]byte(a), 0) {
			return nil, fmt.Errorf("%s: release must be an array of non-empty arguments", RepoConfigFile)
		}
	}
	return &cfg, nil
}
