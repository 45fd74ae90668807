package containers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allowedDockerCalls is every Docker Engine API call the product may make.
// Adding one is a security decision (SECURITY.md, "Docker reach"): no
// plugins, no volumes or binds from the host, no privileged containers. Exec
// serves the dashboard's terminal only: a TTY in an app's own running
// replica, as its own user, for members allowed to reveal its secrets.
var allowedDockerCalls = []string{
	"Close", "ContainerCreate", "ContainerExecAttach", "ContainerExecCreate", "ContainerExecResize",
	"ContainerInspect", "ContainerList", "ContainerLogs", "ContainerStatsOneShot",
	"ContainerRemove", "ContainerStart", "ContainerStop", "ContainerWait", "Events",
	"ImageBuild", "ImageInspect", "ImageList", "ImagePull", "ImageRemove",
	"NegotiateAPIVersion", "NetworkCreate", "NetworkInspect", "Ping",
}

// TestOnlyAllowlistedDockerCalls reads this package's code: every call on
// the Docker client is on the allowlist, and no other package of the
// product imports the Docker client.
func TestOnlyAllowlistedDockerCalls(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			inner, ok := sel.X.(*ast.SelectorExpr)
			if !ok || inner.Sel.Name != "cli" {
				return true
			}
			seen++
			if !slices.Contains(allowedDockerCalls, sel.Sel.Name) {
				t.Errorf("%s: Docker call %s is not on the allowlist", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if seen < len(allowedDockerCalls) {
		t.Fatalf("found %d Docker calls: the scan is broken", seen)
	}
	// HostConfig fields that would reach the host must never be set.
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, banned := range []string{"Privileged", "Binds", "CapAdd", "PidMode", "IpcMode", "Devices", "Mounts:", "UsernsMode"} {
			if !strings.HasSuffix(f, "_test.go") && strings.Contains(string(data), banned) {
				t.Errorf("%s sets %s", f, banned)
			}
		}
	}
	// No other package talks to Docker directly.
	root := ".."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "integration" || d.Name() == "bench" || d.Name() == "containers" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(data), `"github.com/docker/docker/client"`) {
				t.Errorf("%s imports the Docker client: only package containers may", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
