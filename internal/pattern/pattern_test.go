package pattern

import (
	"regexp"
	"strings"
	"testing"
)

// TestBoundedMatchesTheCountedExpression checks that a Bounded accepts
// exactly what the counted expression it replaces accepts.
func TestBoundedMatchesTheCountedExpression(t *testing.T) {
	counted := regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	bounded := MustBounded(`^[a-z][a-z0-9-]*$`, 63)
	for _, s := range []string{
		"", "a", "a-", "9a", "A", "ab-c", "a b", "a\n", "é",
		"a" + strings.Repeat("b", 62), "a" + strings.Repeat("b", 63), strings.Repeat("-", 10),
	} {
		if got, want := bounded.MatchString(s), counted.MatchString(s); got != want {
			t.Errorf("%q: bounded %v, counted %v", s, got, want)
		}
	}
}
