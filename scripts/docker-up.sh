#!/usr/bin/env bash
# Makes sure a Docker engine answers. Where none does, installs Debian's
# docker.io (when dockerd is missing) and starts dockerd in the background
# with its output in $DOCKERD_LOG, then waits until `docker info` answers.
set -euo pipefail

log=${DOCKERD_LOG:-/tmp/caddy-paas-dockerd.log}

if docker info >/dev/null 2>&1; then
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
	echo "docker-up: installing Debian's docker.io" >&2
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
	echo "docker-up: starting dockerd (log: $log)" >&2
	$sudo sh -c "nohup dockerd >>'$log' 2>&1 &"
fi

for _ in $(seq 1 120); do
	if docker info >/dev/null 2>&1; then
		exit 0
	fi
	sleep 0.5
done
echo "docker-up: the Docker engine did not answer within 60s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
