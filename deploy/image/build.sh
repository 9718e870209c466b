#!/usr/bin/env bash
# Build the mem0-stack image without a container registry (what `make image` runs):
#   1. the Debian packages podman needs, if missing (deploy/image/install-tools.sh, as root);
#   2. the base: Debian 12 by mmdebstrap from this machine's apt mirror (deploy/image/base.sh,
#      cached under build/image/);
#   3. the Python wheels, on this machine (deploy/image/wheels.sh);
#   4. podman build of deploy/Containerfile FROM that base, with no network at all.
# Prints how long each step took and the image's size, and writes them to
# build/image/build-stats.txt.
#
#   deploy/image/build.sh IMAGE      e.g. localhost/mem0stack:0.1.0
set -euo pipefail
cd "$(dirname "$0")/../.."
image=${1:?usage: deploy/image/build.sh IMAGE}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/image/containers.conf}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
stats=build/image/build-stats.txt
mkdir -p build/image
: >"$stats.partial"

step() { # NAME COMMAND...: run a step and record its duration
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "$name: $((SECONDS - start)) s" | tee -a "$stats.partial" >&2
}

step tools deploy/image/install-tools.sh mmdebstrap podman runc
base_start=$SECONDS
base=$(deploy/image/base.sh)
echo "base ($base): $((SECONDS - base_start)) s" | tee -a "$stats.partial" >&2
step wheels deploy/image/wheels.sh
step image podman build --quiet --format docker --network none \
  -f deploy/Containerfile --ignorefile deploy/Containerfile.dockerignore \
  --build-arg "BASE=$base" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -t "$image" .
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "$image: $((size / 1000000)) MB" | tee -a "$stats.partial" >&2
mv "$stats.partial" "$stats"
