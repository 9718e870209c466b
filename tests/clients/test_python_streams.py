"""The Python clients' stream helpers: watch, export and import."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from mem0stack import AsyncClient, Client, ErrorReason, Mem0StackError
from mem0stack.v1 import streams_pb2
from tests.support.servers import ServerProcess


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.target) as c:
        yield c


def test_watch_sees_changes_and_resumes_from_a_cursor(client: Client, user_id: str) -> None:
    seen: list[streams_pb2.WatchMemoriesResponse] = []
    ready = threading.Event()

    def consume() -> None:
        for message in client.watch(user_id):
            ready.set()
            if not message.checkpoint:
                seen.append(message)
            if len(seen) == 2:
                return

    # The server sends headers once the watch is established; a first create after a
    # short wait is then seen.
    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait(0.5)
    first = client.create(user_id, "first fact")
    client.create(user_id, "second fact")
    thread.join(20)
    assert [m.change.memory.content for m in seen] == ["first fact", "second fact"]
    assert seen[0].change.memory.name == first.name

    client.create(user_id, "third fact")
    resumed = next(m for m in client.watch(user_id, cursor=seen[-1].cursor) if not m.checkpoint)
    assert resumed.change.memory.content == "third fact"


def test_watch_with_a_bad_cursor_raises_a_typed_error(client: Client, user_id: str) -> None:
    with pytest.raises(Mem0StackError) as failed:
        next(client.watch(user_id, cursor="nonsense"))
    assert failed.value.reason == ErrorReason.INVALID_CURSOR


def test_export_then_import_round_trips(client: Client, user_id: str) -> None:
    for i in range(5):
        client.create(user_id, f"exported fact {i}", metadata={"i": i})
    exported = [m.memory for m in client.export(user_id)]
    assert [m.content for m in exported] == [f"exported fact {i}" for i in range(5)]

    target = f"{user_id}-copy"
    summary = client.import_(target, exported)
    assert (summary.imported, summary.skipped, summary.failed) == (5, 0, 0)
    assert client.import_(target, exported).skipped == 5
    copied = list(client.iter_memories(target, order_by="create_time"))
    assert [(m.content, m.metadata["i"]) for m in copied] == [
        (m.content, m.metadata["i"]) for m in exported
    ]


async def test_async_client_streams(server: ServerProcess, user_id: str) -> None:
    async with AsyncClient(server.target) as client:
        watch = client.watch(user_id)
        waiting = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.5)
        created = await client.create(user_id, "async fact")
        message = await asyncio.wait_for(waiting, 20)
        while message.checkpoint:
            message = await anext(watch)
        await watch.aclose()
        assert message.change.memory.name == created.name

        exported = [m async for m in client.export(user_id, include_embeddings=True)]
        assert len(exported) == 1 and len(exported[0].embedding) == 384
        summary = await client.import_(f"{user_id}-async-copy", [exported[0].memory])
        assert summary.imported == 1
