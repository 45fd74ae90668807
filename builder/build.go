package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddy-paas/caddy-paas/builder/detect"
	"github.com/caddy-paas/caddy-paas/containers"
)

// GeneratedDockerfile is the name the generated Dockerfile gets in the
// build context when the repository has none.
const GeneratedDockerfile = ".paas.Dockerfile"

// ImageBuilder is the part of the container engine that builds images.
type ImageBuilder interface {
	BuildImage(ctx context.Context, contextTar io.Reader, spec containers.BuildSpec, log io.Writer) (string, error)
}

// Request is one build of a source tree.
type Request struct {
	// App and Deployment name the image: paas/<app>:<deployment>.
	App, Deployment string
	// Dir is the root of the source tree (a checkout or an extracted
	// upload). The build may write its generated Dockerfile into it.
	Dir string
	// Settings are the app's own build settings; where set, they win over
	// the repository's paas.json.
	Settings BuildConfig
}

// Result is what a build made.
type Result struct {
	// Image is the tag of the built image.
	Image string
	// ImageID is its id.
	ImageID string
	// Config is the repository's paas.json (empty when it has none).
	Config *RepoConfig
	// Stack is the detected stack when the Dockerfile was generated, ""
	// when the repository's own Dockerfile was used.
	Stack string
	// Port is the port the generated image listens on (0 when the
	// repository's Dockerfile was used).
	Port int
}

// ImageTag is the tag of a deployment's image.
func ImageTag(app, deployment string) string { return "paas/" + app + ":" + deployment }

func merge(repo, app BuildConfig) BuildConfig {
	out := repo
	if app.Dockerfile != "" {
		out.Dockerfile = app.Dockerfile
	}
	if app.Context != "" {
		out.Context = app.Context
	}
	if app.Target != "" {
		out.Target = app.Target
	}
	if app.Stack != "" {
		out.Stack = app.Stack
	}
	if app.StartCommand != "" {
		out.StartCommand = app.StartCommand
	}
	if app.BuildCommand != "" {
		out.BuildCommand = app.BuildCommand
	}
	if len(app.Args) > 0 {
		args := map[string]string{}
		for k, v := range repo.Args {
			args[k] = v
		}
		for k, v := range app.Args {
			args[k] = v
		}
		out.Args = args
	}
	return out
}

// SourcePlan is how a source tree is built: with its own Dockerfile, or
// with one generated for its detected stack.
type SourcePlan struct {
	// Repo is the tree's paas.json (empty when it has none); HasRepoConfig
	// tells whether the file exists.
	Repo          *RepoConfig
	HasRepoConfig bool
	// Settings are the build settings in force: the app's over paas.json's.
	Settings BuildConfig
	// ContextDir is the build context, inside the tree.
	ContextDir string
	// Dockerfile is the repository's own Dockerfile (relative to the
	// context) when it has one, else "".
	Dockerfile string
	// Generated is the detected stack and its Dockerfile when the
	// repository has none.
	Generated *detect.Plan
}

// PlanSource decides how dir would be built with the app's settings,
// building nothing: what `caddy paas detect` shows, and what Build does.
func PlanSource(dir string, app BuildConfig) (*SourcePlan, error) {
	repo, err := ReadRepoConfig(dir)
	if err != nil {
		return nil, err
	}
	sp := &SourcePlan{Repo: repo, Settings: merge(repo.Build, app)}
	if _, err := os.Lstat(filepath.Join(dir, RepoConfigFile)); err == nil {
		sp.HasRepoConfig = true
	}
	if err := sp.Settings.Validate(); err != nil {
		return nil, err
	}
	sp.ContextDir = filepath.Join(dir, filepath.FromSlash(sp.Settings.Context))
	if st, err := os.Lstat(sp.ContextDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("build context %q is not a folder of the repository", sp.Settings.Context)
	}
	dockerfile := sp.Settings.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if st, err := os.Lstat(filepath.Join(sp.ContextDir, filepath.FromSlash(dockerfile))); err == nil && st.Mode().IsRegular() {
		sp.Dockerfile = dockerfile
		return sp, nil
	} else if sp.Settings.Dockerfile != "" {
		return nil, fmt.Errorf("dockerfile %q not found in the build context", sp.Settings.Dockerfile)
	}
	root, err := os.OpenRoot(sp.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("opening the build context: %w", err)
	}
	defer root.Close()
	sp.Generated, err = detect.Detect(root.FS(), detect.Options{
		Stack: sp.Settings.Stack, StartCommand: sp.Settings.StartCommand,
		BuildCommand: sp.Settings.BuildCommand, Port: repo.Port,
	})
	if err != nil {
		return nil, fmt.Errorf("no Dockerfile, and %w", err)
	}
	return sp, nil
}

// Build builds req.Dir into an image: with the repository's Dockerfile
// when it has one, else with one generated from the detected stack. The
// log says which, and why.
func Build(ctx context.Context, b ImageBuilder, req Request, log io.Writer) (*Result, error) {
	sp, err := PlanSource(req.Dir, req.Settings)
	if err == nil && sp.HasRepoConfig {
		fmt.Fprintf(log, "read %s\n", RepoConfigFile)
	}
	if err != nil {
		return nil, err
	}
	settings, ctxDir := sp.Settings, sp.ContextDir
	res := &Result{Image: ImageTag(req.App, req.Deployment), Config: sp.Repo}

	dockerfile := sp.Dockerfile
	var ignore []string
	var add map[string][]byte
	if plan := sp.Generated; plan == nil {
		fmt.Fprintf(log, "building with the repository's %s\n", dockerfile)
		ignore = []string{".git"}
	} else {
		fmt.Fprintf(log, "no Dockerfile: detected stack %s\n", plan.Stack)
		for _, r := range plan.Reasons {
			fmt.Fprintf(log, "  %s\n", r)
		}
		dockerfile = GeneratedDockerfile
		fmt.Fprintf(log, "generated Dockerfile:\n%s\n", indent(plan.Dockerfile))
		res.Stack, res.Port = plan.Stack, plan.Port
		ignore = plan.Ignore
		// The generated Dockerfile and the merged .dockerignore exist only
		// in the build context, and the .dockerignore names both, so that
		// COPY . . never puts them in the image (or a static site).
		merged, err := MergedDockerignore(ctxDir, append(append([]string(nil), plan.Ignore...), GeneratedDockerfile, ".dockerignore"))
		if err != nil {
			return nil, err
		}
		add = map[string][]byte{GeneratedDockerfile: []byte(plan.Dockerfile), ".dockerignore": merged}
	}

	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(TarContext(ctxDir, pw, dockerfile, ignore, add))
	}()
	id, err := b.BuildImage(ctx, pr, containers.BuildSpec{
		Tag:        res.Image,
		Dockerfile: dockerfile,
		Target:     settings.Target,
		Args:       settings.Args,
		Labels:     map[string]string{containers.LabelImageApp: req.App, containers.LabelDeployment: req.Deployment},
	}, log)
	pr.Close()
	if err != nil {
		if errors.Is(err, containers.ErrBuildFailed) {
			return nil, err
		}
		return nil, fmt.Errorf("building the image: %w", err)
	}
	res.ImageID = id
	fmt.Fprintf(log, "built %s (%s)\n", res.Image, id)
	return res, nil
}

// MergedDockerignore is the context's .dockerignore (if any) followed by
// patterns.
func MergedDockerignore(ctxDir string, patterns []string) ([]byte, error) {
	dockerignore, err := os.ReadFile(filepath.Join(ctxDir, ".dockerignore"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	merged := append(dockerignore, '\n')
	for _, p := range patterns {
		merged = append(merged, p+"\n"...)
	}
	return merged, nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  | " + l
	}
	return strings.Join(lines, "\n")
}
