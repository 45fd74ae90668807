package gitsource

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// testAuthor signs every commit of the test repositories.
var testAuthor = &object.Signature{Name: "Ada Lovelace", Email: "ada@example.com", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

// testRepo is a non-bare repository built with go-git, with the commits and
// refs the tests check out.
type testRepo struct {
	dir  string
	repo *git.Repository
	c1   plumbing.Hash // main's first commit, tagged v1-light and v1.0.0
	feat plumbing.Hash // the tip of branch feature
}

// newTestRepo builds: commit c1 on main (README.md "v1", app/hello.txt, an
// executable run.sh, a symlink link.md -> README.md); a lightweight tag
// v1-light and an annotated tag v1.0.0 on c1; branch feature with one more
// commit adding feature.txt. main is checked out again at the end.
func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	r := &testRepo{dir: dir, repo: repo}
	r.write(t, "README.md", "v1\n", 0o644)
	r.write(t, "app/hello.txt", "hello\n", 0o644)
	r.write(t, "run.sh", "#!/bin/sh\necho run\n", 0o755)
	if err := os.Symlink("README.md", filepath.Join(dir, "link.md")); err != nil {
		t.Fatal(err)
	}
	r.c1 = r.commit(t, "first commit\n\nwith a body\n")
	if _, err := repo.CreateTag("v1-light", r.c1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v1.0.0", r.c1, &git.CreateTagOptions{Tagger: testAuthor, Message: "release 1.0.0"}); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}); err != nil {
		t.Fatal(err)
	}
	r.write(t, "feature.txt", "feature\n", 0o644)
	r.feat = r.commit(t, "add feature")
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.Main}); err != nil {
		t.Fatal(err)
	}
	return r
}

// write writes a file of the worktree.
func (r *testRepo) write(t *testing.T, name, content string, perm os.FileMode) {
	t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

// commit commits every change of the worktree on the current branch.
func (r *testRepo) commit(t *testing.T, msg string) plumbing.Hash {
	t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: testAuthor, Committer: testAuthor})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fileURL is the repository's file:// URL.
func (r *testRepo) fileURL() string { return "file://" + filepath.ToSlash(r.dir) }

// treeEntry is a file of a tree built by hand.
type treeEntry struct {
	mode    filemode.FileMode
	content string        // blobs and symlinks
	hash    plumbing.Hash // gitlinks
}

// commitTree stores a commit whose tree holds exactly entries (slash paths),
// built object by object so that it may hold what a worktree cannot:
// gitlinks, hostile names, escaping symlinks. It moves branch main to it.
func commitTree(t *testing.T, repo *git.Repository, entries map[string]treeEntry, msg string, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	st := repo.Storer
	root := buildTree(t, st, entries)
	c := &object.Commit{Author: *testAuthor, Committer: *testAuthor, Message: msg, TreeHash: root, ParentHashes: parents}
	h := storeObject(t, st, c)
	if err := st.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), h)); err != nil {
		t.Fatal(err)
	}
	return h
}

// buildTree stores the trees for entries and returns the root tree's hash.
func buildTree(t *testing.T, st storer.EncodedObjectStorer, entries map[string]treeEntry) plumbing.Hash {
	t.Helper()
	children := map[string]map[string]treeEntry{}
	tree := &object.Tree{}
	for p, e := range entries {
		dir, rest, nested := strings.Cut(p, "/")
		if nested {
			if children[dir] == nil {
				children[dir] = map[string]treeEntry{}
			}
			children[dir][rest] = e
			continue
		}
		h := e.hash
		if e.mode != filemode.Submodule {
			h = storeBlob(t, st, e.content)
		}
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: p, Mode: e.mode, Hash: h})
	}
	for dir, sub := range children {
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: buildTree(t, st, sub)})
	}
	sort.Slice(tree.Entries, func(i, j int) bool { return tree.Entries[i].Name < tree.Entries[j].Name })
	return storeObject(t, st, tree)
}

// encoder is an object that can encode itself.
type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func storeObject(t *testing.T, st storer.EncodedObjectStorer, o encoder) plumbing.Hash {
	t.Helper()
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func storeBlob(t *testing.T, st storer.EncodedObjectStorer, content string) plumbing.Hash {
	t.Helper()
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fakeResolver answers from a map, so that no test uses real DNS.
type fakeResolver map[string][]string

// LookupIPAddr returns the addresses mapped to host.
func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	addrs, ok := f[strings.TrimSuffix(strings.ToLower(host), ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

// noDNS fails every look-up: tests that must not resolve anything use it.
var noDNS = fakeResolver{}

// readTree returns every file, link and directory under dir, as slash
// path -> content ("dir" for directories, "-> target" for links).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "-> " + target
		case fi.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requireGit returns git's exec path (where git-http-backend lives), or
// skips the test when git is missing; under CI=true it fails instead.
func requireGit(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs the git binary (Debian package git): %v", err)
		}
		t.Skipf("this test needs the git binary (Debian package git): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// cacheRepos lists the cached repositories of c.
func cacheRepos(t *testing.T, c *Cache) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(c.Dir, "repos"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
