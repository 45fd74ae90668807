package archive

import (
	"io/fs"
	"path"
	"strings"
)

// cleanName turns an entry's name into a clean, slash-separated path
// relative to the destination, or refuses it. Backslashes count as
// separators, because Windows tools write them into zips. Any ".."
// component is refused, even one that would clean away ("a/../b"): no
// legitimate source archive needs one, and refusing them all leaves nothing
// to reason about. The result is "." for the archive's root ("./").
func cleanName(name string) (string, error) {
	if name == "" {
		return "", refuseEntry(name, false, "empty name")
	}
	if len(name) > maxNameBytes {
		return "", refuseEntry(name, false, "name is longer than %d bytes", maxNameBytes)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", refuseEntry(name, false, "name contains a NUL byte")
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if n[0] == '/' {
		return "", refuseEntry(name, false, "absolute path")
	}
	if len(n) >= 2 && n[1] == ':' && isASCIILetter(n[0]) {
		return "", refuseEntry(name, false, "path has a drive letter prefix")
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", refuseEntry(name, false, `path has a ".." component`)
		}
		if len(c) > maxComponentBytes {
			return "", refuseEntry(name, false, "path component is longer than %d bytes", maxComponentBytes)
		}
	}
	p := path.Clean(n)
	if !fs.ValidPath(p) { // cannot happen after the checks above; kept as a backstop
		return "", refuseEntry(name, false, "invalid path")
	}
	return p, nil
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// namespace is the tree an archive builds, as far as it has been read: every
// path created so far (files, explicit directories and the directories that
// paths imply) and whether it is a directory. It refuses an entry that would
// overwrite or go through an earlier one, and caps how many paths exist.
type namespace struct {
	nodes map[string]bool // clean path -> is a directory
	max   int
}

func newNamespace(max int) *namespace {
	return &namespace{nodes: make(map[string]bool), max: max}
}

// add records an entry and returns its clean path and the directories that
// must be created for it, parents first (including the entry itself when it
// is a new directory). A repeated directory entry is allowed and creates
// nothing; the archive root ("./") is returned as ".".
func (ns *namespace) add(name string, isDir bool) (string, []string, error) {
	p, err := cleanName(name)
	if err != nil {
		return "", nil, err
	}
	if p == "." {
		if !isDir {
			return "", nil, refuseEntry(name, false, "a file cannot be the archive's root")
		}
		return p, nil, nil
	}
	if wasDir, ok := ns.nodes[p]; ok {
		switch {
		case wasDir && isDir:
			return p, nil, nil
		case wasDir:
			return "", nil, refuseEntry(name, false, "a file would replace the directory %q", p)
		case isDir:
			return "", nil, refuseEntry(name, false, "a directory would replace the file %q", p)
		default:
			return "", nil, refuseEntry(name, false, "duplicate entry: the file %q already exists", p)
		}
	}

	// Walk up to the nearest ancestor already known: everything above it
	// was checked when it was added, so each path is looked at once.
	var missing []string
	for dir := p; ; {
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			break
		}
		dir = dir[:i]
		isDirAncestor, ok := ns.nodes[dir]
		if ok {
			if !isDirAncestor {
				return "", nil, refuseEntry(name, false, "its parent %q is a file", dir)
			}
			break
		}
		missing = append(missing, dir)
	}
	if len(ns.nodes)+len(missing)+1 > ns.max {
		return "", nil, refuseEntry(name, true, "the archive creates more than %d files and directories", ns.max)
	}
	dirs := make([]string, 0, len(missing)+1)
	for i := len(missing) - 1; i >= 0; i-- {
		ns.nodes[missing[i]] = true
		dirs = append(dirs, missing[i])
	}
	ns.nodes[p] = isDir
	if isDir {
		dirs = append(dirs, p)
	}
	return p, dirs, nil
}
