package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"go.uber.org/zap"
)

// Defaults for the Cache's limits.
const (
	// DefaultMaxPackBytes is the default of Cache.MaxPackBytes: 4 GiB.
	DefaultMaxPackBytes int64 = 4 << 30
	// DefaultMaxCheckoutBytes is the default of Cache.MaxCheckoutBytes:
	// 4 GiB.
	DefaultMaxCheckoutBytes int64 = 4 << 30
	// DefaultMaxFiles is the default of Cache.MaxFiles.
	DefaultMaxFiles = 200_000
)

// Cache keeps bare repositories under Dir and checks commits out of them.
// A checkout whose Source names an Owner uses that owner's own area of the
// cache, which no other owner reads; the others share one repository per
// remote URL. Checkouts of different owners (or, without an owner, of
// different URLs) run in parallel; those of one owner (or URL) take turns.
// A Cache must not be copied after first use, and two Caches (or
// processes) must not share a Dir.
type Cache struct {
	// Dir holds the cache: owners/<owner>/ is an owner's area (its url
	// file names the repository it caches, its repos/ holds that
	// repository and its submodules), repos/<sha256 of the normalized
	// URL>/ a bare repository of the shared area, tmp/ short-lived files.
	// It is created if missing.
	Dir string

	// Policy decides which URLs, submodule URLs included, may be fetched
	// and where a fetch may connect. SetPolicy replaces it while
	// checkouts run.
	Policy URLPolicy
	// livePolicy, once set by SetPolicy, wins over Policy.
	livePolicy atomic.Pointer[URLPolicy]

	// MaxPackBytes caps the data one fetch may receive, so a hostile or
	// broken server cannot fill the disk. Zero means DefaultMaxPackBytes.
	MaxPackBytes int64

	// MaxCheckoutBytes caps the bytes of files one checkout writes, each
	// submodule counted on its own. Zero means DefaultMaxCheckoutBytes.
	MaxCheckoutBytes int64

	// MaxFiles caps the files, directories and links one checkout writes,
	// each submodule counted on its own. Zero means DefaultMaxFiles.
	MaxFiles int

	// Logger receives a debug line per checkout, with the URL in its
	// normalized form (which holds no credential). Nil means no logging.
	Logger *zap.Logger

	mu    sync.Mutex
	locks map[string]*keyLock
}

// keyLock serializes the checkouts of one repository.
type keyLock struct {
	sem  chan struct{}
	refs int
}

func (c *Cache) maxPackBytes() int64 {
	if c.MaxPackBytes > 0 {
		return c.MaxPackBytes
	}
	return DefaultMaxPackBytes
}

func (c *Cache) maxCheckoutBytes() int64 {
	if c.MaxCheckoutBytes > 0 {
		return c.MaxCheckoutBytes
	}
	return DefaultMaxCheckoutBytes
}

func (c *Cache) maxFiles() int {
	if c.MaxFiles > 0 {
		return c.MaxFiles
	}
	return DefaultMaxFiles
}

func (c *Cache) logger() *zap.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return zap.NewNop()
}

// cacheKey names the cached repository of t.
func cacheKey(t *target) string {
	sum := sha256.Sum256([]byte(t.String()))
	return hex.EncodeToString(sum[:])
}

// repoDir returns the directory of the cached repository of t in the
// shared area.
func (c *Cache) repoDir(t *target) string {
	return c.sharedArea().repoDir(t)
}

// maxOwnerLength bounds Source.Owner.
const maxOwnerLength = 128

// checkOwner checks that owner can name a directory: letters, digits, '.',
// '_' and '-', starting with a letter or digit.
func checkOwner(owner string) error {
	if owner == "" || len(owner) > maxOwnerLength {
		return fmt.Errorf("cache owner must be 1 to %d characters", maxOwnerLength)
	}
	for i, c := range owner {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("cache owner %q must be letters, digits, '.', '_' and '-', starting with a letter or digit", owner)
		}
	}
	return nil
}

// area is where a checkout caches its repositories: the shared area, whose
// repositories have a lock each, or an owner's, whose lock the checkout
// holds from start to end.
type area struct {
	// repos is the directory of the bare repositories.
	repos string
	// owner is "" for the shared area.
	owner string
}

// repoDir returns the directory of the cached repository of t in a.
func (a area) repoDir(t *target) string {
	return filepath.Join(a.repos, cacheKey(t))
}

// sharedArea is the area of checkouts without an owner.
func (c *Cache) sharedArea() area {
	return area{repos: filepath.Join(c.Dir, "repos")}
}

// ownerDir is the directory of owner's area.
func (c *Cache) ownerDir(owner string) string {
	return filepath.Join(c.Dir, "owners", owner)
}

// ownerLockKey is the lock key of owner's area; repository keys are hex
// digests, so the two never meet.
func ownerLockKey(owner string) string {
	return "owner:" + owner
}

// ownerURLFile names the file of an owner's area that records the
// normalized URL of the repository the area caches.
const ownerURLFile = "url"

// openArea returns owner's area for a checkout of t, whose lock the caller
// holds. An area that caches another repository (or is not complete) is
// emptied first: an owner's area only ever holds one repository and its
// submodules.
func (c *Cache) openArea(owner string, t *target) (area, error) {
	dir := c.ownerDir(owner)
	a := area{repos: filepath.Join(dir, "repos"), owner: owner}
	want := t.String()
	b, err := os.ReadFile(filepath.Join(dir, ownerURLFile))
	switch {
	case err == nil && string(b) == want:
		return a, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return area{}, fmt.Errorf("reading the cache of %s: %w", owner, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return area{}, fmt.Errorf("clearing the cache of %s: %w", owner, err)
	}
	if err := os.MkdirAll(a.repos, 0o700); err != nil {
		return area{}, fmt.Errorf("creating the cache of %s: %w", owner, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerURLFile), []byte(want), 0o600); err != nil {
		return area{}, fmt.Errorf("creating the cache of %s: %w", owner, err)
	}
	return a, nil
}

// RemoveShared deletes the shared area (repositories cached by URL for
// checkouts without an owner), for a caller that only ever names owners:
// objects one owner's credentials fetched there must not stay around.
func (c *Cache) RemoveShared() error {
	if c.Dir == "" {
		return errors.New("the git cache has no directory")
	}
	if err := os.RemoveAll(c.sharedArea().repos); err != nil {
		return fmt.Errorf("removing the shared git cache: %w", err)
	}
	return nil
}

// Remove deletes owner's area of the cache, such as when the app it was
// named after is deleted. It waits for a checkout of owner in progress to
// end, at most until ctx is done. Removing an owner that has nothing cached
// is not an error.
func (c *Cache) Remove(ctx context.Context, owner string) error {
	if c.Dir == "" {
		return errors.New("the git cache has no directory")
	}
	if err := checkOwner(owner); err != nil {
		return err
	}
	unlock, err := c.lock(ctx, ownerLockKey(owner))
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.RemoveAll(c.ownerDir(owner)); err != nil {
		return fmt.Errorf("removing the cache of %s: %w", owner, err)
	}
	return nil
}

// lock takes the lock of key, waiting at most until ctx is done.
func (c *Cache) lock(ctx context.Context, key string) (func(), error) {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*keyLock{}
	}
	l := c.locks[key]
	if l == nil {
		l = &keyLock{sem: make(chan struct{}, 1)}
		c.locks[key] = l
	}
	l.refs++
	c.mu.Unlock()

	release := func() {
		c.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(c.locks, key)
		}
		c.mu.Unlock()
	}
	select {
	case l.sem <- struct{}{}:
		return func() {
			<-l.sem
			release()
		}, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// Checkout fetches src into the cache and writes the tree of the commit its
// Ref names into dest, which must be missing or an empty directory; dest
// ends up a plain directory without a .git folder, submodules checked out
// in it (recursively, under the same URL policy). On failure dest is left
// empty (and removed if Checkout created it).
//
// With src.Owner set, the repository and its submodules are cached in
// that owner's area, which no other owner reads, so objects that one
// owner's credentials fetched never reach another; an area that cached
// another URL is emptied first. Without an owner, the area is shared by
// URL.
//
// Every Checkout first lists the remote's refs with src's credentials, so
// the cache serves nothing to a caller who cannot read the repository
// (not even a commit it already holds): a listing that fails, for want of
// credentials or otherwise, fails the checkout. A
// branch or tag is fetched at depth 1 when the cache lacks its tip (a
// later fetch brings only what is new); a commit sha is fetched the same
// way when it is the tip of a ref, and otherwise with the whole history of
// every branch and tag (deepening a shallow cache). Submodules reuse src's
// credentials only on the same scheme, host, port and user; elsewhere they
// are fetched anonymously.
//
// Cancelling ctx aborts the fetch and the checkout. Errors never contain
// src's credentials.
func (c *Cache) Checkout(ctx context.Context, src Source, dest string) (co *Checkout, err error) {
	red := newRedactor(src.Auth)
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %s", ctx.Err(), err.Error())
		}
		err = red.error(err)
	}()
	if c.Dir == "" {
		return nil, errors.New("the git cache has no directory")
	}
	if err := ValidateRef(src.Ref); err != nil {
		return nil, err
	}
	ar := c.sharedArea()
	if src.Owner != "" {
		if err := checkOwner(src.Owner); err != nil {
			return nil, err
		}
		t, err := c.policy().parse(src.URL)
		if err != nil {
			return nil, err
		}
		unlock, err := c.lock(ctx, ownerLockKey(src.Owner))
		if err != nil {
			return nil, err
		}
		defer unlock()
		if ar, err = c.openArea(src.Owner, t); err != nil {
			return nil, err
		}
	}
	created, err := prepareDest(dest)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("opening checkout directory: %w", err)
	}
	defer func() {
		root.Close()
		if err != nil {
			clearDest(dest, created)
		}
	}()
	return c.checkout(ctx, ar, src, root, "", 0)
}

// prepareDest makes sure dest is an empty directory, and says whether it
// created it.
func prepareDest(dest string) (bool, error) {
	entries, err := os.ReadDir(dest)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return false, fmt.Errorf("creating checkout directory: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("reading checkout directory: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("checkout directory %s is not empty", dest)
	}
	return false, nil
}

// clearDest removes what a failed checkout wrote.
func clearDest(dest string, created bool) {
	if created {
		_ = os.RemoveAll(dest)
		return
	}
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dest, e.Name()))
	}
}

// checkout checks src out into root, caching in ar; rel is root's path
// relative to the top checkout, depth the submodule nesting.
func (c *Cache) checkout(ctx context.Context, ar area, src Source, root *os.Root, rel string, depth int) (*Checkout, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := c.policy().parse(src.URL)
	if err != nil {
		return nil, err
	}
	if err := src.Auth.checkFor(t.scheme); err != nil {
		return nil, err
	}
	if err := c.policy().resolve(ctx, t); err != nil {
		return nil, err
	}
	unlock := func() {}
	if ar.owner == "" {
		// An owner's area is locked for the whole checkout already.
		if unlock, err = c.lock(ctx, cacheKey(t)); err != nil {
			return nil, err
		}
	}
	co, subs, err := c.fetchAndWrite(ctx, ar, t, src, root)
	unlock()
	if err != nil {
		return nil, err
	}
	if src.SkipSubmodules || len(subs) == 0 {
		return co, nil
	}
	if depth >= maxSubmoduleDepth {
		return nil, fmt.Errorf("submodules nested deeper than %d", maxSubmoduleDepth)
	}
	for _, s := range subs {
		sub, err := c.checkoutSubmodule(ctx, ar, t, src.Auth, s, root, rel, depth)
		if err != nil {
			return nil, err
		}
		co.Submodules = append(co.Submodules, sub...)
	}
	return co, nil
}

// checkoutSubmodule checks out one submodule and its own submodules, and
// returns their descriptions.
func (c *Cache) checkoutSubmodule(ctx context.Context, ar area, parent *target, auth Auth, s pendingSubmodule, root *os.Root, rel string, depth int) ([]Submodule, error) {
	full := path.Join(rel, s.path)
	st, err := c.policy().parse(s.url)
	if err != nil {
		return nil, fmt.Errorf("submodule %s: %w", full, err)
	}
	subAuth := Auth{}
	if parent.sameOrigin(st) {
		subAuth = auth
	}
	subRoot, err := root.OpenRoot(s.path)
	if err != nil {
		return nil, fmt.Errorf("submodule %s: %w", full, err)
	}
	defer subRoot.Close()
	subSrc := Source{URL: s.url, Ref: s.commit, Auth: subAuth}
	co, err := c.checkout(ctx, ar, subSrc, subRoot, full, depth+1)
	if err != nil {
		return nil, fmt.Errorf("submodule %s: %w", full, err)
	}
	out := []Submodule{{Path: full, URL: st.String(), Commit: co.Commit}}
	return append(out, co.Submodules...), nil
}

// fetchAndWrite does the part of a checkout that needs the repository's
// lock: fetch, resolve, write the tree and read its .gitmodules.
func (c *Cache) fetchAndWrite(ctx context.Context, ar area, t *target, src Source, root *os.Root) (*Checkout, []pendingSubmodule, error) {
	rem, err := c.openRemote(ctx, t, src.Auth)
	if err != nil {
		return nil, nil, fmt.Errorf("contacting %s: %w", t, err)
	}
	defer rem.close()

	st, err := c.openRepo(ar, t)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()

	f := &fetcher{rem: rem, st: st, maxPack: c.maxPackBytes()}
	res, err := f.resolve(ctx, src.Ref)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching %s: %w", t, err)
	}
	commit, err := object.GetCommit(st, res.commit)
	if err != nil {
		return nil, nil, fmt.Errorf("reading commit %s: %w", res.commit, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the tree of commit %s: %w", res.commit, err)
	}
	w := &treeWriter{ctx: ctx, objects: st, root: root, maxFiles: c.maxFiles(), maxBytes: c.maxCheckoutBytes()}
	if err := w.write(tree); err != nil {
		return nil, nil, fmt.Errorf("writing commit %s: %w", res.commit, err)
	}
	var subs []pendingSubmodule
	if !src.SkipSubmodules {
		if subs, err = submodules(tree, w.gitlinks, t); err != nil {
			return nil, nil, fmt.Errorf("commit %s: %w", res.commit, err)
		}
	}
	subject, _, _ := strings.Cut(strings.TrimLeft(commit.Message, "\n"), "\n")
	co := &Checkout{
		Commit:     res.commit.String(),
		Ref:        res.name,
		Subject:    strings.TrimSpace(subject),
		Author:     fmt.Sprintf("%s <%s>", commit.Author.Name, commit.Author.Email),
		AuthorTime: commit.Author.When,
	}
	c.logger().Debug("checked out git source",
		zap.String("owner", ar.owner),
		zap.String("url", t.String()),
		zap.String("ref", res.name),
		zap.String("commit", co.Commit),
		zap.Int("fetches", f.fetches),
		zap.Int("files", w.files),
		zap.Int64("bytes", w.bytes))
	return co, subs, nil
}

// openRepo opens the cached bare repository of t in ar, creating it if
// needed.
func (c *Cache) openRepo(ar area, t *target) (*filesystem.Storage, error) {
	dir := ar.repoDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating cache repository: %w", err)
	}
	st := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); errors.Is(err, os.ErrNotExist) {
		if _, err := git.Init(st, nil); err != nil && !errors.Is(err, git.ErrRepositoryAlreadyExists) {
			_ = st.Close()
			return nil, fmt.Errorf("initializing cache repository: %w", err)
		}
	}
	return st, nil
}

// SetPolicy replaces the URL policy; safe while checkouts run.
func (c *Cache) SetPolicy(p URLPolicy) { c.livePolicy.Store(&p) }

// policy is the URL policy in force.
func (c *Cache) policy() URLPolicy {
	if p := c.livePolicy.Load(); p != nil {
		return *p
	}
	return c.Policy
}
