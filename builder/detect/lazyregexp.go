package detect

import (
	"regexp"
	"sync"
)

// lazyRegexp is a regular expression compiled on first use. Detection
// runs only when a build starts, and compiling the detectors' ~40
// expressions when the package loads would cost every caddy process about
// a megabyte it never gives back.
type lazyRegexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

// lazyRE returns expr to be compiled on first use; like
// regexp.MustCompile it panics (then) on a bad expression:
// TestEveryExpressionCompiles compiles them all.
func lazyRE(expr string) *lazyRegexp {
	l := &lazyRegexp{expr: expr}
	allExpressions = append(allExpressions, l)
	return l
}

// allExpressions are the package's expressions, for its tests.
var allExpressions []*lazyRegexp

func (l *lazyRegexp) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

// MatchString is regexp.Regexp.MatchString.
func (l *lazyRegexp) MatchString(s string) bool { return l.get().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (l *lazyRegexp) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }

// FindAllStringSubmatch is regexp.Regexp.FindAllStringSubmatch.
func (l *lazyRegexp) FindAllStringSubmatch(s string, n int) [][]string {
	return l.get().FindAllStringSubmatch(s, n)
}

// ReplaceAllStringFunc is regexp.Regexp.ReplaceAllStringFunc.
func (l *lazyRegexp) ReplaceAllStringFunc(src string, repl func(string) string) string {
	return l.get().ReplaceAllStringFunc(src, repl)
}
