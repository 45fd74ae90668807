package gitsource

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidRef is matched (with errors.Is) by every error of ValidateRef.
var ErrInvalidRef = errors.New("invalid ref")

// maxRefLength bounds a ref, as git hosting services do.
const maxRefLength = 255

// ValidateRef checks a ref that a user asked to deploy: a branch or tag name
// ("main", "release/1.2", "v1.0.0"), a full ref name ("refs/tags/v1"), or a
// full or abbreviated commit sha. The empty string is accepted and means the
// remote's default branch.
//
// It applies git's ref-name rules and, since a ref travels on to logs,
// build labels and commands, an allowlist of characters: letters, digits and
// . _ / - + @ = , (so no shell metacharacters, whitespace or control
// characters, and none of git's ~ ^ : ? * [ \). Also refused: a leading '-',
// "..", "@{", a component starting with '.' or ending in ".lock", an empty
// component, a trailing '/' or '.', the name "@", and more than 255 bytes.
func ValidateRef(ref string) error {
	if ref == "" {
		return nil
	}
	if len(ref) > maxRefLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidRef, maxRefLength)
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case c < ' ' || c == 0x7f:
			return fmt.Errorf("%w %q: contains control characters", ErrInvalidRef, ref)
		case c == ' ':
			return fmt.Errorf("%w %q: contains a space", ErrInvalidRef, ref)
		case strings.IndexByte("~^:?*[\\", c) >= 0:
			return fmt.Errorf("%w %q: contains %q, which git does not allow in a ref", ErrInvalidRef, ref, c)
		case !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._/-+@=,", c) >= 0):
			return fmt.Errorf("%w %q: contains %q; use letters, digits and . _ / - + @ = ,", ErrInvalidRef, ref, c)
		}
	}
	switch {
	case ref[0] == '-':
		return fmt.Errorf("%w %q: starts with '-'", ErrInvalidRef, ref)
	case ref == "@":
		return fmt.Errorf("%w %q: '@' alone is not a ref", ErrInvalidRef, ref)
	case strings.Contains(ref, ".."):
		return fmt.Errorf("%w %q: contains '..'", ErrInvalidRef, ref)
	case strings.Contains(ref, "@{"):
		return fmt.Errorf("%w %q: contains '@{'", ErrInvalidRef, ref)
	case strings.HasSuffix(ref, "/"):
		return fmt.Errorf("%w %q: ends with '/'", ErrInvalidRef, ref)
	case strings.HasSuffix(ref, "."):
		return fmt.Errorf("%w %q: ends with '.'", ErrInvalidRef, ref)
	}
	for _, comp := range strings.Split(ref, "/") {
		switch {
		case comp == "":
			return fmt.Errorf("%w %q: has an empty path component", ErrInvalidRef, ref)
		case comp[0] == '.':
			return fmt.Errorf("%w %q: a component starts with '.'", ErrInvalidRef, ref)
		case strings.HasSuffix(comp, ".lock"):
			return fmt.Errorf("%w %q: a component ends with \".lock\"", ErrInvalidRef, ref)
		}
	}
	return nil
}

// isHexString reports whether s is all lower- or upper-case hex digits.
func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return s != ""
}
