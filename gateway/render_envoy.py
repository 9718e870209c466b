"""Render gateway/envoy.yaml.tmpl into a runnable Envoy configuration.

The template holds everything that does not vary; this fills in the addresses, the path of
the descriptor set (``gateway/mem0stack.binpb``, built by ``buf build``), the timeouts, and
what it finds in the descriptor itself: the services of the API (transcoded) and one route
per streaming method, so that a new service or a new server or client stream is served
right ("no overall timeout, only an idle timeout") without anyone editing the template.

    python gateway/render_envoy.py --listen localhost:8080 --upstream localhost:50051 -o envoy.yaml

Every option has an environment variable (MEM0STACK_GATEWAY_LISTEN, ..._ADMIN, ..._UPSTREAM,
..._DESCRIPTOR), which is how ``gateway/run_envoy.sh`` and a container entry point set them.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path
from string import Template

from google.protobuf import descriptor_pb2

GATEWAY = Path(__file__).resolve().parent
TEMPLATE = GATEWAY / "envoy.yaml.tmpl"
DESCRIPTOR = GATEWAY / "mem0stack.binpb"
PACKAGE = "mem0stack.v1"

# Must stay above the server's stream checkpoint interval, so that an idle Watch is never cut.
STREAM_IDLE_TIMEOUT = "300s"
UNARY_TIMEOUT = "120s"
# REST bodies: the server's own limit (grpc.max_receive_message_length). JSON is larger than
# the protobuf it becomes, so what passes here is never too large for the server.
MAX_REQUEST_BYTES = 32 * 1024 * 1024

_ROUTE = """\
                        - match: {{path: "{path}"}}
                          route:
                            cluster: mem0stack
                            timeout: 0s
                            idle_timeout: {idle}
                          typed_per_filter_config: *unbuffered
"""


def api_services(descriptor: Path, package: str = PACKAGE) -> dict[str, list[str]]:
    """Every service of ``package`` in the descriptor set, with the gRPC paths of its
    methods that stream in either direction."""
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(descriptor.read_bytes())
    services: dict[str, list[str]] = {}
    for file in files.file:
        if file.package != package:
            continue
        for service in file.service:
            name = f"{package}.{service.name}"
            services[name] = [
                f"/{name}/{method.name}"
                for method in service.method
                if method.server_streaming or method.client_streaming
            ]
    return dict(sorted(services.items()))


def split_address(address: str, *, resolve: bool) -> tuple[str, int]:
    """``host:port`` to (host, port); Envoy listeners need an IP, so ``resolve`` makes one."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if resolve:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            host = socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
    return host, int(port)


def render(
    *,
    listen: str,
    admin: str,
    upstream: str,
    descriptor: Path,
    descriptor_in_envoy: str | None = None,
    health_interval: float = 5.0,
    stream_idle_timeout: str = STREAM_IDLE_TIMEOUT,
    unary_timeout: str = UNARY_TIMEOUT,
) -> str:
    """The Envoy configuration, as YAML text.

    ``descriptor`` is read here (for the streaming routes); Envoy loads the descriptor from
    ``descriptor_in_envoy``, by default the same file, which differs when Envoy runs in a
    container that mounts it elsewhere.
    """
    listen_host, listen_port = split_address(listen, resolve=True)
    admin_host, admin_port = split_address(admin, resolve=True)
    upstream_host, upstream_port = split_address(upstream, resolve=False)
    services = api_services(descriptor)
    routes = "".join(
        _ROUTE.format(path=path, idle=stream_idle_timeout)
        for streams in services.values()
        for path in streams
    )
    return Template(TEMPLATE.read_text()).substitute(
        LISTEN_HOST=listen_host,
        LISTEN_PORT=listen_port,
        ADMIN_HOST=admin_host,
        ADMIN_PORT=admin_port,
        UPSTREAM_HOST=upstream_host,
        UPSTREAM_PORT=upstream_port,
        DESCRIPTOR=descriptor_in_envoy or str(descriptor.resolve()),
        HEALTH_INTERVAL=f"{health_interval:g}s",
        UNHEALTHY_INTERVAL=f"{min(health_interval, 1.0):g}s",
        STREAM_IDLE_TIMEOUT=stream_idle_timeout,
        UNARY_TIMEOUT=unary_timeout,
        MAX_REQUEST_BYTES=MAX_REQUEST_BYTES,
        STREAMING_ROUTES=routes.rstrip("\n"),
        SERVICES=", ".join(services),
    )


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default=env("MEM0STACK_GATEWAY_LISTEN", "localhost:8080"))
    parser.add_argument("--admin", default=env("MEM0STACK_GATEWAY_ADMIN", "localhost:9901"))
    parser.add_argument("--upstream", default=env("MEM0STACK_GATEWAY_UPSTREAM", "localhost:50051"))
    parser.add_argument(
        "--descriptor", type=Path, default=Path(env("MEM0STACK_GATEWAY_DESCRIPTOR", DESCRIPTOR))
    )
    parser.add_argument(
        "--descriptor-in-envoy",
        help="where Envoy finds the descriptor, if not at --descriptor (a container mount)",
    )
    parser.add_argument(
        "--health-interval",
        type=float,
        default=float(env("MEM0STACK_GATEWAY_HEALTH_INTERVAL", "5")),
        help="seconds between health checks of a healthy server (an unhealthy one: 1 s)",
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = render(
        listen=args.listen,
        admin=args.admin,
        upstream=args.upstream,
        descriptor=args.descriptor,
        descriptor_in_envoy=args.descriptor_in_envoy,
        health_interval=args.health_interval,
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
