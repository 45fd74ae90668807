package gitsource

import (
	"bytes"
	"encoding/pem"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateDeployKey(t *testing.T) {
	privPEM, authorized, err := GenerateDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(privPEM)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		t.Fatalf("private key is not an OpenSSH PEM block: %q", privPEM)
	}
	signer, err := ssh.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatalf("parsing private key: %v", err)
	}
	if signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("key type %s, want ed25519", signer.PublicKey().Type())
	}
	if strings.ContainsAny(authorized, "\r\n") || !strings.HasPrefix(authorized, "ssh-ed25519 ") {
		t.Errorf("authorized key line %q", authorized)
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(authorized))
	if err != nil {
		t.Fatalf("parsing authorized key: %v", err)
	}
	if !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		t.Error("public key does not match the private key")
	}
	if comment != deployKeyComment || len(options) != 0 || len(rest) != 0 {
		t.Errorf("comment %q, options %v, rest %q", comment, options, rest)
	}

	// The pair signs and verifies.
	sig, err := signer.Sign(nil, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify([]byte("data"), sig); err != nil {
		t.Errorf("verifying: %v", err)
	}

	// Every call makes a new key.
	other, _, err := GenerateDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, privPEM) {
		t.Error("two calls returned the same key")
	}
}

func TestKnownHostsLine(t *testing.T) {
	_, authorized, err := GenerateDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorized))
	if err != nil {
		t.Fatal(err)
	}
	for host, prefix := range map[string]string{
		"git.example":        "git.example ssh-ed25519 ",
		"[git.example]:2222": "[git.example]:2222 ssh-ed25519 ",
	} {
		line := KnownHostsLine(host, pub)
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("%s: %q", host, line)
		}
		_, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil || len(hosts) != 1 || !bytes.Equal(key.Marshal(), pub.Marshal()) {
			t.Errorf("%s: parsing %q: %v %v", host, line, hosts, err)
		}
	}
}
