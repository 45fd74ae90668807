package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDetectShowsAndWrites: `caddy paas detect` shows what a deploy would
// generate, --write makes it the repository's Dockerfile (never over one),
// and a tree with its own Dockerfile is said to build with it.
func TestDetectShowsAndWrites(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"go.mod": "module example.com/shop\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n",
		".dockerignore": "tmp/\n.env\n",
	})
	var out bytes.Buffer
	c := &cli{out: &out}
	if err := c.detect(dir, "", false); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "stack: go") || !strings.Contains(s, "FROM golang:${GO_VERSION}-bookworm AS build") {
		t.Errorf("detect output:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); !os.IsNotExist(err) {
		t.Fatal("detect without --write wrote a Dockerfile")
	}

	out.Reset()
	if err := c.detect(dir, "", true); err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil || !strings.Contains(string(df), "AS build") || !strings.HasPrefix(string(df), "# Written by `caddy paas detect --write`") {
		t.Fatalf("written Dockerfile: %v\n%s", err, df)
	}
	ignore, _ := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	if got := string(ignore); !strings.HasPrefix(got, "tmp/\n.env\n") || strings.Count(got, ".env\n") != 1 || !strings.Contains(got, ".git\n") {
		t.Errorf(".dockerignore after --write:\n%s", got)
	}

	// Now the tree has its own Dockerfile.
	out.Reset()
	c.json = true
	if err := c.detect(dir, "", false); err != nil {
		t.Fatal(err)
	}
	var ans detectAnswer
	if err := json.Unmarshal(out.Bytes(), &ans); err != nil || ans.Dockerfile != filepath.Join(dir, "Dockerfile") || ans.Stack != "" {
		t.Errorf("detect --json of a tree with a Dockerfile: %+v, %v", ans, err)
	}
	if err := c.detect(dir, "", true); err == nil || !strings.Contains(err.Error(), "own Dockerfile") {
		t.Errorf("--write over an existing Dockerfile: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "Dockerfile")); !bytes.Equal(after, df) {
		t.Error("the Dockerfile was changed")
	}

	// Bad input: clear errors.
	if err := c.detect(filepath.Join(dir, "missing"), "", false); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("a missing folder: %v", err)
	}
	empty := t.TempDir()
	if err := c.detect(empty, "", false); err == nil || !strings.Contains(err.Error(), "no known stack") {
		t.Errorf("an empty folder: %v", err)
	}
	if err := c.detect(empty, "cobol", false); err == nil {
		t.Error("an unknown --stack was accepted")
	}
}
