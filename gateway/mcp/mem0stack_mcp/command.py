"""``mem0stack mcp``: the bridge's command, added to the server's CLI through the
``mem0stack.commands`` entry point group (the server never imports the bridge)."""

from __future__ import annotations

import click

from mem0stack_mcp.config import BridgeConfig


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
@click.option("--http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", envvar="MEM0STACK_MCP_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="MEM0STACK_MCP_PORT", type=int, default=8765, show_default=True)
def mcp_command(
    user: str | None,
    server: str,
    api_key: str | None,
    tls: bool | None,
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
            server=server, api_key=api_key, user=user, tls=tls, http=http, host=host, port=port
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    run(config)
