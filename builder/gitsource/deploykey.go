package gitsource

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// deployKeyComment is the comment of generated deploy keys, shown by git
// hosts next to the key.
const deployKeyComment = "caddy-paas deploy key"

// GenerateDeployKey makes a new ed25519 SSH key pair for the deploy key
// flow: privatePEM is the private key in OpenSSH PEM format, to seal at rest
// and pass as Auth.PrivateKeyPEM; authorizedKey is the public key as one
// authorized_keys line ("ssh-ed25519 AAAA... caddy-paas deploy key"),
// without a newline, for the user to add to the repository's deploy keys.
func GenerateDeployKey() (privatePEM []byte, authorizedKey string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generating ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, deployKeyComment)
	if err != nil {
		return nil, "", fmt.Errorf("encoding private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("encoding public key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + deployKeyComment
	return pem.EncodeToMemory(block), line, nil
}

// KnownHostsLine returns the known_hosts line that pins key for host, where
// host is in the form AcceptNewHostKey receives ("host" or "[host]:port").
// Store it after accepting a key on first use and pass it in
// Auth.KnownHosts afterwards.
func KnownHostsLine(host string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{host}, key)
}
