//go:build unix

package archive

import (
	"bytes"
	"syscall"
	"testing"
)

// TestExtractIgnoresUmask checks that modes are set explicitly: a strict
// umask must not leave files unreadable, nor strip an executable bit.
func TestExtractIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, format := range allFormats {
		t.Run(string(format), func(t *testing.T) {
			sb := newSandbox(t)
			data := build(t, format,
				testEntry{name: "bin/run", body: "#!/bin/sh\n", mode: 0o755},
				testEntry{name: "bin/data", body: "d", mode: 0o600},
			)
			if _, err := Extract(bytes.NewReader(data), format, sb.dest, Limits{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			compareTree(t, readTree(t, sb.dest), map[string]treeFile{
				"bin":      {dir: true, mode: 0o755},
				"bin/run":  {mode: 0o755, body: "#!/bin/sh\n"},
				"bin/data": {mode: 0o644, body: "d"},
			})
		})
	}
}
