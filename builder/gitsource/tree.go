package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

const (
	// maxTreeDepth bounds directory nesting.
	maxTreeDepth = 256
	// maxLinkTarget bounds a symlink's target.
	maxLinkTarget = 4096
	// maxSymlinkHops bounds the links followed when checking one.
	maxSymlinkHops = 40
)

// treeWriter writes a git tree into a directory. Every write goes through
// an os.Root, so nothing lands outside it whatever the tree holds.
type treeWriter struct {
	ctx      context.Context
	objects  storer.EncodedObjectStorer
	root     *os.Root
	maxFiles int
	maxBytes int64

	files int
	bytes int64
	// links maps each symlink written (slash path) to its target.
	links map[string]string
	// gitlinks are the submodule entries, whose directories were created
	// empty.
	gitlinks []gitlink
}

// gitlink is a submodule entry of a tree.
type gitlink struct {
	path   string
	commit plumbing.Hash
}

// write writes tree at the root and checks the symlinks it made.
func (w *treeWriter) write(tree *object.Tree) error {
	w.links = map[string]string{}
	if err := w.writeTree(tree, "", 0); err != nil {
		return err
	}
	for p := range w.links {
		if w.escapes(p) {
			return fmt.Errorf("symlink %q points outside the checkout (or loops)", p)
		}
	}
	return nil
}

// writeTree writes the entries of tree under dir.
func (w *treeWriter) writeTree(tree *object.Tree, dir string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("directories nested deeper than %d at %q", maxTreeDepth, dir)
	}
	seen := make(map[string]bool, len(tree.Entries))
	for _, e := range tree.Entries {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := checkEntryName(e.Name); err != nil {
			return fmt.Errorf("tree entry %q in %q: %w", e.Name, dir, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("tree entry %q in %q appears twice", e.Name, dir)
		}
		seen[e.Name] = true
		p := path.Join(dir, e.Name)
		w.files++
		if w.files > w.maxFiles {
			return fmt.Errorf("the tree has more than %d entries", w.maxFiles)
		}
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(w.objects, e.Hash)
			if err != nil {
				return fmt.Errorf("reading directory %q: %w", p, err)
			}
			if err := w.root.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("creating directory: %w", err)
			}
			if err := w.writeTree(sub, p, depth+1); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated:
			if err := w.writeFile(p, e.Hash, 0o644); err != nil {
				return err
			}
		case filemode.Executable:
			if err := w.writeFile(p, e.Hash, 0o755); err != nil {
				return err
			}
		case filemode.Symlink:
			if err := w.writeSymlink(p, e.Hash); err != nil {
				return err
			}
		case filemode.Submodule:
			if err := w.root.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("creating submodule directory: %w", err)
			}
			w.gitlinks = append(w.gitlinks, gitlink{path: p, commit: e.Hash})
		default:
			return fmt.Errorf("tree entry %q has unsupported mode %s", p, e.Mode)
		}
	}
	return nil
}

// checkEntryName refuses names that are not a single, ordinary path
// component, and .git in any case or with trailing dots or spaces.
func checkEntryName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return errors.New("not a file name")
	case strings.ContainsAny(name, "/\x00"):
		return errors.New("contains '/' or NUL")
	case strings.TrimRight(strings.ToLower(name), ". ") == ".git":
		return errors.New("a .git entry is not allowed")
	}
	return nil
}

// writeFile writes the blob h to p.
func (w *treeWriter) writeFile(p string, h plumbing.Hash, perm os.FileMode) error {
	blob, err := object.GetBlob(w.objects, h)
	if err != nil {
		return fmt.Errorf("reading file %q: %w", p, err)
	}
	if w.bytes+blob.Size > w.maxBytes {
		return fmt.Errorf("the tree is larger than %d bytes", w.maxBytes)
	}
	r, err := blob.Reader()
	if err != nil {
		return fmt.Errorf("reading file %q: %w", p, err)
	}
	defer r.Close()
	f, err := w.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, w.maxBytes-w.bytes+1))
	w.bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing file %q: %w", p, err)
	}
	if w.bytes > w.maxBytes {
		return fmt.Errorf("the tree is larger than %d bytes", w.maxBytes)
	}
	return nil
}

// writeSymlink creates the symlink p with the target held in blob h. An
// absolute target is refused here, one that climbs out of the checkout once
// the whole tree is written.
func (w *treeWriter) writeSymlink(p string, h plumbing.Hash) error {
	blob, err := object.GetBlob(w.objects, h)
	if err != nil {
		return fmt.Errorf("reading symlink %q: %w", p, err)
	}
	if blob.Size > maxLinkTarget {
		return fmt.Errorf("symlink %q has a target longer than %d bytes", p, maxLinkTarget)
	}
	r, err := blob.Reader()
	if err != nil {
		return fmt.Errorf("reading symlink %q: %w", p, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxLinkTarget+1))
	r.Close()
	if err != nil {
		return fmt.Errorf("reading symlink %q: %w", p, err)
	}
	target := string(b)
	switch {
	case target == "" || strings.ContainsRune(target, 0):
		return fmt.Errorf("symlink %q has an invalid target", p)
	case strings.HasPrefix(target, "/"):
		return fmt.Errorf("symlink %q points outside the checkout (absolute target)", p)
	}
	if err := w.root.Symlink(target, p); err != nil {
		return fmt.Errorf("creating symlink: %w", err)
	}
	w.links[p] = target
	return nil
}

// escapes reports whether the symlink at p, followed through the other
// symlinks of the tree as the kernel would, leads outside the root (or
// loops).
func (w *treeWriter) escapes(p string) bool {
	var cur []string // resolved components, from the root
	queue := strings.Split(path.Dir(p), "/")
	if path.Dir(p) == "." {
		queue = nil
	}
	queue = append(queue, strings.Split(w.links[p], "/")...)
	hops := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return true
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		target, ok := w.links[strings.Join(cur, "/")]
		if !ok {
			continue
		}
		hops++
		if hops > maxSymlinkHops || strings.HasPrefix(target, "/") {
			return true
		}
		cur = cur[:len(cur)-1]
		queue = append(strings.Split(target, "/"), queue...)
	}
	return false
}
