"""The route table of the mem0 Platform API, as a Starlette application.

Every path ends in ``/`` as mem0's do. Unknown paths and methods answer mem0's error shape
too (404 and 405 with ``{"detail": ...}``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mem0stack_server.transport.platform import routes
from mem0stack_server.transport.platform.routes import Handler, Services, endpoint
from mem0stack_server.transport.platform.ui import ui_routes

#: (path, methods, handler), in matching order: fixed paths before ``{memory_id}``.
ROUTES: list[tuple[str, list[str], Handler]] = [
    ("/v1/ping/", ["GET"], routes.ping),
    ("/v3/memories/add/", ["POST"], routes.add),
    ("/v3/memories/search/", ["POST"], routes.search),
    ("/v3/memories/", ["POST"], routes.list_paged),
    ("/v2/memories/search/", ["POST"], routes.search_plain),
    ("/v2/memories/", ["POST"], routes.list_plain),
    ("/v1/memories/search/", ["POST"], routes.search_plain),
    ("/v1/memories/", ["POST"], routes.add),
    ("/v1/memories/", ["GET"], routes.list_plain),
    ("/v1/memories/", ["DELETE"], routes.delete_all),
    ("/v1/memories/{memory_id}/history/", ["GET"], routes.history),
    ("/v1/memories/{memory_id}/", ["GET"], routes.get_memory),
    ("/v1/memories/{memory_id}/", ["PUT"], routes.update_memory),
    ("/v1/memories/{memory_id}/", ["DELETE"], routes.delete_memory),
    ("/v1/entities/", ["GET"], routes.entities),
    ("/v1/entities/{entity_type}/{entity_id}/", ["DELETE"], routes.delete_entity),
    ("/v2/entities/{entity_type}/{entity_id}/", ["DELETE"], routes.delete_entity),
    ("/v1/batch/", ["PUT"], routes.batch_update),
    ("/v1/batch/", ["DELETE"], routes.batch_delete),
    ("/v1/event/{event_id}/", ["GET"], routes.event),
]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = {404: "Not found.", 405: f"Method {request.method} not allowed."}.get(
        exc.status_code, str(exc.detail)
    )
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def create_app(services: Services, ui_dir: Path | None = None) -> Starlette:
    """mem0's routes, and the web UI built into ``ui_dir`` (None: no UI)."""
    routes: list[BaseRoute] = [
        Route(path, endpoint(services, handler), methods=methods)
        for path, methods, handler in ROUTES
    ]
    if ui_dir is not None:
        routes += ui_routes(ui_dir)
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
