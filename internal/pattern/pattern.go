// Package pattern holds length-bounded regular expressions. Go compiles a
// counted repetition such as [a-z0-9]{0,254} into that many copies of its
// instructions: the few name checks of the platform cost every process
// half a megabyte at start that way. A Bounded checks the length first
// and runs the same expression with an unbounded repetition.
package pattern

import "regexp"

// Bounded is an expression whose matches are at most Max bytes long.
type Bounded struct {
	re  *regexp.Regexp
	max int
}

// MustBounded compiles expr (which should repeat with * or +, not a
// count) for strings of at most maxLen bytes; it panics on a bad
// expression, like regexp.MustCompile.
func MustBounded(expr string, maxLen int) Bounded {
	return Bounded{re: regexp.MustCompile(expr), max: maxLen}
}

// MatchString reports whether s is at most Max bytes long and matches.
func (b Bounded) MatchString(s string) bool {
	return len(s) <= b.max && b.re.MatchString(s)
}

// String returns the expression and its bound, for messages and tests.
func (b Bounded) String() string { return b.re.String() }
