package gitsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

const (
	// dialTimeout bounds one TCP connect.
	dialTimeout = 30 * time.Second
	// sshTimeout bounds an SSH connect and handshake.
	sshTimeout = 30 * time.Second
	// maxErrorBody bounds what is read of an HTTP error response.
	maxErrorBody = 64 << 10
	// maxRedirects bounds the redirects of the first HTTP request.
	maxRedirects = 5
)

// remote is an open upload-pack session with the refs the server advertised.
type remote struct {
	sess transport.UploadPackSession
	adv  *packp.AdvRefs
	// serverObjects, for file URLs only, is the repository the in-process
	// server reads, so that haves can be limited to what it knows.
	serverObjects storer.EncodedObjectStorer
	closers       []func()
}

// close ends the session and releases everything it holds.
func (r *remote) close() {
	if r.sess != nil {
		_ = r.sess.Close()
	}
	for _, c := range r.closers {
		c()
	}
}

// openRemote connects to t, which policy has checked, and reads the refs it
// advertises. Nothing here uses go-git's process-wide protocol table: each
// session gets its own transport, so the pinned addresses and credentials
// of one fetch cannot leak into another.
func (c *Cache) openRemote(ctx context.Context, t *target, auth Auth) (_ *remote, err error) {
	r := &remote{}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	switch t.scheme {
	case "https", "http":
		client, tr := c.policy().httpClient(t, c.maxPackBytes())
		r.closers = append(r.closers, tr.CloseIdleConnections)
		ep := &transport.Endpoint{Protocol: t.scheme, Host: t.hostPort(false), Port: t.port, Path: t.path}
		var am transport.AuthMethod
		if auth.Token != "" {
			am = &githttp.BasicAuth{Username: auth.httpUser(), Password: auth.Token}
		}
		gc := githttp.NewClientWithOptions(client, &githttp.ClientOptions{RedirectPolicy: githttp.FollowInitialRedirects})
		r.sess, err = gc.NewUploadPackSession(ep, am)
	case "ssh":
		r.sess, err = c.openSSH(ctx, t, auth)
	case "file":
		l := &fileLoader{}
		r.closers = append(r.closers, l.close)
		r.sess, err = server.NewClient(l).NewUploadPackSession(&transport.Endpoint{Protocol: "file", Path: t.path}, nil)
		if l.sto != nil {
			r.serverObjects = l.sto
		}
	default:
		err = fmt.Errorf("unsupported scheme %q", t.scheme)
	}
	if err != nil {
		return nil, err
	}
	r.adv, err = r.sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return nil, errors.New("the repository is empty")
		}
		return nil, err
	}
	return r, nil
}

// httpClient returns an HTTP client for t that connects only to addresses
// the policy accepts: t's checked addresses for t's host, and, for a host
// that a redirect names, addresses resolved and checked at that moment.
// Proxies from the environment are not used, since a proxy would resolve
// the name again.
func (p URLPolicy) httpClient(t *target, maxBody int64) (*http.Client, *http.Transport) {
	d := &pinnedDialer{policy: p, host: t.host, ips: t.ips}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   dialTimeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	client := &http.Client{
		Transport: &boundedBodies{next: tr, max: maxBody},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			switch req.URL.Scheme {
			case "https":
			case "http":
				if !p.AllowHTTP {
					return refuse("redirect to an http URL; use https")
				}
			default:
				return refuse("redirect to scheme %q", req.URL.Scheme)
			}
			if req.URL.User != nil {
				return refuse("redirect to a URL with credentials")
			}
			// The dialer checks the new host's addresses.
			return nil
		},
	}
	return client, tr
}

// pinnedDialer dials only addresses that passed the policy's checks.
type pinnedDialer struct {
	policy URLPolicy
	host   string
	ips    []netip.Addr
}

// DialContext connects to the checked addresses of addr's host, trying each
// in turn.
func (d *pinnedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	h, ip, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}
	ips := d.ips
	if h != d.host {
		// A redirect to another host: check it now, and connect to what
		// was checked.
		t := &target{host: h, ip: ip}
		if err := d.policy.resolve(ctx, t); err != nil {
			return nil, err
		}
		ips = t.ips
	}
	nd := &net.Dialer{Timeout: dialTimeout}
	var firstErr error
	for _, ip := range ips {
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no address to dial for %s", h)
	}
	return nil, firstErr
}

// boundedBodies caps response bodies: an error body at maxErrorBody (go-git
// reads all of it into its error message), any other at max.
type boundedBodies struct {
	next http.RoundTripper
	max  int64
}

// RoundTrip performs the request and caps the response body.
func (b *boundedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := b.next.RoundTrip(req)
	if err != nil || res.Body == nil {
		return res, err
	}
	if res.StatusCode >= 300 {
		res.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(res.Body, maxErrorBody), res.Body}
	} else {
		res.Body = &cappedReadCloser{ReadCloser: res.Body, left: b.max}
	}
	return res, nil
}

// errTooLarge is returned when a remote sends more than the cache accepts.
var errTooLarge = errors.New("the remote sent more data than the cache's limit")

// cappedReadCloser fails once more than left bytes have been read.
type cappedReadCloser struct {
	io.ReadCloser
	left int64
}

// Read reads from the underlying reader, failing past the cap.
func (c *cappedReadCloser) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

// openSSH opens an upload-pack session over SSH to the first of t's checked
// addresses that answers. The host in the endpoint is the address itself,
// so go-git dials exactly what was checked; host keys are still verified
// against the host name of the URL.
func (c *Cache) openSSH(ctx context.Context, t *target, auth Auth) (transport.UploadPackSession, error) {
	am, err := c.newSSHAuth(t, auth)
	if err != nil {
		return nil, err
	}
	port := t.port
	if port == 0 {
		port = 22
	}
	var firstErr error
	for _, ip := range t.ips {
		ep := &transport.Endpoint{Protocol: "ssh", User: t.user, Host: ip.String(), Port: port, Path: t.path}
		type result struct {
			s   transport.UploadPackSession
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := gitssh.NewClient(nil).NewUploadPackSession(ep, am)
			done <- result{s, err}
		}()
		select {
		case r := <-done:
			if r.err == nil {
				return r.s, nil
			}
			if firstErr == nil {
				firstErr = r.err
			}
		case <-ctx.Done():
			// go-git's SSH dial does not take a context: let it finish
			// (within sshTimeout) in the background and close what it made.
			go func() {
				if r := <-done; r.s != nil {
					_ = r.s.Close()
				}
			}()
			return nil, ctx.Err()
		}
	}
	return nil, firstErr
}

// sshAuth is the go-git SSH auth method for one fetch: a deploy key and a
// host key check bound to the URL's host name.
type sshAuth struct {
	user     string
	signer   ssh.Signer
	callback ssh.HostKeyCallback
	algos    []string
}

// Name returns the auth method's name.
func (a *sshAuth) Name() string { return gitssh.PublicKeysName }

// String describes the auth method without its key.
func (a *sshAuth) String() string { return "user: " + a.user + ", name: " + gitssh.PublicKeysName }

// ClientConfig returns the SSH client configuration.
func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.callback,
		HostKeyAlgorithms: a.algos,
		Timeout:           sshTimeout,
	}, nil
}

// newSSHAuth parses the deploy key and builds the host key check.
func (c *Cache) newSSHAuth(t *target, auth Auth) (*sshAuth, error) {
	var signer ssh.Signer
	var err error
	if len(auth.Passphrase) > 0 {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(auth.PrivateKeyPEM, auth.Passphrase)
	} else {
		signer, err = ssh.ParsePrivateKey(auth.PrivateKeyPEM)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing the SSH deploy key: %w", err)
	}
	port := t.port
	if port == 0 {
		port = 22
	}
	hostPort := net.JoinHostPort(t.host, strconv.Itoa(port))
	a := &sshAuth{user: t.user, signer: signer}

	var inner ssh.HostKeyCallback
	switch {
	case auth.HostKeyCallback != nil:
		inner = auth.HostKeyCallback
	case len(auth.KnownHosts) > 0:
		db, err := c.knownHostsDB(auth.KnownHosts)
		if err != nil {
			return nil, err
		}
		inner = db.HostKeyCallback()
		a.algos = db.HostKeyAlgorithms(hostPort)
	}
	accept := auth.AcceptNewHostKey
	a.callback = func(_ string, remote net.Addr, key ssh.PublicKey) error {
		if inner != nil {
			err := inner(hostPort, remote, key)
			if err == nil {
				return nil
			}
			if accept == nil || !knownhosts.IsHostUnknown(err) {
				return fmt.Errorf("verifying the host key of %s: %w", hostPort, err)
			}
		}
		if accept == nil {
			return fmt.Errorf("no way to verify the host key of %s", hostPort)
		}
		if err := accept(knownhosts.Normalize(hostPort), key); err != nil {
			return fmt.Errorf("host key of %s not accepted: %w", hostPort, err)
		}
		return nil
	}
	return a, nil
}

// knownHostsDB parses known_hosts content. The parser reads files only, so
// the content goes through a private temporary file, removed at once.
func (c *Cache) knownHostsDB(content []byte) (*knownhosts.HostKeyDB, error) {
	dir := filepath.Join(c.Dir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the cache's temporary directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "known_hosts-*")
	if err != nil {
		return nil, fmt.Errorf("writing known hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("writing known hosts: %w", werr)
	}
	db, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return nil, fmt.Errorf("parsing known hosts: %w", err)
	}
	return db, nil
}

// fileLoader loads the repository of a file URL for go-git's in-process
// server, bare or not, and keeps it to be closed afterwards.
type fileLoader struct {
	sto *filesystem.Storage
}

// Load opens ep.Path as a repository.
func (l *fileLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	dir := ep.Path
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err == nil && fi.IsDir() {
		dir = filepath.Join(dir, ".git")
	}
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return nil, transport.ErrRepositoryNotFound
	}
	l.sto = filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	return l.sto, nil
}

// close releases the repository's open pack files.
func (l *fileLoader) close() {
	if l.sto != nil {
		_ = l.sto.Close()
	}
}
