#!/usr/bin/env bash
# Installs the real parts the tests use besides Docker, where missing:
# Debian's busybox-static (the shell of the Go build image, and the
# busybox:stable and caddy:2-alpine stand-in images, that the tests make
# with docker import), git (git http-backend and upload-pack serve test
# repositories; git-shell restricts the SSH test's deploy key) and
# openssh-server (the sshd the deploy key test serves a repository with on
# loopback, with its own config and port); and pebble with
# pebble-challtestsrv (the ACME CA and DNS server of the ACME tests), built
# with go install into Go's bin folder, where the tests look for them; and
# Debian's chromium (the browser of the dashboard's end-to-end tests,
# driven with chromedp).
set -euo pipefail

# pebble and pebble-challtestsrv, at the version the tests expect: go
# install also puts pebble's module, whose test/ folder (config and
# certificates) the tests use, in the module cache.
pebble_version=v2.10.3
pebble_module=github.com/letsencrypt/pebble/v2
gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
	gopath="$(go env GOPATH)"
	gobin="${gopath%%:*}/bin"
fi
for cmd in pebble pebble-challtestsrv; do
	info="$(go version -m "$gobin/$cmd" 2>/dev/null || true)"
	if ! grep -q "mod[[:space:]]*$pebble_module[[:space:]]*$pebble_version[[:space:]]" <<<"$info"; then
		echo "test-deps: installing $cmd $pebble_version into $gobin" >&2
		(cd / && GOBIN="$gobin" GOFLAGS= go install "$pebble_module/cmd/$cmd@$pebble_version")
	fi
done
if [ ! -f "$(go env GOMODCACHE)/$pebble_module@$pebble_version/test/config/pebble-config.json" ]; then
	(cd / && GOFLAGS= go mod download "$pebble_module@$pebble_version")
fi

need=()
[ -x /bin/busybox ] || need+=(busybox-static)
command -v git >/dev/null 2>&1 || need+=(git)
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "test-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
