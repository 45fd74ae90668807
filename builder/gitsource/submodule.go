package gitsource

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	// maxSubmoduleDepth bounds submodule nesting.
	maxSubmoduleDepth = 8
	// maxGitmodulesSize bounds the .gitmodules file.
	maxGitmodulesSize = 1 << 20
)

// pendingSubmodule is a submodule to check out once its parent is written.
type pendingSubmodule struct {
	path   string // slash path relative to the parent's root
	url    string // absolute, not yet validated
	commit string
}

// submodules pairs the gitlinks of a written tree with their URLs from the
// tree's .gitmodules. go-git's own submodule support needs a worktree with
// a .git directory, which a checkout does not have, so this reads
// .gitmodules itself; only the url and path keys matter (branch and update
// settings are ignored: the gitlink's commit is what gets checked out).
func submodules(tree *object.Tree, links []gitlink, parent *target) ([]pendingSubmodule, error) {
	if len(links) == 0 {
		return nil, nil
	}
	f, err := tree.File(".gitmodules")
	if err != nil {
		return nil, fmt.Errorf("the tree has submodules but no readable .gitmodules: %w", err)
	}
	if f.Size > maxGitmodulesSize {
		return nil, fmt.Errorf(".gitmodules is larger than %d bytes", maxGitmodulesSize)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("reading .gitmodules: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxGitmodulesSize))
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("reading .gitmodules: %w", err)
	}
	mods := config.NewModules()
	if err := mods.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("parsing .gitmodules: %w", err)
	}
	byPath := map[string]*config.Submodule{}
	for _, m := range mods.Submodules {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("submodule %q in .gitmodules: %w", m.Name, err)
		}
		byPath[path.Clean(m.Path)] = m
	}
	out := make([]pendingSubmodule, 0, len(links))
	for _, l := range links {
		m, ok := byPath[l.path]
		if !ok {
			return nil, fmt.Errorf("submodule at %q has no url in .gitmodules", l.path)
		}
		u, err := resolveSubmoduleURL(parent, m.URL)
		if err != nil {
			return nil, fmt.Errorf("submodule at %q: %w", l.path, err)
		}
		out = append(out, pendingSubmodule{path: l.path, url: u, commit: l.commit.String()})
	}
	return out, nil
}

// resolveSubmoduleURL returns raw, or, when raw is relative ("./x",
// "../x"), raw resolved against the parent repository's URL the way git
// does: each "../" drops one path component of the parent's URL.
func resolveSubmoduleURL(parent *target, raw string) (string, error) {
	if !strings.HasPrefix(raw, "./") && !strings.HasPrefix(raw, "../") {
		return raw, nil
	}
	abs := strings.HasPrefix(parent.path, "/")
	comps := strings.Split(strings.Trim(parent.path, "/"), "/")
	rest := raw
	for {
		if r, ok := strings.CutPrefix(rest, "./"); ok {
			rest = r
			continue
		}
		if r, ok := strings.CutPrefix(rest, "../"); ok {
			if len(comps) == 0 {
				return "", errors.New("relative url climbs above the parent repository's host")
			}
			comps = comps[:len(comps)-1]
			rest = r
			continue
		}
		break
	}
	p := strings.Join(append(comps, rest), "/")
	if abs {
		p = "/" + p
	}
	t := *parent
	t.path = p
	return t.String(), nil
}
