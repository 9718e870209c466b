"""Erasing a user leaves nothing of what they stored, and touches no one else.

The check reads the database itself: every table with a user column is either erased
(store/erasure.py ERASE) or kept for a stated reason (KEPT), and after an erasure none of
the erased tables holds a row of the user.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from typing import Any

import asyncpg
import pytest

from mem0stack.v1 import memory_pb2, operation_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.store.erasure import ERASE, KEPT
from tests.support.servers import REPO, ServerProcess

# A row of a user (user_id), a webhook scoped to one (scope_user), a key reaching some (users).
USER_COLUMNS = ("user_id", "scope_user", "users")


async def _tables_with_users(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = 'public' AND column_name = ANY($1::text[])""",
            list(USER_COLUMNS),
        )
    finally:
        await conn.close()
    return {r["table_name"]: r["column_name"] for r in rows}


async def _rows_of(dsn: str, user_id: str) -> dict[str, int]:
    tables = await _tables_with_users(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", user_id)
            for table, column in tables.items()
            if table not in KEPT
        }
    finally:
        await conn.close()


async def _fill(stub: Any, user_id: str) -> None:
    """Something in every table a user's calls write to."""
    parent = f"users/{user_id}"
    created = await stub.CreateMemory(
        svc.CreateMemoryRequest(
            parent=parent,
            memory=memory_pb2.Memory(content=f"{user_id} lives in Porto"),
            request_id=uuid.uuid4().hex,
        )
    )
    created.content = f"{user_id} moved to Lisbon"
    await stub.UpdateMemory(
        svc.UpdateMemoryRequest(memory=created, update_mask={"paths": ["content"]})
    )
    accepted = await stub.AddMemories(
        svc.AddMemoriesRequest(
            parent=parent,
            messages=[memory_pb2.Message(role="user", content="I play the cello")],
            infer=False,
            async_mode=True,
        )
    )
    for _ in range(100):
        op = await stub.GetOperation(operation_pb2.GetOperationRequest(name=accepted.operation))
        if op.done:
            break
        await asyncio.sleep(0.1)


def _delete_user(server: ServerProcess, user_id: str) -> Any:
    """mem0's ``client.delete_users(user_id=...)``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.platform_port}/v2/entities/user/{user_id}/", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def test_every_table_with_a_user_is_erased_or_kept_for_a_reason(server: ServerProcess) -> None:
    tables = asyncio.run(_tables_with_users(server.database_url or ""))
    assert set(tables) == set(ERASE) | set(KEPT)


async def test_the_mem0_delete_user_route_erases_everything_of_theirs(
    server: ServerProcess, stub: Any
) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    for user in (alice, bob):
        await _fill(stub, user)
    dsn = server.database_url or ""
    before = await _rows_of(dsn, alice)
    for table in ("memories", "memory_revisions", "memory_events", "idempotency", "operations"):
        assert before[table] > 0, f"the scenario wrote nothing to {table}"
    bob_before = await _rows_of(dsn, bob)

    body = await asyncio.to_thread(_delete_user, server, alice)
    assert body["deleted_count"] == 2

    assert set((await _rows_of(dsn, alice)).values()) == {0}
    assert await _rows_of(dsn, bob) == bob_before
    found = await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{alice}"))
    assert not found.memories


def test_the_cli_erases_a_user(server: ServerProcess, stub: Any) -> None:  # type: ignore[no-untyped-def]
    carol = f"carol-{uuid.uuid4().hex[:8]}"

    async def fill() -> None:
        async with server.channel() as channel:
            from mem0stack.v1 import memory_service_pb2_grpc

            await _fill(memory_service_pb2_grpc.MemoryServiceStub(channel), carol)

    asyncio.run(fill())
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "users", "erase", carol, "--yes"],
        env={**os.environ, "MEM0STACK_DATABASE_URL": server.database_url or ""},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    said = " ".join(result.stderr.split())  # the console wraps at the terminal's width
    assert f"erased user {carol}" in said
    assert "2 memories" in said
    assert set(asyncio.run(_rows_of(server.database_url or "", carol)).values()) == {0}


def test_the_cli_refuses_a_bad_user_id() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "users", "erase", "a/b", "--yes"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "invalid user id" in result.stderr


@pytest.mark.parametrize("table", sorted(KEPT))
def test_kept_tables_say_why(table: str) -> None:
    assert len(KEPT[table]) > 20
