package builder

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-paas/caddy-paas/builder/archive"
)

// symlinks makes each link of links (name -> target) in dir.
func symlinks(t *testing.T, dir string, links map[string]string) {
	t.Helper()
	for name, target := range links {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

// tarTypes maps each entry of a tar to its type flag.
func tarTypes(t *testing.T, data []byte) map[string]byte {
	t.Helper()
	out := map[string]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h.Typeflag
	}
}

// upload runs TarUpload on dir and checks that the server's extractor
// accepts the result.
func upload(t *testing.T, dir string) ([]byte, UploadReport) {
	t.Helper()
	var buf bytes.Buffer
	report, err := TarUpload(dir, &buf)
	if err != nil {
		t.Fatalf("TarUpload: %v", err)
	}
	for name, typ := range tarTypes(t, buf.Bytes()) {
		if typ != tar.TypeReg && typ != tar.TypeDir {
			t.Errorf("upload entry %s has type %q, want a file or folder", name, typ)
		}
	}
	if _, err := archive.Extract(bytes.NewReader(buf.Bytes()), archive.FormatTar, filepath.Join(t.TempDir(), "x"), archive.Limits{}); err != nil {
		t.Errorf("the server would refuse the upload: %v", err)
	}
	return buf.Bytes(), report
}

func TestTarUploadFileLinkBecomesFile(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.go": "package main", "conf/app.toml": "port = 1"})
	symlinks(t, dir, map[string]string{
		"link.go":         "main.go",
		"app.toml":        "conf/app.toml",
		"conf/up.go":      "../main.go",
		"conf/chained.go": "../link.go",
	})
	symlinks(t, dir, map[string]string{"absolute.go": filepath.Join(dir, "main.go")})
	data, _ := upload(t, dir)
	got := tarFiles(t, data)
	for name, want := range map[string]string{
		"link.go": "package main", "app.toml": "port = 1", "conf/up.go": "package main",
		"conf/chained.go": "package main", "absolute.go": "package main", "main.go": "package main",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}

func TestTarUploadDirLinkBecomesFolder(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"Dockerfile": "FROM scratch\n", "shared/lib/util.go": "package lib", "shared/README": "shared",
		"shared/.env": "SECRET=1", "web/main.go": "package main",
	})
	symlinks(t, dir, map[string]string{
		"web/shared":        "../shared",
		"shared/lib/readme": "../README", // a link inside the followed folder
		"static":            "web",       // a folder holding a followed link
	})
	data, report := upload(t, dir)
	got := tarFiles(t, data)
	types := tarTypes(t, data)
	for name, want := range map[string]string{
		"web/shared/lib/util.go":    "package lib",
		"web/shared/README":         "shared",
		"web/shared/lib/readme":     "shared",
		"static/main.go":            "package main",
		"static/shared/lib/util.go": "package lib",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q (entries %v)", name, got[name], want, keys(got))
		}
	}
	for _, name := range []string{"web/shared/", "static/", "static/shared/lib/"} {
		if types[name] != tar.TypeDir {
			t.Errorf("%s has type %q, want a folder", name, types[name])
		}
	}
	for _, name := range []string{"shared/.env", "web/shared/.env", "static/shared/.env"} {
		if _, ok := got[name]; ok || !slices.Contains(report.LeftOut, name) {
			t.Errorf("%s uploaded, or not reported left out: %v", name, report.LeftOut)
		}
	}
}

func TestTarUploadRefusesLinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("CANARY"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		links map[string]string
		want  string
	}{
		"outside, absolute": {map[string]string{"conf/secret": outside}, "symbolic link conf/secret (-> " + outside + ") points outside the uploaded folder"},
		"outside, relative": {map[string]string{"up": "{outside}"}, "symbolic link up (-> ../../"},
		"outside folder":    {map[string]string{"etc": "/etc"}, "symbolic link etc (-> /etc) points outside"},
		"dangling":          {map[string]string{"lib/gone.go": "missing.go"}, "symbolic link lib/gone.go (-> missing.go) points to nothing"},
		"link loop":         {map[string]string{"l1": "l2", "l2": "l1"}, "symbolic link l1 (-> l2) is part of a loop of links"},
		"self":              {map[string]string{"self": "."}, "symbolic link self (-> .) points to a folder that holds it"},
		"parent":            {map[string]string{"src/pkg/up": "../.."}, "symbolic link src/pkg/up (-> ../..) points to a folder that holds it"},
		"crossed folders":   {map[string]string{"a/to-b": "../b", "b/to-a": "../a"}, "symbolic link a/to-b/to-a (-> ../a) points to a folder that holds it"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "a/x": "x", "b/y": "y", "src/pkg/z": "z"})
			for name, target := range tc.links {
				if target == "{outside}" {
					rel, err := filepath.Rel(dir, outside)
					if err != nil {
						t.Fatal(err)
					}
					tc.links[name] = rel
				}
			}
			symlinks(t, dir, tc.links)
			var buf bytes.Buffer
			_, err := TarUpload(dir, &buf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("TarUpload error = %v, want one containing %q", err, tc.want)
			}
			t.Log(err)
			if strings.HasPrefix(name, "outside") && !strings.Contains(err.Error(), "points outside the uploaded folder") {
				t.Errorf("TarUpload error = %v, want it to say the link points outside", err)
			}
			if strings.Contains(buf.String(), "CANARY") {
				t.Error("the outside file's content was packed")
			}
		})
	}
}

func TestTarUploadLeavesOutLocalFiles(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"Dockerfile": "FROM scratch\n", "main.go": "package main",
		".git/HEAD": "ref", "vendor/lib/.git": "gitdir: ../../.git/modules/lib", "vendor/lib/lib.go": "package lib",
		".env": "CANARY-1", ".env.local": "CANARY-2", "api/.env.production": "CANARY-3",
		"config.env": "kept", ".envrc": "kept", ".env.d/readme": "kept", ".env.example": "kept", "api/.env.sample": "kept",
		"ignored/x.txt": "ignored", ".dockerignore": "ignored\nbroken-link\n!.env\n",
	})
	symlinks(t, dir, map[string]string{
		"settings":    ".env",       // a link to a left-out file is left out
		"githead":     ".git/HEAD",  // as is one into .git
		"broken-link": "nowhere.go", // a link .dockerignore excludes is not followed
	})
	data, report := upload(t, dir)
	got := tarFiles(t, data)
	for _, want := range []string{"Dockerfile", ".dockerignore", "main.go", "vendor/lib/lib.go", "config.env", ".envrc", ".env.d/readme", ".env.example", "api/.env.sample"} {
		if _, ok := got[want]; !ok {
			t.Errorf("upload lacks %s: %v", want, keys(got))
		}
	}
	if strings.Contains(string(data), "CANARY") || strings.Contains(string(data), "gitdir") {
		t.Errorf("upload holds a local file: %v", keys(got))
	}
	for _, gone := range []string{".git/HEAD", "ignored/x.txt", "broken-link", "settings", "githead"} {
		if _, ok := got[gone]; ok {
			t.Errorf("upload has %s", gone)
		}
	}
	slices.Sort(report.LeftOut)
	want := []string{".env", ".env.local", ".git", "api/.env.production", "githead", "settings", "vendor/lib/.git"}
	if !slices.Equal(report.LeftOut, want) {
		t.Errorf("LeftOut = %v, want %v", report.LeftOut, want)
	}
}

// TestTarContextKeepsLinks checks that build contexts are not changed by
// what TarUpload does: links stay links, .env goes in unless ignored.
func TestTarContextKeepsLinks(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.go": "package main", ".env": "A=1"})
	symlinks(t, dir, map[string]string{"outside": "/etc", "dangling": "nowhere", "self": "."})
	var buf bytes.Buffer
	if err := TarContext(dir, &buf, "Dockerfile", nil, nil); err != nil {
		t.Fatal(err)
	}
	got := tarFiles(t, buf.Bytes())
	if got["outside"] != "-> /etc" || got["dangling"] != "-> nowhere" || got["self"] != "-> ." || got[".env"] != "A=1" {
		t.Errorf("build context: %v", got)
	}
}
