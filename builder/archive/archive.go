// Package archive extracts an uploaded source tree (zip, tar.gz or tar) into
// a directory, safely: the archive is accepted whole or refused whole.
//
// Extraction happens in a private staging directory created beside the
// destination, and the staging directory is renamed into place only once
// every entry has been checked and written. On any refusal or error the
// staging directory is removed and the destination is left exactly as it
// was (absent, or empty), so a caller never sees half an archive.
//
// Refused outright: absolute paths, drive-letter and UNC prefixes, ".."
// components (backslashes count as separators, since Windows tools write
// them), NUL bytes, symbolic links, hard links, devices, fifos, sockets,
// duplicate entries and entries that clash with an earlier file or
// directory. Sizes are measured on the bytes actually decompressed (headers
// only serve to refuse early, never to allow) and checked while copying, so
// a decompression bomb is stopped within a few megabytes, with bounded
// memory and disk.
//
// Files are created through an os.Root opened on the staging directory, so
// no path can resolve outside it, and with O_CREATE|O_EXCL, so nothing is
// ever overwritten and no symbolic link is ever followed (none can exist:
// they are refused). Modes are set explicitly, whatever the umask.
//
// Every refusal matches ErrRefused with errors.Is, and refusals caused by a
// size, count or ratio limit also match ErrTooLarge, so an HTTP caller can
// answer 400 or 413 with the error's message, which names the entry at fault.
//
// Extract keeps no global state: concurrent calls with different
// destinations are safe.
package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Format is an archive format Extract understands.
type Format string

const (
	// FormatZip is a zip archive (PKWARE), stored or deflated entries only.
	FormatZip Format = "zip"
	// FormatTarGz is a tar archive compressed with gzip (.tar.gz, .tgz).
	FormatTarGz Format = "tar.gz"
	// FormatTar is an uncompressed tar archive (ustar, pax or GNU).
	FormatTar Format = "tar"
)

// DetectLen is how many leading bytes of an archive DetectFormat needs to
// recognize every format: the tar magic sits at offset 257. A caller
// typically wraps the upload in a bufio.Reader, passes Peek(DetectLen) to
// DetectFormat (an io.EOF from Peek only means the upload is short), and then
// passes the same bufio.Reader to Extract.
const DetectLen = 512

// DetectFormat recognizes an archive from its first bytes: "PK\x03\x04" (or
// "PK\x05\x06", an empty zip) is a zip, the gzip magic 1f 8b is taken to be a
// tar.gz, and "ustar" at offset 257 is a plain tar. Anything else is refused
// with ErrRefused.
func DetectFormat(header []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(header, []byte("PK\x03\x04")), bytes.HasPrefix(header, []byte("PK\x05\x06")):
		return FormatZip, nil
	case bytes.HasPrefix(header, []byte{0x1f, 0x8b}):
		return FormatTarGz, nil
	case len(header) >= 262 && string(header[257:262]) == "ustar":
		return FormatTar, nil
	}
	return "", refuse(false, nil, "unrecognized archive format: expected a zip, a tar.gz or a tar")
}

// Result describes a successful extraction.
type Result struct {
	// Files is the number of regular files written.
	Files int
	// Dirs is the number of directories created below the destination,
	// including those only implied by a file's path.
	Dirs int
	// Bytes is the total size of the files written: the decompressed bytes
	// actually copied, not what the headers claimed.
	Bytes int64
	// Root is the top-level folder that was stripped because of
	// Limits.StripSingleRoot, or "" when nothing was stripped.
	Root string
}

// Extract reads an archive of the given format from r and extracts it into
// dest, which must not exist or must be an empty directory; its parent
// directory must exist and be writable, since the staging directory (and,
// for a zip, the spooled upload) are created there, named ".archive-*", and
// removed before Extract returns. Directories are created 0755 and files
// 0644, or 0755 when the archive marks them executable by anyone; setuid,
// setgid and sticky bits, owners and times are never applied.
//
// A zip needs random access to its central directory, so Extract first
// spools r to a temporary file beside dest, reading at most
// lim.MaxArchiveBytes; when the upload is already in a file, ExtractZipAt
// avoids that copy. A tar or tar.gz is extracted as it streams. Extract reads
// a tar only up to its end-of-archive marker, and a tar.gz to the end of the
// gzip stream (whose checksum is verified).
//
// Zero fields of lim take their defaults from DefaultLimits. A hostile or
// corrupt archive is refused with an error matching ErrRefused that names
// the entry at fault; a failure of r itself (for example the
// *http.MaxBytesError of an http.MaxBytesReader) or of the local filesystem
// is returned wrapped, without ErrRefused. In every failure case nothing is
// left at dest.
func Extract(r io.Reader, format Format, dest string, lim Limits) (*Result, error) {
	lim = lim.withDefaults()
	switch format {
	case FormatZip, FormatTarGz, FormatTar:
	default:
		return nil, refuse(false, nil, "unsupported archive format %q: expected zip, tar.gz or tar", string(format))
	}
	d, err := checkDestination(dest)
	if err != nil {
		return nil, err
	}
	if format == FormatZip {
		spool, size, err := spoolUpload(r, d.parent, lim.MaxArchiveBytes)
		if err != nil {
			return nil, err
		}
		defer func() {
			spool.Close()
			os.Remove(spool.Name())
		}()
		return extractZip(spool, size, d, lim)
	}
	return d.extract(lim, func(x *extractor) error {
		return extractTar(r, format == FormatTarGz, x)
	})
}

// ExtractZipAt is Extract for a zip that is already randomly accessible,
// such as an uploaded file net/http spilled to disk (a multipart.File) or a
// file on disk: ra holds the archive's size bytes. It saves the copy to a
// spool file that Extract makes; everything else is as for Extract. A size
// above lim.MaxArchiveBytes is refused.
func ExtractZipAt(ra io.ReaderAt, size int64, dest string, lim Limits) (*Result, error) {
	lim = lim.withDefaults()
	d, err := checkDestination(dest)
	if err != nil {
		return nil, err
	}
	return extractZip(ra, size, d, lim)
}

// spoolUpload copies r to a temporary file in dir, reading at most max
// bytes, and returns the file and the archive's size.
func spoolUpload(r io.Reader, dir string, max int64) (*os.File, int64, error) {
	f, err := os.CreateTemp(dir, ".archive-upload-*.zip")
	if err != nil {
		return nil, 0, fmt.Errorf("creating spool file for the upload: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if err != nil {
		return fail(fmt.Errorf("reading archive: %w", err))
	}
	if n > max {
		return fail(refuse(true, nil, "archive is larger than %s", sizeString(max)))
	}
	return f, n, nil
}

// destination is where an archive lands, checked before any work is done.
type destination struct {
	path   string // cleaned destination path
	parent string // its parent directory, where staging happens
	exists bool   // dest is an existing empty directory, replaced on success
}

// checkDestination checks that dest is absent or an empty directory, and
// that its parent is a directory.
func checkDestination(dest string) (destination, error) {
	if dest == "" {
		return destination{}, errors.New("extracting archive: no destination given")
	}
	p := filepath.Clean(dest)
	parent := filepath.Dir(p)
	if parent == p {
		return destination{}, fmt.Errorf("extracting archive: destination %s is a filesystem root", p)
	}
	if fi, err := os.Stat(parent); err != nil {
		return destination{}, fmt.Errorf("extracting archive: checking parent of destination: %w", err)
	} else if !fi.IsDir() {
		return destination{}, fmt.Errorf("extracting archive: parent of destination %s is not a directory", p)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return destination{path: p, parent: parent}, nil
	}
	if err != nil {
		return destination{}, fmt.Errorf("extracting archive: checking destination: %w", err)
	}
	if !fi.IsDir() { // a symlink, even to a directory, is refused here too
		return destination{}, fmt.Errorf("extracting archive: destination %s exists and is not a directory", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return destination{}, fmt.Errorf("extracting archive: checking destination: %w", err)
	}
	names, err := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 {
		return destination{}, fmt.Errorf("extracting archive: destination %s is not empty", p)
	}
	if err != nil && err != io.EOF {
		return destination{}, fmt.Errorf("extracting archive: checking destination: %w", err)
	}
	return destination{path: p, parent: parent, exists: true}, nil
}

// extract runs fill against a fresh staging directory beside the
// destination and, when fill succeeds, renames the result into place. On any
// error the staging directory is removed.
func (d destination) extract(lim Limits, fill func(*extractor) error) (res *Result, err error) {
	staging, err := os.MkdirTemp(d.parent, ".archive-extract-*")
	if err != nil {
		return nil, fmt.Errorf("extracting archive: creating staging directory: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(staging)
		}
	}()
	root, err := os.OpenRoot(staging)
	if err != nil {
		return nil, fmt.Errorf("extracting archive: opening staging directory: %w", err)
	}
	defer root.Close()

	x := newExtractor(root, lim)
	if err := fill(x); err != nil {
		return nil, err
	}
	res = &Result{Files: x.files, Dirs: x.dirs, Bytes: x.total}

	src := staging
	if lim.StripSingleRoot {
		entries, err := os.ReadDir(staging)
		if err != nil {
			return nil, fmt.Errorf("extracting archive: reading staging directory: %w", err)
		}
		if len(entries) == 1 && entries[0].IsDir() {
			res.Root = entries[0].Name()
			res.Dirs--
			src = filepath.Join(staging, res.Root)
		}
	}
	if err := os.Chmod(src, 0o755); err != nil { // MkdirTemp made it 0700
		return nil, fmt.Errorf("extracting archive: %w", err)
	}
	if d.exists {
		// Only an empty directory is removed: if anything appeared in it
		// meanwhile, this fails and the archive is not moved in.
		if err := os.Remove(d.path); err != nil {
			return nil, fmt.Errorf("extracting archive: replacing empty destination: %w", err)
		}
	}
	if err := os.Rename(src, d.path); err != nil {
		return nil, fmt.Errorf("extracting archive: moving into place: %w", err)
	}
	if src == staging {
		committed = true
	}
	return res, nil
}
