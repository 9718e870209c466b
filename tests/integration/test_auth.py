"""API keys: authentication, per-user authorization and isolation between users."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.keys import create_key, revoke_key
from tests.support.servers import REPO, ServerProcess, free_port


@pytest.fixture(scope="module")
def secured(make_database) -> Iterator[tuple[ServerProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A server whose database has keys: admin, alice, bob, and one revoked."""
    database_url = make_database("auth")
    keys = {
        "admin": create_key(database_url, "--admin", "--label", "ops"),
        "alice": create_key(database_url, "--user", "alice"),
        "bob": create_key(database_url, "--user", "bob", "--user", "bob-work"),
        "revoked": create_key(database_url, "--user", "alice"),
    }
    key_id = keys["revoked"].split("_")[1]
    subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "keys", "revoke", key_id],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    process = ServerProcess(database_url=database_url, port=free_port())
    process.start()
    yield process, keys
    process.stop()


async def _call(process: ServerProcess, key: str | None, method: str, request: object) -> object:
    async with process.channel(api_key=key) as channel:
        return await getattr(memory_service_pb2_grpc.MemoryServiceStub(channel), method)(request)


async def _fails(process: ServerProcess, key: str | None, method: str, request: object):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(process, key, method, request)
    return details_of(caught.value)


def _create(user: str, content: str) -> svc.CreateMemoryRequest:
    return svc.CreateMemoryRequest(
        parent=f"users/{user}", memory=memory_pb2.Memory(content=content)
    )


async def test_missing_and_bad_keys_are_unauthenticated(secured) -> None:  # type: ignore[no-untyped-def]
    process, keys = secured
    request = svc.ListMemoriesRequest(parent="users/alice")
    err = await _fails(process, None, "ListMemories", request)
    assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
    for bad in ("nonsense", keys["alice"][:-3] + "xyz", keys["revoked"]):
        err = await _fails(process, bad, "ListMemories", request)
        assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")


async def test_user_key_reaches_only_its_own_users(secured) -> None:  # type: ignore[no-untyped-def]
    process, keys = secured
    alice_memory = await _call(
        process, keys["alice"], "CreateMemory", _create("alice", "Alice's secret")
    )
    await _call(process, keys["bob"], "CreateMemory", _create("bob-work", "Bob's work note"))

    # Another user's collection: PERMISSION_DENIED, and nothing written.
    err = await _fails(process, keys["bob"], "CreateMemory", _create("alice", "planted by bob"))
    assert (err.code, err.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    err = await _fails(
        process,
        keys["bob"],
        "SearchMemories",
        svc.SearchMemoriesRequest(parent="users/alice", query="secret"),
    )
    assert err.code == grpc.StatusCode.PERMISSION_DENIED

    # Another user's memory by name: NOT_FOUND, exactly like a missing one.
    for method, request in [
        ("GetMemory", svc.GetMemoryRequest(name=alice_memory.name)),
        ("DeleteMemory", svc.DeleteMemoryRequest(name=alice_memory.name)),
        ("ListMemoryRevisions", svc.ListMemoryRevisionsRequest(name=alice_memory.name)),
        (
            "UpdateMemory",
            svc.UpdateMemoryRequest(memory=memory_pb2.Memory(name=alice_memory.name, content="x")),
        ),
    ]:
        err = await _fails(process, keys["bob"], method, request)
        assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND"), method

    # Alice's view is untouched; the admin sees both users.
    alice_list = await _call(
        process, keys["alice"], "ListMemories", svc.ListMemoriesRequest(parent="users/alice")
    )
    assert [m.content for m in alice_list.memories] == ["Alice's secret"]
    bob_list = await _call(
        process, keys["admin"], "ListMemories", svc.ListMemoriesRequest(parent="users/bob-work")
    )
    assert [m.content for m in bob_list.memories] == ["Bob's work note"]


async def test_revisions_record_the_key_that_made_the_change(secured) -> None:  # type: ignore[no-untyped-def]
    process, keys = secured
    memory = await _call(
        process, keys["alice"], "CreateMemory", _create("alice", "Runs on Tuesdays")
    )
    revisions = await _call(
        process,
        keys["alice"],
        "ListMemoryRevisions",
        svc.ListMemoryRevisionsRequest(name=memory.name),
    )
    assert revisions.revisions[0].actor == keys["alice"].split("_")[1]


async def test_health_and_reflection_need_no_key(secured) -> None:  # type: ignore[no-untyped-def]
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    process, _ = secured
    async with process.channel() as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="mem0stack.v1.MemoryService")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _eventually_fails(process: ServerProcess, key: str | None, timeout_s: float = 10.0):  # type: ignore[no-untyped-def]
    """Retry a list call until it fails (key changes reach a running server within
    auth_cache_s); returns the error's details."""
    request = svc.ListMemoriesRequest(parent="users/alice")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await _call(process, key, "ListMemories", request)
        except grpc.aio.AioRpcError as exc:
            return details_of(exc)
        assert time.monotonic() < deadline, "the call kept succeeding"
        await asyncio.sleep(0.1)


async def test_revoking_the_last_key_never_reopens_the_server(make_database) -> None:  # type: ignore[no-untyped-def]
    database_url = make_database("auth_last")
    process = ServerProcess(
        database_url=database_url, port=free_port(), env={"MEM0STACK_AUTH_CACHE_S": "0.2"}
    )
    process.log_path.unlink(missing_ok=True)
    process.start()
    try:
        # A database that never held a key starts in development mode, and says so.
        request = svc.ListMemoriesRequest(parent="users/alice")
        await _call(process, None, "ListMemories", request)
        assert "development mode" in process.log_path.read_text()

        # The first key ends development mode while the server runs.
        key = create_key(database_url, "--admin")
        err = await _eventually_fails(process, None)
        assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
        await _call(process, key, "ListMemories", request)

        # Revoking the last key leaves no way in: not without a key, not with the old one.
        revoke_key(database_url, key)
        err = await _eventually_fails(process, key)
        assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
        await asyncio.sleep(0.5)  # past auth_cache_s: a re-check would have reopened it
        err = await _fails(process, None, "ListMemories", request)
        assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
    finally:
        process.stop()

    # Nor does a restart: the database has held keys, so no key means no access.
    process.start()
    try:
        err = await _fails(process, None, "ListMemories", svc.ListMemoriesRequest(parent="users/a"))
        assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
    finally:
        process.stop()


async def test_auth_keys_refuses_development_mode_on_a_new_database(make_database) -> None:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("auth_keys"), port=free_port(), env={"MEM0STACK_AUTH": "keys"}
    )
    process.log_path.unlink(missing_ok=True)
    process.start()
    try:
        err = await _fails(process, None, "ListMemories", svc.ListMemoriesRequest(parent="users/a"))
        assert (err.code, err.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
        assert "development mode" not in process.log_path.read_text()
    finally:
        process.stop()
