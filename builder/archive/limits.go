package archive

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Limits bounds what an archive may cost. A zero (or negative) field takes
// its value from DefaultLimits, so Limits{} is the default policy.
type Limits struct {
	// MaxArchiveBytes caps the archive itself, compressed, as read from the
	// caller's reader. Default 200 MiB. The caller should also cap the
	// request body (http.MaxBytesReader) so that a bigger upload is cut
	// off by the server before it reaches Extract.
	MaxArchiveBytes int64

	// MaxEntries caps the number of entries in the archive (files,
	// directories and metadata entries alike) and, separately, the number
	// of files and directories the extraction creates, counting the
	// directories that a file's path only implies. Default 50,000.
	MaxEntries int

	// MaxTotalBytes caps the sum of the sizes of all extracted files,
	// counted on the bytes actually decompressed. Default 1 GiB.
	MaxTotalBytes int64

	// MaxFileBytes caps the size of any one extracted file, counted on the
	// bytes actually decompressed. Default 200 MiB.
	MaxFileBytes int64

	// MaxRatio caps the compression ratio: the file bytes decompressed so
	// far divided by the archive bytes read so far, checked continuously
	// while copying, over the whole archive. The first MiB of output is
	// exempt, so that a tiny archive of very repetitive text is not
	// refused. For a tar.gz the decompressed tar stream is held to it too,
	// less 4 KiB of headers and padding per entry. Default 100, far above
	// what source code reaches (3 to 10) and far below a bomb's (about
	// 1,000); a tar.gz of thousands of near-identical files may need more.
	MaxRatio float64

	// StripSingleRoot, when set, drops a single top-level folder holding
	// everything else, as in GitHub's downloads ("repo-main/..."): its
	// contents become the contents of the destination. An archive with more
	// than one top-level entry, or a single top-level file, is extracted as
	// it is. Result.Root reports the folder that was stripped.
	StripSingleRoot bool
}

// DefaultLimits returns the limits used for every zero field of a Limits:
// a 200 MiB archive, 50,000 entries, 1 GiB expanded in all, 200 MiB per
// file and a compression ratio of at most 100. StripSingleRoot is off.
func DefaultLimits() Limits {
	return Limits{
		MaxArchiveBytes: 200 << 20,
		MaxEntries:      50_000,
		MaxTotalBytes:   1 << 30,
		MaxFileBytes:    200 << 20,
		MaxRatio:        100,
	}
}

// withDefaults returns lim with every zero or negative field defaulted.
func (lim Limits) withDefaults() Limits {
	def := DefaultLimits()
	if lim.MaxArchiveBytes <= 0 {
		lim.MaxArchiveBytes = def.MaxArchiveBytes
	}
	if lim.MaxEntries <= 0 {
		lim.MaxEntries = def.MaxEntries
	}
	if lim.MaxTotalBytes <= 0 {
		lim.MaxTotalBytes = def.MaxTotalBytes
	}
	if lim.MaxFileBytes <= 0 {
		lim.MaxFileBytes = def.MaxFileBytes
	}
	if !(lim.MaxRatio > 0) { // also catches NaN
		lim.MaxRatio = def.MaxRatio
	}
	return lim
}

// Internal bounds that are not worth a knob.
const (
	// ratioGrace is how much output may be produced before MaxRatio is
	// enforced.
	ratioGrace = 1 << 20

	// maxNameBytes caps an entry's name: real source trees stay far below,
	// and the staging path plus the name must fit in PATH_MAX.
	maxNameBytes = 1024

	// maxComponentBytes caps one path component (NAME_MAX on Linux).
	maxComponentBytes = 255

	// maxZipDirectoryBytes caps a zip's central directory, which
	// archive/zip holds in memory.
	maxZipDirectoryBytes = 64 << 20

	// tarOverheadPerEntry is how much of a decompressed tar stream each
	// allowed entry may spend on headers and padding beyond its content,
	// and maxTarTrailingBytes how much may follow the end-of-archive
	// marker (tar pads to 10 KiB records).
	tarOverheadPerEntry = 4 << 10
	maxTarTrailingBytes = 1 << 20
)

// ErrRefused is matched (errors.Is) by every error that refuses an archive
// because of its contents: a hostile path or entry type, a limit exceeded, a
// corrupt or unsupported archive. The message says why and names the entry.
// Such an error deserves a 400, or a 413 when it also matches ErrTooLarge.
var ErrRefused = errors.New("archive refused")

// ErrTooLarge is matched (errors.Is), in addition to ErrRefused, by the
// refusals caused by a limit: archive size, entry count, file or total size,
// compression ratio.
var ErrTooLarge = errors.New("archive too large")

// refusalError is the error behind every refusal.
type refusalError struct {
	msg      string
	tooLarge bool
	cause    error
}

// Error returns the refusal message, prefixed "archive refused: ".
func (e *refusalError) Error() string { return "archive refused: " + e.msg }

// Is reports whether target is ErrRefused, or ErrTooLarge for a limit.
func (e *refusalError) Is(target error) bool {
	return target == ErrRefused || (e.tooLarge && target == ErrTooLarge)
}

// Unwrap returns the decoder error behind a corrupt-archive refusal.
func (e *refusalError) Unwrap() error { return e.cause }

// refuse builds a refusal; tooLarge marks it as a limit.
func refuse(tooLarge bool, cause error, format string, args ...any) error {
	return &refusalError{msg: fmt.Sprintf(format, args...), tooLarge: tooLarge, cause: cause}
}

// refuseEntry builds a refusal naming the entry at fault.
func refuseEntry(name string, tooLarge bool, format string, args ...any) error {
	return &refusalError{msg: "entry " + quoteName(name) + ": " + fmt.Sprintf(format, args...), tooLarge: tooLarge}
}

// quoteName quotes an entry name for a message, escaping control bytes and
// shortening very long names so the message stays readable.
func quoteName(name string) string {
	const max = 200
	if len(name) > max {
		return strconv.Quote(name[:max]) + "..."
	}
	return strconv.Quote(name)
}

// sizeString renders a byte count as a person would write a limit.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// addSat adds two non-negative int64 values, saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// mulSat multiplies two non-negative int64 values, saturating.
func mulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
