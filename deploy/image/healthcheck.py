#!/opt/mem0stack/venv/bin/python
"""The image's health check: exit 0 when the service in this container answers, 1 when not.

    mem0stack-healthcheck                    gRPC health of the memory server (MEM0STACK_LISTEN)
    mem0stack-healthcheck grpc HOST:PORT     gRPC health at that address
    mem0stack-healthcheck http URL           any HTTP answer below 500 (Envoy's admin /ready,
                                             the MCP bridge)

The gRPC check asks for mem0stack.v1.MemoryService, which a draining server reports as
NOT_SERVING, so a container is unhealthy from the moment it stops taking new calls.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "mem0stack.v1.MemoryService"
TIMEOUT_S = 3.0


def local_target(listen: str) -> str:
    """Where to reach a server listening on ``listen`` from inside its container."""
    host, _, port = listen.rpartition(":")
    if host.strip("[]") in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def grpc_status(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=TIMEOUT_S
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else "grpc"
    address = argv[1] if len(argv) > 1 else ""
    if kind not in ("grpc", "http") or (kind == "http" and not address):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if kind == "http":
            code = http_status(address)
            print(f"{address}: HTTP {code}")
            return 0 if code < 500 else 1
        target = address or local_target(os.environ.get("MEM0STACK_LISTEN", "localhost:50051"))
        status = grpc_status(target)
        print(f"{target}: {status}")
        return 0 if status == "SERVING" else 1
    except (grpc.RpcError, OSError) as error:
        print(f"{address or kind}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
