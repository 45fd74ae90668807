package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/webhooks"
)

// keepDeliveries is how many webhook deliveries are kept per app.
const keepDeliveries = 100

// Delivery is one webhook delivery as recorded.
type Delivery struct {
	At         time.Time `json:"at"`
	Provider   string    `json:"provider"`
	Event      string    `json:"event,omitempty"`
	Ref        string    `json:"ref,omitempty"`
	Commit     string    `json:"commit,omitempty"`
	Status     int       `json:"status"`
	Result     string    `json:"result"`
	Deployment string    `json:"deployment,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
}

// WebhookInfo tells a user how to set up push deploys.
type WebhookInfo struct {
	// Paths are the webhook paths on the paas_dashboard site, per provider.
	Paths map[string]string `json:"paths"`
	// Secret is shown only when it was just created.
	Secret string `json:"secret,omitempty"`
	// Tracks is the branch whose pushes deploy.
	Tracks string `json:"tracks,omitempty"`
	// Deliveries are the latest deliveries, newest first.
	Deliveries []Delivery `json:"deliveries"`
}

func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// WebhookPath is the path of an app's webhook for a provider.
func WebhookPath(app, provider string) string { return "/webhooks/" + app + "/" + provider }

// Webhook returns how to set up an app's webhooks and its latest
// deliveries. With rotate, it makes a new secret and shows it (once).
func (e *Engine) Webhook(name string, rotate bool) (*WebhookInfo, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	info := &WebhookInfo{Paths: map[string]string{}, Deliveries: []Delivery{}}
	for _, p := range webhooks.Providers() {
		info.Paths[p] = WebhookPath(name, p)
	}
	err := e.store.Update(func(tx *StoreTx) error {
		a, err := tx.App(name)
		if err != nil {
			return err
		}
		if a.Git != nil {
			info.Tracks = a.Git.Ref
		}
		if rotate {
			a.WebhookSecret = newSecret()
			info.Secret = a.WebhookSecret
			if err := tx.PutApp(a); err != nil {
				return err
			}
		}
		return tx.tx.ForEach([]string{"webhooks", name}, func(_ string, raw json.RawMessage) error {
			var d Delivery
			if err := json.Unmarshal(raw, &d); err == nil {
				info.Deliveries = append([]Delivery{d}, info.Deliveries...)
			}
			return nil
		})
	})
	return info, err
}

// ErrWebhookRefused is answered (401) for a delivery that is not signed
// with the app's secret, or names an app that does not exist: the two
// look alike, so that webhooks do not tell which apps exist.
var ErrWebhookRefused = &Error{Status: http.StatusUnauthorized, Message: "webhook signature does not match"}

// HandleWebhook verifies a provider's delivery for an app and, for a push
// to the branch the app tracks, deploys the pushed commit. Every delivery
// that names an existing app is recorded.
func (e *Engine) HandleWebhook(ctx context.Context, name, provider string, h http.Header, body []byte, remote string) (*Delivery, error) {
	if ValidateAppName(name) != nil {
		return nil, ErrWebhookRefused
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, ErrWebhookRefused
	}
	d := &Delivery{At: time.Now().UTC(), Provider: provider, RemoteAddr: remote}
	record := func(status int, result string) {
		d.Status, d.Result = status, result
		if err := e.recordDelivery(name, d); err != nil {
			e.log().Warn("recording a webhook delivery", zap.String("app", name), zap.Error(err))
		}
	}
	if err := webhooks.Verify(provider, h, body, a.WebhookSecret); err != nil {
		if errors.Is(err, webhooks.ErrUnknownProvider) {
			record(http.StatusNotFound, "unknown provider")
			return nil, notFound("unknown webhook provider %q", truncate(provider, 40))
		}
		record(http.StatusUnauthorized, "bad signature")
		return nil, ErrWebhookRefused
	}
	push, err := webhooks.Parse(provider, h, body)
	if err != nil {
		record(http.StatusBadRequest, "unreadable payload")
		return nil, invalid("%v", err)
	}
	d.Event, d.Ref, d.Commit = push.Event, push.Ref, push.Commit
	switch {
	case !push.IsPush:
		record(http.StatusOK, "ignored: event "+push.Event)
	case a.Git == nil:
		record(http.StatusOK, "ignored: the app is not built from git")
	case push.Branch == "" || push.Branch != a.Git.Ref:
		record(http.StatusOK, fmt.Sprintf("ignored: push to %s, the app tracks %s", push.Ref, a.Git.Ref))
	case push.Commit == "":
		record(http.StatusOK, "ignored: the branch was deleted")
	default:
		dep, err := e.Deploy(WithActor(ctx, provider+" push webhook"), name, DeployInput{Git: &GitSource{Ref: push.Commit}})
		if err != nil {
			record(StatusOf(err), "deploy refused: "+err.Error())
			return nil, err
		}
		d.Deployment = dep.ID
		record(http.StatusAccepted, "deploying "+shortSHA(push.Commit))
	}
	return d, nil
}

func (e *Engine) recordDelivery(app string, d *Delivery) error {
	return e.store.Update(func(tx *StoreTx) error {
		if _, err := tx.App(app); err != nil {
			return err
		}
		path := []string{"webhooks", app}
		seq, err := tx.tx.NextSequence(path)
		if err != nil {
			return err
		}
		if err := tx.tx.Put(path, fmt.Sprintf("%012d", seq), d); err != nil {
			return err
		}
		if seq > keepDeliveries {
			return tx.tx.Delete(path, fmt.Sprintf("%012d", seq-keepDeliveries))
		}
		return nil
	})
}
