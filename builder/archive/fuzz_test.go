package archive

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary bytes to Extract and checks the invariant:
// either a refusal that leaves nothing behind, or a tree inside dest made
// only of directories (0755) and regular files (0644 or 0755), with no
// symlink, nothing outside dest, and counts that match the Result.
//
// sel picks the format (sel%3), whether DetectFormat may override it
// (sel&8) and StripSingleRoot (sel&4).
func FuzzExtract(f *testing.F) {
	seeds := [][]testEntry{
		{{name: "a.txt", body: "hello"}, {name: "dir/", kind: 'd'}, {name: "dir/run.sh", body: "#!/bin/sh", mode: 0o755}},
		{{name: "repo-main/", kind: 'd'}, {name: "repo-main/go.mod", body: "module x"}},
		{{name: "../../etc/cron.d/x", body: "x"}},
		{{name: "/etc/passwd", body: "x"}},
		{{name: `..\..\x`, body: "x"}},
		{{name: "a/../../b", body: "x"}},
		{{name: "link", kind: 'l', link: "/etc"}, {name: "link/x", body: "x"}},
		{{name: "a", body: "x"}, {name: "a", body: "y"}},
		{{name: "a", body: "x"}, {name: "a/b", body: "y"}},
		{{name: "./", kind: 'd'}, {name: "./x", body: strings.Repeat("z", 3000)}},
	}
	tarSeeds := [][]testEntry{
		{{name: "a", body: "x"}, {name: "h", kind: 'h', link: "a"}},
		{{name: "pax_global_header", kind: 'g'}, {name: "x", body: "x"}},
		{{name: "fifo", kind: 'p'}},
	}
	for _, es := range seeds {
		for i, format := range allFormats {
			f.Add(build(f, format, es...), uint8(i))
		}
	}
	for _, es := range tarSeeds {
		f.Add(tarOf(f, es...), uint8(2))
		f.Add(gzipOf(f, tarOf(f, es...)), uint8(1))
	}
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), uint8(0))

	// One sandbox per fuzzing process, emptied after each run: a fresh
	// t.TempDir per input would cost more than the extraction.
	sb := newSandbox(f)
	lim := Limits{MaxArchiveBytes: 1 << 20, MaxEntries: 64, MaxTotalBytes: 2 << 20, MaxFileBytes: 2 << 20, MaxRatio: 100}
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		format := allFormats[int(sel)%len(allFormats)]
		if sel&8 != 0 {
			if detected, err := DetectFormat(data); err == nil {
				format = detected
			}
		}
		l := lim
		l.StripSingleRoot = sel&4 != 0

		res, err := Extract(bytes.NewReader(data), format, sb.dest, l)
		defer os.RemoveAll(sb.dest)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("an in-memory archive failed without a refusal: %v", err)
			}
			if inside := sb.checkOutside(t); len(inside) > 0 {
				t.Fatalf("refused (%v) but dest holds %v", err, inside)
			}
			return
		}

		sb.checkOutside(t)
		var files, dirs int
		var size int64
		err = filepath.WalkDir(sb.dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(sb.dest, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Fatalf("%s is outside dest", p)
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			mode := fi.Mode()
			switch {
			case mode&fs.ModeSymlink != 0:
				t.Fatalf("symlink at %s", rel)
			case mode.IsDir():
				if mode.Perm() != 0o755 || mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
					t.Fatalf("directory %s has mode %v", rel, mode)
				}
				if rel != "." {
					dirs++
				}
			case mode.IsRegular():
				if p := mode.Perm(); (p != 0o644 && p != 0o755) || mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
					t.Fatalf("file %s has mode %v", rel, mode)
				}
				files++
				size += fi.Size()
			default:
				t.Fatalf("%s has type %v", rel, mode.Type())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files != res.Files || dirs != res.Dirs || size != res.Bytes {
			t.Fatalf("result %+v, but dest holds %d files, %d directories, %d bytes", *res, files, dirs, size)
		}
		if size > l.MaxTotalBytes {
			t.Fatalf("%d bytes extracted, over the limit", size)
		}
	})
}
