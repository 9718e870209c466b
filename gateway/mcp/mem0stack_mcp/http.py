"""The bridge's HTTP app: streamable HTTP at ``/mcp``, and OpenMemory's URLs beside it.

OpenMemory's MCP clients are configured with a URL that names the client and the user:
``/mcp/{client}/sse/{user}`` (the SSE transport; its messages are posted under the same
URL, ``.../messages/``) or ``/mcp/{client}/http/{user}`` (streamable HTTP). Both are served, so
such a configuration only needs the host changed. The user in the URL counts as the
``X-Mem0stack-User`` header, under the same rules (:func:`~mem0stack_mcp.config.caller_for`):
with the bridge's own key it must be the bridge's ``--user``; a caller with its own key
reaches only the users that key may. The client name is accepted and not used.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from mem0stack_mcp.config import BridgeConfig

__all__ = ["HTTP_PATH", "OPENMEMORY_HTTP_PATH", "SSE_MESSAGES_PATH", "SSE_PATH", "http_app"]

HTTP_PATH = "/mcp"
"""Where the streamable HTTP endpoint is served."""
OPENMEMORY_HTTP_PATH = "/mcp/{client}/http/{user}"
SSE_PATH = "/mcp/{client}/sse/{user}"
SSE_MESSAGES_PATH = SSE_PATH + "/messages/"


def http_app(server: MCPServer[None], config: BridgeConfig) -> Starlette:
    """Streamable HTTP (stateless: every request stands alone, with its own headers and
    identity) at :data:`HTTP_PATH` and :data:`OPENMEMORY_HTTP_PATH`, SSE at
    :data:`SSE_PATH`. The SDK's apps provide each transport, with its DNS-rebinding
    protection on loopback hosts."""
    app = server.streamable_http_app(
        streamable_http_path=HTTP_PATH, stateless_http=True, host=config.host
    )
    (streamable,) = [r for r in app.routes if isinstance(r, Route) and r.path == HTTP_PATH]
    sse = server.sse_app(sse_path=SSE_PATH, message_path="/messages/", host=config.host)
    (connect,) = [r for r in sse.routes if isinstance(r, Route) and r.path == SSE_PATH]
    (messages,) = [r for r in sse.routes if isinstance(r, Mount)]

    async def sse_connection(request: Request) -> Response:
        # The transport tells the client to post its messages to <root_path>/messages/: made
        # the connection's own URL, every message names the user again, and each tool call
        # (which runs in the context of the request that posted it) reads it from there.
        request.scope["root_path"] = request.scope["path"].rstrip("/")
        response: Response = await connect.endpoint(request)
        return response

    routes: list[BaseRoute] = [
        Route(OPENMEMORY_HTTP_PATH, endpoint=streamable.endpoint),
        Route(SSE_PATH, endpoint=sse_connection, methods=["GET"]),
        Mount(SSE_MESSAGES_PATH, app=messages.app),
    ]
    app.router.routes.extend(routes)
    return app
