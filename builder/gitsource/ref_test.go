package gitsource

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateRef(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want string // "" to accept, else an error substring
	}{
		{ref: ""},
		{ref: "main"},
		{ref: "HEAD"},
		{ref: "feature/login-form"},
		{ref: "release-1.2"},
		{ref: "v1.0.0"},
		{ref: "v1.0.0+build.5"},
		{ref: "user@team"},
		{ref: "a=b,c"},
		{ref: "refs/heads/main"},
		{ref: "refs/tags/v1"},
		{ref: "abc1234"},
		{ref: "0123456789abcdef0123456789abcdef01234567"},
		{ref: strings.Repeat("a", 255)},

		{ref: strings.Repeat("a", 256), want: "longer than 255"},
		{ref: "-main", want: "starts with '-'"},
		{ref: "--upload-pack=touch", want: "starts with '-'"},
		{ref: "--upload-pack=touch M", want: "space"},
		{ref: "a..b", want: "'..'"},
		{ref: "..", want: "'..'"},
		{ref: "a b", want: "space"},
		{ref: "a\tb", want: "control"},
		{ref: "a\nid", want: "control"},
		{ref: "a\rid", want: "control"},
		{ref: "a\x00", want: "control"},
		{ref: "a\x7f", want: "control"},
		{ref: "a~1", want: "'~'"},
		{ref: "a^", want: "'^'"},
		{ref: "a:b", want: "':'"},
		{ref: "a?", want: "'?'"},
		{ref: "a*", want: "'*'"},
		{ref: "a[0]", want: "'['"},
		{ref: `a\b`, want: `'\\'`},
		{ref: "a@{1}", want: "'{'"},
		{ref: "@", want: "'@' alone"},
		{ref: "main.lock", want: ".lock"},
		{ref: "a/b.lock/c", want: ".lock"},
		{ref: "main/", want: "ends with '/'"},
		{ref: "main.", want: "ends with '.'"},
		{ref: "/main", want: "empty path component"},
		{ref: "a//b", want: "empty path component"},
		{ref: ".hidden", want: "starts with '.'"},
		{ref: "a/.b", want: "starts with '.'"},
		{ref: "x;touch M", want: "';'"},
		{ref: "x;touch", want: "';'"},
		{ref: "$(touch M)", want: "'$'"},
		{ref: "$(id)", want: "'$'"},
		{ref: "`id`", want: "'`'"},
		{ref: "a|id", want: "'|'"},
		{ref: "a&&id", want: "'&'"},
		{ref: "${IFS}", want: "'$'"},
		{ref: "a'b", want: `'\''`},
		{ref: `a"b`, want: `'"'`},
		{ref: "a>b", want: "'>'"},
		{ref: "brünnen", want: "contains"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			err := ValidateRef(tc.ref)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error mentioning %q", tc.want)
			}
			if !errors.Is(err, ErrInvalidRef) {
				t.Errorf("error %q is not ErrInvalidRef", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x00") {
				t.Errorf("error %q holds control characters", err)
			}
		})
	}
}
