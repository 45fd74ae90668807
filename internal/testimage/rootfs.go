// Package testimage makes the base images that tests and benchmarks need
// where no image can be pulled: a Go build image from this machine's Go
// installation and Debian's busybox-static, for docker import.
package testimage

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// GoBuildImage is the name generated Go Dockerfiles build in (with
// GO_VERSION 1.26).
const GoBuildImage = "golang:1.26-bookworm"

// BusyboxPath is the static busybox the image's /bin/sh links to.
const BusyboxPath = "/bin/busybox"

// GoImageChanges are the docker import changes that make the root
// filesystem a usable Go build image, offline.
var GoImageChanges = []string{
	"ENV PATH=/usr/local/go/bin:/bin",
	"ENV HOME=/root",
	"ENV GOTOOLCHAIN=local",
	"ENV GOPROXY=off",
	"ENV GOFLAGS=-mod=mod",
}

// WriteGoRootfs writes a root filesystem as a tar stream: GOROOT at
// /usr/local/go, busybox as /bin/sh, CA certificates, and writable /tmp
// and /root.
func WriteGoRootfs(w io.Writer, goroot string) error {
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
	if err := file("bin/busybox", BusyboxPath, 0o755); err != nil {
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
