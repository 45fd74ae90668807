package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// treeFile is what a test expects at a path below dest.
type treeFile struct {
	dir  bool
	mode fs.FileMode
	body string
}

// readTree returns everything below dest, failing on anything that is
// neither a directory nor a regular file.
func readTree(t *testing.T, dest string) map[string]treeFile {
	t.Helper()
	got := map[string]treeFile{}
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			got[filepath.ToSlash(rel)] = treeFile{dir: true, mode: fi.Mode().Perm()}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[filepath.ToSlash(rel)] = treeFile{mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), body: string(b)}
		default:
			t.Errorf("%s has type %v", rel, fi.Mode().Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func compareTree(t *testing.T, got, want map[string]treeFile) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("missing %s", p)
		case g != w:
			t.Errorf("%s = %+v, want %+v", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s", p)
		}
	}
}

func TestExtract(t *testing.T) {
	entries := []testEntry{
		{name: "./", kind: 'd'},
		{name: "src/", kind: 'd'},
		{name: "src/main.go", body: "package main\n"},
		{name: "src/run.sh", body: "#!/bin/sh\n", mode: 0o755},
		{name: "src/setuid", body: "x", mode: 0o4755},
		{name: "src/", kind: 'd'}, // a repeated directory is harmless
		{name: "README.md", body: "# hi\n", mode: 0o600},
		{name: "deep/a/b/c.txt", body: "deep"},
		{name: "empty/", kind: 'd', mode: 0o700},
		{name: "./dot/x.txt", body: "dot"},
		{name: `win\dir\file.txt`, body: "windows"},
	}
	want := map[string]treeFile{
		"src":              {dir: true, mode: 0o755},
		"src/main.go":      {mode: 0o644, body: "package main\n"},
		"src/run.sh":       {mode: 0o755, body: "#!/bin/sh\n"},
		"src/setuid":       {mode: 0o755, body: "x"},
		"README.md":        {mode: 0o644, body: "# hi\n"},
		"deep":             {dir: true, mode: 0o755},
		"deep/a":           {dir: true, mode: 0o755},
		"deep/a/b":         {dir: true, mode: 0o755},
		"deep/a/b/c.txt":   {mode: 0o644, body: "deep"},
		"empty":            {dir: true, mode: 0o755},
		"dot":              {dir: true, mode: 0o755},
		"dot/x.txt":        {mode: 0o644, body: "dot"},
		"win":              {dir: true, mode: 0o755},
		"win/dir":          {dir: true, mode: 0o755},
		"win/dir/file.txt": {mode: 0o644, body: "windows"},
	}
	for _, format := range allFormats {
		t.Run(string(format), func(t *testing.T) {
			es := entries
			if format != FormatZip {
				es = append([]testEntry{{name: "pax_global_header", kind: 'g'}}, es...)
			}
			data := build(t, format, es...)
			sb := newSandbox(t)
			res, err := Extract(bytes.NewReader(data), format, sb.dest, Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			compareTree(t, readTree(t, sb.dest), want)
			if fi, err := os.Stat(sb.dest); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("dest mode: %v, %v", fi.Mode(), err)
			}
			wantRes := Result{Files: 7, Dirs: 8, Bytes: int64(len("package main\n#!/bin/sh\nx# hi\ndeepdotwindows"))}
			if *res != wantRes {
				t.Errorf("result %+v, want %+v", *res, wantRes)
			}
			sb.checkOutside(t)
		})
	}
}

func TestExtractStripSingleRoot(t *testing.T) {
	tests := []struct {
		name     string
		entries  []testEntry
		wantRoot string
		want     map[string]treeFile
	}{
		{
			name: "github layout",
			entries: []testEntry{
				{name: "repo-main/", kind: 'd'},
				{name: "repo-main/go.mod", body: "module x\n"},
				{name: "repo-main/cmd/main.go", body: "package main\n"},
			},
			wantRoot: "repo-main",
			want: map[string]treeFile{
				"go.mod":      {mode: 0o644, body: "module x\n"},
				"cmd":         {dir: true, mode: 0o755},
				"cmd/main.go": {mode: 0o644, body: "package main\n"},
			},
		},
		{
			name:     "implied root",
			entries:  []testEntry{{name: "r/a.txt", body: "a"}},
			wantRoot: "r",
			want:     map[string]treeFile{"a.txt": {mode: 0o644, body: "a"}},
		},
		{
			name:    "two top-level entries",
			entries: []testEntry{{name: "r/a.txt", body: "a"}, {name: "b.txt", body: "b"}},
			want: map[string]treeFile{
				"r":       {dir: true, mode: 0o755},
				"r/a.txt": {mode: 0o644, body: "a"},
				"b.txt":   {mode: 0o644, body: "b"},
			},
		},
		{
			name:    "single top-level file",
			entries: []testEntry{{name: "only.txt", body: "o"}},
			want:    map[string]treeFile{"only.txt": {mode: 0o644, body: "o"}},
		},
	}
	for _, tt := range tests {
		for _, format := range allFormats {
			t.Run(tt.name+"/"+string(format), func(t *testing.T) {
				sb := newSandbox(t)
				data := build(t, format, tt.entries...)
				res, err := Extract(bytes.NewReader(data), format, sb.dest, Limits{StripSingleRoot: true})
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				if res.Root != tt.wantRoot {
					t.Errorf("Root = %q, want %q", res.Root, tt.wantRoot)
				}
				compareTree(t, readTree(t, sb.dest), tt.want)
				sb.checkOutside(t)
			})
		}
	}
}

func TestExtractRefusals(t *testing.T) {
	tarOnly := []Format{FormatTarGz, FormatTar}
	zipOnly := []Format{FormatZip}
	file := func(name string) testEntry { return testEntry{name: name, body: "x"} }
	tests := []struct {
		name     string
		formats  []Format // nil: all
		entries  []testEntry
		lim      Limits
		want     string
		tooLarge bool
	}{
		{name: "parent traversal", entries: []testEntry{file("../../etc/cron.d/x")}, want: `entry "../../etc/cron.d/x": path has a ".." component`},
		{name: "absolute path", entries: []testEntry{file("/etc/passwd")}, want: `entry "/etc/passwd": absolute path`},
		{name: "backslash traversal", entries: []testEntry{file(`..\..\x`)}, want: `entry "..\\..\\x": path has a ".." component`},
		{name: "traversal after a directory", entries: []testEntry{file("a/../../b")}, want: `entry "a/../../b": path has a ".." component`},
		{name: "traversal that cleans away", entries: []testEntry{file("a/../b")}, want: `entry "a/../b": path has a ".." component`},
		{name: "traversal after good entries", entries: []testEntry{file("ok1"), file("d/ok2"), file("d/../../escaped")}, want: `entry "d/../../escaped"`},
		{name: "drive letter", entries: []testEntry{file(`C:\Windows\x`)}, want: `entry "C:\\Windows\\x": path has a drive letter prefix`},
		{name: "drive relative", entries: []testEntry{file("c:x")}, want: `entry "c:x": path has a drive letter prefix`},
		{name: "UNC path", entries: []testEntry{file(`\\server\share\x`)}, want: `absolute path`},
		{name: "NUL in name", formats: zipOnly, entries: []testEntry{file("a\x00b")}, want: `entry "a\x00b": name contains a NUL byte`},
		{name: "empty name", formats: zipOnly, entries: []testEntry{file("")}, want: `entry "": empty name`},
		{name: "long component", entries: []testEntry{file(strings.Repeat("a", 256))}, want: "path component is longer than 255 bytes"},
		{name: "long name", entries: []testEntry{file(strings.Repeat("abcdefg/", 130) + "x")}, want: "name is longer than 1024 bytes"},
		{name: "file as root", entries: []testEntry{file(".")}, want: `entry ".": a file cannot be the archive's root`},
		{name: "symlink", entries: []testEntry{{name: "link", kind: 'l', link: "/etc"}}, want: `entry "link": symbolic links are not allowed`},
		{name: "relative symlink", entries: []testEntry{{name: "up", kind: 'l', link: "../../.."}}, want: `entry "up": symbolic links are not allowed`},
		{
			name: "symlinked directory then a file through it",
			entries: []testEntry{
				{name: "lib", kind: 'l', link: "../../../../"},
				{name: "lib/cron.d/x", body: "* * * * * root sh"},
			},
			want: `entry "lib": symbolic links are not allowed`,
		},
		{name: "hard link", formats: tarOnly, entries: []testEntry{{name: "hl", kind: 'h', link: "/etc/passwd"}}, want: `entry "hl": hard links are not allowed (link to "/etc/passwd")`},
		{name: "hard link to an earlier file", formats: tarOnly, entries: []testEntry{file("a"), {name: "b", kind: 'h', link: "a"}}, want: `entry "b": hard links are not allowed`},
		{name: "character device", entries: []testEntry{{name: "null", kind: 'c'}}, want: `entry "null": device files are not allowed`},
		{name: "block device", entries: []testEntry{{name: "sda", kind: 'b'}}, want: `entry "sda": device files are not allowed`},
		{name: "fifo", entries: []testEntry{{name: "pipe", kind: 'p'}}, want: `entry "pipe": named pipes (fifos) are not allowed`},
		{name: "contiguous file type", formats: tarOnly, entries: []testEntry{{name: "c", kind: '7', body: "x"}}, want: `entry "c": unsupported tar entry type "7"`},
		{name: "encrypted entry", formats: zipOnly, entries: []testEntry{{name: "secret", kind: 'e', body: "xxxxxxxxxxxx"}}, want: `entry "secret": encrypted entries are not supported`},
		{name: "unsupported method", formats: zipOnly, entries: []testEntry{{name: "b.bz2", kind: 'm', body: "BZh"}}, want: `entry "b.bz2": unsupported compression method 12`},
		{name: "duplicate file", entries: []testEntry{file("a.txt"), file("a.txt")}, want: `entry "a.txt": duplicate entry`},
		{name: "duplicate after cleaning", entries: []testEntry{file("d/a.txt"), file("./d//a.txt")}, want: `entry "./d//a.txt": duplicate entry`},
		{name: "duplicate through a backslash", entries: []testEntry{file("d/a.txt"), file(`d\a.txt`)}, want: `entry "d\\a.txt": duplicate entry`},
		{name: "file replaces a directory", entries: []testEntry{{name: "a/", kind: 'd'}, file("a")}, want: `entry "a": a file would replace the directory "a"`},
		{name: "file replaces an implied directory", entries: []testEntry{file("a/b"), file("a")}, want: `entry "a": a file would replace the directory "a"`},
		{name: "directory replaces a file", entries: []testEntry{file("a"), {name: "a/", kind: 'd'}}, want: `entry "a/": a directory would replace the file "a"`},
		{name: "file below a file", entries: []testEntry{file("a"), file("a/b")}, want: `entry "a/b": its parent "a" is a file`},
		{name: "too many entries", lim: Limits{MaxEntries: 3}, entries: []testEntry{file("1"), file("2"), file("3"), file("4")}, want: "more than 3 entries", tooLarge: true},
		{name: "too many implied directories", lim: Limits{MaxEntries: 3}, entries: []testEntry{file("a/b/c/d")}, want: `entry "a/b/c/d": the archive creates more than 3 files and directories`, tooLarge: true},
		{name: "file too large", lim: Limits{MaxFileBytes: 10}, entries: []testEntry{{name: "big", body: "0123456789A"}}, want: `entry "big": file of 11 bytes is larger than the 10 bytes per-file limit`, tooLarge: true},
		{name: "total too large", lim: Limits{MaxTotalBytes: 20}, entries: []testEntry{{name: "a", body: "0123456789abcde"}, {name: "b", body: "0123456789abcde"}}, want: `the archive expands to more than 20 bytes (at entry "b")`, tooLarge: true},
		{name: "archive too large", lim: Limits{MaxArchiveBytes: 1000}, entries: []testEntry{{name: "noise", body: noise(4000)}}, want: "archive is larger than 1000 bytes", tooLarge: true},
	}
	for _, tt := range tests {
		formats := tt.formats
		if formats == nil {
			formats = allFormats
		}
		for _, format := range formats {
			t.Run(tt.name+"/"+string(format), func(t *testing.T) {
				sb := newSandbox(t)
				data := build(t, format, tt.entries...)
				_, err := Extract(bytes.NewReader(data), format, sb.dest, tt.lim)
				sb.checkRefused(t, err, tt.want, tt.tooLarge)
			})
		}
	}
}

// noise returns n incompressible bytes, the same on every run.
func noise(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

func TestExtractCorrupt(t *testing.T) {
	goodZip := zipOf(t, testEntry{name: "a.txt", body: strings.Repeat("hello ", 100)})
	goodTar := tarOf(t, testEntry{name: "a.txt", body: noise(2000)}, testEntry{name: "b.txt", body: "b"})
	goodTgz := gzipOf(t, goodTar)

	badCRC := append([]byte(nil), goodTgz...)
	badCRC[len(badCRC)-8] ^= 0xff // gzip trailer: CRC-32 then size

	flipped := append([]byte(nil), goodZip...)
	flipped[40] ^= 0xff // inside the deflated data of a.txt (local header is 30+5 bytes)

	badHeader := append([]byte(nil), goodTar...)
	copy(badHeader[0:], "garbage!")

	trailing := gzipOf(t, append(append([]byte(nil), goodTar...), noise(2<<20)...))

	tests := []struct {
		name   string
		format Format
		data   []byte
		want   string
	}{
		{"zip truncated", FormatZip, goodZip[:len(goodZip)-10], "corrupt zip archive"},
		{"zip garbage", FormatZip, []byte("PK\x03\x04 this is not a zip at all"), "corrupt zip archive"},
		{"zip empty input", FormatZip, nil, "corrupt zip archive"},
		{"zip data flipped", FormatZip, flipped, `entry "a.txt": corrupt data`},
		{"tar.gz truncated", FormatTarGz, goodTgz[:len(goodTgz)/2], `entry "a.txt": corrupt data: unexpected EOF`},
		{"tar.gz garbage", FormatTarGz, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4, 5}, "corrupt tar.gz archive"},
		{"tar.gz bad checksum", FormatTarGz, badCRC, "corrupt tar.gz archive"},
		{"tar.gz not gzip", FormatTarGz, goodTar, "corrupt tar.gz archive"},
		{"tar.gz data after the end", FormatTarGz, trailing, "more than 1 MiB of data after the end of the tar archive"},
		{"tar truncated inside a file", FormatTar, goodTar[:1000], `entry "a.txt": corrupt data`},
		{"tar bad header", FormatTar, badHeader, "corrupt tar archive"},
		{"unknown format", Format("rar"), goodZip, `unsupported archive format "rar"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			_, err := Extract(bytes.NewReader(tt.data), tt.format, sb.dest, Limits{})
			sb.checkRefused(t, err, tt.want, false)
		})
	}
}

func TestExtractDestination(t *testing.T) {
	data := tarOf(t, testEntry{name: "a.txt", body: "a"})

	t.Run("empty directory is replaced", func(t *testing.T) {
		sb := newSandbox(t)
		if err := os.Mkdir(sb.dest, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Extract(bytes.NewReader(data), FormatTar, sb.dest, Limits{}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		compareTree(t, readTree(t, sb.dest), map[string]treeFile{"a.txt": {mode: 0o644, body: "a"}})
		sb.checkOutside(t)
	})

	tests := []struct {
		name  string
		setup func(t *testing.T, sb sandbox) string // returns dest
		want  string
	}{
		{
			name: "non-empty directory",
			setup: func(t *testing.T, sb sandbox) string {
				os.Mkdir(sb.dest, 0o755)
				os.WriteFile(filepath.Join(sb.dest, "keep"), []byte("keep"), 0o644)
				return sb.dest
			},
			want: "is not empty",
		},
		{
			name: "symlink to a directory",
			setup: func(t *testing.T, sb sandbox) string {
				os.Symlink(filepath.Join(sb.base, "w"), sb.dest)
				return sb.dest
			},
			want: "exists and is not a directory",
		},
		{
			name: "file",
			setup: func(t *testing.T, sb sandbox) string {
				os.WriteFile(sb.dest, []byte("keep"), 0o644)
				return sb.dest
			},
			want: "exists and is not a directory",
		},
		{
			name:  "missing parent",
			setup: func(t *testing.T, sb sandbox) string { return filepath.Join(sb.base, "nope", "dest") },
			want:  "checking parent of destination",
		},
		{
			name:  "no destination",
			setup: func(t *testing.T, sb sandbox) string { return "" },
			want:  "no destination given",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			dest := tt.setup(t, sb)
			before, _ := sb.walk(t)
			_, err := Extract(bytes.NewReader(data), FormatTar, dest, Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, ErrRefused) {
				t.Errorf("a destination problem is not the archive's fault, but %q matches ErrRefused", err)
			}
			after, _ := sb.walk(t)
			if strings.Join(before, "\n") != strings.Join(after, "\n") {
				t.Errorf("paths changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// failingReader yields some bytes, then an error of its own.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestExtractReaderFailure(t *testing.T) {
	errBody := errors.New("http: request body too large")
	for _, format := range allFormats {
		t.Run(string(format), func(t *testing.T) {
			sb := newSandbox(t)
			src := build(t, format, testEntry{name: "a.txt", body: noise(5000)})
			_, err := Extract(&failingReader{data: src[:len(src)/2], err: errBody}, format, sb.dest, Limits{})
			if !errors.Is(err, errBody) {
				t.Fatalf("error %v does not wrap the reader's error", err)
			}
			if errors.Is(err, ErrRefused) {
				t.Errorf("a reader failure is not a refusal: %v", err)
			}
			if inside := sb.checkOutside(t); len(inside) > 0 {
				t.Errorf("dest exists: %v", inside)
			}
		})
	}
}

func TestExtractZipAt(t *testing.T) {
	data := zipOf(t, testEntry{name: "a.txt", body: "a"})
	sb := newSandbox(t)
	res, err := ExtractZipAt(bytes.NewReader(data), int64(len(data)), sb.dest, Limits{})
	if err != nil {
		t.Fatalf("ExtractZipAt: %v", err)
	}
	if res.Files != 1 || res.Bytes != 1 {
		t.Errorf("result %+v", *res)
	}
	compareTree(t, readTree(t, sb.dest), map[string]treeFile{"a.txt": {mode: 0o644, body: "a"}})

	sb = newSandbox(t)
	_, err = ExtractZipAt(bytes.NewReader(data), int64(len(data)), sb.dest, Limits{MaxArchiveBytes: 10})
	sb.checkRefused(t, err, "archive is larger than 10 bytes", true)
}

func TestDetectFormat(t *testing.T) {
	tarData := tarOf(t, testEntry{name: "a", body: "a"})
	tests := []struct {
		name   string
		header []byte
		want   Format
	}{
		{"zip", zipOf(t, testEntry{name: "a", body: "a"}), FormatZip},
		{"empty zip", zipOf(t), FormatZip},
		{"tar.gz", gzipOf(t, tarData), FormatTarGz},
		{"tar", tarData, FormatTar},
		{"tar header only", tarData[:DetectLen], FormatTar},
		{"tar cut before its magic", tarData[:260], ""},
		{"empty", nil, ""},
		{"text", []byte("hello world"), ""},
		{"rar", []byte("Rar!\x1a\x07\x00"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectFormat(tt.header)
			if got != tt.want {
				t.Errorf("DetectFormat = %q, want %q", got, tt.want)
			}
			if (err != nil) != (tt.want == "") || (err != nil && !errors.Is(err, ErrRefused)) {
				t.Errorf("error %v", err)
			}
		})
	}

	// The documented way to detect and then extract from the same stream.
	sb := newSandbox(t)
	br := bufio.NewReader(bytes.NewReader(gzipOf(t, tarData)))
	head, err := br.Peek(DetectLen)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	format, err := DetectFormat(head)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(br, format, sb.dest, Limits{}); err != nil {
		t.Fatalf("Extract after Peek: %v", err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	def := DefaultLimits()
	want := Limits{MaxArchiveBytes: 200 << 20, MaxEntries: 50_000, MaxTotalBytes: 1 << 30, MaxFileBytes: 200 << 20, MaxRatio: 100}
	if def != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", def, want)
	}
	tests := []struct {
		name string
		in   Limits
		want Limits
	}{
		{"zero", Limits{}, want},
		{"negative", Limits{MaxArchiveBytes: -1, MaxEntries: -1, MaxTotalBytes: -1, MaxFileBytes: -1, MaxRatio: -1}, want},
		{"kept", Limits{MaxArchiveBytes: 1, MaxEntries: 2, MaxTotalBytes: 3, MaxFileBytes: 4, MaxRatio: 5, StripSingleRoot: true},
			Limits{MaxArchiveBytes: 1, MaxEntries: 2, MaxTotalBytes: 3, MaxFileBytes: 4, MaxRatio: 5, StripSingleRoot: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.want {
				t.Errorf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestExtractCompressible checks that MaxRatio spares the first MiB, so a
// small archive of very repetitive content is accepted, and applies beyond.
func TestExtractCompressible(t *testing.T) {
	tests := []struct {
		name string
		size int
		want string // "" for success
	}{
		{"under the grace", 1000 << 10, ""},
		{"over the grace", 3 << 20, "compression ratio above 100"},
	}
	for _, tt := range tests {
		for _, format := range []Format{FormatZip, FormatTarGz} {
			t.Run(tt.name+"/"+string(format), func(t *testing.T) {
				sb := newSandbox(t)
				data := build(t, format, testEntry{name: "zeros", body: strings.Repeat("\x00", tt.size)})
				res, err := Extract(bytes.NewReader(data), format, sb.dest, Limits{})
				if tt.want != "" {
					sb.checkRefused(t, err, tt.want, true)
					return
				}
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				if res.Bytes != int64(tt.size) {
					t.Errorf("Bytes = %d, want %d", res.Bytes, tt.size)
				}
			})
		}
	}
}

// TestExtractManyTinyFiles checks that tar headers, which compress far
// better than content (a tar.gz of many tiny files with equal times has a
// stream ratio above 100), do not count against MaxRatio.
func TestExtractManyTinyFiles(t *testing.T) {
	const n = 1000
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for i := range n {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("pkg/m%d/index%d.js", i/10, i%10), Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		tw.Write([]byte("x"))
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(tb.Bytes())
	zw.Close()
	if ratio := float64(tb.Len()) / float64(gz.Len()); ratio < 100 {
		t.Fatalf("the test archive's stream ratio is only %.0f", ratio)
	}
	sb := newSandbox(t)
	res, err := Extract(bytes.NewReader(gz.Bytes()), FormatTarGz, sb.dest, Limits{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if res.Files != n {
		t.Errorf("Files = %d, want %d", res.Files, n)
	}
}
