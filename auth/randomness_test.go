package auth

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bannedRandImports are the packages whose numbers are predictable.
// SECURITY.md: tokens, codes and secrets use crypto/rand only.
var bannedRandImports = map[string]bool{"math/rand": true, "math/rand/v2": true}

// randImports returns the banned imports of one Go source.
func randImports(t *testing.T, name string, src any) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	var out []string
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
		}
		if bannedRandImports[p] {
			out = append(out, p)
		}
	}
	return out
}

// TestNoMathRand refuses math/rand in the non-test code of auth and admin.
func TestNoMathRand(t *testing.T) {
	checked := 0
	for _, dir := range []string{".", "../admin"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			if _, err := os.Stat(dir); os.IsNotExist(err) {
				t.Logf("%s does not exist: skipped", dir)
				continue
			}
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			checked++
			if bad := randImports(t, name, nil); len(bad) > 0 {
				t.Errorf("%s imports %v: use crypto/rand", name, bad)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no file checked")
	}
}

// TestRandImportsDetects shows the check above can fail.
func TestRandImportsDetects(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		banned    int
	}{
		{"crypto/rand", "package x\nimport \"crypto/rand\"\n", 0},
		{"math/rand", "package x\nimport \"math/rand\"\n", 1},
		{"math/rand/v2 renamed", "package x\nimport r \"math/rand/v2\"\n", 1},
		{"grouped, blank", "package x\nimport (\n\t\"fmt\"\n\t_ \"math/rand\"\n\tmr \"math/rand/v2\"\n)\n", 2},
		{"raw string path", "package x\nimport `math/rand`\n", 1},
		{"math/big only", "package x\nimport \"math/big\"\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := randImports(t, tc.name+".go", tc.src); len(got) != tc.banned {
				t.Fatalf("found %v, want %d banned imports", got, tc.banned)
			}
		})
	}
}
