"""The built web UI (ui/dist), served by the platform listener at ``/``.

Envoy sends ``/``, ``/index.html``, ``/favicon.svg`` and ``/assets/...`` of the gateway port
here; every other path stays with the API. The UI routes with the URL's fragment
(``/#/users/alice/memories``), so no path of its own can collide with a REST path.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

#: ui/dist of the source checkout this module belongs to (an editable install).
CHECKOUT_DIST = Path(__file__).resolve().parents[4] / "ui" / "dist"

# index.html names the content-hashed bundles of one build: it must be fetched anew each
# time, while the hashed assets never change under their names.
_NO_CACHE = {"cache-control": "no-cache"}
_IMMUTABLE = "public, max-age=31536000, immutable"
# The app loads only its own scripts and styles and talks only to its own origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def resolve_ui_dir(configured: Path | None, cwd: Path | None = None) -> Path | None:
    """The directory to serve; None: no UI.

    The configured one, else a built ui/dist under the working directory (where `make run`
    runs, like the default data directory), else the one of the checkout this module is
    installed from.
    """
    if configured is not None:
        candidates = [configured]
    else:
        candidates = [(cwd or Path.cwd()) / "ui" / "dist", CHECKOUT_DIST]
    return next((d for d in candidates if (d / "index.html").is_file()), None)


class _Assets(StaticFiles):
    """Static files with a long cache lifetime: Vite names every asset by its content hash."""

    def file_response(self, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = _IMMUTABLE
        return response


def ui_routes(directory: Path) -> list[BaseRoute]:
    """Routes serving the UI built into ``directory`` (which holds index.html)."""
    index = directory / "index.html"

    async def page(request: Request) -> Response:
        return FileResponse(
            index,
            media_type="text/html",
            headers={
                **_NO_CACHE,
                "content-security-policy": _CSP,
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            },
        )

    routes: list[BaseRoute] = [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/index.html", page, methods=["GET", "HEAD"]),
    ]
    favicon = directory / "favicon.svg"
    if favicon.is_file():

        async def icon(request: Request) -> Response:
            return FileResponse(favicon, media_type="image/svg+xml", headers=_NO_CACHE)

        routes.append(Route("/favicon.svg", icon, methods=["GET", "HEAD"]))
    if (directory / "assets").is_dir():
        routes.append(Mount("/assets", app=_Assets(directory=directory / "assets"), name="assets"))
    return routes
