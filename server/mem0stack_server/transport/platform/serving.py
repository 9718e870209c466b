"""Serve the mem0 Platform application with uvicorn inside the server's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Generator

import uvicorn

from mem0stack_server.config import Settings
from mem0stack_server.transport.platform.app import create_app
from mem0stack_server.transport.platform.routes import Services
from mem0stack_server.transport.platform.ui import resolve_ui_dir

log = logging.getLogger("mem0stack.platform")


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the composition root owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class PlatformServer:
    """The running HTTP listener; :meth:`stop` lets requests in flight finish."""

    def __init__(self, server: _Server, task: asyncio.Task[None], port: int) -> None:
        self.server = server
        self.task = task
        self.port = port

    async def stop(self, grace_s: float) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace_s + 1)
        except TimeoutError:
            self.server.force_exit = True
            await self.task


async def start_platform(
    services: Services, settings: Settings, host: str
) -> PlatformServer | None:
    """Listen on ``host:settings.platform_port`` (None when the port is 0).

    The socket is bound here, so a port in use stops start-up with the OS's error instead of
    uvicorn's exit. With TLS configured for gRPC, this listener serves TLS with the same
    files (read at start-up).
    """
    if settings.platform_port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, settings.platform_port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    tls: dict[str, object] = {}
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        tls = {
            "ssl_certfile": str(settings.tls_cert_file),
            "ssl_keyfile": str(settings.tls_key_file),
        }
        if settings.tls_client_ca_file is not None:
            tls |= {
                "ssl_ca_certs": str(settings.tls_client_ca_file),
                "ssl_cert_reqs": ssl.CERT_REQUIRED,
            }
    ui_dir = resolve_ui_dir(settings.ui_dir)
    config = uvicorn.Config(
        create_app(services, ui_dir),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=int(settings.grace_period_s) or None,
        **tls,  # type: ignore[arg-type]
    )
    # uvicorn's own start and stop lines would name a "server process" beside ours; its
    # warnings and errors still reach the log.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="platform-http")
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the mem0 platform listener stopped during start-up")
        await asyncio.sleep(0.01)
    log.info(
        "mem0 platform API",
        extra={
            "address": f"{host}:{settings.platform_port}",
            "web_ui": str(ui_dir) if ui_dir is not None else "not built (make ui)",
        },
    )
    return PlatformServer(server, task, settings.platform_port)
