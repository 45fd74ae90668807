package archive

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// zipPlan is one checked zip entry, ready to be written.
type zipPlan struct {
	f     *zip.File
	path  string   // clean path; "" for an entry that writes nothing
	dirs  []string // directories to create first
	isDir bool
	exec  bool
}

// extractZip checks every entry of the zip from its central directory before
// writing anything, then extracts it into a staging directory.
func extractZip(ra io.ReaderAt, size int64, d destination, lim Limits) (*Result, error) {
	if size > lim.MaxArchiveBytes {
		return nil, refuse(true, nil, "archive is larger than %s", sizeString(lim.MaxArchiveBytes))
	}
	if err := scanZipDirectory(ra, size, lim.MaxEntries); err != nil {
		return nil, err
	}
	cra := &countingReaderAt{ra: ra}
	zr, err := zip.NewReader(cra, size)
	// With GODEBUG=zipinsecurepath=0, NewReader flags non-local names but
	// still returns a usable reader; the checks below refuse them anyway.
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		if cra.err != nil {
			return nil, cra.err
		}
		return nil, refuse(false, err, "corrupt zip archive: %v", err)
	}
	if len(zr.File) > lim.MaxEntries { // scanZipDirectory already made sure
		return nil, refuse(true, nil, "the archive has more than %d entries", lim.MaxEntries)
	}

	// Check the whole archive first: names, types, methods and declared
	// sizes. Declared sizes only refuse early; what counts is what is read.
	ns := newNamespace(lim.MaxEntries)
	plans := make([]zipPlan, 0, len(zr.File))
	var declared uint64
	for _, f := range zr.File {
		pl, err := planZipEntry(f, ns, lim)
		if err != nil {
			return nil, err
		}
		if !pl.isDir {
			declared += f.UncompressedSize64 // each is at most MaxFileBytes: no overflow
			if declared > uint64(lim.MaxTotalBytes) {
				return nil, refuse(true, nil, "the archive expands to more than %s (at entry %s)", sizeString(lim.MaxTotalBytes), quoteName(f.Name))
			}
		}
		plans = append(plans, pl)
	}

	cra.n = 0 // the ratio counts entry data only, not the directory read above
	return d.extract(lim, func(x *extractor) error {
		x.src = cra
		x.format = FormatZip
		x.ns = ns
		x.entries = len(zr.File)
		for _, pl := range plans {
			if err := x.mkdirs(pl.f.Name, pl.dirs); err != nil {
				return err
			}
			if pl.isDir || pl.path == "" {
				continue
			}
			if err := x.writeZipFile(pl); err != nil {
				return err
			}
		}
		return nil
	})
}

// planZipEntry checks one zip entry and records it in ns.
func planZipEntry(f *zip.File, ns *namespace, lim Limits) (zipPlan, error) {
	mode := f.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return zipPlan{}, refuseEntry(f.Name, false, "symbolic links are not allowed")
	case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return zipPlan{}, refuseEntry(f.Name, false, "device files are not allowed")
	case mode&fs.ModeNamedPipe != 0:
		return zipPlan{}, refuseEntry(f.Name, false, "named pipes (fifos) are not allowed")
	case mode&fs.ModeSocket != 0:
		return zipPlan{}, refuseEntry(f.Name, false, "sockets are not allowed")
	case !mode.IsDir() && !mode.IsRegular():
		return zipPlan{}, refuseEntry(f.Name, false, "unsupported file type %v", mode.Type())
	}
	isDir := mode.IsDir()
	if !isDir {
		if f.Flags&0x1 != 0 {
			return zipPlan{}, refuseEntry(f.Name, false, "encrypted entries are not supported")
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return zipPlan{}, refuseEntry(f.Name, false, "unsupported compression method %d (only stored and deflated entries are)", f.Method)
		}
		if f.UncompressedSize64 > uint64(lim.MaxFileBytes) {
			return zipPlan{}, refuseEntry(f.Name, true, "file of %d bytes is larger than the %s per-file limit", f.UncompressedSize64, sizeString(lim.MaxFileBytes))
		}
	}
	p, dirs, err := ns.add(f.Name, isDir)
	if err != nil {
		return zipPlan{}, err
	}
	if p == "." {
		p = ""
	}
	return zipPlan{f: f, path: p, dirs: dirs, isDir: isDir, exec: mode&0o111 != 0}, nil
}

// writeZipFile decompresses one checked zip entry into its file.
func (x *extractor) writeZipFile(pl zipPlan) error {
	rc, err := pl.f.Open()
	if err != nil {
		return x.readFailure(pl.f.Name, err)
	}
	defer rc.Close()
	return x.writeFile(pl.f.Name, pl.path, rc, int64(pl.f.UncompressedSize64), pl.exec)
}

// countingReaderAt counts the bytes archive/zip reads, for the ratio, and
// records a failure of the underlying reader.
type countingReaderAt struct {
	ra  io.ReaderAt
	n   int64
	err error
}

// ReadAt reads from the underlying reader, counting and recording failures.
func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		// An offset from a corrupt header: the archive's fault, not a
		// failure of the reader, so it is not recorded in c.err.
		return 0, errors.New("zip: negative offset")
	}
	k, err := c.ra.ReadAt(p, off)
	c.n += int64(k)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = fmt.Errorf("reading archive: %w", err)
	}
	return k, err
}

func (c *countingReaderAt) consumed() int64 { return c.n }
func (c *countingReaderAt) failure() error  { return c.err }

// Zip record signatures and sizes (APPNOTE.TXT).
const (
	zipDirHeaderSig   = 0x02014b50
	zipDirHeaderLen   = 46
	zipDirEndSig      = 0x06054b50
	zipDirEndLen      = 22
	zipDir64LocSig    = 0x07064b50
	zipDir64LocLen    = 20
	zipDir64EndSig    = 0x06064b50
	zipDir64EndLen    = 56
	zipMaxInt64       = 1<<63 - 1
	zipEndSearchShort = 1024
	zipEndSearchLong  = 65 * 1024
)

// scanZipDirectory counts the records of a zip's central directory without
// keeping them, and refuses more than maxEntries or more than
// maxZipDirectoryBytes of them. archive/zip reads every record it finds into
// memory, whatever count the archive declares, so a 200 MiB directory of
// millions of tiny records must be refused before zip.NewReader sees it.
//
// It locates the directory as archive/zip does (the end record, and the
// zip64 one when the end record says so) and counts records from both
// places archive/zip may start at, stopping as it would, so its count is
// never below the number archive/zip will read. An archive it cannot make
// sense of is left to zip.NewReader, which then fails the same way.
func scanZipDirectory(ra io.ReaderAt, size int64, maxEntries int) error {
	end, ok, err := findZipDirectory(ra, size)
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	if !ok {
		return nil
	}
	if end.records > uint64(maxEntries) {
		return refuse(true, nil, "the archive has more than %d entries (it declares %d)", maxEntries, end.records)
	}
	starts := []int64{end.start}
	if end.alt >= 0 && end.alt != end.start {
		starts = append(starts, end.alt)
	}
	for _, start := range starts {
		if err := countZipRecords(ra, size, start, maxEntries); err != nil {
			return err
		}
	}
	return nil
}

// zipDirectory is where a zip's central directory starts, and how many
// records it claims to hold.
type zipDirectory struct {
	records uint64
	start   int64 // where archive/zip starts reading, by default
	alt     int64 // where it starts instead if a record is there; -1 if never
}

// findZipDirectory mirrors archive/zip's readDirectoryEnd. ok is false when
// archive/zip would not find a directory either.
func findZipDirectory(ra io.ReaderAt, size int64) (zipDirectory, bool, error) {
	var buf []byte
	var endOffset int64
	found := false
	for i, n := range []int64{zipEndSearchShort, zipEndSearchLong} {
		if n > size {
			n = size
		}
		buf = make([]byte, n)
		if _, err := ra.ReadAt(buf, size-n); err != nil && err != io.EOF {
			return zipDirectory{}, false, err
		}
		if p := findZipEndSignature(buf); p >= 0 {
			buf = buf[p:]
			endOffset = size - n + int64(p)
			found = true
			break
		}
		if i == 1 || n == size {
			break
		}
	}
	if !found {
		return zipDirectory{}, false, nil
	}

	le := binary.LittleEndian
	records := uint64(le.Uint16(buf[10:]))
	dirSize := uint64(le.Uint32(buf[12:]))
	dirOffset := uint64(le.Uint32(buf[16:]))
	if records == 0xffff || dirSize == 0xffff || dirOffset == 0xffffffff {
		z, ok := readZip64End(ra, endOffset)
		if !ok {
			return zipDirectory{}, false, nil // archive/zip fails here too
		}
		if z.found {
			records, dirSize, dirOffset, endOffset = z.records, z.dirSize, z.dirOffset, z.offset
		}
	}
	if dirSize > zipMaxInt64 || dirOffset > zipMaxInt64 {
		return zipDirectory{}, false, nil
	}
	start := endOffset - int64(dirSize)
	if start < 0 || start >= size {
		return zipDirectory{}, false, nil
	}
	alt := int64(-1)
	if start > int64(dirOffset) { // a positive base offset, which archive/zip may distrust
		alt = int64(dirOffset)
	}
	return zipDirectory{records: records, start: start, alt: alt}, true, nil
}

// zip64End is what the zip64 end of central directory record says.
type zip64End struct {
	found                       bool
	records, dirSize, dirOffset uint64
	offset                      int64
}

// readZip64End mirrors archive/zip's findDirectory64End and
// readDirectory64End: found is false when there is no zip64 locator (the
// 32-bit values stand), ok is false when archive/zip gives up on the file.
func readZip64End(ra io.ReaderAt, endOffset int64) (z zip64End, ok bool) {
	le := binary.LittleEndian
	loc := endOffset - zipDir64LocLen
	if loc < 0 {
		return z, true
	}
	b := make([]byte, zipDir64LocLen)
	if _, err := ra.ReadAt(b, loc); err != nil {
		return z, false
	}
	if le.Uint32(b) != zipDir64LocSig || le.Uint32(b[4:]) != 0 || le.Uint32(b[16:]) != 1 {
		return z, true
	}
	p := int64(le.Uint64(b[8:]))
	if p < 0 {
		return z, true
	}
	e := make([]byte, zipDir64EndLen)
	if _, err := ra.ReadAt(e, p); err != nil || le.Uint32(e) != zipDir64EndSig {
		return z, false
	}
	return zip64End{
		found:     true,
		records:   le.Uint64(e[32:]),
		dirSize:   le.Uint64(e[40:]),
		dirOffset: le.Uint64(e[48:]),
		offset:    p,
	}, true
}

// findZipEndSignature mirrors archive/zip's findSignatureInBlock.
func findZipEndSignature(b []byte) int {
	for i := len(b) - zipDirEndLen; i >= 0; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 0x05 && b[i+3] == 0x06 {
			n := int(b[i+zipDirEndLen-2]) | int(b[i+zipDirEndLen-1])<<8
			if n+zipDirEndLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

// countZipRecords walks central directory records from start, as
// archive/zip does, until one is missing or cut short.
func countZipRecords(ra io.ReaderAt, size, start int64, maxEntries int) error {
	br := bufio.NewReader(io.NewSectionReader(ra, start, size-start))
	var hdr [zipDirHeaderLen]byte
	var count, bytes int64
	le := binary.LittleEndian
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil
		}
		if le.Uint32(hdr[:]) != zipDirHeaderSig {
			return nil
		}
		count++
		if count > int64(maxEntries) {
			return refuse(true, nil, "the archive has more than %d entries", maxEntries)
		}
		rest := int(le.Uint16(hdr[28:])) + int(le.Uint16(hdr[30:])) + int(le.Uint16(hdr[32:]))
		bytes += zipDirHeaderLen + int64(rest)
		if bytes > maxZipDirectoryBytes {
			return refuse(true, nil, "the archive's central directory is larger than %s", sizeString(maxZipDirectoryBytes))
		}
		if _, err := br.Discard(rest); err != nil {
			return nil
		}
	}
}

// Interface guards.
var (
	_ io.ReaderAt = (*countingReaderAt)(nil)
	_ source      = (*countingReaderAt)(nil)
)
