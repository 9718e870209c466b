"""``mem0stack mcp``: the bridge's command, added to the server's CLI through the
``mem0stack.commands`` entry point group (the server never imports the bridge)."""

from __future__ import annotations

from pathlib import Path

import click

from mem0stack import TLSConfig
from mem0stack_mcp.config import BridgeConfig

_PEM = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("mcp")
@click.option("--user", envvar="MEM0STACK_USER", help="The user whose memories the tools reach.")
@click.option(
    "--server",
    envvar=["MEM0STACK_SERVER", "MEM0STACK_TARGET"],
    default="localhost:50051",
    show_default=True,
    help="The memory server's gRPC address (env MEM0STACK_SERVER).",
)
@click.option("--api-key", envvar="MEM0STACK_API_KEY", help="API key (env MEM0STACK_API_KEY).")
@click.option("--tls/--no-tls", default=None, help="Force TLS to the server on or off.")
@click.option(
    "--ca-cert",
    envvar="MEM0STACK_CA_CERT",
    type=_PEM,
    help="PEM file of the CA that signed the server's certificate (a private CA; env "
    "MEM0STACK_CA_CERT); implies --tls.",
)
@click.option(
    "--client-cert",
    envvar="MEM0STACK_CLIENT_CERT",
    type=_PEM,
    help="PEM certificate for a server that requires client certificates (mutual TLS; env "
    "MEM0STACK_CLIENT_CERT); needs --client-key, implies --tls.",
)
@click.option(
    "--client-key",
    envvar="MEM0STACK_CLIENT_KEY",
    type=_PEM,
    help="PEM private key of --client-cert (env MEM0STACK_CLIENT_KEY).",
)
@click.option("--http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", envvar="MEM0STACK_MCP_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="MEM0STACK_MCP_PORT", type=int, default=8765, show_default=True)
def mcp_command(
    user: str | None,
    server: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    http: bool,
    host: str,
    port: int,
) -> None:
    """Run the MCP bridge: memory tools for AI assistants (see docs/mcp.md).

    \b
    Examples:
      mem0stack mcp --user alice                  # stdio, for desktop assistants
      mem0stack mcp --http --port 8765            # http://127.0.0.1:8765/mcp; callers send
                                                  # Authorization and X-Mem0stack-User headers
    """
    from mem0stack_mcp import run

    try:
        config = BridgeConfig(
            server=server,
            api_key=api_key,
            user=user,
            tls=_tls(tls, ca_cert, client_cert, client_key),
            http=http,
            host=host,
            port=port,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    run(config)


def _tls(
    tls: bool | None, ca_cert: Path | None, client_cert: Path | None, client_key: Path | None
) -> bool | TLSConfig | None:
    """``--tls/--no-tls`` as given, or the SDK's TLSConfig when a certificate file is given."""
    if (client_cert is None) != (client_key is None):
        raise ValueError("--client-cert and --client-key go together")
    if ca_cert is None and client_cert is None:
        return tls
    if tls is False:
        raise ValueError("--ca-cert and --client-cert are for TLS connections; leave out --no-tls")
    return TLSConfig(
        root_certificates=ca_cert.read_bytes() if ca_cert else None,
        private_key=client_key.read_bytes() if client_key else None,
        certificate_chain=client_cert.read_bytes() if client_cert else None,
    )
