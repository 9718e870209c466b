"""The MCP bridge of mem0-stack: memory tools for AI assistants, over the gRPC API.

A thin client: it speaks the Model Context Protocol (the official ``mcp`` SDK) to an assistant,
over stdio or streamable HTTP, and turns each tool call into one call of the memory server
through ``mem0stack.AsyncClient``. It holds no data and no database connection.

    mem0stack mcp --user alice                    # stdio, for desktop assistants
    mem0stack mcp --http --port 8765              # streamable HTTP at http://127.0.0.1:8765/mcp
                                                  # and OpenMemory's /mcp/{client}/sse/{user}
"""

from __future__ import annotations

from mem0stack_mcp.config import (
    DEFAULT_HTTP_HOST,
    DEFAULT_HTTP_PORT,
    USER_HEADER,
    BridgeConfig,
    Caller,
    caller_for,
)
from mem0stack_mcp.http import HTTP_PATH, SSE_PATH, http_app
from mem0stack_mcp.server import GUIDELINES, RECENT_MEMORIES_URI, build_server

__all__ = [
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
    "GUIDELINES",
    "HTTP_PATH",
    "RECENT_MEMORIES_URI",
    "SSE_PATH",
    "USER_HEADER",
    "BridgeConfig",
    "Caller",
    "build_server",
    "caller_for",
    "run",
]


def run(config: BridgeConfig) -> None:
    """Serve until stdin closes (stdio) or until SIGINT/SIGTERM (HTTP)."""
    server = build_server(config)
    if not config.http:
        server.run("stdio")
        return
    import uvicorn

    # Stateless streamable HTTP: every request stands alone (its own headers, its own
    # identity), so any number of bridges can serve behind a load balancer and a restart
    # loses nothing. OpenMemory's SSE URLs are served beside it (mem0stack_mcp.http).
    uvicorn.run(
        http_app(server, config),
        host=config.host,
        port=config.port,
        log_level=server.settings.log_level.lower(),
    )
