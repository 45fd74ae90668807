package gitsource

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ownerRepos lists the cached repositories of owner's area of c, or nil
// when the area does not exist.
func ownerRepos(t *testing.T, c *Cache, owner string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(c.ownerDir(owner), "repos"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCheckoutOwnersHaveSeparateAreas(t *testing.T) {
	r := newTestRepo(t)
	c, logs := observedCache(t)
	ctx := context.Background()
	for _, owner := range []string{"app-a", "app-b", "app-a"} {
		if _, err := c.Checkout(ctx, Source{URL: r.fileURL(), Ref: "main", Owner: owner}, t.TempDir()); err != nil {
			t.Fatalf("checkout for %s: %v", owner, err)
		}
	}
	all := logs.FilterMessage("checked out git source").All()
	if len(all) != 3 {
		t.Fatalf("%d checkouts logged, want 3", len(all))
	}
	// The second owner fetches for itself: nothing of the first one's is
	// reused. The first owner's second checkout reuses its own area.
	for i, want := range []int64{1, 1, 0} {
		m := all[i].ContextMap()
		if got := m["fetches"].(int64); got != want {
			t.Errorf("checkout %d (%s): %d fetches, want %d", i, m["owner"], got, want)
		}
	}
	a, b := ownerRepos(t, c, "app-a"), ownerRepos(t, c, "app-b")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("areas hold %v and %v, want one repository each", a, b)
	}
	if filepath.Join(c.ownerDir("app-a"), "repos", a[0]) == filepath.Join(c.ownerDir("app-b"), "repos", b[0]) {
		t.Error("two owners share a cache directory")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "repos")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkouts with owners used the shared area: %v", err)
	}
}

func TestCheckoutOwnerAreaFollowsURL(t *testing.T) {
	r1, r2 := newTestRepo(t), newTestRepo(t)
	c := fileCache(t)
	ctx := context.Background()
	if _, err := c.Checkout(ctx, Source{URL: r1.fileURL(), Owner: "app"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	first := ownerRepos(t, c, "app")
	if _, err := c.Checkout(ctx, Source{URL: r2.fileURL(), Owner: "app"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	second := ownerRepos(t, c, "app")
	if len(first) != 1 || len(second) != 1 || first[0] == second[0] {
		t.Errorf("after a new URL the area holds %v (before: %v), want only the new repository", second, first)
	}
	b, err := os.ReadFile(filepath.Join(c.ownerDir("app"), ownerURLFile))
	if err != nil || string(b) != r2.fileURL() {
		t.Errorf("the area records %q (%v), want %q", b, err, r2.fileURL())
	}
}

func TestCacheRemove(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	ctx := context.Background()
	for _, owner := range []string{"gone", "kept"} {
		if _, err := c.Checkout(ctx, Source{URL: r.fileURL(), Owner: owner}, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Remove(ctx, "gone"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(c.ownerDir("gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed area is still there: %v", err)
	}
	if got := ownerRepos(t, c, "kept"); len(got) != 1 {
		t.Errorf("another owner's area holds %v after Remove", got)
	}
	if err := c.Remove(ctx, "gone"); err != nil {
		t.Errorf("removing an area again: %v", err)
	}
	if err := c.Remove(ctx, "never-used"); err != nil {
		t.Errorf("removing an owner that has nothing cached: %v", err)
	}
}

func TestCacheOwnerNames(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	ctx := context.Background()
	for _, owner := range []string{"..", ".", "../x", "a/b", `a\b`, "-a", ".hidden", "a b", "a\x00", strings.Repeat("a", maxOwnerLength+1)} {
		if _, err := c.Checkout(ctx, Source{URL: r.fileURL(), Owner: owner}, t.TempDir()); err == nil {
			t.Errorf("Checkout with owner %q succeeded", owner)
		}
		if err := c.Remove(ctx, owner); err == nil {
			t.Errorf("Remove of owner %q succeeded", owner)
		}
	}
	if err := c.Remove(ctx, ""); err == nil {
		t.Error("Remove of the empty owner succeeded")
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 0 {
		t.Errorf("refused owners left %v in the cache", entries)
	}
	for _, owner := range []string{"app", "my-app.v2", "Team_1", strings.Repeat("a", maxOwnerLength)} {
		if _, err := c.Checkout(ctx, Source{URL: r.fileURL(), Owner: owner}, t.TempDir()); err != nil {
			t.Errorf("Checkout with owner %q: %v", owner, err)
		}
	}
}

// TestCheckoutFailedAuthNeverServesCache checks that what one owner's
// credentials fetched never builds for a caller whose own fetch fails,
// even when the server lists refs to anyone and checks credentials only
// when objects are asked for (so the listing alone does not keep a
// credential-less caller out).
func TestCheckoutFailedAuthNeverServesCache(t *testing.T) {
	const token = "CANARY-S3cr3t-owner"
	r := newTestRepo(t)
	srv := gitHTTPServer(t, filepath.Dir(r.dir), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.HasSuffix(req.URL.Path, "/git-upload-pack") {
				if _, pass, ok := req.BasicAuth(); !ok || pass != token {
					w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
			}
			h.ServeHTTP(w, req)
		})
	})
	url := httpURL(srv, r)
	c := &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowHTTP: true, AllowHosts: []string{"127.0.0.1"}, Resolver: noDNS}}
	ctx := context.Background()

	// The first owner fetches with its token.
	for _, ref := range []string{"main", r.c1.String()} {
		if _, err := c.Checkout(ctx, Source{URL: url, Ref: ref, Owner: "team-a-app", Auth: Auth{Token: token}}, t.TempDir()); err != nil {
			t.Fatalf("checkout %s with the token: %v", ref, err)
		}
	}

	// Another owner of the same URL without the token, or with a wrong
	// one, gets nothing, whatever the first owner cached.
	for _, auth := range []Auth{{}, {Token: "wrong"}} {
		for _, ref := range []string{"main", "v1-light", r.c1.String(), r.c1.String()[:8]} {
			dest := t.TempDir()
			_, err := c.Checkout(ctx, Source{URL: url, Ref: ref, Owner: "team-b-app", Auth: auth}, dest)
			if err == nil {
				t.Errorf("ref %s with token %q: built from the cache of another owner", ref, auth.Token)
				continue
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error contains the token: %q", err)
			}
			if entries, _ := os.ReadDir(dest); len(entries) != 0 {
				t.Errorf("ref %s: a failed checkout wrote %d entries", ref, len(entries))
			}
		}
	}

	// Without an owner the shared area does not see the owner's objects
	// either.
	if _, err := c.Checkout(ctx, Source{URL: url, Ref: "main"}, t.TempDir()); err == nil {
		t.Error("a checkout without an owner or token was built from an owner's cache")
	}
}
