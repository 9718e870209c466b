"""Every kind of bad input gets the right code and reason, and writes nothing."""

from __future__ import annotations

import math

import grpc
import pytest
from google.protobuf import struct_pb2

from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of

Memory = memory_pb2.Memory
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _nested(depth: int) -> struct_pb2.Struct:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _big_metadata() -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({"blob": "x" * 20_000})
    return s


def _cases(user: str) -> list[tuple[str, str, object, str, str]]:
    """(label, method, request, reason, field) for each bad input."""
    parent = f"users/{user}"

    def create(**memory: object) -> svc.CreateMemoryRequest:
        return svc.CreateMemoryRequest(parent=parent, memory=Memory(**memory))

    return [
        ("empty content", "CreateMemory", create(content=""), "INVALID_CONTENT", "memory.content"),
        (
            "blank content",
            "CreateMemory",
            create(content=" \n\t"),
            "INVALID_CONTENT",
            "memory.content",
        ),
        (
            "content too long",
            "CreateMemory",
            create(content="x" * 16_385),
            "INVALID_CONTENT",
            "memory.content",
        ),
        (
            "metadata too large",
            "CreateMemory",
            create(content="ok", metadata=_big_metadata()),
            "INVALID_METADATA",
            "memory.metadata",
        ),
        (
            "metadata too deep",
            "CreateMemory",
            create(content="ok", metadata=_nested(12)),
            "INVALID_METADATA",
            "memory.metadata",
        ),
        (
            "malformed parent",
            "CreateMemory",
            svc.CreateMemoryRequest(parent="people/x", memory=Memory(content="ok")),
            "INVALID_NAME",
            "parent",
        ),
        (
            "empty parent",
            "CreateMemory",
            svc.CreateMemoryRequest(memory=Memory(content="ok")),
            "INVALID_NAME",
            "parent",
        ),
        (
            "parent with slash",
            "ListMemories",
            svc.ListMemoriesRequest(parent="users/a/b"),
            "INVALID_NAME",
            "parent",
        ),
        (
            "malformed name",
            "GetMemory",
            svc.GetMemoryRequest(name=f"{parent}/memories/not-a-uuid"),
            "INVALID_NAME",
            "name",
        ),
        (
            "wrong collection",
            "GetMemory",
            svc.GetMemoryRequest(name=f"{parent}/notes/1"),
            "INVALID_NAME",
            "name",
        ),
        (
            "wrong dimension",
            "CreateMemory",
            svc.CreateMemoryRequest(
                parent=parent, memory=Memory(content="ok"), embedding=[0.1, 0.2, 0.3]
            ),
            "INVALID_EMBEDDING",
            "embedding",
        ),
        (
            "NaN embedding",
            "CreateMemory",
            svc.CreateMemoryRequest(
                parent=parent, memory=Memory(content="ok"), embedding=[math.nan] * 384
            ),
            "INVALID_EMBEDDING",
            "embedding",
        ),
        (
            "NaN query embedding",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query_embedding=[math.inf] + [0.0] * 383),
            "INVALID_EMBEDDING",
            "query_embedding",
        ),
        (
            "too many memories",
            "BatchCreateMemories",
            svc.BatchCreateMemoriesRequest(
                parent=parent, requests=[svc.CreateMemoryRequest(memory=Memory(content="x"))] * 1001
            ),
            "TOO_MANY_ITEMS",
            "requests",
        ),
        (
            "too many messages",
            "AddMemories",
            svc.AddMemoriesRequest(
                parent=parent, messages=[memory_pb2.Message(role="user", content="hi")] * 101
            ),
            "TOO_MANY_ITEMS",
            "messages",
        ),
        (
            "no messages",
            "AddMemories",
            svc.AddMemoriesRequest(parent=parent),
            "INVALID_ARGUMENT",
            "messages",
        ),
        (
            "bad role",
            "AddMemories",
            svc.AddMemoriesRequest(
                parent=parent, messages=[memory_pb2.Message(role="robot", content="hi")]
            ),
            "INVALID_ARGUMENT",
            "messages[0].role",
        ),
        (
            "filter syntax",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, filter='agent_id = "x" AND ('),
            "INVALID_FILTER",
            "filter",
        ),
        (
            "filter unknown field",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, filter='colour = "red"'),
            "UNKNOWN_FILTER_FIELD",
            "filter",
        ),
        (
            "filter bad operator",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query="q", filter='categories > "a"'),
            "UNKNOWN_FILTER_FIELD",
            "filter",
        ),
        (
            "filter bad timestamp",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, filter='create_time > "yesterday"'),
            "INVALID_FILTER",
            "filter",
        ),
        (
            "filter bad state",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, filter="state = GONE"),
            "INVALID_FILTER",
            "filter",
        ),
        (
            "negative page size",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, page_size=-1),
            "INVALID_PAGE_SIZE",
            "page_size",
        ),
        (
            "bad order_by",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, order_by="content"),
            "INVALID_ORDER_BY",
            "order_by",
        ),
        (
            "malformed page token",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, page_token="%%%"),
            "INVALID_PAGE_TOKEN",
            "page_token",
        ),
        (
            "empty query",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query=" "),
            "INVALID_ARGUMENT",
            "query",
        ),
        (
            "top_k too large",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query="q", top_k=1000),
            "INVALID_ARGUMENT",
            "top_k",
        ),
        (
            "min_score out of range",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query="q", min_score=2.0),
            "INVALID_ARGUMENT",
            "min_score",
        ),
        (
            "request id too long",
            "CreateMemory",
            svc.CreateMemoryRequest(
                parent=parent, memory=Memory(content="ok"), request_id="r" * 200
            ),
            "INVALID_ARGUMENT",
            "request_id",
        ),
        (
            "names and filter",
            "BatchDeleteMemories",
            svc.BatchDeleteMemoriesRequest(
                parent=parent,
                names=[f"{parent}/memories/0190f7a0-0000-7000-8000-000000000000"],
                filter="role = x",
            ),
            "INVALID_ARGUMENT",
            "filter",
        ),
        (
            "bad update mask",
            "UpdateMemory",
            svc.UpdateMemoryRequest(
                memory=Memory(
                    name=f"{parent}/memories/0190f7a0-0000-7000-8000-000000000000", content="x"
                ),
                update_mask={"paths": ["hash"]},
            ),
            "INVALID_FIELD_MASK",
            "update_mask",
        ),
    ]


@pytest.mark.parametrize("index", range(len(_cases("u"))), ids=[c[0] for c in _cases("u")])
async def test_bad_input_is_invalid_argument_and_writes_nothing(
    stub, user_id: str, index: int
) -> None:
    label, method, request, reason, field = _cases(user_id)[index]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stub, method)(request)
    err = details_of(caught.value)
    assert err.code == INVALID, label
    assert err.reason == reason, (label, caught.value.details())
    assert field in err.fields, (label, err.fields)
    listed = await stub.ListMemories(
        svc.ListMemoriesRequest(
            parent=f"users/{user_id}",
            show_expired=True,
            filter="state = ACTIVE OR state = SUPERSEDED",
        )
    )
    assert list(listed.memories) == []


async def test_missing_memory_is_not_found(stub, user_id: str) -> None:
    name = f"users/{user_id}/memories/0190f7a0-0000-7000-8000-000000000000"
    for call in (
        stub.GetMemory(svc.GetMemoryRequest(name=name)),
        stub.DeleteMemory(svc.DeleteMemoryRequest(name=name)),
        stub.UpdateMemory(svc.UpdateMemoryRequest(memory=Memory(name=name, content="x"))),
        stub.ListMemoryRevisions(svc.ListMemoryRevisionsRequest(name=name)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        err = details_of(caught.value)
        assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND")
        assert err.metadata["name"] == name
