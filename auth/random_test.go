package auth

import (
	"encoding/base64"
	"testing"
)

func TestRandomString(t *testing.T) {
	for _, tc := range []struct {
		nbytes  int
		wantLen int // characters; 0 for an error
	}{
		{1, 2},
		{16, 22},
		{32, 43},
		{33, 44},
		{0, 0},
		{-1, 0},
	} {
		s, err := RandomString(tc.nbytes)
		if tc.wantLen == 0 {
			if err == nil {
				t.Errorf("RandomString(%d) = %q, want an error", tc.nbytes, s)
			}
			continue
		}
		if err != nil {
			t.Fatalf("RandomString(%d): %v", tc.nbytes, err)
		}
		if len(s) != tc.wantLen {
			t.Errorf("RandomString(%d) = %q, %d characters, want %d", tc.nbytes, s, len(s), tc.wantLen)
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != tc.nbytes {
			t.Errorf("RandomString(%d) = %q: not %d bytes in RawURLEncoding (%v)", tc.nbytes, s, tc.nbytes, err)
		}
	}

	// 100 values of 16 bytes: a repeat means the source is not random.
	seen := map[string]bool{}
	for range 100 {
		s, err := RandomString(16)
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("RandomString repeated %q", s)
		}
		seen[s] = true
	}
}
