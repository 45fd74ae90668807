package gitsource

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrRefNotFound is matched (with errors.Is) when the asked ref names no
// branch, tag or commit of the repository.
var ErrRefNotFound = errors.New("ref not found")

// Source is a repository and the ref to deploy from it.
type Source struct {
	// URL is the repository: https://host/path, ssh://[user@]host[:port]/path
	// or [user@]host:path, and, where the cache's URLPolicy allows them,
	// http:// and file:// URLs. It must not embed credentials: they go in
	// Auth. See ValidateURL.
	URL string

	// Ref is what to check out: a branch ("main"), a tag ("v1.2.0", an
	// annotated tag is peeled to its commit), a full ref name
	// ("refs/tags/v1"), or a full or abbreviated (at least 4 hex digits)
	// commit sha. A name is looked up as a branch first, then as a tag,
	// then as a commit. Empty means the remote's default branch. See
	// ValidateRef.
	Ref string

	// Auth holds the credentials, if the repository needs any.
	Auth Auth

	// SkipSubmodules leaves submodule directories empty instead of
	// checking them out.
	SkipSubmodules bool

	// Owner, if set, names the cache area the repository and its
	// submodules are kept in, such as the name of the app they are
	// deployed for: checkouts of different owners never share cached
	// objects, even for the same URL, and an owner's area holds one
	// repository at a time (a checkout of another URL starts it afresh).
	// Letters, digits, '.', '_' and '-', starting with a letter or digit,
	// at most 128 characters. Empty means the area shared by every
	// checkout without an owner, one repository per URL; a caller serving
	// several tenants should set it. See Cache.Remove.
	Owner string
}

// Auth holds a source's credentials: nothing, an HTTPS user and token, or an
// SSH deploy key with a way to verify the server's host key. Its values
// never appear in errors or logs.
type Auth struct {
	// Username is the HTTPS basic-auth user name sent with Token. Empty
	// means "x-access-token", which GitHub, Gitea and Forgejo accept with
	// an access token; GitLab wants "oauth2" (or the token's user name),
	// Bitbucket the account's user name.
	Username string

	// Token is the HTTPS password or access token. Use it with https URLs
	// only.
	Token string

	// PrivateKeyPEM is the SSH private key (OpenSSH or PEM format), such as
	// the one GenerateDeployKey returns. Required for ssh URLs, which never
	// fall back to an SSH agent or the user's keys.
	PrivateKeyPEM []byte

	// Passphrase decrypts PrivateKeyPEM, if it is encrypted.
	Passphrase []byte

	// KnownHosts is the content of a known_hosts file (plain or hashed host
	// names, @revoked and @cert-authority markers) that the SSH server's
	// host key must match. A host listed with another key is always
	// refused.
	KnownHosts []byte

	// HostKeyCallback, if set, verifies the SSH server's host key instead
	// of KnownHosts. It is called with the host as the URL names it
	// ("host:port"), not with the address that was dialed.
	HostKeyCallback ssh.HostKeyCallback

	// AcceptNewHostKey turns on trust on first use: it is called with a
	// host in known_hosts form ("host" or "[host]:port") and its key when
	// KnownHosts (and HostKeyCallback) know nothing about that host.
	// Returning nil accepts the key for this connection; the caller is
	// expected to store KnownHostsLine(host, key) and pass it in KnownHosts
	// from then on, so that a later change of key is refused. This trusts
	// whoever answers the first connection: prefer KnownHosts when the key
	// can be obtained another way.
	AcceptNewHostKey func(host string, key ssh.PublicKey) error
}

// httpUser returns the user name sent with the token.
func (a Auth) httpUser() string {
	if a.Username != "" {
		return a.Username
	}
	return "x-access-token"
}

// checkFor checks that the credentials fit the URL's scheme.
func (a Auth) checkFor(scheme string) error {
	hasSSH := len(a.PrivateKeyPEM) > 0
	hasToken := a.Token != ""
	switch scheme {
	case "https", "http":
		if hasSSH {
			return errors.New("an SSH key was given for an https repository URL; use an ssh URL or a token")
		}
		if a.Username != "" && !hasToken {
			return errors.New("a user name was given without a token")
		}
	case "ssh":
		if hasToken {
			return errors.New("a token was given for an ssh repository URL; use an https URL or a deploy key")
		}
		if !hasSSH {
			return errors.New("ssh repository URLs need a deploy key (Auth.PrivateKeyPEM)")
		}
		if len(a.KnownHosts) == 0 && a.HostKeyCallback == nil && a.AcceptNewHostKey == nil {
			return errors.New("ssh repository URLs need the server's host key: set KnownHosts, HostKeyCallback or AcceptNewHostKey")
		}
	case "file":
		if hasSSH || hasToken {
			return errors.New("credentials were given for a file URL")
		}
	default:
		return fmt.Errorf("unsupported scheme %q", scheme)
	}
	return nil
}

// Checkout describes the commit that Cache.Checkout wrote.
type Checkout struct {
	// Commit is the full sha of the commit checked out.
	Commit string

	// Ref is the ref that was resolved: a full ref name such as
	// "refs/heads/main" or "refs/tags/v1.0.0", "HEAD" when the remote's
	// default branch could not be named, or the full commit sha when a
	// commit was asked for.
	Ref string

	// Subject is the first line of the commit message.
	Subject string

	// Author is the commit's author as "Name <email>".
	Author string

	// AuthorTime is when the commit was authored.
	AuthorTime time.Time

	// Submodules lists the submodules checked out, nested ones included,
	// in the order they were written.
	Submodules []Submodule
}

// Submodule describes one submodule that Cache.Checkout wrote.
type Submodule struct {
	// Path is the submodule's directory, slash-separated and relative to
	// the checkout's root.
	Path string

	// URL is the submodule's repository, resolved against its parent's URL
	// when it was relative, in the normalized form of ValidateURL.
	URL string

	// Commit is the full sha of the submodule commit checked out.
	Commit string
}
