#!/usr/bin/env bash
# Builds the images of the README's tour, hello:1 and hello:2, from the
# static test app in internal/testapp (FROM scratch: nothing is pulled).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=bin/hello
mkdir -p "$dir"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/app" ./internal/testapp
cp internal/testapp/Dockerfile "$dir/Dockerfile"
# The classic builder needs no buildx plugin and builds FROM scratch offline.
DOCKER_BUILDKIT=0 docker build -q -t hello:1 "$dir" >/dev/null 2>&1
DOCKER_BUILDKIT=0 docker build -q -t hello:2 --build-arg GREETING="hello v2 from" "$dir" >/dev/null 2>&1
echo "built images hello:1 and hello:2"
