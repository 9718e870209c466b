"""Run the MCP bridge as users do (the real ``mem0stack mcp`` CLI) and connect real
``ClientSession``s of the MCP SDK to it, over stdio, streamable HTTP and SSE."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tests.support.servers import REPO, free_port

BRIDGE = [sys.executable, "-m", "mem0stack_server.cli.main", "mcp"]
LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))


def _log(name: str) -> Path:
    return LOG_DIR / f"mem0stack-test-mcp-{name}-{os.getpid()}.log"


@asynccontextmanager
async def stdio_session(
    args: Sequence[str], env: Mapping[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """Spawn ``mem0stack mcp ARGS`` and yield an initialised session over its stdin/stdout."""
    params = StdioServerParameters(
        command=BRIDGE[0], args=[*BRIDGE[1:], *args], env=dict(env or {}), cwd=REPO
    )
    with _log("stdio").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


class HttpBridge:
    """``mem0stack mcp --http`` on a free port, as a subprocess."""

    def __init__(self, args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.args = [*args, "--http", "--port", str(self.port)]
        self.env = dict(env or {})
        self.log_path = _log(f"http-{self.port}")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEM0STACK_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*BRIDGE, *self.args],
                env={**env, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"bridge not listening after {timeout_s}s")

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    @asynccontextmanager
    async def session(
        self, api_key: str | None = None, user: str | None = None
    ) -> AsyncIterator[ClientSession]:
        """An initialised session whose requests carry ``Authorization`` and the user header."""
        headers = {}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        if user is not None:
            headers["X-Mem0stack-User"] = user
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            streamable_http_client(self.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session

    @asynccontextmanager
    async def openmemory_session(
        self, path: str, api_key: str | None = None
    ) -> AsyncIterator[ClientSession]:
        """A session at one of OpenMemory's URLs: ``/mcp/{client}/sse/{user}`` over SSE, or
        ``/mcp/{client}/http/{user}`` over streamable HTTP."""
        url = f"http://127.0.0.1:{self.port}{path}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if "/sse/" in path:
            async with (
                sse_client(url, headers=headers, timeout=30) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session
            return
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; its structured result."""
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None
    # The text content carries the same result, for clients that ignore structured output.
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


async def fails(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail as a tool error (not a protocol error); its message."""
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert result.is_error, f"{tool} succeeded: {result.structured_content}"
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))
