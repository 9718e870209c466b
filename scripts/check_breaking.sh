#!/usr/bin/env bash
# buf breaking: the contract in the working tree against the one committed at BUF_AGAINST
# (default HEAD, the last commit of the branch: run before committing a proto change;
# set BUF_AGAINST=<ref> to compare with an older commit, e.g. the last release).
#
# The committed protos are taken with `git archive`; the vendored google/api and google/rpc
# protos are not in git (make proto-deps lays them out), so the same copy is used on both
# sides.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${VENV:-.venv}/bin/buf
against=${BUF_AGAINST:-HEAD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$against" buf.yaml proto | tar -x -C "$tmp"
mkdir -p "$tmp/proto"
cp -r proto/third_party "$tmp/proto/"
"$buf" breaking --against "$tmp"
echo "no breaking change in proto/ against $against"
