"""The access audit log records who read, searched, exported or deleted whose memories."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.store.access_log import Access, AccessLogStore
from tests.support.keys import create_key
from tests.support.servers import REPO, ServerProcess, free_port


@pytest.fixture(scope="module")
def audited(make_database) -> Iterator[tuple[ServerProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    database_url = make_database("audit")
    keys = {
        "alice": create_key(database_url, "--user", "alice"),
        "bob": create_key(database_url, "--user", "bob"),
    }
    process = ServerProcess(database_url=database_url, port=free_port())
    process.start()
    yield process, keys
    process.stop()


def _audit(process: ServerProcess, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "audit", "list", "--json", *args],
        env={**os.environ, "MEM0STACK_DATABASE_URL": process.database_url or ""},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


def _until(process: ServerProcess, count: int, *args: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        entries = _audit(process, *args)
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.3)


async def test_reads_and_denied_attempts_are_recorded_with_key_and_request_id(audited) -> None:  # type: ignore[no-untyped-def]
    process, keys = audited
    alice_key_id = keys["alice"].split("_")[1]
    bob_key_id = keys["bob"].split("_")[1]
    async with process.channel(api_key=keys["alice"]) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        memory = await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent="users/alice", memory=memory_pb2.Memory(content="Alice lives in Porto")
            )
        )
        await stub.GetMemory(svc.GetMemoryRequest(name=memory.name))
        await stub.SearchMemories(
            svc.SearchMemoriesRequest(parent="users/alice", query="where?"),
            metadata=[("x-request-id", "req-audit-1")],
        )
        async for _ in stub.ExportMemories(
            streams_pb2.ExportMemoriesRequest(parent="users/alice"),
            # The channel's key helper covers unary calls only.
            metadata=[("authorization", f"Bearer {keys['alice']}")],
        ):
            pass
        await stub.DeleteMemory(svc.DeleteMemoryRequest(name=memory.name))
    async with process.channel(api_key=keys["bob"]) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.ListMemories(svc.ListMemoriesRequest(parent="users/alice"))

    entries = await asyncio.to_thread(_until, process, 5, "--user", "alice")
    seen = [(e["key_id"], e["action"], e["outcome"]) for e in reversed(entries)]
    assert seen == [
        (alice_key_id, "read", "OK"),
        (alice_key_id, "search", "OK"),
        (alice_key_id, "export", "OK"),
        (alice_key_id, "delete", "OK"),
        (bob_key_id, "list", "PERMISSION_DENIED"),
    ]
    search = next(e for e in entries if e["action"] == "search")
    assert search["request_id"] == "req-audit-1"
    assert search["peer"]
    assert search["method"] == "SearchMemories"
    # No content in the log, and filters narrow it.
    assert "Porto" not in json.dumps(entries)
    assert [e["action"] for e in await asyncio.to_thread(_audit, process, "--key", bob_key_id)] == [
        "list"
    ]
    assert await asyncio.to_thread(_audit, process, "--user", "nobody") == []


async def test_entries_older_than_the_retention_are_purged(make_database) -> None:  # type: ignore[no-untyped-def]
    from mem0stack_server.store.database import create_pool, migrate

    pool = await create_pool(make_database("auditpurge"), min_size=1, max_size=2, ef_search=40)
    try:
        await migrate(pool, embedding_model="m", embedding_dim=4)
        store = AccessLogStore(pool)
        now = datetime.now(UTC)
        old = Access("u", "k", "read", "GetMemory", "OK", "r1", "p", now - timedelta(days=100))
        new = Access("u", "k", "read", "GetMemory", "OK", "r2", "p", now)
        await store.insert([old, new])
        assert await store.purge_before(now - timedelta(days=90)) == 1
        assert [r["request_id"] for r in await store.list(user_id="u")] == ["r2"]
    finally:
        await pool.close()


def test_bad_since_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "audit", "list", "--since", "soon"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "30m, 24h or 7d" in result.stderr


def _platform(process: ServerProcess, method: str, path: str, key: str, body: Any = None) -> int:
    """A request to the server's mem0 Platform routes; returns the HTTP status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{process.platform_port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_mem0_platform_routes_are_recorded_too(audited) -> None:  # type: ignore[no-untyped-def]
    """mem0's routes reach the same memories: their reads, searches and deletes (and the
    attempts a key was denied) are in the log like gRPC calls."""
    process, keys = audited
    carol = create_key(process.database_url or "", "--user", "carol")
    carol_key_id = carol.split("_")[1]
    bob_key_id = keys["bob"].split("_")[1]
    assert (
        _platform(
            process,
            "POST",
            "/v1/memories/",
            carol,
            {
                "messages": [{"role": "user", "content": "Carol keeps bees"}],
                "user_id": "carol",
                "infer": False,
            },
        )
        == 200
    )
    assert (
        _platform(
            process,
            "POST",
            "/v2/memories/search/",
            carol,
            {"query": "bees", "filters": {"user_id": "carol"}},
        )
        == 200
    )
    assert _platform(process, "GET", "/v1/memories/?user_id=carol", carol) == 200
    assert _platform(process, "GET", "/v1/memories/?user_id=carol", keys["bob"]) == 403

    entries = _until(process, 3, "--user", "carol")
    seen = [(e["key_id"], e["action"], e["method"], e["outcome"]) for e in reversed(entries)]
    assert seen == [
        (carol_key_id, "search", "mem0.search_plain", "OK"),
        (carol_key_id, "list", "mem0.list_plain", "OK"),
        (bob_key_id, "list", "mem0.list_plain", "PERMISSION_DENIED"),
    ]
