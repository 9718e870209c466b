"""kill -9 of the server in the middle of writes loses nothing acknowledged and shows
nothing half-written.

- BatchCreateMemories from several clients at once, the server killed while batches are in
  flight: after a restart every acknowledged batch is there in full, and every other batch
  is there in full or not at all (a batch is one transaction).
- ImportMemories, the server killed while a stream is open: every item the server had
  committed is whole (its content, its embedding: search finds it), and running the same
  import again completes it, each item exactly once (source_id deduplicates).

The database is the session's PostgreSQL: only the server process dies.
"""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf import struct_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import ServerProcess, free_port

BATCH = 20
CLIENTS = 4


@pytest.fixture
def cleanup() -> Iterator[list[ServerProcess]]:
    """Servers to stop however the test ends (a failed test must not leave one running)."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def kill9(server: ServerProcess) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server.process = None


async def everything(server: ServerProcess, parent: str) -> list[memory_pb2.Memory]:
    async with server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        found: list[memory_pb2.Memory] = []
        token = ""
        while True:
            page = await stub.ListMemories(
                svc.ListMemoriesRequest(parent=parent, page_size=1000, page_token=token)
            )
            found += page.memories
            token = page.next_page_token
            if not token:
                return found


async def test_kill_9_during_batch_creates(make_database, cleanup, user_id: str) -> None:  # type: ignore[no-untyped-def]
    database_url = make_database("crash_batch")
    parent = f"users/{user_id}"
    server = ServerProcess(database_url=database_url, port=free_port())
    cleanup.append(server)
    server.start()
    acknowledged: set[str] = set()
    sent: set[str] = set()
    stop = asyncio.Event()
    enough = asyncio.Event()

    async def client(number: int) -> None:
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            for round_ in range(10_000):
                if stop.is_set():
                    return
                batch = f"c{number}-b{round_}"
                sent.add(batch)
                request = svc.BatchCreateMemoriesRequest(
                    parent=parent,
                    requests=[
                        svc.CreateMemoryRequest(
                            parent=parent,
                            memory=memory_pb2.Memory(
                                content=f"item {i} of {batch}",
                                metadata=struct_pb2.Struct(
                                    fields={"batch": struct_pb2.Value(string_value=batch)}
                                ),
                            ),
                        )
                        for i in range(BATCH)
                    ],
                )
                try:
                    await stub.BatchCreateMemories(request, timeout=30)
                except grpc.aio.AioRpcError:
                    return  # the server died under this batch: not acknowledged
                acknowledged.add(batch)
                if len(acknowledged) >= 3 * CLIENTS:
                    enough.set()

    clients = [asyncio.ensure_future(client(n)) for n in range(CLIENTS)]
    await asyncio.wait_for(enough.wait(), 60)
    kill9(server)  # with the clients' next batches in flight
    stop.set()
    await asyncio.gather(*clients)
    assert len(sent) > len(acknowledged)  # some batch really was cut short

    server.start()
    try:
        stored = await everything(server, parent)
    finally:
        server.stop()
    per_batch = collections.Counter(m.metadata["batch"] for m in stored)
    assert acknowledged <= set(per_batch), acknowledged - set(per_batch)
    assert set(per_batch) <= sent
    # Whole or absent: never part of a batch.
    assert {batch: n for batch, n in per_batch.items() if n != BATCH} == {}
    assert len({m.content for m in stored}) == len(stored)


def import_item(number: int) -> streams_pb2.ImportMemoriesRequest:
    return streams_pb2.ImportMemoriesRequest(
        memory=memory_pb2.Memory(content=f"imported fact number {number}"),
        source_id=f"src-{number}",
    )


async def test_kill_9_during_an_import_stream(make_database, cleanup, user_id: str) -> None:  # type: ignore[no-untyped-def]
    database_url = make_database("crash_import")
    parent = f"users/{user_id}"
    total = 400
    # Small batches, so that several commit before the stream is held back.
    server = ServerProcess(
        database_url=database_url, port=free_port(), env={"MEM0STACK_IMPORT_BATCH_SIZE": "32"}
    )
    cleanup.append(server)
    server.start()
    committed = asyncio.Event()

    async def items() -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
        for number in range(total):
            item = import_item(number)
            if number == 0:
                item.parent = parent
            yield item
            if number == total // 2:
                # Hold the rest back until the server has committed part of the stream.
                await committed.wait()

    async def watch_commits() -> None:
        for _ in range(1200):
            if await everything(server, parent):
                break
            await asyncio.sleep(0.05)
        committed.set()

    async with server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        call = stub.ImportMemories(items())
        await asyncio.wait_for(watch_commits(), 60)
        kill9(server)
        try:
            await call
            raise AssertionError("the import finished although the server was killed mid-stream")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE

    server.start()
    try:
        before = await everything(server, parent)
        assert 0 < len(before) < total
        # Every item that is there is whole: its own content, and its embedding (found by a
        # vector-only search).
        expected = {f"imported fact number {n}" for n in range(total)}
        assert {m.content for m in before} <= expected
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            probe = before[0].content
            found = await stub.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=parent,
                    query=probe,
                    top_k=50,
                    mode=svc.SearchMemoriesRequest.VECTOR,
                )
            )
            assert probe in {r.memory.content for r in found.results}

            async def again() -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
                for number in range(total):
                    item = import_item(number)
                    if number == 0:
                        item.parent = parent
                    yield item

            summary = await stub.ImportMemories(again())
        assert (summary.imported, summary.skipped, summary.failed) == (
            total - len(before),
            len(before),
            0,
        )
        after = await everything(server, parent)
        assert sorted(m.content for m in after) == sorted(expected)
    finally:
        server.stop()
