package builder

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TarContext writes the build context rooted at dir to w as a tar stream,
// leaving out what the context's .dockerignore and extra patterns exclude
// (the Dockerfile and .dockerignore always go in, as Docker does).
// Symbolic links are written as links, never followed. Files in add are
// written first, from memory, in place of any file of the same name in dir.
func TarContext(dir string, w io.Writer, dockerfile string, extra []string, add map[string][]byte) error {
	patterns := append([]string(nil), extra...)
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		more, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("reading .dockerignore: %w", err)
		}
		patterns = append(patterns, more...)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("parsing ignore patterns: %w", err)
	}
	keep := map[string]bool{filepath.ToSlash(dockerfile): true, ".dockerignore": true}

	tw := tar.NewWriter(w)
	for _, name := range slices.Sorted(maps.Keys(add)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(add[name])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(add[name]); err != nil {
			return err
		}
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, replaced := add[rel]; replaced {
			return nil
		}
		if !keep[rel] {
			excluded, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if excluded {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		if !info.Mode().IsRegular() && !info.IsDir() && info.Mode()&fs.ModeSymlink == 0 {
			return nil // sockets, devices: never part of a context
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		// Builds must not depend on who checked the source out.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Mode &^= 0o7000
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the build context: %w", err)
	}
	return tw.Close()
}

// within reports whether rel (slash-separated, relative) stays inside its
// root.
func within(rel string) bool {
	if rel == "" {
		return true
	}
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") || strings.ContainsRune(rel, 0) {
		return false
	}
	clean := filepath.ToSlash(filepath.Clean(rel))
	return clean != ".." && !strings.HasPrefix(clean, "../")
}
