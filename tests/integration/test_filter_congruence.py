"""ListMemories, ExportMemories and WatchMemories agree on which memories a filter selects.

The three evaluate one filter in three places (a WHERE clause over the table, a snapshot in
a REPEATABLE READ transaction, a snapshot of each change as JSON): a seeded generator makes
random filters over every field kind, and each must select the same memories in all three.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.servers import ServerProcess, free_port

SEED = 20261203
FILTERS = 40
MEMORIES = 36


@pytest.fixture(scope="module")
def watch_server(make_database) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    # Quick checkpoints: a checkpoint after the writes tells that a watch has caught up.
    process = ServerProcess(
        database_url=make_database("congruence"),
        port=free_port(),
        env={"MEM0STACK_WATCH_CHECKPOINT_S": "0.3"},
    )
    process.start()
    yield process
    process.stop()


def memory(rng: random.Random, i: int) -> memory_pb2.Memory:
    metadata = struct_pb2.Struct()
    if rng.random() < 0.8:
        metadata["n"] = rng.choice([1, 2, 3, 10])
    if rng.random() < 0.6:
        metadata["topic"] = rng.choice(["travel", "food", "work"])
    if rng.random() < 0.5:
        metadata["flag"] = rng.random() < 0.5
    if rng.random() < 0.5:
        metadata["tags"] = rng.sample(["a", "b", "c"], rng.randint(0, 3))
    event = timestamp_pb2.Timestamp()
    event.FromSeconds(1_700_000_000 + 86_400 * rng.randint(0, 30))
    return memory_pb2.Memory(
        content=f"memory number {i}",
        agent_id=rng.choice(["", "bot-1", "bot-2", "helper"]),
        run_id=rng.choice(["", "run-1", "run-2"]),
        role=rng.choice(["", "user", "assistant"]),
        categories=rng.sample(["home", "health", "hobby"], rng.randint(0, 2)),
        metadata=metadata,
        event_time=event if rng.random() < 0.7 else None,
        memory_type=rng.choice([memory_pb2.Memory.SEMANTIC, memory_pb2.Memory.EPISODIC]),
    )


def restriction(rng: random.Random) -> str:
    return rng.choice(
        [
            lambda: f'agent_id = "{rng.choice(["bot-1", "bot-2", "helper", ""])}"',
            lambda: 'agent_id = "bot-*"',
            lambda: f"run_id {rng.choice(['=', '!='])} run-{rng.randint(1, 2)}",
            lambda: "run_id:*",
            lambda: f'role = "{rng.choice(["user", "assistant"])}"',
            lambda: f'categories:"{rng.choice(["home", "health", "hobby"])}"',
            lambda: "categories:*",
            lambda: 'categories:"h*"',
            lambda: f"memory_type = {rng.choice(['SEMANTIC', 'EPISODIC'])}",
            lambda: f"metadata.n {rng.choice(['=', '!=', '<', '>=', ':'])} {rng.randint(1, 10)}",
            lambda: f'metadata.topic = "{rng.choice(["travel", "food", "work"])}"',
            lambda: "metadata.topic:*",
            lambda: f"metadata.flag = {rng.choice(['true', 'false'])}",
            lambda: f'metadata.tags:"{rng.choice(["a", "b", "c"])}"',
            lambda: f"event_time {rng.choice(['<', '>='])} 2023-11-{rng.randint(15, 30)}T00:00:00Z",
            lambda: "event_time:*",
            lambda: "state = ACTIVE",
        ]
    )()


def expression(rng: random.Random, depth: int = 0) -> str:
    if depth >= 2 or rng.random() < 0.35:
        term = restriction(rng)
    else:
        joiner = rng.choice([" AND ", " OR ", " "])
        term = "(" + joiner.join(expression(rng, depth + 1) for _ in range(2)) + ")"
    return ("NOT " if rng.random() < 0.2 else "") + term


async def listed(stub: object, parent: str, text: str) -> set[str]:
    names: set[str] = set()
    token = ""
    while True:
        page = await stub.ListMemories(  # type: ignore[attr-defined]
            svc.ListMemoriesRequest(
                parent=parent, filter=text, page_size=7, page_token=token, show_expired=True
            )
        )
        names |= {m.name for m in page.memories}
        token = page.next_page_token
        if not token:
            return names


async def exported(stub: object, parent: str, text: str) -> set[str]:
    request = streams_pb2.ExportMemoriesRequest(parent=parent, filter=text)
    return {r.memory.name async for r in stub.ExportMemories(request)}  # type: ignore[attr-defined]


#: A checkpoint received this long after the writes committed was made after the watch had
#: read them: checkpoints come only when a watch has been idle (0.3 s here), and a commit
#: wakes it at once. One received sooner may have been queued before the writes.
SETTLE_S = 2.0


async def watched(
    calls: AsyncIterator[streams_pb2.WatchMemoriesResponse], written: asyncio.Event
) -> set[str]:
    """Changes until the first checkpoint well after the writes: the watch has caught up."""
    names: set[str] = set()
    loop = asyncio.get_running_loop()
    written_at = 0.0
    async for message in calls:
        if message.HasField("change"):
            names.add(message.change.memory.name)
        elif message.checkpoint and written.is_set():
            written_at = written_at or loop.time()
            if loop.time() - written_at >= SETTLE_S:
                return names
    raise AssertionError("the watch ended")


async def test_list_export_and_watch_select_the_same_memories(
    watch_server: ServerProcess,
) -> None:
    rng = random.Random(SEED)
    filters = [expression(rng) for _ in range(FILTERS)]
    parent = "users/congruence"
    async with watch_server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        written = asyncio.Event()
        streams = [
            stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent, filter=text))
            for text in filters
        ]
        for call in streams:
            await call.initial_metadata()  # the start position is fixed from here on
        readers = [asyncio.create_task(watched(call, written)) for call in streams]
        await stub.BatchCreateMemories(
            svc.BatchCreateMemoriesRequest(
                parent=parent,
                requests=[svc.CreateMemoryRequest(memory=memory(rng, i)) for i in range(MEMORIES)],
            )
        )
        written.set()
        by_watch = await asyncio.wait_for(asyncio.gather(*readers), timeout=60)
        for call in streams:
            call.cancel()
        every = await listed(stub, parent, "")
        assert len(every) == MEMORIES
        sizes = []
        for text, from_watch in zip(filters, by_watch, strict=True):
            from_list = await listed(stub, parent, text)
            from_export = await exported(stub, parent, text)
            assert from_list == from_export == from_watch, text
            sizes.append(len(from_list))
        # The filters are not all trivial: some select none, some all, most a part.
        assert len(set(sizes)) >= 8, sizes
        assert any(0 < n < MEMORIES for n in sizes)


async def test_a_bad_filter_fails_alike_everywhere(watch_server: ServerProcess) -> None:
    # The same error from all three, and from the streams before their first message.
    parent = "users/congruence-bad"
    async with watch_server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for text, reason in (
            ("colour = red", "UNKNOWN_FILTER_FIELD"),
            ("role =", "INVALID_FILTER"),
        ):
            calls = [
                stub.ListMemories(svc.ListMemoriesRequest(parent=parent, filter=text)),
                first(
                    stub.ExportMemories(
                        streams_pb2.ExportMemoriesRequest(parent=parent, filter=text)
                    )
                ),
                first(
                    stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent, filter=text))
                ),
            ]
            seen = []
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                error = details_of(caught.value)
                seen.append((error.code, error.reason, error.fields))
            assert seen == [(grpc.StatusCode.INVALID_ARGUMENT, reason, ["filter"])] * 3, text


async def first(stream: AsyncIterator[object]) -> object:
    async for message in stream:
        return message
    raise AssertionError("the stream ended without a message or an error")
