package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/caddy-paas/caddy-paas/internal/testimage"
)

// goBuildImage is the base image that the generated Dockerfile of a Go app
// builds in (FROM golang:${GO_VERSION}-bookworm with GO_VERSION 1.26 from
// the app's paas.json). No image can be pulled here, so the bench makes it
// as the integration tests do (integration/stack_test.go): this machine's
// Go installation and Debian's busybox-static (RUN's /bin/sh), with
// docker import. An image of that name made earlier, by the tests or an
// earlier run, is used as it is and kept.
const goBuildImage = testimage.GoBuildImage

// busyboxPath is the static busybox the image's /bin/sh links to.
const busyboxPath = testimage.BusyboxPath

// ensureGoBuildImage makes goBuildImage unless the engine has it, and
// returns its id and whether this run made it.
func ensureGoBuildImage(ctx context.Context) (id string, made bool, err error) {
	if out, err := dockerOutput(ctx, "image", "inspect", "--format", "{{.Id}}", goBuildImage); err == nil {
		return strings.TrimSpace(out), false, nil
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		return "", false, fmt.Errorf("needs %s (Debian's busybox-static; scripts/test-deps.sh installs it) to make %s: %w", busyboxPath, goBuildImage, err)
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return "", false, fmt.Errorf("finding GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(out))
	args := []string{"import"}
	for _, c := range testimage.GoImageChanges {
		args = append(args, "--change", c)
	}
	cmd := exec.CommandContext(ctx, "docker", append(args, "-", goBuildImage)...)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(testimage.WriteGoRootfs(pw, goroot)) }()
	cmd.Stdin = pr
	msg, err := cmd.CombinedOutput()
	pr.Close()
	if err != nil {
		return "", false, fmt.Errorf("docker import of %s: %w: %s", goBuildImage, err, truncate(string(msg), 400))
	}
	id, err = dockerOutput(ctx, "image", "inspect", "--format", "{{.Id}}", goBuildImage)
	if err != nil {
		return "", true, fmt.Errorf("inspecting the imported %s: %w", goBuildImage, err)
	}
	return strings.TrimSpace(id), true, nil
}
