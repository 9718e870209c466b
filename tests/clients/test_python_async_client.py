"""The asyncio client (``mem0stack.AsyncClient``) against a live server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from mem0stack import AsyncClient, ErrorReason, Mem0StackError, MemoryRevision, RetryPolicy
from tests.support.servers import ServerProcess, free_port


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.target) as c:
        yield c


async def test_round_trip(client: AsyncClient, user_id: str) -> None:
    created = [await client.create(user_id, f"note {i}", metadata={"n": i}) for i in range(5)]
    listed = [m.name async for m in client.iter_memories(user_id, page_size=2)]
    assert listed == [m.name for m in reversed(created)]

    results = await client.search(user_id, "note 3", top_k=1, mode="keyword")
    assert [r.memory.name for r in results] == [created[3].name]

    updated = await client.update(created[0].name, content="note zero")
    assert updated.content == "note zero" and updated.metadata["n"] == 0
    await client.delete(created[0].name)
    events = [r.event async for r in client.iter_revisions(created[0].name)]
    assert events == [MemoryRevision.CREATE, MemoryRevision.UPDATE, MemoryRevision.DELETE]

    with pytest.raises(Mem0StackError) as gone:
        await client.get(created[0].name)
    assert gone.value.reason == ErrorReason.MEMORY_NOT_FOUND

    added = await client.add(user_id, "I drink my coffee black")
    assert added.events[0].memory.content == "I drink my coffee black"
    assert await client.delete_all(user_id) == 5


async def test_retries_unavailable() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.02)
    async with AsyncClient(f"127.0.0.1:{free_port()}", retry=policy) as dead:
        with pytest.raises(Mem0StackError) as failed:
            await dead.get("users/x/memories/y")
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
