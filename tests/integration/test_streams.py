"""WatchMemories, ExportMemories and ImportMemories over real gRPC and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.servers import REPO, ServerProcess, free_port

Change = streams_pb2.MemoryChange


def _memory(content: str, **fields: object) -> memory_pb2.Memory:
    return memory_pb2.Memory(content=content, **fields)


def _vector(i: int) -> list[float]:
    v = [0.0] * 384
    v[i % 384] = 1.0
    v[(i + 1) % 384] = 0.5
    return v


async def _batch(stub, user: str, contents: list[str]) -> list[memory_pb2.Memory]:  # type: ignore[no-untyped-def]
    response = await stub.BatchCreateMemories(
        svc.BatchCreateMemoriesRequest(
            parent=f"users/{user}",
            requests=[
                svc.CreateMemoryRequest(memory=_memory(c), embedding=_vector(i))
                for i, c in enumerate(contents)
            ],
        )
    )
    return list(response.memories)


async def _changes(
    stream, count: int, wait_s: float = 20.0
) -> list[streams_pb2.WatchMemoriesResponse]:  # type: ignore[no-untyped-def]
    """The next ``count`` change messages (checkpoints skipped)."""
    received: list[streams_pb2.WatchMemoriesResponse] = []
    async with asyncio.timeout(wait_s):
        while len(received) < count:
            message = await stream.read()
            assert message is not grpc.aio.EOF, "the stream ended early"
            if not message.checkpoint:
                received.append(message)
    return received


# Watch


async def test_two_watchers_see_the_same_changes_in_the_same_order(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    first = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent))
    second = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent))
    await first.wait_for_connection()
    await second.wait_for_connection()
    await asyncio.sleep(0.2)

    created = await _batch(stub, user_id, ["alpha", "beta"])
    await stub.UpdateMemory(
        svc.UpdateMemoryRequest(memory=_memory("alpha two", name=created[0].name))
    )
    await stub.DeleteMemory(svc.DeleteMemoryRequest(name=created[1].name))

    a, b = await asyncio.gather(_changes(first, 4), _changes(second, 4))
    first.cancel()
    second.cancel()
    assert [(m.change.type, m.change.memory.content) for m in a] == [
        (Change.CREATED, "alpha"),
        (Change.CREATED, "beta"),
        (Change.UPDATED, "alpha two"),
        (Change.DELETED, "beta"),
    ]
    assert [m.SerializeToString() for m in a] == [m.SerializeToString() for m in b]
    assert a[0].change.memory.name == created[0].name
    assert len({m.cursor for m in a}) == 4


async def test_resuming_from_a_cursor_misses_nothing_and_repeats_nothing(
    stub, user_id: str
) -> None:
    parent = f"users/{user_id}"
    stream = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent))
    await stream.wait_for_connection()
    await asyncio.sleep(0.2)
    await _batch(stub, user_id, ["one", "two", "three"])
    got = await _changes(stream, 2)
    stream.cancel()  # disconnect after two of three

    await _batch(stub, user_id, ["four", "five"])  # written while disconnected
    resumed = stub.WatchMemories(
        streams_pb2.WatchMemoriesRequest(parent=parent, cursor=got[-1].cursor)
    )
    rest = await _changes(resumed, 3)
    resumed.cancel()
    assert [m.change.memory.content for m in got + rest] == ["one", "two", "three", "four", "five"]


async def test_watch_filter_and_checkpoints(make_database) -> None:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("ckpt"),
        port=free_port(),
        env={"MEM0STACK_WATCH_CHECKPOINT_S": "0.3"},
    )
    process.start()
    try:
        async with process.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            stream = stub.WatchMemories(
                streams_pb2.WatchMemoriesRequest(parent="users/cp", filter='agent_id = "kept"')
            )
            idle = await asyncio.wait_for(stream.read(), 5)
            assert idle.checkpoint and idle.cursor and not idle.HasField("change")
            await stub.CreateMemory(
                svc.CreateMemoryRequest(
                    parent="users/cp", memory=_memory("dropped", agent_id="other")
                )
            )
            await stub.CreateMemory(
                svc.CreateMemoryRequest(
                    parent="users/cp", memory=_memory("kept one", agent_id="kept")
                )
            )
            changes = await _changes(stream, 1)
            assert changes[0].change.memory.content == "kept one"
            # A checkpoint after filtered-out changes still advances the cursor past them.
            stream.cancel()
    finally:
        process.stop()


async def test_watcher_on_another_replica_sees_the_writes(
    server: ServerProcess, make_database, user_id: str
) -> None:  # type: ignore[no-untyped-def]
    replica = ServerProcess(database_url=server.database_url, port=free_port())
    replica.start()
    try:
        async with replica.channel() as replica_channel, server.channel() as channel:
            watcher = memory_service_pb2_grpc.MemoryServiceStub(replica_channel)
            writer = memory_service_pb2_grpc.MemoryServiceStub(channel)
            stream = watcher.WatchMemories(
                streams_pb2.WatchMemoriesRequest(parent=f"users/{user_id}")
            )
            await stream.wait_for_connection()
            await asyncio.sleep(0.2)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await writer.CreateMemory(
                svc.CreateMemoryRequest(parent=f"users/{user_id}", memory=_memory("cross-replica"))
            )
            (change,) = await _changes(stream, 1)
            latency = loop.time() - started
            stream.cancel()
        assert change.change.memory.content == "cross-replica"
        assert latency < 5  # woken by NOTIFY, not by the 15 s checkpoint poll
    finally:
        replica.stop()


async def test_slow_watcher_overflows_with_a_resume_cursor(make_database) -> None:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("overflow"),
        port=free_port(),
        env={"MEM0STACK_WATCH_QUEUE_SIZE": "5"},
    )
    process.start()
    try:
        async with process.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            stream = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent="users/slow"))
            await stream.wait_for_connection()
            await asyncio.sleep(0.2)
            contents = [f"burst {i}" for i in range(40)]
            await _batch(stub, "slow", contents)

            delivered: list[str] = []
            cursor = ""
            overflows = 0
            while len(delivered) < len(contents):
                if cursor:
                    stream = stub.WatchMemories(
                        streams_pb2.WatchMemoriesRequest(parent="users/slow", cursor=cursor)
                    )
                try:
                    async for message in stream:
                        if not message.checkpoint:
                            delivered.append(message.change.memory.content)
                            if len(delivered) == len(contents):
                                break
                except grpc.aio.AioRpcError as exc:
                    err = details_of(exc)
                    assert (err.code, err.reason) == (
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "WATCH_OVERFLOW",
                    )
                    cursor = err.metadata["cursor"]
                    overflows += 1
                    continue
                stream.cancel()
        assert overflows >= 1
        assert delivered == contents  # every change exactly once, in order, across resumes
    finally:
        process.stop()


async def test_bad_and_expired_cursors(stub, server: ServerProcess, user_id: str) -> None:
    parent = f"users/{user_id}"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchMemories(
            streams_pb2.WatchMemoriesRequest(parent=parent, cursor="garbage")
        ):
            pass
    assert details_of(caught.value).reason == "INVALID_CURSOR"

    other = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent="users/someone-else"))
    await other.wait_for_connection()
    await stub.CreateMemory(
        svc.CreateMemoryRequest(parent="users/someone-else", memory=_memory("x"))
    )
    (message,) = await _changes(other, 1)
    other.cancel()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchMemories(
            streams_pb2.WatchMemoriesRequest(parent=parent, cursor=message.cursor)
        ):
            pass
    assert details_of(caught.value).reason == "INVALID_CURSOR"

    created = await stub.CreateMemory(svc.CreateMemoryRequest(parent=parent, memory=_memory("old")))
    stream = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent))
    await stream.wait_for_connection()
    await stub.UpdateMemory(svc.UpdateMemoryRequest(memory=_memory("newer", name=created.name)))
    (early,) = await _changes(stream, 1)
    stream.cancel()
    await stub.CreateMemory(svc.CreateMemoryRequest(parent=parent, memory=_memory("later")))
    conn = await asyncpg.connect(server.database_url)
    try:
        await conn.execute(
            """INSERT INTO store_meta (key, value)
               VALUES ('events_pruned_through', (SELECT max(seq) FROM memory_events)::text)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value"""
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.WatchMemories(
                streams_pb2.WatchMemoriesRequest(parent=parent, cursor=early.cursor)
            ):
                pass
    finally:
        await conn.execute("DELETE FROM store_meta WHERE key = 'events_pruned_through'")
        await conn.close()
    err = details_of(caught.value)
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CURSOR_EXPIRED")


# Export and import


def _rich_memories(user: str) -> list[svc.CreateMemoryRequest]:
    when = timestamp_pb2.Timestamp()
    when.FromJsonString("2025-03-04T05:06:07.123456Z")
    meta = struct_pb2.Struct()
    meta.update({"source": "chat", "score": 3, "tags": ["a", "b"], "nested": {"ok": True}})
    return [
        svc.CreateMemoryRequest(
            memory=_memory(
                f"fact number {i} ünïcode",
                agent_id="agent" if i % 2 else "",
                run_id=f"run-{i % 3}",
                actor_id="sam",
                role="user",
                metadata=meta,
                categories=["c1", f"c{i}"],
                event_time=when,
                expire_time=when if i == 4 else None,
                memory_type=memory_pb2.Memory.EPISODIC if i == 2 else memory_pb2.Memory.SEMANTIC,
            )
        )
        for i in range(12)
    ]


def _comparable(memory: memory_pb2.Memory) -> tuple:  # type: ignore[type-arg]
    return (
        memory.content,
        memory.agent_id,
        memory.run_id,
        memory.actor_id,
        memory.role,
        memory.metadata.SerializeToString(deterministic=True),
        tuple(memory.categories),
        memory.hash,
        memory.create_time.ToJsonString(),
        memory.update_time.ToJsonString(),
        memory.expire_time.ToJsonString(),
        memory.event_time.ToJsonString(),
        memory.state,
        memory.memory_type,
    )


async def _export_all(
    stub, parent: str, **kwargs: object
) -> list[streams_pb2.ExportMemoriesResponse]:  # type: ignore[no-untyped-def]
    return [
        m
        async for m in stub.ExportMemories(
            streams_pb2.ExportMemoriesRequest(parent=parent, **kwargs)
        )
    ]


async def test_export_then_import_into_a_fresh_database_round_trips(
    stub, user_id: str, make_database
) -> None:  # type: ignore[no-untyped-def]
    parent = f"users/{user_id}"
    await stub.BatchCreateMemories(
        svc.BatchCreateMemoriesRequest(parent=parent, requests=_rich_memories(user_id))
    )
    exported = await _export_all(stub, parent, include_embeddings=True)
    assert len(exported) == 12
    assert all(len(m.embedding) == 384 for m in exported)

    # Resume in the middle: the rest, exactly.
    rest = await _export_all(stub, parent, cursor=exported[4].cursor)
    assert [m.memory.name for m in rest] == [m.memory.name for m in exported[5:]]

    fresh = ServerProcess(database_url=make_database("import"), port=free_port())
    fresh.start()
    try:
        async with fresh.channel() as channel:
            target = memory_service_pb2_grpc.MemoryServiceStub(channel)

            async def requests() -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
                for i, m in enumerate(exported):
                    yield streams_pb2.ImportMemoriesRequest(
                        parent=parent if i == 0 else "",
                        memory=m.memory,
                        source_id=m.memory.uid,
                        embedding=m.embedding,
                    )

            summary = await target.ImportMemories(requests())
            assert (summary.imported, summary.skipped, summary.failed) == (12, 0, 0)
            again = await target.ImportMemories(requests())
            assert (again.imported, again.skipped, again.failed) == (0, 12, 0)
            reimported = await _export_all(target, parent, include_embeddings=True)
    finally:
        fresh.stop()
    assert [_comparable(m.memory) for m in reimported] == [_comparable(m.memory) for m in exported]
    assert [list(m.embedding) for m in reimported] == [list(m.embedding) for m in exported]


def _cli(*args: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", *args, "--target", target],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "120"},
        timeout=120,
    )


@pytest.fixture
def import_file(tmp_path: Path) -> Iterator[Path]:
    lines = [
        json.dumps(
            {
                "id": "m0-1",
                "memory": "Likes green tea",
                "metadata": {"src": "mem0"},
                "created_at": "2024-07-01T10:00:00-07:00",
            }
        ),
        "{not json",
        json.dumps({"id": "m0-2", "memory": "   "}),
        json.dumps(
            {"id": "om-1", "content": "Works remotely", "state": "active", "categories": ["work"]}
        ),
        json.dumps({"id": "m0-3", "memory": "Has a sister called Ana", "agent_id": "family"}),
    ]
    path = tmp_path / "memories.jsonl"
    path.write_text("\n".join(lines) + "\n")
    yield path


def test_cli_import_reports_bad_lines_and_is_idempotent(
    server: ServerProcess, import_file: Path, user_id: str, tmp_path: Path
) -> None:
    first = _cli("import", str(import_file), "--user", user_id, target=server.target)
    assert first.returncode == 1, first.stderr
    assert "line 2:" in first.stderr and "not valid JSON" in first.stderr
    assert "line 3:" in first.stderr and "no memory text" in first.stderr
    assert "imported 3, skipped 0 already present, failed 2" in first.stderr

    second = _cli("import", str(import_file), "--user", user_id, target=server.target)
    assert "imported 0, skipped 3 already present, failed 2" in second.stderr

    out = tmp_path / "export.jsonl"
    exported = _cli("export", "--user", user_id, "-o", str(out), target=server.target)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["content"] for r in records] == [
        "Likes green tea",
        "Works remotely",
        "Has a sister called Ana",
    ]
    assert records[0]["create_time"] == "2024-07-01T17:00:00Z"
    assert records[0]["metadata"] == {"src": "mem0"}
    assert records[1]["categories"] == ["work"]
    assert records[2]["agent_id"] == "family"
