package auth

import (
	"math"
	"regexp"
	"strings"
	"testing"
)

var recoveryRe = regexp.MustCompile(`^[2-9a-km-np-z]{5}-[2-9a-km-np-z]{5}$`)

func TestNewRecoveryCodes(t *testing.T) {
	if bits := float64(recoverySymbols) * math.Log2(float64(len(recoveryAlphabet))); bits < 50 {
		t.Fatalf("a code carries %.1f bits, want >= 50", bits)
	}
	if strings.ContainsAny(recoveryAlphabet, "01lo") || len(recoveryAlphabet) != 32 {
		t.Fatalf("alphabet %q: want 32 symbols without 0, 1, l, o", recoveryAlphabet)
	}
	codes, err := NewRecoveryCodes(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryRe.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx in the alphabet", c)
		}
		if seen[c] {
			t.Errorf("code %q repeated", c)
		}
		seen[c] = true
	}
	for _, n := range []int{0, -1, maxRecoveryN + 1} {
		if _, err := NewRecoveryCodes(n); err == nil {
			t.Errorf("NewRecoveryCodes(%d) succeeded", n)
		}
	}
}

// TestRecoveryCodesUseTheAlphabet: over 100 codes (1000 symbols) every one
// of the 32 symbols shows up; missing one has a probability below 1e-12.
func TestRecoveryCodesUseTheAlphabet(t *testing.T) {
	codes, err := NewRecoveryCodes(100)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(codes, "")
	for _, c := range recoveryAlphabet {
		if !strings.ContainsRune(all, c) {
			t.Errorf("symbol %q never used in 1000", c)
		}
	}
}

func TestMatchRecoveryCode(t *testing.T) {
	key := []byte("a key of 32 bytes, for the tests")
	codes, err := NewRecoveryCodes(5)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = HashRecoveryCode(key, c)
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")) || len(hashes[i]) != 64 {
			t.Fatalf("hash %q of %q", hashes[i], c)
		}
	}
	c := codes[2]
	flipped := []byte(c)
	flipped[0] = recoveryAlphabet[(strings.IndexByte(recoveryAlphabet, c[0])+1)%32]
	for _, tc := range []struct {
		name, code string
		index      int
	}{
		{"as shown", c, 2},
		{"upper case", strings.ToUpper(c), 2},
		{"without the dash", strings.ReplaceAll(c, "-", ""), 2},
		{"space for dash", strings.ReplaceAll(c, "-", " "), 2},
		{"surrounding space", "  " + c + "\n", 2},
		{"dashes everywhere", strings.Join(strings.Split(strings.ReplaceAll(c, "-", ""), ""), "-"), 2},
		{"first code", codes[0], 0},
		{"last code", codes[4], 4},
		{"one symbol changed", string(flipped), -1},
		{"one symbol missing", c[1:], -1},
		{"one symbol more", c + "2", -1},
		{"empty", "", -1},
		{"only a dash", "-", -1},
		{"a stored hash", hashes[2], -1},
		{"long input", strings.Repeat(c, 100), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			index, ok := MatchRecoveryCode(key, tc.code, hashes)
			if index != tc.index || ok != (tc.index >= 0) {
				t.Fatalf("MatchRecoveryCode(%q) = %d, %v; want %d", tc.code, index, ok, tc.index)
			}
		})
	}
	// A hash stored twice (it never is) matches at its first index.
	dup := append([]string{hashes[0]}, hashes...)
	if i, ok := MatchRecoveryCode(key, codes[0], dup); !ok || i != 0 {
		t.Errorf("a duplicated hash matched at %d, %v; want 0", i, ok)
	}
	if i, ok := MatchRecoveryCode([]byte("another key"), c, hashes); ok {
		t.Errorf("a code matched under another key (index %d)", i)
	}
	if i, ok := MatchRecoveryCode(key, c, nil); ok || i != -1 {
		t.Errorf("a code matched an empty list: %d, %v", i, ok)
	}
}
