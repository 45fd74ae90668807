package gitsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// gitHTTPServer serves the repositories under root over smart HTTP on
// loopback with git's own git-http-backend, run through net/http/cgi. wrap,
// if not nil, wraps the CGI handler.
func gitHTTPServer(t *testing.T, root string, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	execPath := requireGit(t)
	var h http.Handler = &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + t.TempDir(),
		},
	}
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// httpURL is the URL of r on srv.
func httpURL(srv *httptest.Server, r *testRepo) string {
	return srv.URL + "/" + filepath.Base(r.dir)
}

// cacheShallow returns the shallow list of the cached repository of url.
func cacheShallow(t *testing.T, c *Cache, url string) []plumbing.Hash {
	t.Helper()
	tg, err := c.Policy.parse(url)
	if err != nil {
		t.Fatal(err)
	}
	st := filesystem.NewStorage(osfs.New(c.repoDir(tg)), cache.NewObjectLRUDefault())
	defer st.Close()
	s, err := st.Shallow()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckoutHTTP(t *testing.T) {
	r := newTestRepo(t)
	srv := gitHTTPServer(t, filepath.Dir(r.dir), nil)
	url := httpURL(srv, r)
	ctx := context.Background()

	// Loopback is refused until an administrator allows it.
	refused := &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowHTTP: true, Resolver: noDNS}}
	_, err := refused.Checkout(ctx, Source{URL: url}, t.TempDir())
	if !errors.Is(err, ErrURLRefused) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("without the allowlist: %v", err)
	}

	c, logs := observedCache(t)
	c.Policy = URLPolicy{AllowHTTP: true, AllowHosts: []string{"127.0.0.1"}, Resolver: noDNS}
	checkout := func(ref string, wantCommit plumbing.Hash, wantFetches int64, wantFile, wantContent string) {
		t.Helper()
		dest := t.TempDir()
		co, err := c.Checkout(ctx, Source{URL: url, Ref: ref}, dest)
		if err != nil {
			t.Fatalf("checkout %q: %v", ref, err)
		}
		if co.Commit != wantCommit.String() {
			t.Errorf("checkout %q: commit %s, want %s", ref, co.Commit, wantCommit)
		}
		if n := lastFetches(t, logs); n != wantFetches {
			t.Errorf("checkout %q: %d fetches, want %d", ref, n, wantFetches)
		}
		if b, err := os.ReadFile(filepath.Join(dest, wantFile)); err != nil || string(b) != wantContent {
			t.Errorf("checkout %q: %s = %q (%v), want %q", ref, wantFile, b, err, wantContent)
		}
	}

	checkout("main", r.c1, 1, "README.md", "v1\n")
	if s := cacheShallow(t, c, url); len(s) != 1 || s[0] != r.c1 {
		t.Errorf("after the first fetch the cache's shallow list is %v, want [%s]", s, r.c1)
	}
	checkout("v1-light", r.c1, 0, "README.md", "v1\n")
	checkout("v1.0.0", r.c1, 1, "README.md", "v1\n") // the tag object itself is new
	checkout("feature", r.feat, 1, "feature.txt", "feature\n")
	checkout(r.feat.String(), r.feat, 0, "feature.txt", "feature\n")
	checkout(r.c1.String()[:7], r.c1, 0, "README.md", "v1\n")

	// Two new commits: a shallow fetch brings only the tip.
	r.write(t, "README.md", "v2\n", 0o644)
	c2 := r.commit(t, "second commit")
	r.write(t, "README.md", "v3\n", 0o644)
	c3 := r.commit(t, "third commit")
	checkout("main", c3, 1, "README.md", "v3\n")
	if got := cacheRepos(t, c); len(got) != 1 {
		t.Errorf("cache repositories %v, want one reused", got)
	}

	// c2 is neither cached nor the tip of a ref: the whole history is
	// fetched, and the cache is no longer shallow.
	checkout(c2.String()[:9], c2, 1, "README.md", "v2\n")
	if s := cacheShallow(t, c, url); len(s) != 0 {
		t.Errorf("after the full fetch the cache's shallow list is %v, want empty", s)
	}

	// A missing ref says so.
	_, err = c.Checkout(ctx, Source{URL: url, Ref: "nope"}, t.TempDir())
	if !errors.Is(err, ErrRefNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing ref: %v", err)
	}
}

// countingResolver answers 127.0.0.1 the first time and the metadata address
// after, as a DNS-rebinding attacker would, and counts the look-ups.
type countingResolver struct{ calls atomic.Int32 }

// LookupIPAddr answers loopback once, then the metadata address.
func (r *countingResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if host != "git.example" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if r.calls.Add(1) == 1 {
		return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}}, nil
	}
	return []net.IPAddr{{IP: net.ParseIP("169.254.169.254")}}, nil
}

func TestCheckoutHTTPConnectsToCheckedAddress(t *testing.T) {
	r := newTestRepo(t)
	srv := gitHTTPServer(t, filepath.Dir(r.dir), nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := fmt.Sprintf("http://git.example:%s/%s", port, filepath.Base(r.dir))

	// Allowlisted by name: the name is resolved once, by the injected
	// resolver (there is no such host in real DNS), and every connection
	// goes to that answer, even though a second look-up would say
	// otherwise.
	res := &countingResolver{}
	c := &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowHTTP: true, AllowHosts: []string{"GIT.example."}, Resolver: res}}
	co, err := c.Checkout(context.Background(), Source{URL: url, Ref: "feature"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if co.Commit != r.feat.String() {
		t.Errorf("commit %s, want %s", co.Commit, r.feat)
	}
	if n := res.calls.Load(); n != 1 {
		t.Errorf("%d look-ups, want 1", n)
	}

	// Not allowlisted, the same name is refused for resolving to loopback.
	c = &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowHTTP: true, Resolver: fakeResolver{"git.example": {"127.0.0.1"}}}}
	_, err = c.Checkout(context.Background(), Source{URL: url}, t.TempDir())
	if !errors.Is(err, ErrURLRefused) || !strings.Contains(err.Error(), "resolves to 127.0.0.1") {
		t.Errorf("not allowlisted: %v", err)
	}
}

func TestCheckoutHTTPRedirects(t *testing.T) {
	for _, tc := range []struct {
		name, to, want string
	}{
		{"to another loopback address", "http://127.0.0.2:%s", "loopback"},
		{"to localhost", "http://localhost:%s", "localhost"},
		{"to the metadata address", "http://169.254.169.254:%s", "link-local"},
		{"to a name resolving to loopback", "http://evil.example:%s", "resolves to 127.0.0.3"},
		{"to file", "file://%s", "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				hits.Add(1)
				_, port, _ := net.SplitHostPort(req.Host)
				http.Redirect(w, req, fmt.Sprintf(tc.to, port)+req.URL.RequestURI(), http.StatusFound)
			}))
			defer srv.Close()
			c := &Cache{Dir: t.TempDir(), Policy: URLPolicy{
				AllowHTTP:  true,
				AllowHosts: []string{"127.0.0.1"},
				Resolver:   fakeResolver{"evil.example": {"127.0.0.3"}},
			}}
			_, err := c.Checkout(context.Background(), Source{URL: srv.URL + "/repo"}, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the allowlisted server got %d requests, want 1", n)
			}
		})
	}
}

func TestCheckoutHTTPTokenAuth(t *testing.T) {
	const canary = "CANARY-S3cr3t"
	token := canary + "-right"
	r := newTestRepo(t)
	srv := gitHTTPServer(t, filepath.Dir(r.dir), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			user, pass, ok := req.BasicAuth()
			if !ok || pass != token || user != "deploy" {
				// A careless server that repeats what it got: the
				// error go-git builds from this body must not carry it.
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintf(w, "bad credentials %s:%s (%s) for http://%s:%s@%s/\n", user, pass, req.Header.Get("Authorization"), user, pass, req.Host)
				return
			}
			h.ServeHTTP(w, req)
		})
	})
	url := httpURL(srv, r)
	c := &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowHTTP: true, AllowHosts: []string{"127.0.0.1"}, Resolver: noDNS}}

	co, err := c.Checkout(context.Background(), Source{URL: url, Ref: "v1.0.0", Auth: Auth{Username: "deploy", Token: token}}, t.TempDir())
	if err != nil {
		t.Fatalf("right token: %v", err)
	}
	if co.Commit != r.c1.String() {
		t.Errorf("commit %s, want %s", co.Commit, r.c1)
	}

	for _, tc := range []struct {
		name string
		auth Auth
	}{
		{"wrong token", Auth{Username: "deploy", Token: canary + "-wrong"}},
		{"right token, wrong user", Auth{Username: "other", Token: token}},
		{"default user", Auth{Token: token}},
		{"no token", Auth{}},
		{"token with URL-special characters", Auth{Username: "deploy", Token: canary + "/+ :@%"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The cache already holds the commit: access is still checked.
			_, err := c.Checkout(context.Background(), Source{URL: url, Ref: "v1.0.0", Auth: tc.auth}, t.TempDir())
			if err == nil {
				t.Fatal("checkout succeeded")
			}
			if !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Errorf("error %q is not ErrAuthenticationRequired", err)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error contains the canary: %q", err)
			}
			if !strings.Contains(err.Error(), "[redacted]") && tc.auth.Token != "" {
				t.Errorf("expected the echoed token to be redacted: %q", err)
			}
		})
	}
}

func TestCheckoutHTTPCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		<-req.Context().Done()
	}))
	defer srv.Close()
	c := &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowHTTP: true, AllowHosts: []string{"127.0.0.1"}, Resolver: noDNS}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Checkout(ctx, Source{URL: srv.URL + "/repo"}, t.TempDir())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}
