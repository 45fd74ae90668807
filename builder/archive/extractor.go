package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// source is the archive as the extractor sees it: how much of it has been
// read (for the compression ratio), and whether reading it failed for a
// reason that is not the decoder's business.
type source interface {
	// consumed reports how many archive bytes have been read so far.
	consumed() int64
	// failure reports an error of the caller's reader, or a limit the
	// reading tripped; it takes precedence over what a decoder makes of it.
	failure() error
}

// extractor writes entries into the staging directory through an os.Root,
// which refuses any path that leaves it, and does the accounting: entries,
// paths, bytes and ratio.
type extractor struct {
	root   *os.Root
	lim    Limits
	ns     *namespace
	src    source
	format Format

	entries int   // entries seen in the archive
	files   int   // regular files written
	dirs    int   // directories created
	total   int64 // file bytes written
	buf     []byte
}

func newExtractor(root *os.Root, lim Limits) *extractor {
	return &extractor{
		root: root,
		lim:  lim,
		ns:   newNamespace(lim.MaxEntries),
		buf:  make([]byte, 32<<10),
	}
}

// countEntry counts one more entry of the archive against MaxEntries.
func (x *extractor) countEntry() error {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return refuse(true, nil, "the archive has more than %d entries", x.lim.MaxEntries)
	}
	return nil
}

// mkdirs creates dirs, parents first, each 0755 whatever the umask; name
// is the entry they are created for.
func (x *extractor) mkdirs(name string, dirs []string) error {
	for _, d := range dirs {
		p := filepath.FromSlash(d)
		if err := x.root.Mkdir(p, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return refuseCollision(name)
			}
			return fmt.Errorf("extracting archive: creating directory %s: %w", d, err)
		}
		// The staging directory is private (0700) until it is renamed, and
		// holds no symlinks, so a chmod by name cannot be redirected.
		if err := x.root.Chmod(p, 0o755); err != nil {
			return fmt.Errorf("extracting archive: %w", err)
		}
		x.dirs++
	}
	return nil
}

// writeFile creates the file at the clean path p, which must not exist (so
// nothing is ever overwritten and no symlink is ever followed), and copies r
// into it, counting the bytes actually read against MaxFileBytes,
// MaxTotalBytes and MaxRatio as it goes. declared is the size the header
// claims, used only to refuse early; name is the entry's name for messages.
func (x *extractor) writeFile(name, p string, r io.Reader, declared int64, executable bool) (err error) {
	if declared > x.lim.MaxFileBytes {
		return refuseEntry(name, true, "file of %d bytes is larger than the %s per-file limit", declared, sizeString(x.lim.MaxFileBytes))
	}
	if declared > x.lim.MaxTotalBytes-x.total {
		return refuse(true, nil, "the archive expands to more than %s (at entry %s)", sizeString(x.lim.MaxTotalBytes), quoteName(name))
	}
	f, err := x.root.OpenFile(filepath.FromSlash(p), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return refuseCollision(name)
		}
		return fmt.Errorf("extracting archive: creating file %s: %w", p, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("extracting archive: writing file %s: %w", p, cerr)
		}
	}()

	var n int64
	for {
		k, rerr := r.Read(x.buf)
		if k > 0 {
			n += int64(k)
			x.total += int64(k)
			if n > x.lim.MaxFileBytes {
				return refuseEntry(name, true, "file is larger than the %s per-file limit", sizeString(x.lim.MaxFileBytes))
			}
			if x.total > x.lim.MaxTotalBytes {
				return refuse(true, nil, "the archive expands to more than %s (at entry %s)", sizeString(x.lim.MaxTotalBytes), quoteName(name))
			}
			if err := x.checkRatio(name); err != nil {
				return err
			}
			if _, err := f.Write(x.buf[:k]); err != nil {
				return fmt.Errorf("extracting archive: writing file %s: %w", p, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return x.readFailure(name, rerr)
		}
	}

	mode := os.FileMode(0o644)
	if executable {
		mode = 0o755
	}
	if err := f.Chmod(mode); err != nil { // whatever the umask did
		return fmt.Errorf("extracting archive: %w", err)
	}
	x.files++
	return nil
}

// refuseCollision refuses an entry whose path already exists although the
// namespace had it as new: two names the filesystem takes for one, as a
// case-insensitive or normalizing filesystem does with "A" and "a".
func refuseCollision(name string) error {
	return refuseEntry(name, false, "collides with an earlier entry (the filesystem takes their names for the same)")
}

// checkRatio refuses once the files written outgrow the archive bytes read
// by more than MaxRatio, past the first MiB.
func (x *extractor) checkRatio(name string) error {
	in := x.src.consumed()
	if x.total > ratioGrace && float64(x.total) > x.lim.MaxRatio*float64(in) {
		return refuseEntry(name, true, "compression ratio above %g (%d bytes expanded from %d archive bytes)", x.lim.MaxRatio, x.total, in)
	}
	return nil
}

// readFailure explains an error met while decoding the archive: a failure
// of the caller's reader or a tripped limit as it is, anything else as a
// corrupt archive (or entry, when name is set).
func (x *extractor) readFailure(name string, err error) error {
	var r *refusalError
	if f := x.src.failure(); f != nil {
		if name != "" && errors.As(f, &r) { // say where the limit was hit
			return &refusalError{msg: "entry " + quoteName(name) + ": " + r.msg, tooLarge: r.tooLarge, cause: r.cause}
		}
		return f
	}
	if errors.As(err, &r) {
		return err
	}
	if name == "" {
		return refuse(false, err, "corrupt %s archive: %v", x.format, err)
	}
	return refuse(false, err, "entry %s: corrupt data: %v", quoteName(name), err)
}
