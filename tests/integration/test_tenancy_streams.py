"""A user key reaches only its own users on streams, the graph and operations too.

test_auth.py covers the unary memory calls; here alice's key is used against bob on
WatchMemories, ExportMemories and ImportMemories (streams carry the key as explicit call
metadata), every GraphService call and GetOperation. The codebase's convention: a
collection of another user (a parent) is PERMISSION_DENIED; a resource of another user (a
name) is NOT_FOUND, exactly like a missing one. Nothing of bob's is read or written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from mem0stack.v1 import (
    graph_service_pb2,
    graph_service_pb2_grpc,
    memory_pb2,
    memory_service_pb2_grpc,
    operation_pb2,
    streams_pb2,
)
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, facts
from tests.support.keys import bearer, create_key
from tests.support.servers import ServerProcess, free_port

DENIED = (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")


@pytest.fixture(scope="module")
def tenants(make_database, fake_llm: FakeLLM) -> Iterator[tuple[ServerProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    database_url = make_database("tenancy")
    keys = {
        "alice": create_key(database_url, "--user", "alice"),
        "bob": create_key(database_url, "--user", "bob"),
    }
    server = ServerProcess(
        database_url=database_url,
        port=free_port(),
        env={
            **fake_llm.server_env(),
            "MEM0STACK_WATCH_CHECKPOINT_S": "1",
        },
    )
    server.start()
    yield server, keys
    server.stop()


@pytest.fixture(scope="module")
async def bobs(tenants: tuple[ServerProcess, dict[str, str]], fake_llm: FakeLLM) -> dict[str, str]:
    """Bob's memory and finished operation, made with bob's own key."""
    server, keys = tenants
    async with server.channel(keys["bob"]) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        memory = await stub.CreateMemory(
            svc.CreateMemoryRequest(parent="users/bob", memory=memory_pb2.Memory(content="secret"))
        )
        fake_llm.responder = lambda request: facts("Likes sailing")
        accepted = await stub.AddMemories(
            svc.AddMemoriesRequest(
                parent="users/bob",
                messages=[memory_pb2.Message(role="user", content="I like sailing")],
                async_mode=True,
            )
        )
        for _ in range(200):
            op = await stub.GetOperation(operation_pb2.GetOperationRequest(name=accepted.operation))
            if op.done:
                break
            await asyncio.sleep(0.05)
        assert op.done, op  # how it ended does not matter here, only that it is bob's
    return {"memory": memory.name, "operation": accepted.operation}


@pytest.fixture
async def alice(
    tenants: tuple[ServerProcess, dict[str, str]],
) -> AsyncIterator[tuple[grpc.aio.Channel, list[tuple[str, str]]]]:
    server, keys = tenants
    async with server.channel(keys["alice"]) as channel:
        yield channel, bearer(keys["alice"])


async def bobs_contents(tenants: tuple[ServerProcess, dict[str, str]]) -> list[str]:
    server, keys = tenants
    async with server.channel(keys["bob"]) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        listed = await stub.ListMemories(svc.ListMemoriesRequest(parent="users/bob"))
    return sorted(m.content for m in listed.memories)


async def test_watch_of_another_user_is_denied(alice, bobs) -> None:  # type: ignore[no-untyped-def]
    channel, metadata = alice
    stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
    stream = stub.WatchMemories(
        streams_pb2.WatchMemoriesRequest(parent="users/bob"), metadata=metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream:
            pytest.fail("alice's key received a change of bob's")
    error = details_of(caught.value)
    assert (error.code, error.reason) == DENIED
    # Her own users' watch works with the same metadata (the key is really carried).
    own = stub.WatchMemories(
        streams_pb2.WatchMemoriesRequest(parent="users/alice"), metadata=metadata
    )
    first = await asyncio.wait_for(own.read(), 10)
    assert first.checkpoint
    own.cancel()


async def test_export_of_another_user_is_denied(alice, bobs) -> None:  # type: ignore[no-untyped-def]
    channel, metadata = alice
    stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.ExportMemories(
            streams_pb2.ExportMemoriesRequest(parent="users/bob"), metadata=metadata
        ):
            pytest.fail("alice's key exported a memory of bob's")
    assert (details_of(caught.value).code, details_of(caught.value).reason) == DENIED
    exported = [
        m
        async for m in stub.ExportMemories(
            streams_pb2.ExportMemoriesRequest(parent="users/alice"), metadata=metadata
        )
    ]
    assert exported == []


async def test_import_into_another_user_writes_nothing(alice, bobs, tenants) -> None:  # type: ignore[no-untyped-def]
    channel, metadata = alice
    stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
    before = await bobs_contents(tenants)

    def items(*parents: str) -> list[streams_pb2.ImportMemoriesRequest]:
        return [
            streams_pb2.ImportMemoriesRequest(
                parent=parent, memory=memory_pb2.Memory(content=f"planted by alice {i}")
            )
            for i, parent in enumerate(parents)
        ]

    # Only bob: refused outright or every item reported failed, never imported.
    for stream in (items("users/bob"), items("users/alice", "users/bob", "users/alice")):
        try:
            reply = await stub.ImportMemories(iter(stream), metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            assert (details_of(exc).code, details_of(exc).reason) == DENIED
        else:
            bob_items = sum(1 for item in stream if item.parent == "users/bob")
            assert reply.failed == bob_items, reply
    # A memory naming bob's user inside alice's stream is not bob's either.
    try:
        await stub.ImportMemories(
            iter(
                [
                    streams_pb2.ImportMemoriesRequest(
                        memory=memory_pb2.Memory(name=bobs["memory"], content="overwritten")
                    )
                ]
            ),
            metadata=metadata,
        )
    except grpc.aio.AioRpcError as exc:
        assert exc.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
    assert await bobs_contents(tenants) == before


async def test_every_graph_call_on_another_user_is_refused(alice, bobs) -> None:  # type: ignore[no-untyped-def]
    channel, _ = alice
    graph = graph_service_pb2_grpc.GraphServiceStub(channel)
    calls = {
        "ListEntities": (
            graph.ListEntities,
            graph_service_pb2.ListEntitiesRequest(parent="users/bob"),
            DENIED,
        ),
        "ListRelations": (
            graph.ListRelations,
            graph_service_pb2.ListRelationsRequest(parent="users/bob"),
            DENIED,
        ),
        "GetGraphStatus": (
            graph.GetGraphStatus,
            graph_service_pb2.GetGraphStatusRequest(name="users/bob/graphStatus"),
            DENIED,
        ),
        "GetEntity": (
            graph.GetEntity,
            graph_service_pb2.GetEntityRequest(
                name="users/bob/entities/00000000-0000-4000-8000-000000000001"
            ),
            (grpc.StatusCode.NOT_FOUND, "ENTITY_NOT_FOUND"),
        ),
        "DeleteEntity": (
            graph.DeleteEntity,
            graph_service_pb2.DeleteEntityRequest(
                name="users/bob/entities/00000000-0000-4000-8000-000000000001"
            ),
            (grpc.StatusCode.NOT_FOUND, "ENTITY_NOT_FOUND"),
        ),
    }
    assert set(calls) == {
        m.name for m in graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"].methods
    }
    for name, (method, request, expected) in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(request)
        error = details_of(caught.value)
        assert (error.code, error.reason) == expected, name
    # On her own user the same call gets past the key check (this server has no graph).
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await graph.ListEntities(graph_service_pb2.ListEntitiesRequest(parent="users/alice"))
    assert details_of(caught.value).reason == "GRAPH_DISABLED"


async def test_get_operation_of_another_user_is_not_found(alice, bobs) -> None:  # type: ignore[no-untyped-def]
    channel, _ = alice
    stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetOperation(operation_pb2.GetOperationRequest(name=bobs["operation"]))
    error = details_of(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "OPERATION_NOT_FOUND")
    # Exactly what a missing operation of her own answers: nothing tells bob's exists.
    missing = bobs["operation"].replace("users/bob", "users/alice")
    with pytest.raises(grpc.aio.AioRpcError) as own:
        await stub.GetOperation(operation_pb2.GetOperationRequest(name=missing))
    assert details_of(own.value).code == error.code
    assert caught.value.details().replace("bob", "alice") == own.value.details()
