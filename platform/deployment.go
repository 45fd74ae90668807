package platform

import (
	"github.com/caddy-paas/caddy-paas/builder"

	"crypto/rand"
	"encoding/hex"
	"time"
)

// DeploymentStatus is where a deployment is in the pipeline.
type DeploymentStatus string

// Deployment statuses. pending -> building -> starting -> live ->
// superseded, or failed from any of the first three.
const (
	StatusPending    DeploymentStatus = "pending"
	StatusBuilding   DeploymentStatus = "building"
	StatusStarting   DeploymentStatus = "starting"
	StatusLive       DeploymentStatus = "live"
	StatusFailed     DeploymentStatus = "failed"
	StatusSuperseded DeploymentStatus = "superseded"
)

// Finished reports whether the status is final for a deploy in progress.
func (s DeploymentStatus) Finished() bool {
	return s == StatusLive || s == StatusFailed || s == StatusSuperseded
}

// Deployment is one attempt to run a version of an app. It keeps the full
// spec it ran with, so a rollback can run it again.
type Deployment struct {
	ID         string            `json:"id"`
	App        string            `json:"app"`
	Version    int               `json:"version"`
	Status     DeploymentStatus  `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	Image      string            `json:"image"`
	Port       int               `json:"port"`
	Replicas   int               `json:"replicas"`
	HealthPath string            `json:"health_path,omitempty"`
	Env        map[string]string `json:"-"`
	RollbackOf string            `json:"rollback_of,omitempty"`
	// TriggeredBy says who started the deployment: a user's e-mail (with
	// the API token's name), "local admin endpoint", or a git provider's
	// push webhook.
	TriggeredBy string `json:"triggered_by,omitempty"`
	// Source is where the image comes from: image, git or upload.
	Source string `json:"source"`
	// Git is the repository and ref this deployment builds.
	Git *GitSource `json:"git,omitempty"`
	// Commit is the commit the ref resolved to.
	Commit string `json:"commit,omitempty"`
	// CommitMessage is the first line of the commit's message.
	CommitMessage string `json:"commit_message,omitempty"`
	// Stack is the detected stack when the Dockerfile was generated.
	Stack string `json:"stack,omitempty"`
	// Build holds the build settings used.
	Build *builder.BuildConfig `json:"build,omitempty"`
	// Release is the release command run before the swap.
	Release    []string   `json:"release,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// DeployInput is what a user gives to deploy: a new image, env changes, or
// nothing (redeploy what the app has). Env keys map to a value or to null to
// remove the key.
type DeployInput struct {
	Image string             `json:"image,omitempty"`
	Env   map[string]*string `json:"env,omitempty"`
	// Git deploys a ref of the app's repository (or of a new url).
	Git *GitSource `json:"git,omitempty"`
}

// Deployment sources.
const (
	SourceImage  = "image"
	SourceGit    = "git"
	SourceUpload = "upload"
)

func newDeploymentID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
