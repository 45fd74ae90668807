package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/caddy-paas/caddy-paas/internal/testimage"
)

// Base images besides the Go build image (stack_test.go), made here with
// docker import as no image can be pulled:
//
//   - busybox:stable: Debian's busybox-static with a link for each of its
//     applets, /etc/passwd and /etc/group (root, nobody) and a 1777 /tmp.
//   - caddy:2-alpine: a STAND-IN for the official image that the generated
//     Dockerfiles of the static stacks build on, tagged so only inside the
//     test engine. It is real parts, not a fake: the busybox tree above
//     plus a stock Caddy (github.com/caddyserver/caddy/v2/cmd/caddy, the
//     version this module requires, built statically) at /usr/bin/caddy,
//     and the image's ENV, WORKDIR and CMD. Alpine's busybox has the
//     adduser and addgroup applets that the generated Dockerfiles call,
//     Debian's does not: the stand-in has small sh scripts in their place
//     (standinAddgroup, standinAdduser) that take the flags Alpine's take
//     and write /etc/passwd, /etc/shadow and /etc/group. It declares no
//     VOLUME (the real one declares /config and /data), so that the test's
//     containers leave no anonymous volume behind.
//
// Each is made once per test binary run, and not at all when the engine
// already has the tag (a real image of that name serves as well).
const (
	busyboxImage     = "busybox:stable"
	caddyAlpineImage = "caddy:2-alpine"
)

// busyboxChanges make the imported tree a usable busybox image.
var busyboxChanges = []string{
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	`CMD ["sh"]`,
}

// caddyChanges are those of the official caddy:2-alpine image, less its
// VOLUME /config /data.
var caddyChanges = []string{
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"ENV XDG_CONFIG_HOME=/config",
	"ENV XDG_DATA_HOME=/data",
	"EXPOSE 80",
	"EXPOSE 443",
	"EXPOSE 2019",
	"WORKDIR /srv",
	"LABEL paas.test.standin=stock-caddy-on-debian-busybox-static",
	`CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]`,
}

var (
	busyboxImageOnce sync.Once
	busyboxImageErr  error
	caddyImageOnce   sync.Once
	caddyImageErr    error
)

// requireBusyboxImage makes busybox:stable. Without Docker or
// busybox-static the test is skipped, and fails under CI=true.
func requireBusyboxImage(t *testing.T) {
	t.Helper()
	cli := requireDocker(t)
	busyboxImageOnce.Do(func() {
		busyboxImageErr = importIfMissing(cli, busyboxImage, busyboxChanges, func(tw *tar.Writer) error {
			return writeBusyboxTree(tw)
		})
	})
	if busyboxImageErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("making %s (needs busybox-static: scripts/test-deps.sh): %v", busyboxImage, busyboxImageErr)
		}
		t.Skipf("cannot make %s: %v", busyboxImage, busyboxImageErr)
	}
}

// requireCaddyImage makes the caddy:2-alpine stand-in. Without Docker or
// busybox-static the test is skipped, and fails under CI=true.
func requireCaddyImage(t *testing.T) {
	t.Helper()
	cli := requireDocker(t)
	caddyImageOnce.Do(func() {
		caddyImageErr = importIfMissing(cli, caddyAlpineImage, caddyChanges, writeCaddyTree)
	})
	if caddyImageErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("making the %s stand-in (needs busybox-static: scripts/test-deps.sh): %v", caddyAlpineImage, caddyImageErr)
		}
		t.Skipf("cannot make the %s stand-in: %v", caddyAlpineImage, caddyImageErr)
	}
}

// importIfMissing docker-imports the tree that write writes as ref, unless
// the engine has ref already.
func importIfMissing(cli *client.Client, ref string, changes []string, write func(*tar.Writer) error) error {
	ctx := context.Background()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return nil
	}
	if _, err := os.Stat(testimage.BusyboxPath); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := write(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("importing %s: %w", ref, err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("importing %s: %w", ref, err)
	}
	if bytes.Contains(out, []byte(`"error"`)) {
		return fmt.Errorf("importing %s: %s", ref, out)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("importing %s: %w (%s)", ref, err, out)
	}
	return nil
}

// tarTree writes the entries of a root filesystem, all owned by root.
type tarTree struct{ tw *tar.Writer }

func (tt tarTree) dir(name string, mode int64) error {
	return tt.tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: mode})
}

func (tt tarTree) file(name string, data []byte, mode int64) error {
	if err := tt.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := tt.tw.Write(data)
	return err
}

func (tt tarTree) link(name, target string) error {
	return tt.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
}

// writeBusyboxTree writes /bin/busybox with a link in /bin for each applet
// it lists (and /sbin/nologin, the shell of system users), minimal
// /etc/passwd, /etc/shadow and /etc/group (root and nobody), and /tmp 1777.
func writeBusyboxTree(tw *tar.Writer) error {
	tt := tarTree{tw}
	bb, err := os.ReadFile(testimage.BusyboxPath)
	if err != nil {
		return err
	}
	list, err := exec.Command(testimage.BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, d := range []string{"bin", "sbin", "etc", "home", "root", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin", "var"} {
		mode := int64(0o755)
		if d == "root" {
			mode = 0o700
		}
		if err := tt.dir(d, mode); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		if err := tt.dir(d, 0o1777); err != nil {
			return err
		}
	}
	if err := tt.file("bin/busybox", bb, 0o755); err != nil {
		return err
	}
	applets := 0
	for _, name := range strings.Fields(string(list)) {
		if name == "busybox" || strings.Contains(name, "/") {
			continue
		}
		if err := tt.link("bin/"+name, "busybox"); err != nil {
			return err
		}
		applets++
	}
	if applets < 100 {
		return fmt.Errorf("busybox --list named %d applets: not busybox-static?", applets)
	}
	if err := tt.link("sbin/nologin", "/bin/busybox"); err != nil {
		return err
	}
	for name, content := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":  "root:x:0:\nnobody:x:65534:\n",
	} {
		if err := tt.file(name, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return tt.file("etc/shadow", []byte("root:*::0:::::\nnobody:*::0:::::\n"), 0o640)
}

// writeCaddyTree is the caddy:2-alpine stand-in: the busybox tree, a stock
// static Caddy at /usr/bin/caddy, /etc/caddy with the official image's
// default Caddyfile, /config and /data, and adduser and addgroup.
func writeCaddyTree(tw *tar.Writer) error {
	bin, err := stockCaddy()
	if err != nil {
		return err
	}
	if err := writeBusyboxTree(tw); err != nil {
		return err
	}
	tt := tarTree{tw}
	for _, d := range []string{"etc/caddy", "usr/share", "usr/share/caddy", "config", "data", "srv"} {
		if err := tt.dir(d, 0o755); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
		mode int64
	}{
		{"usr/bin/caddy", bin, 0o755},
		{"etc/caddy/Caddyfile", []byte(":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n"), 0o644},
		{"usr/share/caddy/index.html", []byte("<!doctype html><title>Caddy works!</title>\n"), 0o644},
		{"usr/sbin/addgroup", []byte(standinAddgroup), 0o755},
		{"usr/sbin/adduser", []byte(standinAdduser), 0o755},
	} {
		if err := tt.file(f.name, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// stockCaddy builds the standard Caddy command of the version this module
// requires, static and stripped as the official image's is (a few seconds
// on a warm build cache; nothing is downloaded).
func stockCaddy() ([]byte, error) {
	dir, err := os.MkdirTemp("", "paas-stock-caddy")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "caddy")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/caddyserver/caddy/v2/cmd/caddy")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building stock caddy: %v: %s", err, out)
	}
	return os.ReadFile(bin)
}

// standinAddgroup takes what Alpine's busybox addgroup takes to make a
// group: addgroup [-S] [-g GID] GROUP.
const standinAddgroup = `#!/bin/sh
# Stand-in for Alpine's busybox addgroup (Debian's busybox has none).
usage() { echo "usage: addgroup [-S] [-g GID] GROUP" >&2; exit 1; }
gid=
while getopts Sg: opt; do
	case $opt in
	S) ;;
	g) gid=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
if grep -q "^$1:" /etc/group; then
	echo "addgroup: group '$1' in use" >&2
	exit 1
fi
if [ -z "$gid" ]; then
	gid=$(awk -F: 'BEGIN { m = 100 } $3 >= m && $3 < 60000 { m = $3 + 1 } END { print m }' /etc/group)
elif cut -d: -f3 /etc/group | grep -qx "$gid"; then
	echo "addgroup: gid '$gid' in use" >&2
	exit 1
fi
echo "$1:x:$gid:" >>/etc/group
`

// standinAdduser takes what Alpine's busybox adduser takes to make a user:
// adduser [-S] [-D] [-H] [-h HOME] [-s SHELL] [-g GECOS] [-u UID]
// [-G GROUP] USER. Without -G it makes a group of the user's name and id.
const standinAdduser = `#!/bin/sh
# Stand-in for Alpine's busybox adduser (Debian's busybox has none).
usage() { echo "usage: adduser [-S] [-D] [-H] [-h HOME] [-s SHELL] [-g GECOS] [-u UID] [-G GROUP] USER" >&2; exit 1; }
uid= group= home= shell= gecos="Linux User,,," system= nohome=
while getopts SDHh:s:g:u:G: opt; do
	case $opt in
	S) system=1 ;;
	D) ;;
	H) nohome=1 ;;
	h) home=$OPTARG ;;
	s) shell=$OPTARG ;;
	g) gecos=$OPTARG ;;
	u) uid=$OPTARG ;;
	G) group=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
user=$1
if grep -q "^$user:" /etc/passwd; then
	echo "adduser: user '$user' in use" >&2
	exit 1
fi
if [ -z "$uid" ]; then
	uid=$(awk -F: 'BEGIN { m = 100 } $3 >= m && $3 < 60000 { m = $3 + 1 } END { print m }' /etc/passwd)
elif cut -d: -f3 /etc/passwd | grep -qx "$uid"; then
	echo "adduser: uid '$uid' in use" >&2
	exit 1
fi
if [ -z "$group" ]; then
	addgroup -g "$uid" "$user" || exit 1
	group=$user
fi
gid=$(awk -F: -v g="$group" '$1 == g { print $3 }' /etc/group)
if [ -z "$gid" ]; then
	echo "adduser: unknown group $group" >&2
	exit 1
fi
[ -n "$home" ] || home=/home/$user
if [ -z "$shell" ]; then
	if [ -n "$system" ]; then shell=/sbin/nologin; else shell=/bin/sh; fi
fi
echo "$user:x:$uid:$gid:$gecos:$home:$shell" >>/etc/passwd
echo "$user:!:$(($(date +%s) / 86400)):0:99999:7:::" >>/etc/shadow
if [ -z "$nohome" ]; then
	mkdir -p "$home" && chown "$uid:$gid" "$home" && chmod 755 "$home"
fi
`
