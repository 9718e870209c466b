#!/usr/bin/env bash
# Generate the Go and TypeScript clients from the contract (buf.gen.go.yaml, buf.gen.yaml).
# The plugins must be installed first (`make clients-tools`: .tools/bin and clients/ts/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
for plugin in .tools/bin/protoc-gen-go .tools/bin/protoc-gen-go-grpc clients/ts/node_modules/.bin/protoc-gen-es; do
  [ -x "$plugin" ] || { echo "missing $plugin: run 'make clients-tools'" >&2; exit 1; }
done
# Generated files only: the hand-written wrappers live beside them.
rm -f clients/go/mem0stack/v1/*.pb.go
rm -rf clients/ts/src/gen
"$venv/bin/buf" generate --template buf.gen.go.yaml
"$venv/bin/buf" generate --template buf.gen.yaml
