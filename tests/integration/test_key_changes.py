"""Keys made and revoked while a server runs take effect within the documented window.

The first key ends development (open) mode, and a revoked key stops working, both within
MEM0STACK_AUTH_CACHE_S (docs/architecture.md, docs/operations.md) and without a restart.
The test uses a window of 1 s and allows one more second for the calls themselves.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from mem0stack.v1 import admin_service_pb2, admin_service_pb2_grpc, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.keys import create_key, revoke_key
from tests.support.servers import ServerProcess, free_port

CACHE_S = 1.0
SLACK_S = 1.0


async def outcome(server: ServerProcess, key: str | None, user: str) -> str:
    """OK, or the ErrorInfo reason of a ListMemories on ``users/{user}``."""
    async with server.channel(key) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        try:
            await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user}"))
        except grpc.aio.AioRpcError as exc:
            return details_of(exc).reason
    return "OK"


async def seconds_until(server: ServerProcess, key: str | None, user: str, wanted: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < CACHE_S + 10:
        if await outcome(server, key, user) == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"still not {wanted} after {CACHE_S + 10} s")


async def test_first_key_ends_open_mode_and_revocations_apply_within_the_window(
    make_database,  # type: ignore[no-untyped-def]
) -> None:
    database_url = make_database("key_changes")
    server = ServerProcess(
        database_url=database_url,
        port=free_port(),
        env={"MEM0STACK_AUTH_CACHE_S": str(CACHE_S)},
    )
    server.start()
    try:
        assert await outcome(server, None, "alice") == "OK"  # development mode

        admin = create_key(database_url, "--admin")
        alice = create_key(database_url, "--user", "alice")
        carol = create_key(database_url, "--user", "carol")
        assert await seconds_until(server, None, "alice", "API_KEY_MISSING") <= CACHE_S + SLACK_S
        # ...for good: it does not come back after more windows.
        await asyncio.sleep(2 * CACHE_S)
        assert await outcome(server, None, "alice") == "API_KEY_MISSING"
        assert await outcome(server, alice, "alice") == "OK"  # now cached by the server
        assert await outcome(server, carol, "carol") == "OK"

        # Revoked with the CLI (another process, straight in the database).
        revoke_key(database_url, alice)
        assert await seconds_until(server, alice, "alice", "API_KEY_INVALID") <= CACHE_S + SLACK_S

        # Revoked through AdminService, on the running server.
        async with server.channel(admin) as channel:
            await admin_service_pb2_grpc.AdminServiceStub(channel).RevokeApiKey(
                admin_service_pb2.RevokeApiKeyRequest(name=f"apiKeys/{carol.split('_')[1]}")
            )
        assert await seconds_until(server, carol, "carol", "API_KEY_INVALID") <= CACHE_S + SLACK_S
        # The admin key is untouched, and open mode stays over.
        assert await outcome(server, admin, "carol") == "OK"
        assert await outcome(server, None, "carol") == "API_KEY_MISSING"
    finally:
        server.stop()
