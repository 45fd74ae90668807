package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fileCache returns a cache that accepts file URLs and resolves nothing.
func fileCache(t *testing.T) *Cache {
	return &Cache{Dir: t.TempDir(), Policy: URLPolicy{AllowFile: true, Resolver: noDNS}}
}

func TestCheckoutFileRefs(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	v1 := map[string]string{
		"README.md":     "v1\n",
		"app":           "dir",
		"app/hello.txt": "hello\n",
		"run.sh":        "#!/bin/sh\necho run\n",
		"link.md":       "-> README.md",
	}
	feature := map[string]string{"feature.txt": "feature\n"}
	for k, v := range v1 {
		feature[k] = v
	}
	for _, tc := range []struct {
		ref     string
		wantRef string
		commit  plumbing.Hash
		subject string
		files   map[string]string
	}{
		{ref: "", wantRef: "refs/heads/main", commit: r.c1, subject: "first commit", files: v1},
		{ref: "main", wantRef: "refs/heads/main", commit: r.c1, subject: "first commit", files: v1},
		{ref: "feature", wantRef: "refs/heads/feature", commit: r.feat, subject: "add feature", files: feature},
		{ref: "refs/heads/feature", wantRef: "refs/heads/feature", commit: r.feat, subject: "add feature", files: feature},
		{ref: "v1-light", wantRef: "refs/tags/v1-light", commit: r.c1, subject: "first commit", files: v1},
		{ref: "v1.0.0", wantRef: "refs/tags/v1.0.0", commit: r.c1, subject: "first commit", files: v1},
		{ref: r.feat.String(), wantRef: r.feat.String(), commit: r.feat, subject: "add feature", files: feature},
		{ref: r.c1.String()[:7], wantRef: r.c1.String(), commit: r.c1, subject: "first commit", files: v1},
		{ref: strings.ToUpper(r.feat.String()[:10]), wantRef: r.feat.String(), commit: r.feat, subject: "add feature", files: feature},
	} {
		t.Run("ref="+tc.ref, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "src")
			co, err := c.Checkout(context.Background(), Source{URL: r.fileURL(), Ref: tc.ref}, dest)
			if err != nil {
				t.Fatalf("Checkout: %v", err)
			}
			if co.Commit != tc.commit.String() || co.Ref != tc.wantRef || co.Subject != tc.subject {
				t.Errorf("got commit %s ref %s subject %q, want %s %s %q", co.Commit, co.Ref, co.Subject, tc.commit, tc.wantRef, tc.subject)
			}
			if co.Author != "Ada Lovelace <ada@example.com>" || !co.AuthorTime.Equal(testAuthor.When) {
				t.Errorf("got author %q at %v", co.Author, co.AuthorTime)
			}
			got := readTree(t, dest)
			if len(got) != len(tc.files) {
				t.Errorf("got files %v, want %v", got, tc.files)
			}
			for name, want := range tc.files {
				if got[name] != want {
					t.Errorf("%s: got %q, want %q", name, got[name], want)
				}
			}
			fi, err := os.Stat(filepath.Join(dest, "run.sh"))
			if err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("run.sh is not executable: %v %v", fi.Mode(), err)
			}
			fi, err = os.Stat(filepath.Join(dest, "README.md"))
			if err != nil || fi.Mode().Perm()&0o111 != 0 {
				t.Errorf("README.md is executable: %v %v", fi.Mode(), err)
			}
		})
	}
	if repos := cacheRepos(t, c); len(repos) != 1 {
		t.Errorf("got %d cached repositories, want 1: %v", len(repos), repos)
	}
}

// observedCache is fileCache with its debug log recorded.
func observedCache(t *testing.T) (*Cache, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	c := fileCache(t)
	c.Logger = zap.New(core)
	return c, logs
}

// lastFetches returns the "fetches" field of the last checkout logged.
func lastFetches(t *testing.T, logs *observer.ObservedLogs) int64 {
	t.Helper()
	all := logs.FilterMessage("checked out git source").All()
	if len(all) == 0 {
		t.Fatal("no checkout was logged")
	}
	return all[len(all)-1].ContextMap()["fetches"].(int64)
}

func TestCheckoutIncremental(t *testing.T) {
	r := newTestRepo(t)
	c, logs := observedCache(t)
	ctx := context.Background()

	if _, err := c.Checkout(ctx, Source{URL: r.fileURL(), Ref: "main"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if n := lastFetches(t, logs); n != 1 {
		t.Errorf("first checkout: %d fetches, want 1", n)
	}
	repos := cacheRepos(t, c)

	// Nothing new: no pack is fetched, the remote is still asked.
	if _, err := c.Checkout(ctx, Source{URL: r.fileURL(), Ref: "main"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if n := lastFetches(t, logs); n != 0 {
		t.Errorf("unchanged checkout: %d fetches, want 0", n)
	}

	r.write(t, "README.md", "v2\n", 0o644)
	c2 := r.commit(t, "second commit")
	dest := t.TempDir()
	co, err := c.Checkout(ctx, Source{URL: r.fileURL(), Ref: "main"}, dest)
	if err != nil {
		t.Fatal(err)
	}
	if co.Commit != c2.String() || co.Subject != "second commit" {
		t.Errorf("got %s %q, want %s", co.Commit, co.Subject, c2)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "README.md")); string(b) != "v2\n" {
		t.Errorf("README.md = %q, want v2", b)
	}
	if n := lastFetches(t, logs); n != 1 {
		t.Errorf("second commit: %d fetches, want 1", n)
	}
	if got := cacheRepos(t, c); len(got) != 1 || got[0] != repos[0] {
		t.Errorf("cache repositories %v, want %v reused", got, repos)
	}
	// The old commit is still served from the cache.
	co, err = c.Checkout(ctx, Source{URL: r.fileURL(), Ref: r.c1.String()}, t.TempDir())
	if err != nil || co.Commit != r.c1.String() {
		t.Fatalf("old commit: %v %v", co, err)
	}
	if n := lastFetches(t, logs); n != 0 {
		t.Errorf("cached commit: %d fetches, want 0", n)
	}
}

func TestCheckoutErrors(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	for _, tc := range []struct {
		name string
		src  Source
		is   error
		want string
	}{
		{name: "missing branch", src: Source{URL: r.fileURL(), Ref: "no-such-branch"}, is: ErrRefNotFound, want: `"no-such-branch"`},
		{name: "missing commit", src: Source{URL: r.fileURL(), Ref: "deadbeefdeadbeef"}, is: ErrRefNotFound, want: "deadbeefdeadbeef"},
		{name: "invalid ref", src: Source{URL: r.fileURL(), Ref: "--upload-pack=touch M"}, is: ErrInvalidRef},
		{name: "file URL refused", src: Source{URL: r.fileURL()}, is: ErrURLRefused},
		{name: "no repository", src: Source{URL: "file://" + t.TempDir()}, want: "repository not found"},
		{name: "token for file", src: Source{URL: r.fileURL(), Auth: Auth{Token: "x"}}, want: "credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := c
			if tc.name == "file URL refused" {
				cc = &Cache{Dir: t.TempDir(), Policy: URLPolicy{Resolver: noDNS}}
			}
			dest := filepath.Join(t.TempDir(), "src")
			_, err := cc.Checkout(context.Background(), tc.src, dest)
			if err == nil {
				t.Fatal("Checkout succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if _, serr := os.Stat(dest); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("dest left behind after failure: %v", serr)
			}
		})
	}
}

func TestCheckoutDest(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkout(context.Background(), Source{URL: r.fileURL()}, full); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty dest: %v", err)
	}
	// An existing empty directory is used, and left empty on failure.
	empty := t.TempDir()
	if _, err := c.Checkout(context.Background(), Source{URL: r.fileURL(), Ref: "nope"}, empty); err == nil {
		t.Fatal("missing ref succeeded")
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("dest after failure: %v %v", entries, err)
	}
	if _, err := c.Checkout(context.Background(), Source{URL: r.fileURL()}, empty); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(empty, ".git")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkout has a .git: %v", err)
	}
}

func TestCheckoutCancelled(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Checkout(ctx, Source{URL: r.fileURL()}, t.TempDir())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestCheckoutConcurrent(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	refs := []string{"main", "feature", "v1.0.0", "main", "feature", r.c1.String()}
	var wg sync.WaitGroup
	errs := make([]error, len(refs))
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Checkout(context.Background(), Source{URL: r.fileURL(), Ref: ref}, t.TempDir())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("checkout %s: %v", refs[i], err)
		}
	}
	if len(c.locks) != 0 {
		t.Errorf("%d locks left", len(c.locks))
	}
}

func TestCheckoutLockWaitsForContext(t *testing.T) {
	c := fileCache(t)
	unlock, err := c.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.lock(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("second lock: %v", err)
	}
	unlock()
	if len(c.locks) != 0 {
		t.Errorf("%d locks left", len(c.locks))
	}
}

func TestCheckoutSubmodules(t *testing.T) {
	lib := newTestRepo(t)
	inner := newTestRepo(t)
	// lib has a nested submodule, inner, by absolute URL.
	libTip := commitTree(t, lib.repo, map[string]treeEntry{
		"lib.txt":     {mode: filemode.Regular, content: "lib\n"},
		".gitmodules": {mode: filemode.Regular, content: "[submodule \"inner\"]\n\tpath = deps/inner\n\turl = " + inner.fileURL() + "\n"},
		"deps/inner":  {mode: filemode.Submodule, hash: inner.feat},
	}, "lib with inner", lib.c1)

	app := newTestRepo(t)
	// The app's submodule URL is relative: ../<lib dir name>, next to it.
	rel := "../" + filepath.Base(lib.dir)
	if filepath.Dir(lib.dir) != filepath.Dir(app.dir) {
		// t.TempDir gives siblings under one test directory; if not,
		// fall back to an absolute URL.
		rel = lib.fileURL()
	}
	commitTree(t, app.repo, map[string]treeEntry{
		"app.txt":     {mode: filemode.Regular, content: "app\n"},
		".gitmodules": {mode: filemode.Regular, content: "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = " + rel + "\n"},
		"vendor/lib":  {mode: filemode.Submodule, hash: libTip},
	}, "app with lib")

	c := fileCache(t)
	dest := t.TempDir()
	co, err := c.Checkout(context.Background(), Source{URL: app.fileURL(), Ref: "main"}, dest)
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dest)
	for name, want := range map[string]string{
		"app.txt":                             "app\n",
		"vendor/lib/lib.txt":                  "lib\n",
		"vendor/lib/deps/inner/feature.txt":   "feature\n",
		"vendor/lib/deps/inner/link.md":       "-> README.md",
		"vendor/lib/deps/inner/app/hello.txt": "hello\n",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	for p := range got {
		if strings.HasSuffix(p, ".git") {
			t.Errorf("checkout has %s", p)
		}
	}
	want := []Submodule{
		{Path: "vendor/lib", URL: lib.fileURL(), Commit: libTip.String()},
		{Path: "vendor/lib/deps/inner", URL: inner.fileURL(), Commit: inner.feat.String()},
	}
	if len(co.Submodules) != len(want) {
		t.Fatalf("submodules %+v, want %+v", co.Submodules, want)
	}
	for i := range want {
		if co.Submodules[i] != want[i] {
			t.Errorf("submodule %d = %+v, want %+v", i, co.Submodules[i], want[i])
		}
	}
	if n := len(cacheRepos(t, c)); n != 3 {
		t.Errorf("%d cached repositories, want 3", n)
	}

	// SkipSubmodules leaves the directory empty.
	dest = t.TempDir()
	co, err = c.Checkout(context.Background(), Source{URL: app.fileURL(), Ref: "main", SkipSubmodules: true}, dest)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dest, "vendor/lib")); len(entries) != 0 || len(co.Submodules) != 0 {
		t.Errorf("skipped submodule has %d entries, %d reported", len(entries), len(co.Submodules))
	}
}

func TestCheckoutRefusesHostileSubmoduleURLs(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "M")
	lib := newTestRepo(t)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"ext transport", "ext::sh -c touch% " + marker, "refused"},
		{"ext transport, no spaces", "ext::/usr/bin/touch", "remote-helper"},
		{"upload-pack option", "--upload-pack=touch " + marker, "refused"},
		{"upload-pack option, no spaces", "--upload-pack=/usr/bin/touch", "'-'"},
		{"loopback", "https://127.0.0.1/x.git", "loopback"},
		{"metadata", "http://169.254.169.254/latest", "http is not allowed"},
		{"name to metadata", "https://metadata.example/x", "link-local"},
		{"gopher", "gopher://example.com/x", "scheme"},
		{"climbs out", "../../../../../../../../../../../../x", "climbs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestRepo(t)
			commitTree(t, app.repo, map[string]treeEntry{
				".gitmodules": {mode: filemode.Regular, content: "[submodule \"x\"]\n\tpath = x\n\turl = " + tc.url + "\n"},
				"x":           {mode: filemode.Submodule, hash: lib.c1},
			}, "hostile submodule")
			c := fileCache(t)
			c.Policy.Resolver = fakeResolver{"metadata.example": {"169.254.169.254"}}
			_, err := c.Checkout(context.Background(), Source{URL: app.fileURL()}, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("marker file created: %v", err)
			}
		})
	}
}

func TestCheckoutRefusesHostileTrees(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries map[string]treeEntry
		want    string
	}{
		{"absolute symlink", map[string]treeEntry{"l": {mode: filemode.Symlink, content: "/etc/passwd"}}, "outside"},
		{"climbing symlink", map[string]treeEntry{"a/l": {mode: filemode.Symlink, content: "../../etc"}}, "outside"},
		{"symlink chain", map[string]treeEntry{
			"x/l": {mode: filemode.Symlink, content: ".."},
			"y":   {mode: filemode.Symlink, content: "x/l/../etc"},
		}, "outside"},
		{"symlink loop", map[string]treeEntry{
			"a": {mode: filemode.Symlink, content: "b"},
			"b": {mode: filemode.Symlink, content: "a"},
		}, "outside"},
		{".git directory", map[string]treeEntry{".git/config": {mode: filemode.Regular, content: "x"}}, ".git"},
		{".GIT. file", map[string]treeEntry{"d/.GIT.": {mode: filemode.Regular, content: "x"}}, ".git"},
		{"dot-dot name", map[string]treeEntry{"..": {mode: filemode.Regular, content: "x"}}, "not a file name"},
		{"submodule without .gitmodules", map[string]treeEntry{"s": {mode: filemode.Submodule, hash: plumbing.NewHash("1111111111111111111111111111111111111111")}}, ".gitmodules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t)
			commitTree(t, r.repo, tc.entries, "hostile")
			outside := t.TempDir()
			dest := filepath.Join(outside, "src")
			_, err := fileCache(t).Checkout(context.Background(), Source{URL: r.fileURL()}, dest)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}

func TestCheckoutKeepsSafeSymlinks(t *testing.T) {
	r := newTestRepo(t)
	commitTree(t, r.repo, map[string]treeEntry{
		"node_modules/pkg/bin/cli.js": {mode: filemode.Executable, content: "#!/usr/bin/env node\n"},
		"node_modules/.bin/cli":       {mode: filemode.Symlink, content: "../pkg/bin/cli.js"},
		"dangling":                    {mode: filemode.Symlink, content: "missing/file"},
		"self":                        {mode: filemode.Symlink, content: "."},
	}, "links")
	dest := t.TempDir()
	if _, err := fileCache(t).Checkout(context.Background(), Source{URL: r.fileURL()}, dest); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "node_modules/.bin/cli")); err != nil || string(b) != "#!/usr/bin/env node\n" {
		t.Errorf("following the link: %q %v", b, err)
	}
}

func TestCheckoutLimits(t *testing.T) {
	r := newTestRepo(t)
	for _, tc := range []struct {
		name string
		c    *Cache
		want string
	}{
		{"files", &Cache{MaxFiles: 3}, "more than 3 entries"},
		{"bytes", &Cache{MaxCheckoutBytes: 10}, "larger than 10 bytes"},
		{"pack", &Cache{MaxPackBytes: 100}, "more data than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Dir = t.TempDir()
			tc.c.Policy = URLPolicy{AllowFile: true, Resolver: noDNS}
			_, err := tc.c.Checkout(context.Background(), Source{URL: r.fileURL()}, filepath.Join(t.TempDir(), "src"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckoutInjectionPayloads(t *testing.T) {
	r := newTestRepo(t)
	c := fileCache(t)
	marker := filepath.Join(t.TempDir(), "M")
	payloads := []string{
		"x; touch " + marker,
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"a|touch " + marker,
		"a && touch " + marker,
		"a\ntouch " + marker,
		"a\rtouch " + marker,
		"${IFS}touch${IFS}" + marker,
		"-x",
		"--upload-pack=touch " + marker,
		"--upload-pack=touch${IFS}" + marker,
	}
	for _, p := range payloads {
		for _, src := range []Source{
			{URL: r.fileURL(), Ref: p},
			{URL: p},
			{URL: r.fileURL() + p},
			{URL: "ext::sh -c " + p},
		} {
			_, err := c.Checkout(context.Background(), src, filepath.Join(t.TempDir(), "src"))
			if err == nil {
				t.Errorf("payload %q accepted in %+v", p, src)
			}
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker file created: %v", err)
	}
}
