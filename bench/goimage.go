package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goBuildImage is the base image that the generated Dockerfile of a Go app
// builds in (FROM golang:${GO_VERSION}-bookworm with GO_VERSION 1.26 from
// the app's paas.json). No image can be pulled here, so the bench makes it
// as the integration tests do (integration/stack_test.go): this machine's
// Go installation and Debian's busybox-static (RUN's /bin/sh), with
// docker import. An image of that name made earlier, by the tests or an
// earlier run, is used as it is and kept.
const goBuildImage = "golang:1.26-bookworm"

// busyboxPath is the static busybox the image's /bin/sh links to.
const busyboxPath = "/bin/busybox"

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
	cmd := exec.CommandContext(ctx, "docker", "import",
		"--change", "ENV PATH=/usr/local/go/bin:/bin",
		"--change", "ENV HOME=/root",
		"--change", "ENV GOTOOLCHAIN=local",
		"--change", "ENV GOPROXY=off",
		"--change", "ENV GOFLAGS=-mod=mod",
		"-", goBuildImage)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeGoRootfs(pw, goroot)) }()
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

// writeGoRootfs writes a root filesystem: GOROOT at /usr/local/go, busybox
// as /bin/sh, CA certificates, and writable /tmp and /root. It is the
// integration tests' writeGoRootfs.
func writeGoRootfs(w io.Writer, goroot string) error {
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: mode})
	}
	file := func(name, src string, mode int64) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "etc", "etc/ssl", "etc/ssl/certs", "usr", "usr/local", "root", "src"} {
		if err := dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return err
	}
	if err := file("bin/busybox", busyboxPath, 0o755); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}); err != nil {
		return err
	}
	if err := file("etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644); err != nil {
		return err
	}
	err := filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
		if rel == "test" || rel == "doc" || rel == "api" || strings.HasPrefix(rel, "pkg/obj") {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(path)
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join("usr/local/go", rel))
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
