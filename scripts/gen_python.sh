#!/usr/bin/env bash
# Generate the Python messages, gRPC stubs and mypy stubs from the buf image.
# buf has no grpc_python plugin, so grpc_tools.protoc runs on the image buf built.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
out=clients/python/src
image=$(mktemp --suffix=.binpb)
trap 'rm -f "$image"' EXIT

"$venv/bin/buf" build -o "$image"
rm -rf "$out/mem0stack/v1"
mkdir -p "$out"
files=$(cd proto && find mem0stack -name '*.proto' | sort)
# shellcheck disable=SC2086
"$venv/bin/python" -m grpc_tools.protoc \
  --descriptor_set_in="$image" \
  --plugin=protoc-gen-mypy="$venv/bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$venv/bin/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  $files
touch "$out/mem0stack/v1/__init__.py" "$out/mem0stack/v1/py.typed"
