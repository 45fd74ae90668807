package detect

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// maxManifest bounds what is read of any one file. Manifests are small;
// anything bigger is either not a manifest or hostile, and detection only
// needs the first part of the large files it scans (lockfiles).
const maxManifest = 1 << 20

// source is the repository being inspected. Every read goes through it so
// that sizes are bounded and a missing file is not an error.
type source struct {
	fsys fs.FS
}

// isFile reports whether name is a regular file.
func (s source) isFile(name string) bool {
	fi, err := fs.Stat(s.fsys, name)
	return err == nil && fi.Mode().IsRegular()
}

// isDir reports whether name is a directory.
func (s source) isDir(name string) bool {
	fi, err := fs.Stat(s.fsys, name)
	return err == nil && fi.IsDir()
}

// read returns the contents of name, or ok false when it does not exist.
// A file larger than maxManifest is an error: the manifests read whole are
// parsed, and a truncated JSON or TOML file would parse wrongly.
func (s source) read(name string) (text string, ok bool, err error) {
	f, err := s.fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return "", false, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return "", false, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxManifest {
		return "", false, fmt.Errorf("reading %s: larger than %d bytes", name, maxManifest)
	}
	return string(b), true, nil
}

// head returns at most the first maxManifest bytes of name, for files that
// are only scanned (lockfiles, sources), never parsed whole.
func (s source) head(name string) (string, bool) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// firstLine returns the first non-empty line of name, trimmed: the shape of
// version files such as .nvmrc, .python-version and .ruby-version.
func (s source) firstLine(name string) (string, bool) {
	text, ok := s.head(name)
	if !ok {
		return "", false
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			return line, true
		}
	}
	return "", false
}

// glob returns the names matching pattern, sorted; a bad pattern matches
// nothing (patterns are constants of this package).
func (s source) glob(pattern string) []string {
	names, err := fs.Glob(s.fsys, pattern)
	if err != nil {
		return nil
	}
	sort.Strings(names)
	return names
}

// firstOf returns the first of names that is a regular file.
func (s source) firstOf(names ...string) (string, bool) {
	for _, n := range names {
		if s.isFile(n) {
			return n, true
		}
	}
	return "", false
}

// existing returns those of names that are regular files, in order.
func (s source) existing(names ...string) []string {
	var out []string
	for _, n := range names {
		if s.isFile(n) {
			out = append(out, n)
		}
	}
	return out
}

// subdirs returns the names of the directories directly inside dir, sorted.
func (s source) subdirs(dir string) []string {
	entries, err := fs.ReadDir(s.fsys, dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	return out
}
