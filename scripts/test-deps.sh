#!/usr/bin/env bash
# Installs the real parts the tests use besides Docker, where missing:
# Debian's busybox-static (the shell of the Go build image the tests make
# with docker import), git (git http-backend and upload-pack serve test
# repositories; git-shell restricts the SSH test's deploy key) and
# openssh-server (the sshd the deploy key test serves a repository with on
# loopback, with its own config and port).
set -euo pipefail

need=()
[ -x /bin/busybox ] || need+=(busybox-static)
command -v git >/dev/null 2>&1 || need+=(git)
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || need+=(openssh-server)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "test-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
