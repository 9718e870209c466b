#!/usr/bin/env bash
# Run the Envoy gateway for development, in front of a server on this machine.
#
#   gateway/run_envoy.sh                  Envoy alone, in the foreground
#   gateway/run_envoy.sh -- CMD [ARG...]  Envoy in the background and CMD (the server) in the
#                                         foreground; Envoy stops when CMD ends (`make run`).
#                                         "mem0-stack is ready" is printed once REST through
#                                         Envoy answers (gateway/wait_ready.py)
#
# Ports: REST/JSON and gRPC on localhost:8080 (MEM0STACK_GATEWAY_LISTEN), Envoy's admin page on
# localhost:9901 (MEM0STACK_GATEWAY_ADMIN); the upstream is the server's MEM0STACK_LISTEN
# (localhost:50051 by default), and mem0's Platform routes go to the same host on the server's
# MEM0STACK_PLATFORM_PORT (50052 by default). The configuration is rendered into build/envoy.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
config=build/envoy.yaml

"$venv/bin/python" gateway/render_envoy.py \
  --upstream "${MEM0STACK_GATEWAY_UPSTREAM:-${MEM0STACK_LISTEN:-localhost:50051}}" -o "$config"
envoy=("$venv/bin/envoy" -c "$config" --disable-hot-restart --log-level warn)
echo "gateway: REST and gRPC on ${MEM0STACK_GATEWAY_LISTEN:-localhost:8080}," \
  "admin on ${MEM0STACK_GATEWAY_ADMIN:-localhost:9901}" >&2

if [ "${1:-}" != "--" ]; then
  exec "${envoy[@]}"
fi
shift
"${envoy[@]}" &
envoy_pid=$!
"$venv/bin/python" gateway/wait_ready.py &
waiter_pid=$!
trap 'kill "$waiter_pid" "$envoy_pid" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
status=0
"$@" || status=$?
exit "$status"
