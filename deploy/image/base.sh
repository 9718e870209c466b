#!/usr/bin/env bash
# Build the image's base: a Debian 12 (bookworm) root filesystem made by mmdebstrap from the
# Debian mirror this machine's apt uses, imported into podman. No container registry is
# involved. The root filesystem is cached under build/image/ by the hash of what goes into
# it (package list, mirror lines, this script), and the imported image is tagged with that
# hash, so a second run does nothing.
#
#   deploy/image/base.sh    prints the base image's name (localhost/mem0stack-base:12-<hash>)
#
# Needs root (mmdebstrap, podman) and CONTAINERS_CONF set as make/image.mk sets it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/image
mkdir -p "$out"

# What the image needs from Debian: Python 3.11 (the server's version) with venv, and tini
# as PID 1. libstdc++6 is named although apt already brings it: onnxruntime, grpcio and
# tokenizers link against it, and the image must not depend on apt being there.
packages=python3,python3-venv,tini,libstdc++6
# The suites of Debian bookworm that apt here fetches from, as one-line sources entries.
mapfile -t mirrors < <(
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' |
    awk '$2 ~ /^bookworm/ {print "deb " $1 " " $2 " " $3}' | sort -u
)
if [ ${#mirrors[@]} -eq 0 ]; then
  echo "no Debian bookworm sources in this machine's apt configuration" >&2
  exit 1
fi

hash=$( { echo "$packages"; printf '%s\n' "${mirrors[@]}"; cat "$0"; } | sha256sum | cut -c1-12)
name=localhost/mem0stack-base:12-$hash
rootfs=$out/base-$hash.tar

if podman image exists "$name"; then
  echo "$name"
  exit 0
fi
if [ ! -s "$rootfs" ]; then
  echo "building the base root filesystem $rootfs (${#mirrors[@]} Debian sources from apt) ..." >&2
  # Documentation, manual pages and translations are left out; the copyright files stay.
  mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$rootfs.partial" "${mirrors[@]}" >&2
  mv "$rootfs.partial" "$rootfs"
fi
podman import --quiet --change 'CMD ["/bin/bash"]' "$rootfs" "$name" >/dev/null
echo "$name"
