#!/bin/sh
# The image's gateway: render the Envoy configuration from the template and the descriptor
# of this very image's API (so the transcoder always matches the server it fronts), then
# become Envoy (exec: tini's child, so SIGTERM reaches Envoy itself).
#
#   mem0stack-gateway [render_envoy.py options]
#
# Addresses come from MEM0STACK_GATEWAY_LISTEN (0.0.0.0:8080 in the image),
# MEM0STACK_GATEWAY_ADMIN (127.0.0.1:9901) and MEM0STACK_GATEWAY_UPSTREAM (127.0.0.1:50051;
# a name that resolves to several replicas balances over all of them), or the options.
set -eu
config=${MEM0STACK_GATEWAY_CONFIG:-/tmp/envoy.yaml}
python /opt/mem0stack/gateway/render_envoy.py -o "$config" "$@"
exec envoy -c "$config" --disable-hot-restart --log-level "${MEM0STACK_GATEWAY_LOG_LEVEL:-warn}"
