package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

const (
	mib      = 1 << 20
	bombSize = 2 << 30 // 2 GiB of zeros
)

// deflateZeros returns a raw DEFLATE stream that inflates to prefix followed
// by n zero bytes (n a multiple of 1 MiB, at least 1 MiB). It compresses one
// MiB of zeros once, against a window of zeros, and repeats that block, so a
// multi-gigabyte bomb costs milliseconds and about 1 KiB per MiB.
func deflateZeros(t testing.TB, prefix []byte, n int64) []byte {
	t.Helper()
	zeros := make([]byte, mib)
	var out bytes.Buffer
	w, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(prefix)
	w.Write(zeros)
	w.Flush() // byte-aligned; the window now ends in zeros

	var block bytes.Buffer
	bw, err := flate.NewWriterDict(&block, flate.BestCompression, zeros[:32<<10])
	if err != nil {
		t.Fatal(err)
	}
	bw.Write(zeros)
	bw.Flush()
	for i := int64(1); i < n/mib; i++ {
		out.Write(block.Bytes())
	}
	out.Write([]byte{0x03, 0x00}) // an empty final block (fixed Huffman)
	return out.Bytes()
}

func TestDeflateZerosHelper(t *testing.T) {
	prefix := []byte("header")
	raw := deflateZeros(t, prefix, 4*mib)
	got, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != int64(len(prefix))+4*mib || !bytes.HasPrefix(got, prefix) || bytes.ContainsFunc(got[len(prefix):], func(r rune) bool { return r != 0 }) {
		t.Fatalf("inflated to %d bytes, not the prefix and 4 MiB of zeros", len(got))
	}
}

// zipBomb is a zip holding one deflated entry of 2 GiB of zeros, whose
// header claims declared bytes.
func zipBomb(t testing.TB, declared uint64) []byte {
	raw := deflateZeros(t, nil, bombSize)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               "zeros.bin",
		Method:             zip.Deflate,
		CompressedSize64:   uint64(len(raw)),
		UncompressedSize64: declared,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// tarGzBomb is a tar.gz whose one entry's header claims declared bytes,
// followed by zeros up to 2 GiB (beyond declared, they read as the tar's
// end marker and its padding).
func tarGzBomb(t testing.TB, declared int64) []byte {
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: declared}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	raw := deflateZeros(t, hdr.Bytes(), bombSize)
	var buf bytes.Buffer
	buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}) // gzip header, no name
	buf.Write(raw)
	buf.Write(make([]byte, 8)) // CRC-32 and size: never reached
	return buf.Bytes()
}

func TestBombs(t *testing.T) {
	generous := Limits{MaxFileBytes: 4 << 30, MaxTotalBytes: 4 << 30}
	tests := []struct {
		name     string
		format   Format
		data     func(t testing.TB) []byte
		lim      Limits
		want     string
		tooLarge bool
	}{
		{
			name:   "zip, honest header",
			format: FormatZip, data: func(t testing.TB) []byte { return zipBomb(t, bombSize) },
			want: `entry "zeros.bin": file of 2147483648 bytes is larger than the 200 MiB per-file limit`, tooLarge: true,
		},
		{
			name:   "zip, honest header, generous size limits",
			format: FormatZip, data: func(t testing.TB) []byte { return zipBomb(t, bombSize) },
			lim:  generous,
			want: `entry "zeros.bin": compression ratio above 100`, tooLarge: true,
		},
		{
			name:   "zip, header claims 1 KiB",
			format: FormatZip, data: func(t testing.TB) []byte { return zipBomb(t, 1024) },
			want: `entry "zeros.bin": corrupt data`,
		},
		{
			name:   "tar.gz, honest header",
			format: FormatTarGz, data: func(t testing.TB) []byte { return tarGzBomb(t, bombSize-mib) },
			want: `entry "zeros.bin": file of 2146435072 bytes is larger than the 200 MiB per-file limit`, tooLarge: true,
		},
		{
			name:   "tar.gz, honest header, generous size limits",
			format: FormatTarGz, data: func(t testing.TB) []byte { return tarGzBomb(t, bombSize-mib) },
			lim:  generous,
			want: "compression ratio above 100", tooLarge: true,
		},
		{
			name:   "tar.gz, zeros after the end marker",
			format: FormatTarGz, data: func(t testing.TB) []byte { return tarGzBomb(t, 1024) },
			want: "more than 1 MiB of data after the end of the tar archive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			if len(data) > 4*mib {
				t.Fatalf("the bomb is %d bytes, meant to be a few MiB", len(data))
			}
			sb := newSandbox(t)

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Extract(bytes.NewReader(data), tt.format, sb.dest, tt.lim)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)

			sb.checkRefused(t, err, tt.want, tt.tooLarge)
			if elapsed > 5*time.Second {
				t.Errorf("refusing the bomb took %v", elapsed)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64*mib {
				t.Errorf("refusing the bomb allocated %d MiB", alloc/mib)
			}
			t.Logf("%d-byte bomb refused in %v: %v", len(data), elapsed, err)
		})
	}
}

// manyZip builds a zip of n empty stored files by hand (archive/zip's
// writer is slow at this under -race), with a zip64 end record that claims
// declared entries.
func manyZip(n int, declared uint64) []byte {
	le := binary.LittleEndian
	var buf, dir bytes.Buffer
	for i := range n {
		name := fmt.Sprintf("f%06d", i)
		offset := uint32(buf.Len())
		var local [30]byte
		le.PutUint32(local[0:], 0x04034b50)
		le.PutUint16(local[4:], 20)
		le.PutUint16(local[26:], uint16(len(name)))
		buf.Write(local[:])
		buf.WriteString(name)
		var rec [46]byte
		le.PutUint32(rec[0:], 0x02014b50)
		le.PutUint16(rec[4:], 20)
		le.PutUint16(rec[6:], 20)
		le.PutUint16(rec[28:], uint16(len(name)))
		le.PutUint32(rec[42:], offset)
		dir.Write(rec[:])
		dir.WriteString(name)
	}
	dirOffset := uint64(buf.Len())
	buf.Write(dir.Bytes())
	end64 := uint64(buf.Len())
	var rec64 [56]byte
	le.PutUint32(rec64[0:], 0x06064b50)
	le.PutUint64(rec64[4:], 44)
	le.PutUint16(rec64[12:], 45)
	le.PutUint16(rec64[14:], 45)
	le.PutUint64(rec64[24:], declared)
	le.PutUint64(rec64[32:], declared)
	le.PutUint64(rec64[40:], uint64(dir.Len()))
	le.PutUint64(rec64[48:], dirOffset)
	buf.Write(rec64[:])
	var loc [20]byte
	le.PutUint32(loc[0:], 0x07064b50)
	le.PutUint64(loc[8:], end64)
	le.PutUint32(loc[16:], 1)
	buf.Write(loc[:])
	var end [22]byte
	le.PutUint32(end[0:], 0x06054b50)
	le.PutUint16(end[8:], 0xffff)
	le.PutUint16(end[10:], 0xffff)
	le.PutUint32(end[12:], uint32(dir.Len()))
	le.PutUint32(end[16:], uint32(dirOffset))
	buf.Write(end[:])
	return buf.Bytes()
}

// manyTar builds a ustar archive of n empty files from one header template
// (archive/tar's writer is slow at this under -race).
func manyTar(n int) []byte {
	var tmpl [512]byte
	copy(tmpl[100:], "0000644\x00")
	copy(tmpl[108:], "0000000\x00")
	copy(tmpl[116:], "0000000\x00")
	copy(tmpl[124:], "00000000000\x00")
	copy(tmpl[136:], "00000000000\x00")
	copy(tmpl[148:], "        ")
	tmpl[156] = '0'
	copy(tmpl[257:], "ustar\x0000")
	out := make([]byte, 0, (n+2)*512)
	for i := range n {
		h := tmpl
		copy(h[:], fmt.Sprintf("f%06d", i))
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		out = append(out, h[:]...)
	}
	return append(out, make([]byte, 1024)...)
}

func TestManyEntries(t *testing.T) {
	const n = 100_000
	honest := manyZip(n, n)
	// The same zip, its zip64 end record claiming n%65536 entries: the lie
	// fools archive/zip, which compares only 16 bits and reads every
	// record. This is what scanZipDirectory is for.
	lying := append([]byte(nil), honest...)
	end64 := len(lying) - 22 - 20 - 56
	binary.LittleEndian.PutUint64(lying[end64+24:], n%65536)
	binary.LittleEndian.PutUint64(lying[end64+32:], n%65536)
	if zr, err := zip.NewReader(bytes.NewReader(lying), int64(len(lying))); err != nil || len(zr.File) != n {
		t.Fatalf("archive/zip no longer reads an undercounted zip: %v", err)
	}

	// A tar streams: its entries are written to the staging directory until
	// the limit trips (with the default limit, 50,000 empty files come and
	// go, about 2 s), so the tar cases use a lower limit and fewer entries.
	tarData := manyTar(n / 10)
	if _, err := tar.NewReader(bytes.NewReader(tarData)).Next(); err != nil {
		t.Fatalf("the hand-built tar is not valid: %v", err)
	}

	tests := []struct {
		name   string
		format Format
		data   []byte
		lim    Limits
		want   string
	}{
		{"zip", FormatZip, honest, Limits{}, "the archive has more than 50000 entries (it declares 100000)"},
		{"zip with an undercount", FormatZip, lying, Limits{}, "the archive has more than 50000 entries"},
		{"tar.gz", FormatTarGz, gzipOf(t, tarData), Limits{MaxEntries: 1000}, "the archive has more than 1000 entries"},
		{"tar", FormatTar, tarData, Limits{MaxEntries: 1000}, "the archive has more than 1000 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Extract(bytes.NewReader(tt.data), tt.format, sb.dest, tt.lim)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			sb.checkRefused(t, err, tt.want, true)
			if tt.format == FormatZip {
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*mib {
					t.Errorf("refusing the zip allocated %d MiB", alloc/mib)
				}
			}
			t.Logf("%d-byte archive refused in %v", len(tt.data), elapsed)
		})
	}
}
