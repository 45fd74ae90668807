package builder

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TarContext writes the build context rooted at dir to w as a tar stream,
// leaving out what the context's .dockerignore and extra patterns exclude
// (the Dockerfile and .dockerignore always go in, as Docker does).
// Symbolic links are written as links, never followed. Files in add are
// written first, from memory, in place of any file of the same name in dir.
func TarContext(dir string, w io.Writer, dockerfile string, extra []string, add map[string][]byte) error {
	p, err := newPacker(dir, w, dockerfile, extra, add)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(add)) {
		if err := p.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(add[name])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := p.tw.Write(add[name]); err != nil {
			return err
		}
	}
	if err := p.walk(dir, "", nil); err != nil {
		return fmt.Errorf("writing the build context: %w", err)
	}
	return p.tw.Close()
}

// UploadReport says what TarUpload left out.
type UploadReport struct {
	// LeftOut lists, slash-separated and relative to the uploaded folder,
	// the .git folders and files and the local .env files that were left
	// out, and the links to them.
	LeftOut []string
}

// TarUpload writes the source tree rooted at dir to w as a tar stream, for
// an upload to a server that refuses any archive holding a link. It honours
// dir's .dockerignore as TarContext does (keeping the Dockerfile and the
// .dockerignore), and leaves out, at any depth, .git and the local .env
// files (named .env or .env.*), which .dockerignore cannot bring back.
// A symbolic link whose target lies inside dir is written as the file it
// points to, or as a folder holding the contents of the folder it points
// to. A link that points outside dir, to nothing, or to a folder that holds
// it (a loop) fails the whole upload with an error naming it; what was
// written to w by then must be discarded.
func TarUpload(dir string, w io.Writer) (UploadReport, error) {
	root, err := filepath.Abs(dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return UploadReport{}, fmt.Errorf("resolving the folder to upload: %w", err)
	}
	p, err := newPacker(root, w, "Dockerfile", nil, nil)
	if err != nil {
		return UploadReport{}, err
	}
	p.upload, p.root = true, root
	if err := p.walk(root, "", nil); err != nil {
		return UploadReport{LeftOut: p.leftOut}, fmt.Errorf("packing %s for upload: %w", dir, err)
	}
	return UploadReport{LeftOut: p.leftOut}, p.tw.Close()
}

// packer writes a folder to a tar stream for TarContext and TarUpload.
type packer struct {
	tw   *tar.Writer
	pm   *patternmatcher.PatternMatcher
	keep map[string]bool
	add  map[string][]byte

	// upload follows in-tree links and leaves out .git and .env files, as
	// TarUpload does; root is then the real path of the tree.
	upload  bool
	root    string
	leftOut []string
}

// newPacker reads dir's .dockerignore and prepares to write to w.
func newPacker(dir string, w io.Writer, dockerfile string, extra []string, add map[string][]byte) (*packer, error) {
	patterns := append([]string(nil), extra...)
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		more, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading .dockerignore: %w", err)
		}
		patterns = append(patterns, more...)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("parsing ignore patterns: %w", err)
	}
	return &packer{
		tw:   tar.NewWriter(w),
		pm:   pm,
		keep: map[string]bool{filepath.ToSlash(dockerfile): true, ".dockerignore": true},
		add:  add,
	}, nil
}

// walk writes the folder dir as the folder prefix of the archive (the
// archive's root when prefix is ""). parents are the real folders that
// held the links followed to reach dir, to catch loops.
func (p *packer) walk(dir, prefix string, parents []string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		switch {
		case rel == "." && prefix == "":
			return nil
		case rel == ".":
			rel = prefix
		case prefix != "":
			rel = prefix + "/" + filepath.ToSlash(rel)
		default:
			rel = filepath.ToSlash(rel)
		}
		if _, replaced := p.add[rel]; replaced {
			return nil
		}
		if p.upload && localOnly(rel, d.IsDir()) {
			p.leftOut = append(p.leftOut, rel)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !p.keep[rel] {
			excluded, err := p.pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if excluded {
				if d.IsDir() && !p.pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if p.upload && d.Type()&fs.ModeSymlink != 0 {
			return p.follow(path, rel, parents)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return p.write(rel, path, info)
	})
}

// follow writes the link at path, named rel in the archive, as what it
// points to, or refuses it.
func (p *packer) follow(path, rel string, parents []string) error {
	link, err := os.Readlink(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("symbolic link %s (-> %s) points to nothing: remove it, or list it in .dockerignore", rel, link)
		case errors.Is(err, syscall.ELOOP):
			return fmt.Errorf("symbolic link %s (-> %s) is part of a loop of links: remove it, or list it in .dockerignore", rel, link)
		}
		return fmt.Errorf("following symbolic link %s (-> %s): %w", rel, link, err)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("following symbolic link %s (-> %s): %w", rel, link, err)
	}
	inTree, err := filepath.Rel(p.root, target)
	if err != nil || inTree == ".." || strings.HasPrefix(inTree, ".."+string(filepath.Separator)) || filepath.IsAbs(inTree) {
		return fmt.Errorf("symbolic link %s (-> %s) points outside the uploaded folder, and uploads carry no links: copy what it points to into the folder, or list the link in .dockerignore", rel, link)
	}
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("following symbolic link %s (-> %s): %w", rel, link, err)
	}
	if inTree = filepath.ToSlash(inTree); inTree != "." && (localOnly(inTree, info.IsDir()) || localOnlyParent(inTree)) {
		// A link must not upload what is left out under another name.
		p.leftOut = append(p.leftOut, rel)
		return nil
	}
	if !info.IsDir() {
		return p.write(rel, target, info)
	}
	parents = append(slices.Clip(parents), filepath.Dir(path))
	for _, parent := range parents {
		if parent == target || strings.HasPrefix(parent, strings.TrimSuffix(target, string(filepath.Separator))+string(filepath.Separator)) {
			return fmt.Errorf("symbolic link %s (-> %s) points to a folder that holds it, a loop: remove it, or list it in .dockerignore", rel, link)
		}
	}
	return p.walk(target, rel, parents)
}

// write writes one entry, named rel, of the file at path described by
// info; links are written as links, other special files not at all.
func (p *packer) write(rel, path string, info fs.FileInfo) error {
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	} else if !info.Mode().IsRegular() && !info.IsDir() {
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
	if err := p.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if info.Mode().IsRegular() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = io.Copy(p.tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// localOnly reports whether the entry rel (slash-separated) stays on the
// developer's machine in an upload: a .git folder or file, or a file named
// .env or .env.* (a folder of that name goes up).
func localOnly(rel string, dir bool) bool {
	base := pathpkg.Base(rel)
	if base == ".git" {
		return true
	}
	if dir || (base != ".env" && !strings.HasPrefix(base, ".env.")) {
		return false
	}
	// Templates hold no secrets and Dockerfiles copy them (Laravel's
	// `COPY .env.example .env`): they travel.
	switch strings.TrimPrefix(base, ".env.") {
	case "example", "sample", "dist", "template", "defaults":
		return false
	}
	return true
}

// localOnlyParent reports whether rel lies inside a .git folder.
func localOnlyParent(rel string) bool {
	return slices.Contains(strings.Split(pathpkg.Dir(rel), "/"), ".git")
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
