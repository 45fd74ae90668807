package detect

import (
	"fmt"
	"strconv"
	"strings"
)

// Version constraints come in the dialects of npm (engines.node), PEP 440
// (requires-python), Poetry, Composer, RubyGems and Mix. They are all
// comparators over dotted numbers, so one small evaluator reads them all:
// alternatives split by "||" (or Composer's "|"), comparators joined by
// commas or spaces, each one of =, ==, !=, <, <=, >, >=, ^, ~, ~> or ~=
// before a version that may be partial or end in a wildcard (20.x, 3.12.*),
// plus npm's hyphen ranges (1.2 - 2.3). The question asked is never "which
// exact version" but "which release line of an official image" satisfies
// it, so a candidate line such as 3.12 is accepted when any version in
// [3.12.0, 3.13.0) does.

// semver is a version of up to three numeric parts; n is how many were
// given (0 for a lone wildcard).
type semver struct {
	v [3]int
	n int
}

// parseSemver reads "20", "v20.11.1", "3.12.*", "8.x"; a pre-release or
// build suffix ("-rc.1", "+sha") is ignored.
func parseSemver(s string) (semver, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	if i := strings.IndexAny(s, "-+"); i > 0 {
		s = s[:i]
	}
	if s == "" {
		return semver{}, false
	}
	var out semver
	for i, part := range strings.Split(s, ".") {
		if i >= 3 {
			return semver{}, false
		}
		if part == "x" || part == "X" || part == "*" {
			return out, true
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n > 9999 || part[0] == '+' {
			return semver{}, false
		}
		out.v[i] = n
		out.n = i + 1
	}
	return out, true
}

// next is the first version after every version with the given prefix:
// next of 3.12 is 3.13.0, of 20 is 21.0.0.
func (s semver) next() [3]int {
	if s.n == 0 {
		return [3]int{1 << 30}
	}
	var v [3]int
	copy(v[:s.n], s.v[:s.n])
	v[s.n-1]++
	return v
}

func cmpVersion(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

type bound struct {
	v    [3]int
	incl bool
	set  bool
}

// interval is the set of versions one alternative allows.
type interval struct{ lo, hi bound }

func (iv *interval) atLeast(v [3]int, incl bool) {
	if !iv.lo.set || cmpVersion(v, iv.lo.v) > 0 || (cmpVersion(v, iv.lo.v) == 0 && !incl) {
		iv.lo = bound{v, incl, true}
	}
}

func (iv *interval) below(v [3]int, incl bool) {
	if !iv.hi.set || cmpVersion(v, iv.hi.v) < 0 || (cmpVersion(v, iv.hi.v) == 0 && !incl) {
		iv.hi = bound{v, incl, true}
	}
}

func (iv interval) empty() bool {
	if !iv.lo.set || !iv.hi.set {
		return false
	}
	c := cmpVersion(iv.lo.v, iv.hi.v)
	return c > 0 || (c == 0 && !(iv.lo.incl && iv.hi.incl))
}

// versionRange is a parsed constraint: a union of intervals.
type versionRange []interval

var operators = []string{">=", "<=", "~>", "~=", "==", "!=", ">", "<", "=", "^", "~"}

// parseRange parses a constraint in any of the dialects above.
func parseRange(spec string) (versionRange, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty constraint")
	}
	if len(spec) > 200 {
		return nil, fmt.Errorf("constraint too long")
	}
	var out versionRange
	for _, alt := range strings.Split(strings.ReplaceAll(spec, "||", "|"), "|") {
		iv, err := parseAlternative(alt)
		if err != nil {
			return nil, err
		}
		out = append(out, iv)
	}
	return out, nil
}

func parseAlternative(alt string) (interval, error) {
	raw := strings.Fields(strings.ReplaceAll(alt, ",", " "))
	if len(raw) == 0 {
		return interval{}, fmt.Errorf("empty alternative")
	}
	// Join an operator written apart from its version: ">= 18", "~> 3.2".
	var toks []string
	for i := 0; i < len(raw); i++ {
		t := raw[i]
		if isOperator(t) && i+1 < len(raw) {
			t += raw[i+1]
			i++
		}
		toks = append(toks, t)
	}
	var iv interval
	for i := 0; i < len(toks); i++ {
		if i+2 < len(toks) && toks[i+1] == "-" { // hyphen range
			lo, ok1 := parseSemver(toks[i])
			hi, ok2 := parseSemver(toks[i+2])
			if !ok1 || !ok2 {
				return interval{}, fmt.Errorf("bad hyphen range %q", alt)
			}
			iv.atLeast(lo.v, true)
			if hi.n == 3 {
				iv.below(hi.v, true)
			} else {
				iv.below(hi.next(), false)
			}
			i += 2
			continue
		}
		if err := applyComparator(&iv, toks[i]); err != nil {
			return interval{}, err
		}
	}
	return iv, nil
}

func isOperator(t string) bool {
	for _, op := range operators {
		if t == op {
			return true
		}
	}
	return false
}

func applyComparator(iv *interval, tok string) error {
	op := ""
	for _, o := range operators {
		if strings.HasPrefix(tok, o) {
			op = o
			break
		}
	}
	s, ok := parseSemver(strings.TrimSpace(tok[len(op):]))
	if !ok {
		return fmt.Errorf("bad version in %q", tok)
	}
	switch op {
	case "!=":
		// Excluding one version never rules out a whole release line.
	case "", "=", "==":
		if s.n == 0 {
			return nil
		}
		iv.atLeast(s.v, true)
		if s.n == 3 {
			iv.below(s.v, true)
		} else {
			iv.below(s.next(), false)
		}
	case ">=":
		iv.atLeast(s.v, true)
	case ">":
		if s.n == 3 {
			iv.atLeast(s.v, false)
		} else {
			iv.atLeast(s.next(), true)
		}
	case "<":
		iv.below(s.v, false)
	case "<=":
		if s.n == 3 {
			iv.below(s.v, true)
		} else {
			iv.below(s.next(), false)
		}
	case "^":
		iv.atLeast(s.v, true)
		switch {
		case s.v[0] > 0 || s.n <= 1:
			iv.below([3]int{s.v[0] + 1}, false)
		case s.v[1] > 0 || s.n == 2:
			iv.below([3]int{0, s.v[1] + 1}, false)
		default:
			iv.below([3]int{0, 0, s.v[2] + 1}, false)
		}
	case "~":
		iv.atLeast(s.v, true)
		if s.n <= 1 {
			iv.below([3]int{s.v[0] + 1}, false)
		} else {
			iv.below([3]int{s.v[0], s.v[1] + 1}, false)
		}
	case "~>", "~=":
		// Pessimistic: the last given part may grow, the one before it not.
		iv.atLeast(s.v, true)
		if s.n <= 2 {
			iv.below([3]int{s.v[0] + 1}, false)
		} else {
			iv.below([3]int{s.v[0], s.v[1] + 1}, false)
		}
	}
	return nil
}

// allowsLine reports whether some version of the release line (a prefix
// such as "3.12" or "22") satisfies the range.
func (r versionRange) allowsLine(line string) bool {
	s, ok := parseSemver(line)
	if !ok || s.n == 0 {
		return false
	}
	for _, iv := range r {
		iv.atLeast(s.v, true)
		iv.below(s.next(), false)
		if !iv.empty() {
			return true
		}
	}
	return false
}

// pickLine returns the first of lines (in order of preference) that the
// constraint allows.
func pickLine(spec string, lines []string) (string, error) {
	r, err := parseRange(spec)
	if err != nil {
		return "", err
	}
	for _, l := range lines {
		if r.allowsLine(l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("no supported release (%s) satisfies it", strings.Join(lines, ", "))
}
