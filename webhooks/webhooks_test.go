package webhooks

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

const secret = "s3cret-for-tests"

var payloads = map[string]string{
	GitHub:    `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`,
	GitLab:    `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`,
	Gitea:     `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`,
	Forgejo:   `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`,
	Bitbucket: `{"push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"0123456789abcdef0123456789abcdef01234567"}}}]}}`,
}

func TestVerifyAndParseEachProvider(t *testing.T) {
	for _, provider := range Providers() {
		t.Run(provider, func(t *testing.T) {
			body := []byte(payloads[provider])
			h, err := Sign(provider, body, secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(provider, h, body, secret); err != nil {
				t.Fatalf("a correctly signed delivery: %v", err)
			}
			if err := Verify(provider, h, body, "another secret"); !errors.Is(err, ErrSignature) {
				t.Errorf("wrong secret: %v, want ErrSignature", err)
			}
			if provider != GitLab {
				tampered := append([]byte(nil), body...)
				tampered[len(tampered)-3] ^= 1
				if err := Verify(provider, h, tampered, secret); !errors.Is(err, ErrSignature) {
					t.Errorf("tampered body: %v, want ErrSignature", err)
				}
			}
			if err := Verify(provider, http.Header{}, body, secret); !errors.Is(err, ErrSignature) {
				t.Errorf("unsigned delivery: %v, want ErrSignature", err)
			}
			if err := Verify(provider, h, body, ""); !errors.Is(err, ErrSignature) {
				t.Errorf("no secret configured: %v, want ErrSignature", err)
			}
			p, err := Parse(provider, h, body)
			if err != nil {
				t.Fatal(err)
			}
			if !p.IsPush || p.Branch != "main" || p.Ref != "refs/heads/main" || p.Commit != "0123456789abcdef0123456789abcdef01234567" {
				t.Errorf("Parse = %+v", p)
			}
		})
	}
}

func TestParseOtherEventsAndDeletes(t *testing.T) {
	h := http.Header{"X-Github-Event": {"ping"}}
	if p, err := Parse(GitHub, h, []byte(`{"zen":"x"}`)); err != nil || p.IsPush {
		t.Errorf("ping: %+v %v", p, err)
	}
	h = http.Header{"X-Github-Event": {"push"}}
	p, err := Parse(GitHub, h, []byte(`{"ref":"refs/tags/v1","after":"0000000000000000000000000000000000000000"}`))
	if err != nil || p.Branch != "" || p.Commit != "" {
		t.Errorf("deleted tag: %+v %v", p, err)
	}
	if _, err := Parse(GitHub, h, []byte(`{"ref":`)); err == nil {
		t.Error("malformed payload parsed")
	}
	if _, err := Parse("svn", h, nil); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
	if err := Verify("svn", h, nil, secret); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("github", "sha256=00", []byte("{}"))
	f.Add("gitea", "zz", []byte(`{"ref":"refs/heads/main"}`))
	f.Add("gitlab", "token", []byte(""))
	f.Fuzz(func(t *testing.T, provider, sig string, body []byte) {
		h := http.Header{}
		h.Set("X-Hub-Signature-256", sig)
		h.Set("X-Gitea-Signature", sig)
		h.Set("X-Gitlab-Token", sig)
		if Verify(provider, h, body, secret) == nil {
			good, _ := Sign(provider, body, secret)
			same := func(k string) bool {
				return good != nil && strings.EqualFold(strings.TrimSpace(good.Get(k)), strings.TrimSpace(sig))
			}
			if !same("X-Hub-Signature-256") && !same("X-Gitea-Signature") && !same("X-Gitlab-Token") && !same("X-Hub-Signature") {
				t.Fatalf("accepted a forged signature %q for %s", sig, provider)
			}
		}
		_, _ = Parse(provider, h, body)
	})
}
