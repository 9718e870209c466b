#!/usr/bin/env bash
# Install the Debian packages that building and running the image need, only those missing:
# mmdebstrap (the base root filesystem), podman, buildah and runc (build and run), and
# docker-compose (validating deploy/compose.yaml). Installing needs root (apt-get); without
# root the missing packages are named and the script fails.
#
#   deploy/image/install-tools.sh [COMMAND...]   default: mmdebstrap podman buildah runc
set -euo pipefail

# command -> Debian package
declare -A package=(
  [mmdebstrap]=mmdebstrap [podman]=podman [buildah]=buildah [runc]=runc
  [docker-compose]=docker-compose
)
commands=("$@")
[ ${#commands[@]} -gt 0 ] || commands=(mmdebstrap podman buildah runc)

missing=()
for command in "${commands[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package[$command]}")
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing: ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
# An empty package list means apt-get update never ran on this machine.
if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
