package dashboard

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The vendored npm dependencies: scripts/assets.sh (make assets) installs
// web/package-lock.json with npm ci and copies the packages' files into
// assets/vendor/, with a MANIFEST of what it copied. The output is
// committed, so no build needs Node.js; these tests fail when it no longer
// matches the lockfile or its MANIFEST, that is when someone changed the
// dependencies or a vendored file without running make assets.

const (
	webDir    = "web"
	vendorDir = "assets/vendor"
)

// manifest is assets/vendor/MANIFEST read: the packages (name: version
// and integrity) and the files (name: source and sha256).
type manifest struct {
	packages map[string][2]string
	files    map[string][2]string
}

func readManifest(path string) (*manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &manifest{packages: map[string][2]string{}, files: map[string][2]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "package":
			m.packages[f[1]] = [2]string{f[2], f[3]}
		case len(f) == 4 && f[0] == "file" && strings.HasPrefix(f[3], "sha256:"):
			m.files[f[1]] = [2]string{f[2], strings.TrimPrefix(f[3], "sha256:")}
		default:
			return nil, fmt.Errorf("%s:%d: cannot read %q", path, n, line)
		}
	}
	return m, sc.Err()
}

// exactVersion is a pinned npm version: no range, no tag.
var exactVersion = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// vendorProblems compares the npm package in web with the vendored files
// in vendor and their MANIFEST, and says what does not match.
func vendorProblems(web, vendor string) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	for file, into := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		data, err := os.ReadFile(filepath.Join(web, file))
		if err == nil {
			err = json.Unmarshal(data, into)
		}
		if err != nil {
			return []string{err.Error()}
		}
	}
	m, err := readManifest(filepath.Join(vendor, "MANIFEST"))
	if err != nil {
		return []string{err.Error()}
	}

	// Each dependency is pinned, to the version the lockfile has.
	for name, want := range pkg.Dependencies {
		if !exactVersion.MatchString(want) {
			bad("package.json: %s %q is not a pinned version", name, want)
		}
		if got := lock.Packages["node_modules/"+name].Version; got != want {
			bad("package.json wants %s %s, package-lock.json has %q: run npm install", name, want, got)
		}
	}
	// Each package of the lockfile is in the MANIFEST with its version
	// and integrity, and the MANIFEST has no other.
	locked := map[string]bool{}
	for key, p := range lock.Packages {
		name, ok := strings.CutPrefix(key, "node_modules/")
		if !ok {
			continue
		}
		locked[name] = true
		got, ok := m.packages[name]
		switch {
		case !ok:
			bad("%s %s is in package-lock.json, not in the MANIFEST: run make assets", name, p.Version)
		case got[0] != p.Version:
			bad("%s: package-lock.json has version %s, the MANIFEST %s: run make assets", name, p.Version, got[0])
		case got[1] != p.Integrity:
			bad("%s %s: package-lock.json has integrity %s, the MANIFEST %s: run make assets", name, p.Version, p.Integrity, got[1])
		}
	}
	for name := range m.packages {
		if !locked[name] {
			bad("%s is in the MANIFEST, not in package-lock.json: run make assets", name)
		}
	}
	// Each file has the content the MANIFEST says, and comes from one of
	// its packages; each vendored file is in the MANIFEST.
	for name, f := range m.files {
		data, err := os.ReadFile(filepath.Join(vendor, name))
		if err != nil {
			bad("%s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != f[1] {
			bad("%s: sha256 %s, the MANIFEST says %s: the file was changed after make assets", name, got, f[1])
		}
		if !slices.ContainsFunc(sortedKeys(m.packages), func(p string) bool { return strings.HasPrefix(f[0], p+"/") }) {
			bad("%s comes from %s, which is no package of the MANIFEST", name, f[0])
		}
	}
	entries, err := os.ReadDir(vendor)
	if err != nil {
		return append(problems, err.Error())
	}
	for _, e := range entries {
		if _, ok := m.files[e.Name()]; !ok && e.Name() != "MANIFEST" {
			bad("%s is in %s but not in its MANIFEST", e.Name(), vendor)
		}
	}
	slices.Sort(problems)
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestVendoredAssetsAreFresh(t *testing.T) {
	t.Parallel()
	for _, p := range vendorProblems(webDir, vendorDir) {
		t.Error(p)
	}
	// What the terminal page loads is there.
	m, err := readManifest(filepath.Join(vendorDir, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"xterm.js", "xterm.css", "addon-fit.js"} {
		if _, ok := m.files[name]; !ok {
			t.Errorf("the MANIFEST lists no %s", name)
		}
	}
	for _, name := range []string{"@xterm/xterm", "@xterm/addon-fit"} {
		if _, ok := m.packages[name]; !ok {
			t.Errorf("the MANIFEST lists no package %s", name)
		}
	}
}

// TestVendorCheckFailsWhenStale runs the check on a copy of the package
// and the vendored files, changed as a forgetful update would leave them.
func TestVendorCheckFailsWhenStale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, web, vendor string)
		want   string
	}{
		{"as committed", func(*testing.T, string, string) {}, ""},
		{"a vendored file edited", func(t *testing.T, _, vendor string) {
			appendTo(t, filepath.Join(vendor, "xterm.js"), "\n// patched by hand\n")
		}, "xterm.js: sha256 "},
		{"a hash in the MANIFEST changed", func(t *testing.T, _, vendor string) {
			replaceIn(t, filepath.Join(vendor, "MANIFEST"), regexp.MustCompile(`(file addon-fit\.js \S+ sha256:)[0-9a-f]{4}`), "${1}0000")
		}, "addon-fit.js: sha256 "},
		{"a vendored file missing", func(t *testing.T, _, vendor string) {
			if err := os.Remove(filepath.Join(vendor, "xterm.css")); err != nil {
				t.Fatal(err)
			}
		}, "xterm.css: open "},
		{"a file not in the MANIFEST", func(t *testing.T, _, vendor string) {
			appendTo(t, filepath.Join(vendor, "extra.js"), "// new\n")
		}, "extra.js is in "},
		{"a new version in the lockfile", func(t *testing.T, web, _ string) {
			replaceIn(t, filepath.Join(web, "package-lock.json"), regexp.MustCompile(`("node_modules/@xterm/xterm": \{\s*"version": ")[^"]+`), "${1}9.9.9")
		}, "@xterm/xterm: package-lock.json has version 9.9.9"},
		{"a new integrity in the lockfile", func(t *testing.T, web, _ string) {
			replaceIn(t, filepath.Join(web, "package-lock.json"), regexp.MustCompile(`("integrity": "sha512-)[A-Za-z0-9]{4}`), "${1}AAAA")
		}, "package-lock.json has integrity sha512-AAAA"},
		{"a new package in the lockfile", func(t *testing.T, web, _ string) {
			replaceIn(t, filepath.Join(web, "package-lock.json"), regexp.MustCompile(`"node_modules/@xterm/xterm": \{`),
				`"node_modules/left-pad": {"version": "1.3.0", "integrity": "sha512-x"}, "node_modules/@xterm/xterm": {`)
		}, "left-pad 1.3.0 is in package-lock.json, not in the MANIFEST"},
		{"a range in package.json", func(t *testing.T, web, _ string) {
			replaceIn(t, filepath.Join(web, "package.json"), regexp.MustCompile(`"@xterm/xterm": "`), `"@xterm/xterm": "^`)
		}, `package.json: @xterm/xterm "^`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			web, vendor := filepath.Join(t.TempDir(), "web"), filepath.Join(t.TempDir(), "vendor")
			copyFiles(t, webDir, web, "package.json", "package-lock.json")
			entries, err := os.ReadDir(vendorDir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			copyFiles(t, vendorDir, vendor, names...)
			tc.change(t, web, vendor)
			problems := vendorProblems(web, vendor)
			if tc.want == "" {
				if len(problems) != 0 {
					t.Errorf("the unchanged copy has problems: %q", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("the check found %q, nothing with %q", problems, tc.want)
			}
		})
	}
}

func copyFiles(t *testing.T, from, to string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// replaceIn replaces the first match of re in the file; a pattern that
// matches nothing fails the test (it would test nothing).
func replaceIn(t *testing.T, path string, re *regexp.Regexp, repl string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loc := re.FindSubmatchIndex(data)
	if loc == nil {
		t.Fatalf("%s: nothing matches %s", path, re)
	}
	out := append([]byte{}, data[:loc[0]]...)
	out = re.Expand(out, []byte(repl), data, loc)
	out = append(out, data[loc[1]:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
