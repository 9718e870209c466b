"""Shared fixtures: a real PostgreSQL with pgvector, and real server processes.

PostgreSQL (pgserver) is started once per session, before any gRPC channel exists in this
process (it forks). Servers run as separate `mem0stack serve` processes and are reached
over real sockets. Tests isolate themselves by using a fresh user id each, so nothing needs
cleaning up between them; tests that need API keys get a database of their own, because
the first key turns development mode off for the whole database.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.servers import ServerProcess, free_port


@pytest.fixture(scope="session")
def pg_root_dsn() -> Iterator[str]:
    """A PostgreSQL server for the whole session: $MEM0STACK_TEST_DATABASE_URL or embedded."""
    external = os.environ.get("MEM0STACK_TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="mem0stack-test-pg-"))
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def make_database(pg_root_dsn: str):  # type: ignore[no-untyped-def]
    """Create a fresh, empty database on the session's server and return its DSN."""
    import asyncio

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"

        async def create() -> None:
            conn = await asyncpg.connect(pg_root_dsn)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        # Fixtures may run inside the test's event loop: use a thread with its own.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, create()).result()
        return _with_database(pg_root_dsn, name)

    return make


def _with_database(dsn: str, name: str) -> str:
    """The same server DSN pointing at database ``name``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server(make_database) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """One server in development mode (no API keys) on its own database."""
    process = ServerProcess(database_url=make_database("dev"), port=free_port())
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    """A scripted OpenAI-compatible LLM for a module's servers (``FakeLLM.server_env``)."""
    server = FakeLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def user_id() -> str:
    """A user no other test touches."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[object]:
    async with server.channel() as channel:
        from mem0stack.v1 import memory_service_pb2_grpc

        yield memory_service_pb2_grpc.MemoryServiceStub(channel)
