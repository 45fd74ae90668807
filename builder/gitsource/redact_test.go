package gitsource

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func TestRedactorError(t *testing.T) {
	const token = "CANARY-S3cr3t/+:@x"
	r := newRedactor(Auth{Username: "deploy", Token: token})
	basic := base64.StdEncoding.EncodeToString([]byte("deploy:" + token))
	for _, msg := range []string{
		"authentication required: bad token " + token,
		"fetching https://deploy:" + url.PathEscape(token) + "@git.example/x: 401",
		"Get \"https://x:" + url.QueryEscape(token) + "@git.example/info/refs\": EOF",
		"header Authorization: Basic " + basic,
		"git@git.example:x via https://someone@git.example/x",
	} {
		err := r.error(fmt.Errorf("wrapped: %w", errors.New(msg)))
		if strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), basic) || strings.Contains(err.Error(), "someone@") {
			t.Errorf("%q scrubbed to %q", msg, err)
		}
		if errors.Unwrap(err) != nil {
			t.Errorf("%q: the scrubbed error unwraps to the original", msg)
		}
	}

	// Sentinels still match.
	err := r.error(fmt.Errorf("%w: %s", transport.ErrAuthenticationRequired, token))
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Error("scrubbing lost errors.Is")
	}
	if !errors.Is(r.error(fmt.Errorf("x: %w", context.Canceled)), context.Canceled) {
		t.Error("scrubbing lost context.Canceled")
	}
	if r.error(nil) != nil {
		t.Error("nil error became non-nil")
	}

	// Server text is bounded and on one line.
	long := r.error(errors.New("a\nb\r\x00" + strings.Repeat("x", 5000)))
	if len(long.Error()) > maxErrorLength+3 || strings.ContainsAny(long.Error(), "\n\r\x00") {
		t.Errorf("long error not cut or cleaned: %d bytes", len(long.Error()))
	}
}

func TestRedactorKeys(t *testing.T) {
	key, _, err := GenerateDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	r := newRedactor(Auth{PrivateKeyPEM: key, Passphrase: []byte("CANARY-pass")})
	got := r.text("bad key " + string(key) + " with passphrase CANARY-pass")
	if strings.Contains(got, "PRIVATE KEY") || strings.Contains(got, "CANARY") {
		t.Errorf("key or passphrase left in %q", got)
	}
	// No credentials: nothing but URL user information is touched.
	if got := newRedactor(Auth{}).text("plain https://a@b/c"); got != "plain https://[redacted]@b/c" {
		t.Errorf("got %q", got)
	}
}
