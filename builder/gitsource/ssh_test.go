package gitsource

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// sshGitServer is an SSH server on loopback, written with x/crypto/ssh, that
// accepts one public key for user git and runs `git upload-pack` (git's own)
// for the repositories under root. It stands in for OpenSSH, which this
// machine need not have.
type sshGitServer struct {
	addr    string
	port    string
	hostKey ssh.PublicKey
}

func startSSHGitServer(t *testing.T, authorized ssh.PublicKey, root string) *sshGitServer {
	t.Helper()
	requireGit(t)
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if conn.User() == "git" && bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unauthorized key")
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { ln.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveSSHConn(nc, cfg, root)
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &sshGitServer{addr: ln.Addr().String(), port: port, hostKey: hostSigner.PublicKey()}
}

// serveSSHConn serves the exec requests of one connection.
func serveSSHConn(nc net.Conn, cfg *ssh.ServerConfig, root string) {
	defer nc.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			return
		}
		go serveSession(ch, chReqs, root)
	}
}

// serveSession runs git upload-pack for the first exec request.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, root string) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		quoted, ok := strings.CutPrefix(payload.Command, "git-upload-pack ")
		if !ok || len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' || strings.Contains(quoted[1:len(quoted)-1], "'") {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", "upload-pack", filepath.Join(root, quoted[1:len(quoted)-1]))
		cmd.Stdout = ch
		cmd.Stderr = ch.Stderr()
		stdin, err := cmd.StdinPipe()
		status := uint32(1)
		if err == nil && cmd.Start() == nil {
			go func() {
				_, _ = io.Copy(stdin, ch)
				stdin.Close()
			}()
			if cmd.Wait() == nil {
				status = 0
			}
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func TestCheckoutSSH(t *testing.T) {
	keyPEM, authorized, err := GenerateDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorized))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRepo(t)
	srv := startSSHGitServer(t, pub, filepath.Dir(r.dir))
	url := fmt.Sprintf("ssh://git@git.example:%s/%s", srv.port, filepath.Base(r.dir))
	knownHost := "[git.example]:" + srv.port
	policy := URLPolicy{AllowHosts: []string{"git.example"}, Resolver: fakeResolver{"git.example": {"127.0.0.1"}}}
	otherKey := func() ssh.PublicKey {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		s, _ := ssh.NewSignerFromKey(priv)
		return s.PublicKey()
	}
	otherPEM, _, err := GenerateDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	var tofu []string

	for _, tc := range []struct {
		name   string
		policy *URLPolicy
		auth   Auth
		want   string // an error substring, or "" for success
	}{
		{name: "known host", auth: Auth{PrivateKeyPEM: keyPEM, KnownHosts: []byte(KnownHostsLine(knownHost, srv.hostKey) + "\n")}},
		{name: "hashed known host", auth: Auth{PrivateKeyPEM: keyPEM, KnownHosts: []byte(hashedLine(t, knownHost, srv.hostKey))}},
		{name: "host key callback", auth: Auth{PrivateKeyPEM: keyPEM, HostKeyCallback: func(host string, _ net.Addr, key ssh.PublicKey) error {
			if host != "git.example:"+srv.port || !bytes.Equal(key.Marshal(), srv.hostKey.Marshal()) {
				return fmt.Errorf("unexpected host %s", host)
			}
			return nil
		}}},
		{name: "trust on first use", auth: Auth{PrivateKeyPEM: keyPEM, AcceptNewHostKey: func(host string, key ssh.PublicKey) error {
			tofu = append(tofu, KnownHostsLine(host, key))
			return nil
		}}},
		{name: "changed host key", want: "host key", auth: Auth{
			PrivateKeyPEM:    keyPEM,
			KnownHosts:       []byte(KnownHostsLine(knownHost, otherKey())),
			AcceptNewHostKey: func(string, ssh.PublicKey) error { return errors.New("must not be asked") },
		}},
		{name: "unknown host", want: "host key", auth: Auth{PrivateKeyPEM: keyPEM, KnownHosts: []byte(KnownHostsLine("[other.example]:22", srv.hostKey))}},
		{name: "refused on first use", want: "not accepted", auth: Auth{PrivateKeyPEM: keyPEM, AcceptNewHostKey: func(string, ssh.PublicKey) error {
			return errors.New("no")
		}}},
		{name: "key not authorized", want: "unable to authenticate", auth: Auth{PrivateKeyPEM: otherPEM, KnownHosts: []byte(KnownHostsLine(knownHost, srv.hostKey))}},
		{name: "no host key check", want: "host key", auth: Auth{PrivateKeyPEM: keyPEM}},
		{name: "no deploy key", want: "deploy key", auth: Auth{KnownHosts: []byte(KnownHostsLine(knownHost, srv.hostKey))}},
		{name: "token", want: "token", auth: Auth{Token: "CANARY-S3cr3t", PrivateKeyPEM: keyPEM}},
		{name: "loopback not allowed", want: "loopback", policy: &URLPolicy{Resolver: fakeResolver{"git.example": {"127.0.0.1"}}},
			auth: Auth{PrivateKeyPEM: keyPEM, KnownHosts: []byte(KnownHostsLine(knownHost, srv.hostKey))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cache{Dir: t.TempDir(), Policy: policy}
			if tc.policy != nil {
				c.Policy = *tc.policy
			}
			co, err := c.Checkout(context.Background(), Source{URL: url, Ref: "feature", Auth: tc.auth}, t.TempDir())
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if co.Commit != r.feat.String() {
					t.Errorf("commit %s, want %s", co.Commit, r.feat)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			for _, key := range [][]byte{keyPEM, otherPEM} {
				if strings.Contains(err.Error(), strings.Split(string(key), "\n")[1]) {
					t.Errorf("error contains the private key: %q", err)
				}
			}
		})
	}

	// The key accepted on first use pins the host from then on.
	if len(tofu) != 1 || !strings.HasPrefix(tofu[0], knownHost+" ssh-ed25519 ") {
		t.Fatalf("trust on first use recorded %q", tofu)
	}
	c := &Cache{Dir: t.TempDir(), Policy: policy}
	if _, err := c.Checkout(context.Background(), Source{URL: url, Auth: Auth{PrivateKeyPEM: keyPEM, KnownHosts: []byte(tofu[0])}}, t.TempDir()); err != nil {
		t.Errorf("with the recorded line: %v", err)
	}
}

// hashedLine returns a known_hosts line with a hashed host name.
func hashedLine(t *testing.T, host string, key ssh.PublicKey) string {
	t.Helper()
	return strings.Replace(KnownHostsLine(host, key), host, xknownhosts.HashHostname(host), 1) + "\n"
}
