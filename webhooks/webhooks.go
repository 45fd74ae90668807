// Package webhooks reads the push notifications of git providers (GitHub,
// GitLab, Gitea/Forgejo, Bitbucket): it checks that a delivery is signed
// with the app's secret (in constant time) and says which branch moved to
// which commit. It knows nothing of apps; the platform decides what a push
// deploys.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Providers whose deliveries are understood.
const (
	GitHub    = "github"
	GitLab    = "gitlab"
	Gitea     = "gitea"
	Forgejo   = "forgejo"
	Bitbucket = "bitbucket"
)

// Providers lists every provider name.
func Providers() []string { return []string{GitHub, GitLab, Gitea, Forgejo, Bitbucket} }

// MaxPayloadBytes caps a delivery's body; push payloads are far smaller.
const MaxPayloadBytes = 5 << 20

// ErrSignature is returned when a delivery is not signed with the secret.
var ErrSignature = errors.New("webhook signature does not match")

// ErrUnknownProvider is returned for a provider name not in Providers.
var ErrUnknownProvider = errors.New("unknown webhook provider")

// Push is what a push delivery says.
type Push struct {
	// Event is the provider's event name (push, ping, ...).
	Event string
	// IsPush is false for other events (ping, tag pushes are pushes too).
	IsPush bool
	// Ref is the full ref that moved, such as refs/heads/main.
	Ref string
	// Branch is the branch name when Ref is a branch, else "".
	Branch string
	// Commit is the commit the ref moved to ("" when it was deleted).
	Commit string
}

// Verify checks that body was signed with secret as provider signs.
func Verify(provider string, h http.Header, body []byte, secret string) error {
	if secret == "" {
		return ErrSignature
	}
	switch provider {
	case GitHub, Bitbucket:
		// Both send "sha256=<hex HMAC-SHA256 of the body>".
		sig := h.Get("X-Hub-Signature-256")
		if sig == "" {
			sig = h.Get("X-Hub-Signature")
		}
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		if !ok {
			return ErrSignature
		}
		return checkHMAC(hexSig, body, secret)
	case Gitea, Forgejo:
		sig := h.Get("X-Forgejo-Signature")
		if sig == "" {
			sig = h.Get("X-Gitea-Signature")
		}
		return checkHMAC(sig, body, secret)
	case GitLab:
		// GitLab sends the secret itself as a token.
		if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), []byte(secret)) != 1 {
			return ErrSignature
		}
		return nil
	}
	return ErrUnknownProvider
}

func checkHMAC(hexSig string, body []byte, secret string) error {
	got, err := hex.DecodeString(strings.TrimSpace(hexSig))
	if err != nil {
		return ErrSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrSignature
	}
	return nil
}

// Sign returns the signature header a provider would send for body, for
// tests and for users checking their set-up.
func Sign(provider string, body []byte, secret string) (http.Header, error) {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sum := hex.EncodeToString(mac.Sum(nil))
	h := http.Header{}
	switch provider {
	case GitHub:
		h.Set("X-Hub-Signature-256", "sha256="+sum)
		h.Set("X-GitHub-Event", "push")
	case Bitbucket:
		h.Set("X-Hub-Signature", "sha256="+sum)
		h.Set("X-Event-Key", "repo:push")
	case Gitea:
		h.Set("X-Gitea-Signature", sum)
		h.Set("X-Gitea-Event", "push")
	case Forgejo:
		h.Set("X-Forgejo-Signature", sum)
		h.Set("X-Forgejo-Event", "push")
	case GitLab:
		h.Set("X-Gitlab-Token", secret)
		h.Set("X-Gitlab-Event", "Push Hook")
	default:
		return nil, ErrUnknownProvider
	}
	return h, nil
}

// Parse reads a verified delivery. Only call it after Verify.
func Parse(provider string, h http.Header, body []byte) (*Push, error) {
	p := &Push{}
	switch provider {
	case GitHub:
		p.Event = h.Get("X-GitHub-Event")
		p.IsPush = p.Event == "push"
	case Gitea, Forgejo:
		p.Event = h.Get("X-Forgejo-Event")
		if p.Event == "" {
			p.Event = h.Get("X-Gitea-Event")
		}
		p.IsPush = p.Event == "push"
	case GitLab:
		p.Event = h.Get("X-Gitlab-Event")
		p.IsPush = p.Event == "Push Hook" || p.Event == "Tag Push Hook"
	case Bitbucket:
		p.Event = h.Get("X-Event-Key")
		p.IsPush = p.Event == "repo:push"
	default:
		return nil, ErrUnknownProvider
	}
	if !p.IsPush {
		return p, nil
	}
	if provider == Bitbucket {
		var payload struct {
			Push struct {
				Changes []struct {
					New *struct {
						Type   string `json:"type"`
						Name   string `json:"name"`
						Target struct {
							Hash string `json:"hash"`
						} `json:"target"`
					} `json:"new"`
				} `json:"changes"`
			} `json:"push"`
		}
		if err := json.Unmarshal(body, &payload); err != nil {
			return nil, fmt.Errorf("reading the bitbucket payload: %w", err)
		}
		for _, c := range payload.Push.Changes {
			if c.New == nil {
				continue
			}
			if c.New.Type == "branch" {
				p.Ref, p.Branch = "refs/heads/"+c.New.Name, c.New.Name
			} else {
				p.Ref = "refs/tags/" + c.New.Name
			}
			p.Commit = c.New.Target.Hash
			break
		}
	} else {
		// GitHub, GitLab, Gitea and Forgejo share these fields.
		var payload struct {
			Ref   string `json:"ref"`
			After string `json:"after"`
		}
		if err := json.Unmarshal(body, &payload); err != nil {
			return nil, fmt.Errorf("reading the %s payload: %w", provider, err)
		}
		p.Ref, p.Commit = payload.Ref, payload.After
		if b, ok := strings.CutPrefix(p.Ref, "refs/heads/"); ok {
			p.Branch = b
		}
	}
	if strings.Trim(p.Commit, "0") == "" {
		p.Commit = "" // a deleted ref
	}
	return p, nil
}
