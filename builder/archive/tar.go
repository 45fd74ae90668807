package archive

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// extractTar extracts a tar (gzip-compressed when gz is set) as it streams.
// Entries are checked one by one as they arrive; a refusal part-way leaves
// the staging directory to be removed by the caller.
func extractTar(r io.Reader, gz bool, x *extractor) error {
	x.format = FormatTar
	if gz {
		x.format = FormatTarGz
	}
	in := &archiveReader{r: r, max: x.lim.MaxArchiveBytes}
	// The decompressed stream is capped too, and held to the ratio beyond
	// an allowance for each entry's headers and padding (which compress
	// far better than any content), so that a bomb hidden where no file is
	// written (chained pax headers, data after the end marker) is stopped
	// as early as one in a file.
	st := &streamReader{
		in:      in,
		max:     addSat(addSat(x.lim.MaxTotalBytes, mulSat(int64(x.lim.MaxEntries), tarOverheadPerEntry)), maxTarTrailingBytes),
		ratio:   x.lim.MaxRatio,
		entries: &x.entries,
	}
	x.src = tarSource{in: in, st: st}

	st.r = in
	if gz {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return x.readFailure("", err)
		}
		st.r = zr
	}

	tr := tar.NewReader(st)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// With GODEBUG=tarinsecurepath=0, Next flags a non-local name but
		// still returns its header; the checks below refuse it anyway.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return x.readFailure("", err)
		}
		if err := x.countEntry(); err != nil {
			return err
		}
		if err := x.tarEntry(tr, hdr); err != nil {
			return err
		}
	}

	if gz {
		// Read to the end of the gzip stream, so its checksum is verified
		// and a truncated upload is noticed; what follows the tar's end
		// marker is padding and must stay small.
		n, err := io.Copy(io.Discard, io.LimitReader(st, maxTarTrailingBytes+1))
		if err != nil {
			return x.readFailure("", err)
		}
		if n > maxTarTrailingBytes {
			return refuse(false, nil, "more than %s of data after the end of the tar archive", sizeString(maxTarTrailingBytes))
		}
	}
	return nil
}

// tarEntry extracts one tar entry, or refuses it.
func (x *extractor) tarEntry(tr *tar.Reader, hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		p, dirs, err := x.ns.add(hdr.Name, false)
		if err != nil {
			return err
		}
		if err := x.mkdirs(hdr.Name, dirs); err != nil {
			return err
		}
		return x.writeFile(hdr.Name, p, tr, hdr.Size, hdr.Mode&0o111 != 0)
	case tar.TypeDir:
		_, dirs, err := x.ns.add(hdr.Name, true)
		if err != nil {
			return err
		}
		return x.mkdirs(hdr.Name, dirs)
	case tar.TypeXGlobalHeader:
		return nil // metadata for the whole archive, such as GitHub's commit id
	case tar.TypeSymlink:
		return refuseEntry(hdr.Name, false, "symbolic links are not allowed (link to %s)", quoteName(hdr.Linkname))
	case tar.TypeLink:
		return refuseEntry(hdr.Name, false, "hard links are not allowed (link to %s)", quoteName(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock:
		return refuseEntry(hdr.Name, false, "device files are not allowed")
	case tar.TypeFifo:
		return refuseEntry(hdr.Name, false, "named pipes (fifos) are not allowed")
	}
	return refuseEntry(hdr.Name, false, "unsupported tar entry type %q", string(rune(hdr.Typeflag)))
}

// archiveReader counts the bytes read from the caller's reader and refuses
// to read past MaxArchiveBytes.
type archiveReader struct {
	r   io.Reader
	n   int64
	max int64
	err error
}

// Read reads from the caller's reader, recording its failures.
func (a *archiveReader) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	k, err := a.r.Read(p)
	a.n += int64(k)
	if a.n > a.max {
		a.err = refuse(true, nil, "archive is larger than %s", sizeString(a.max))
		return 0, a.err
	}
	if err != nil && err != io.EOF {
		a.err = fmt.Errorf("reading archive: %w", err)
	}
	return k, err
}

// streamReader counts the decompressed tar stream, refusing it past max or
// when, less tarOverheadPerEntry for each entry seen, it outgrows the
// archive bytes read by more than ratio.
type streamReader struct {
	r       io.Reader
	in      *archiveReader
	n       int64
	max     int64
	ratio   float64
	entries *int
	err     error
}

// Read reads decompressed bytes, enforcing the stream's cap and ratio.
func (s *streamReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	k, err := s.r.Read(p)
	s.n += int64(k)
	beyond := s.n - mulSat(int64(*s.entries+1), tarOverheadPerEntry) // +1: the entry being read
	switch {
	case s.n > s.max:
		s.err = refuse(true, nil, "the decompressed tar stream is larger than %s", sizeString(s.max))
	case beyond > ratioGrace && float64(beyond) > s.ratio*float64(s.in.n):
		s.err = refuse(true, nil, "compression ratio above %g (%d bytes decompressed from %d archive bytes)", s.ratio, s.n, s.in.n)
	}
	if s.err != nil {
		return 0, s.err
	}
	return k, err
}

// tarSource reports a tar's reading progress and failures to the extractor.
type tarSource struct {
	in *archiveReader
	st *streamReader
}

func (t tarSource) consumed() int64 { return t.in.n }

func (t tarSource) failure() error {
	if t.in.err != nil {
		return t.in.err
	}
	return t.st.err
}

// Interface guards.
var (
	_ io.Reader = (*archiveReader)(nil)
	_ io.Reader = (*streamReader)(nil)
	_ source    = tarSource{}
)
