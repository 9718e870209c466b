#!/usr/bin/env bash
# Generate what the gateway serves from the proto, or check that the committed copies are
# current:
#   gateway/mem0stack.binpb            the descriptor set Envoy's transcoder reads (buf build,
#                                      with imports and google/rpc/error_details.proto)
#   docs/openapi/mem0stack.swagger.json  the OpenAPI description (protoc-gen-openapiv2)
#
#   gateway/generate.sh          write them
#   gateway/generate.sh --check  fail if a fresh generation differs from them, and check
#                                that the rendered Envoy configuration validates
# Needs .tools/bin/protoc-gen-openapiv2 (`make gateway-tools`) and the venv (`make setup`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
check=false
[ "${1:-}" = "--check" ] && check=true

out=.
if $check; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  mkdir -p "$out/gateway"
fi

# convert_grpc_status turns grpc-status-details-bin into JSON, so the error detail types must
# be in the set although no mem0stack proto imports them.
"$venv/bin/buf" build --as-file-descriptor-set --exclude-source-info \
  --path proto/mem0stack \
  --path proto/third_party/googleapis/google/rpc/status.proto \
  --path proto/third_party/googleapis/google/rpc/error_details.proto \
  -o "$out/gateway/mem0stack.binpb"
"$venv/bin/buf" generate --template gateway/buf.gen.openapi.yaml -o "$out"

if ! $check; then
  echo "generated gateway/mem0stack.binpb and docs/openapi/mem0stack.swagger.json"
  exit 0
fi

stale=()
for file in gateway/mem0stack.binpb docs/openapi/mem0stack.swagger.json; do
  cmp -s "$out/$file" "$file" || stale+=("$file")
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "stale generated gateway files (run 'make generate' and commit): ${stale[*]}" >&2
  exit 1
fi

# The template must render into a configuration this Envoy accepts, with the fresh descriptor.
"$venv/bin/python" gateway/render_envoy.py --descriptor "$out/gateway/mem0stack.binpb" \
  -o "$out/envoy.yaml"
"$venv/bin/envoy" --mode validate --disable-hot-restart -c "$out/envoy.yaml" --log-level error >/dev/null
echo "gateway descriptor, OpenAPI and Envoy configuration are up to date"
