package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testEntry describes one entry of an archive a test builds in memory.
type testEntry struct {
	name string
	kind byte // 0 file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' char device, 'b' block device, 'p' fifo, 'g' pax global header, 'e' encrypted (zip), 'm' unknown method (zip), '7' contiguous file (tar)
	body string
	mode int64 // permission bits; 0 means 0644 (0755 for a directory)
	link string
}

func (e testEntry) perm() int64 {
	switch {
	case e.mode != 0:
		return e.mode
	case e.kind == 'd':
		return 0o755
	}
	return 0o644
}

// build returns the entries as an archive of the given format.
func build(t testing.TB, format Format, entries ...testEntry) []byte {
	t.Helper()
	switch format {
	case FormatZip:
		return zipOf(t, entries...)
	case FormatTar:
		return tarOf(t, entries...)
	case FormatTarGz:
		return gzipOf(t, tarOf(t, entries...))
	}
	t.Fatalf("unknown format %q", format)
	return nil
}

func zipOf(t testing.TB, entries ...testEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := fs.FileMode(e.perm())
		body := e.body
		switch e.kind {
		case 0:
		case 'd':
			mode |= fs.ModeDir
			fh.Method = zip.Store
		case 'l':
			mode = fs.ModeSymlink | 0o777
			body = e.link
		case 'c':
			mode |= fs.ModeDevice | fs.ModeCharDevice
		case 'b':
			mode |= fs.ModeDevice
		case 'p':
			mode |= fs.ModeNamedPipe
		case 'e', 'm':
			fh.Method = zip.Store
			if e.kind == 'm' {
				fh.Method = 12 // bzip2
			} else {
				fh.Flags = 0x1
			}
			fh.SetMode(mode)
			fh.CompressedSize64 = uint64(len(body))
			fh.UncompressedSize64 = uint64(len(body))
			w, err := zw.CreateRaw(fh)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(body))
			continue
		default:
			t.Fatalf("entry kind %q has no zip form", e.kind)
		}
		fh.SetMode(mode)
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t testing.TB, entries ...testEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.perm(), Linkname: e.link, Format: tar.FormatPAX}
		switch e.kind {
		case 0:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.body))
		case 'd':
			hdr.Typeflag = tar.TypeDir
		case 'l':
			hdr.Typeflag = tar.TypeSymlink
		case 'h':
			hdr.Typeflag = tar.TypeLink
		case 'c':
			hdr.Typeflag = tar.TypeChar
		case 'b':
			hdr.Typeflag = tar.TypeBlock
		case 'p':
			hdr.Typeflag = tar.TypeFifo
		case 'g':
			hdr = &tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "0123456789abcdef"}}
		case '7':
			hdr.Typeflag = tar.TypeCont
			hdr.Size = int64(len(e.body))
		default:
			t.Fatalf("entry kind %q has no tar form", e.kind)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var allFormats = []Format{FormatZip, FormatTarGz, FormatTar}

// sandbox is a temporary tree with the destination a few levels down
// (base/w/x/y/dest), so that an entry escaping it ("../../x") would land
// inside base where the test can see it, and a marker file beside it.
type sandbox struct {
	base, dest, marker string
}

const markerContent = "do not touch"

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "w", "x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := sandbox{
		base:   base,
		dest:   filepath.Join(base, "w", "x", "y", "dest"),
		marker: filepath.Join(base, "marker"),
	}
	if err := os.WriteFile(s.marker, []byte(markerContent), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// walk lists every path below base except those below dest, and the paths
// below dest separately.
func (s sandbox) walk(t testing.TB) (outside, inside []string) {
	t.Helper()
	err := filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.base {
			return nil
		}
		if p == s.dest || strings.HasPrefix(p, s.dest+string(filepath.Separator)) {
			inside = append(inside, p)
			return nil
		}
		outside = append(outside, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return outside, inside
}

// checkOutside fails unless base holds exactly the sandbox's own paths
// (plus dest), and the marker is intact: nothing written outside dest, no
// staging or spool file left behind.
func (s sandbox) checkOutside(t testing.TB) []string {
	t.Helper()
	outside, inside := s.walk(t)
	want := map[string]bool{
		s.marker:                             true,
		filepath.Join(s.base, "w"):           true,
		filepath.Join(s.base, "w", "x"):      true,
		filepath.Join(s.base, "w", "x", "y"): true,
	}
	for _, p := range outside {
		if !want[p] {
			t.Errorf("unexpected path outside dest: %s", p)
		}
	}
	if b, err := os.ReadFile(s.marker); err != nil || string(b) != markerContent {
		t.Errorf("marker changed: %q, %v", b, err)
	}
	return inside
}

// checkRefused asserts a refusal that left nothing anywhere.
func (s sandbox) checkRefused(t testing.TB, err error, want string, tooLarge bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("extraction succeeded, want a refusal containing %q", want)
	}
	if !errors.Is(err, ErrRefused) {
		t.Errorf("error %q does not match ErrRefused", err)
	}
	if got := errors.Is(err, ErrTooLarge); got != tooLarge {
		t.Errorf("errors.Is(err, ErrTooLarge) = %v, want %v (error %q)", got, tooLarge, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if inside := s.checkOutside(t); len(inside) > 0 {
		t.Errorf("dest exists after a refusal: %v", inside)
	}
}
