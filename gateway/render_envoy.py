"""Render gateway/envoy.yaml.tmpl into a runnable Envoy configuration.

The template holds everything that does not vary; this fills in the addresses, the path of
the descriptor set (``gateway/mem0stack.binpb``, built by ``buf build``), the timeouts, and
what it finds in the descriptor itself: the services of the API (transcoded) and one route
per streaming method, so that a new service or a new server or client stream is served
right ("no overall timeout, only an idle timeout") without anyone editing the template.

    python gateway/render_envoy.py --listen localhost:8080 --upstream localhost:50051 -o envoy.yaml

Every option has an environment variable (MEM0STACK_GATEWAY_LISTEN, ..._ADMIN, ..._UPSTREAM,
..._DESCRIPTOR, ...), which is how ``gateway/run_envoy.sh`` and a container entry point set them.

TLS (docs/operations.md#tls): ``--tls-cert`` and ``--tls-key`` make the listener serve TLS
only, ``--tls-client-ca`` also requires client certificates; ``--upstream-ca`` makes Envoy
reach the server over TLS, verifying its certificate against that CA and the name
``--upstream-server-name`` (default: the upstream's host), and ``--upstream-cert`` /
``--upstream-key`` present a client certificate to a server that requires one. The files
are read by Envoy, at its start: paths are as Envoy sees them.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
from dataclasses import dataclass
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
# The server's mem0 Platform API port (MEM0STACK_PLATFORM_PORT), and the paths routed to it:
# mem0's, every one ending in '/' (RE2, matched against the whole path).
PLATFORM_PORT = 50052
PLATFORM_PATHS = (
    "/(?:v1/(?:ping|memories|entities|batch|event|events|exports|summary|feedback)"
    "|v2/(?:memories|entities)|v3/memories)/(?:[^?]*/)?"
)

_ROUTE = """\
                        - match: {{path: "{path}"}}
                          route:
                            cluster: mem0stack
                            timeout: 0s
                            idle_timeout: {idle}
                          typed_per_filter_config: *unbuffered
"""


@dataclass(frozen=True)
class ListenerTLS:
    """The listener's certificate chain and key; ``client_ca`` requires client certificates
    signed by it (mutual TLS)."""

    cert: str
    key: str
    client_ca: str | None = None


@dataclass(frozen=True)
class UpstreamTLS:
    """TLS to the server: the CA its certificate must chain to, the name it must carry
    (default: the upstream's host), and a client certificate if the server requires one."""

    ca: str
    server_name: str | None = None
    cert: str | None = None
    key: str | None = None


def _file(path: str) -> str:
    """A data source for ``path``, absolute (Envoy may run elsewhere), quoted for YAML."""
    return f"{{filename: {json.dumps(os.path.abspath(path))}}}"


def _indent(lines: list[str], spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in lines)


def listener_tls_yaml(tls: ListenerTLS | None) -> str:
    """The listener filter chain's ``transport_socket`` (empty: plaintext)."""
    if tls is None:
        return ""
    lines = [
        "transport_socket:",
        "  name: envoy.transport_sockets.tls",
        "  typed_config:",
        '    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3'
        ".DownstreamTlsContext",
    ]
    if tls.client_ca:
        lines.append("    require_client_certificate: true")
    lines += [
        "    common_tls_context:",
        # gRPC clients insist on h2 by ALPN; REST clients may take either.
        "      alpn_protocols: [h2, http/1.1]",
        "      tls_certificates:",
        f"        - certificate_chain: {_file(tls.cert)}",
        f"          private_key: {_file(tls.key)}",
    ]
    if tls.client_ca:
        lines += ["      validation_context:", f"        trusted_ca: {_file(tls.client_ca)}"]
    return _indent(lines, 10)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def upstream_tls_yaml(
    tls: UpstreamTLS | None, upstream_host: str, alpn: str = "h2", indent: int = 6
) -> str:
    """The cluster's ``transport_socket`` (empty: plaintext).

    Envoy checks a certificate's name only when told which: without
    ``match_typed_subject_alt_names`` any certificate the CA signed would do.
    """
    if tls is None:
        return ""
    name = tls.server_name or upstream_host
    san_type = "IP_ADDRESS" if _is_ip(name) else "DNS"
    lines = [
        "transport_socket:",
        "  name: envoy.transport_sockets.tls",
        "  typed_config:",
        '    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3'
        ".UpstreamTlsContext",
    ]
    if san_type == "DNS":  # SNI carries host names only, never addresses (RFC 6066)
        lines.append(f"    sni: {json.dumps(name)}")
    lines += [
        "    common_tls_context:",
        f"      alpn_protocols: [{alpn}]",
    ]
    if tls.cert and tls.key:
        lines += [
            "      tls_certificates:",
            f"        - certificate_chain: {_file(tls.cert)}",
            f"          private_key: {_file(tls.key)}",
        ]
    lines += [
        "      validation_context:",
        f"        trusted_ca: {_file(tls.ca)}",
        "        match_typed_subject_alt_names:",
        f"          - san_type: {san_type}",
        f"            matcher: {{exact: {json.dumps(name)}}}",
    ]
    return _indent(lines, 6)


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
    platform: str | None = None,
    descriptor_in_envoy: str | None = None,
    health_interval: float = 5.0,
    stream_idle_timeout: str = STREAM_IDLE_TIMEOUT,
    unary_timeout: str = UNARY_TIMEOUT,
    listener_tls: ListenerTLS | None = None,
    upstream_tls: UpstreamTLS | None = None,
) -> str:
    """The Envoy configuration, as YAML text.

    ``platform`` is the server's mem0 Platform API (default: the upstream's host, port
    :data:`PLATFORM_PORT`). ``descriptor`` is read here (for the streaming routes); Envoy
    loads the descriptor from
    ``descriptor_in_envoy``, by default the same file, which differs when Envoy runs in a
    container that mounts it elsewhere.
    """
    listen_host, listen_port = split_address(listen, resolve=True)
    admin_host, admin_port = split_address(admin, resolve=True)
    upstream_host, upstream_port = split_address(upstream, resolve=False)
    platform_host, platform_port = split_address(
        platform or f"{upstream_host}:{PLATFORM_PORT}", resolve=False
    )
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
        LISTENER_TLS=listener_tls_yaml(listener_tls),
        UPSTREAM_TLS=upstream_tls_yaml(upstream_tls, upstream_host),
        PLATFORM_HOST=platform_host,
        PLATFORM_PORT=platform_port,
        PLATFORM_PATHS=PLATFORM_PATHS,
        PLATFORM_UPSTREAM_TLS=upstream_tls_yaml(upstream_tls, platform_host, "http/1.1"),
    )


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default=env("MEM0STACK_GATEWAY_LISTEN", "localhost:8080"))
    parser.add_argument("--admin", default=env("MEM0STACK_GATEWAY_ADMIN", "localhost:9901"))
    parser.add_argument("--upstream", default=env("MEM0STACK_GATEWAY_UPSTREAM", "localhost:50051"))
    parser.add_argument(
        "--platform",
        default=env("MEM0STACK_GATEWAY_PLATFORM"),
        help="the server's mem0 Platform API, host:port [default: the upstream's host, "
        f"port MEM0STACK_PLATFORM_PORT or {PLATFORM_PORT}]",
    )
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
    tls = parser.add_argument_group("TLS (paths as Envoy sees them)")
    tls.add_argument(
        "--tls-cert",
        default=env("MEM0STACK_GATEWAY_TLS_CERT"),
        help="PEM certificate chain of the listener; with --tls-key it serves TLS only",
    )
    tls.add_argument("--tls-key", default=env("MEM0STACK_GATEWAY_TLS_KEY"), help="its key")
    tls.add_argument(
        "--tls-client-ca",
        default=env("MEM0STACK_GATEWAY_TLS_CLIENT_CA"),
        help="require client certificates signed by this CA (mutual TLS)",
    )
    tls.add_argument(
        "--upstream-ca",
        default=env("MEM0STACK_GATEWAY_UPSTREAM_CA"),
        help="reach the server over TLS, trusting this CA (for a server with "
        "MEM0STACK_TLS_CERT_FILE)",
    )
    tls.add_argument(
        "--upstream-server-name",
        default=env("MEM0STACK_GATEWAY_UPSTREAM_SERVER_NAME"),
        help="the name the server's certificate must carry [default: the upstream's host]",
    )
    tls.add_argument(
        "--upstream-cert",
        default=env("MEM0STACK_GATEWAY_UPSTREAM_CERT"),
        help="client certificate for a server that requires one (MEM0STACK_TLS_CLIENT_CA_FILE)",
    )
    tls.add_argument("--upstream-key", default=env("MEM0STACK_GATEWAY_UPSTREAM_KEY"))
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca needs the listener's own --tls-cert and --tls-key")
    if bool(args.upstream_cert) != bool(args.upstream_key):
        parser.error("--upstream-cert and --upstream-key go together")
    if (args.upstream_cert or args.upstream_server_name) and not args.upstream_ca:
        parser.error("TLS to the server needs --upstream-ca, the CA its certificate chains to")
    text = render(
        listen=args.listen,
        admin=args.admin,
        upstream=args.upstream,
        platform=args.platform
        or (
            f"{split_address(args.upstream, resolve=False)[0]}:{env('MEM0STACK_PLATFORM_PORT')}"
            if env("MEM0STACK_PLATFORM_PORT")
            else None
        ),
        descriptor=args.descriptor,
        descriptor_in_envoy=args.descriptor_in_envoy,
        health_interval=args.health_interval,
        listener_tls=ListenerTLS(args.tls_cert, args.tls_key, args.tls_client_ca or None)
        if args.tls_cert
        else None,
        upstream_tls=UpstreamTLS(
            args.upstream_ca,
            args.upstream_server_name or None,
            args.upstream_cert or None,
            args.upstream_key or None,
        )
        if args.upstream_ca
        else None,
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
