"""The memories-per-user quota (MEM0STACK_MAX_MEMORIES_PER_USER): a write that would go
over is refused whole with RESOURCE_EXHAUSTED (QUOTA_EXCEEDED), on every way in, exactly at
the limit even under concurrent writes, and deleting makes room again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.servers import ServerProcess, free_port

LIMIT = 3


@pytest.fixture(scope="module")
def quota_server(make_database) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        make_database("quota"), free_port(), env={"MEM0STACK_MAX_MEMORIES_PER_USER": str(LIMIT)}
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def stub(quota_server: ServerProcess) -> AsyncIterator[Any]:
    async with quota_server.channel() as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


def _user() -> str:
    return f"users/q-{uuid.uuid4().hex[:8]}"


async def _create(stub: Any, parent: str, text: str) -> memory_pb2.Memory:
    made: memory_pb2.Memory = await stub.CreateMemory(
        svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content=text))
    )
    return made


async def _count(stub: Any, parent: str) -> int:
    page = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent, page_size=100))
    return len(page.memories)


def _refused(error: grpc.aio.AioRpcError, active: int) -> None:
    details = details_of(error)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.reason == "QUOTA_EXCEEDED"
    assert details.metadata["limit"] == str(LIMIT)
    assert details.metadata["active"] == str(active)
    assert not details.retry  # waiting does not make room


async def test_create_stops_at_the_limit_and_deleting_makes_room(stub: Any) -> None:
    parent, other = _user(), _user()
    made = [await _create(stub, parent, f"fact {i}") for i in range(LIMIT)]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _create(stub, parent, "one too many")
    _refused(error.value, LIMIT)
    assert await _count(stub, parent) == LIMIT
    await _create(stub, other, "another user has room of their own")

    await stub.DeleteMemory(svc.DeleteMemoryRequest(name=made[0].name))
    await _create(stub, parent, "fits again")
    assert await _count(stub, parent) == LIMIT


async def test_a_batch_over_the_limit_writes_nothing(stub: Any) -> None:
    parent = _user()
    await _create(stub, parent, "first")
    batch = svc.BatchCreateMemoriesRequest(
        parent=parent,
        requests=[
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content=f"b{i}"))
            for i in range(LIMIT)
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.BatchCreateMemories(batch)
    _refused(error.value, 1)
    assert await _count(stub, parent) == 1

    verbatim = svc.AddMemoriesRequest(
        parent=parent,
        messages=[memory_pb2.Message(role="user", content=f"m{i}") for i in range(LIMIT)],
        infer=False,
    )
    with pytest.raises(grpc.aio.AioRpcError) as added:
        await stub.AddMemories(verbatim)
    _refused(added.value, 1)
    assert await _count(stub, parent) == 1


async def test_concurrent_writes_stop_exactly_at_the_limit(stub: Any) -> None:
    parent = _user()
    results = await asyncio.gather(
        *(_create(stub, parent, f"racing {i}") for i in range(12)), return_exceptions=True
    )
    stored = [r for r in results if isinstance(r, memory_pb2.Memory)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(stored) == LIMIT and len(refused) == 12 - LIMIT
    assert all(details_of(r).reason == "QUOTA_EXCEEDED" for r in refused)
    assert await _count(stub, parent) == LIMIT


async def test_an_import_reports_what_did_not_fit(stub: Any) -> None:
    parent = _user()

    async def requests() -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
        for i in range(LIMIT + 2):
            yield streams_pb2.ImportMemoriesRequest(
                parent=parent if i == 0 else "",
                memory=memory_pb2.Memory(content=f"imported {i}"),
                source_id=f"src-{i}",
            )

    summary = await stub.ImportMemories(requests())
    assert (summary.imported, summary.failed) == (LIMIT, 2)
    assert all("QUOTA_EXCEEDED" in f.reason or "at most" in f.reason for f in summary.failures)
    assert await _count(stub, parent) == LIMIT
