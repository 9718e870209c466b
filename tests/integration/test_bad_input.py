"""Every kind of bad input gets the right code and reason, and writes nothing."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.app.watch import watch_cursor_scope
from mem0stack_server.domain.pagination import encode_token, fingerprint, set_signing_key
from tests.support.errors import details_of
from tests.support.servers import ServerProcess, free_port

Memory = memory_pb2.Memory
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NUL_KEY = "k\x00"


def _nested(depth: int) -> struct_pb2.Struct:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _time(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


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
        # Text PostgreSQL cannot store: a NUL character in any text field.
        (
            "NUL in content",
            "CreateMemory",
            create(content="a\x00b"),
            "INVALID_ARGUMENT",
            "memory.content",
        ),
        (
            "NUL in agent_id",
            "CreateMemory",
            create(content="ok", agent_id="a\x00"),
            "INVALID_ARGUMENT",
            "memory.agent_id",
        ),
        (
            "NUL in run_id",
            "CreateMemory",
            create(content="ok", run_id="\x00"),
            "INVALID_ARGUMENT",
            "memory.run_id",
        ),
        (
            "NUL in a category",
            "CreateMemory",
            create(content="ok", categories=["fine", "b\x00"]),
            "INVALID_ARGUMENT",
            "memory.categories[1]",
        ),
        (
            "NUL in a metadata key",
            "CreateMemory",
            create(content="ok", metadata=_struct({NUL_KEY: 1})),
            "INVALID_METADATA",
            f"memory.metadata.{NUL_KEY!r}",
        ),
        (
            "NUL in a nested metadata value",
            "CreateMemory",
            create(content="ok", metadata=_struct({"outer": {"inner": ["ok", "v\x00"]}})),
            "INVALID_METADATA",
            "memory.metadata.outer.inner[1]",
        ),
        (
            "NUL in request_id",
            "CreateMemory",
            svc.CreateMemoryRequest(parent=parent, memory=Memory(content="ok"), request_id="r\x00"),
            "INVALID_ARGUMENT",
            "request_id",
        ),
        (
            "NUL in a batch item",
            "BatchCreateMemories",
            svc.BatchCreateMemoriesRequest(
                parent=parent,
                requests=[
                    svc.CreateMemoryRequest(memory=Memory(content="ok")),
                    svc.CreateMemoryRequest(memory=Memory(content="ok", actor_id="\x00")),
                ],
            ),
            "INVALID_ARGUMENT",
            "requests[1].memory.actor_id",
        ),
        (
            "NUL in a message",
            "AddMemories",
            svc.AddMemoriesRequest(
                parent=parent,
                messages=[memory_pb2.Message(role="user", content="hi\x00")],
                infer=False,
            ),
            "INVALID_ARGUMENT",
            "messages[0].content",
        ),
        (
            "NUL in query",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query="q\x00"),
            "INVALID_ARGUMENT",
            "query",
        ),
        (
            "NUL in filter",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, filter='agent_id = "a\x00"'),
            "INVALID_ARGUMENT",
            "filter",
        ),
        (
            "NUL in order_by",
            "ListMemories",
            svc.ListMemoriesRequest(parent=parent, order_by="create_time\x00"),
            "INVALID_ARGUMENT",
            "order_by",
        ),
        # Timestamps outside what RFC 3339 (and google.protobuf.Timestamp) allows.
        (
            "expire_time after 9999",
            "CreateMemory",
            create(content="ok", expire_time=_time(253402300800)),
            "INVALID_ARGUMENT",
            "memory.expire_time",
        ),
        (
            "event_time before year 1",
            "CreateMemory",
            create(content="ok", event_time=_time(-62135596801)),
            "INVALID_ARGUMENT",
            "memory.event_time",
        ),
        (
            "negative nanos",
            "CreateMemory",
            create(content="ok", event_time=_time(0, -1)),
            "INVALID_ARGUMENT",
            "memory.event_time.nanos",
        ),
        (
            "nanos of a whole second",
            "CreateMemory",
            create(content="ok", expire_time=_time(0, 1_000_000_000)),
            "INVALID_ARGUMENT",
            "memory.expire_time.nanos",
        ),
        (
            "message time after 9999",
            "AddMemories",
            svc.AddMemoriesRequest(
                parent=parent,
                messages=[memory_pb2.Message(role="user", content="hi", time=_time(2**40))],
                infer=False,
            ),
            "INVALID_ARGUMENT",
            "messages[0].time",
        ),
        # Enum numbers the API does not define.
        (
            "unknown memory_type",
            "CreateMemory",
            create(content="ok", memory_type=99),  # type: ignore[arg-type]
            "INVALID_ARGUMENT",
            "memory.memory_type",
        ),
        (
            "unknown search mode",
            "SearchMemories",
            svc.SearchMemoriesRequest(parent=parent, query="q", mode=99),  # type: ignore[arg-type]
            "INVALID_ARGUMENT",
            "mode",
        ),
        # Numbers JSON cannot hold.
        (
            "NaN in metadata",
            "CreateMemory",
            create(content="ok", metadata=_struct({"score": math.nan})),
            "INVALID_METADATA",
            "memory.metadata.score",
        ),
        (
            "infinity nested in metadata",
            "CreateMemory",
            create(content="ok", metadata=_struct({"a": {"b": [1, -math.inf]}})),
            "INVALID_METADATA",
            "memory.metadata.a.b[1]",
        ),
        (
            "NaN in AddMemories metadata",
            "AddMemories",
            svc.AddMemoriesRequest(
                parent=parent,
                messages=[memory_pb2.Message(role="user", content="hi")],
                metadata=_struct({"n": math.inf}),
                infer=False,
            ),
            "INVALID_METADATA",
            "metadata.n",
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


async def test_long_input_is_echoed_cut_short(stub, user_id: str) -> None:
    # An error that repeated 6,000 characters would outgrow the client's header limit and
    # reach it as RESOURCE_EXHAUSTED instead.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListMemories(
            svc.ListMemoriesRequest(parent=f"users/{user_id}", order_by="y" * 6_000)
        )
    err = details_of(caught.value)
    assert (err.code, err.reason) == (INVALID, "INVALID_ORDER_BY")
    assert "y" * 80 in caught.value.details()
    assert len(caught.value.details()) < 300


async def test_undecodable_request_is_invalid_argument(server: ServerProcess) -> None:
    async with server.channel() as channel:
        for method in ("CreateMemory", "ListMemories"):
            call = channel.unary_unary(f"/mem0stack.v1.MemoryService/{method}")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(b"\x0a\xff\xff\xff\xff\x0f")  # a length beyond the message
            err = details_of(caught.value)
            assert (err.code, err.reason) == (INVALID, "INVALID_ARGUMENT"), method
            assert "not a valid mem0stack.v1." in caught.value.details()


async def test_import_reports_bad_items_and_imports_the_rest(stub, user_id: str) -> None:
    def item(source_id: str, **memory: Any) -> streams_pb2.ImportMemoriesRequest:
        return streams_pb2.ImportMemoriesRequest(
            parent=f"users/{user_id}", source_id=source_id, memory=Memory(**memory)
        )

    reply = await stub.ImportMemories(
        iter(
            [
                item("good-1", content="likes tea"),
                item("nul", content="a\x00b"),
                item("far-future", content="ok", expire_time=_time(253402300800)),
                item("good-2", content="lives in Berlin"),
                item("unknown-type", content="ok", memory_type=99),
                item("unknown-state", content="ok", state=99),
                item("nan", content="ok", metadata=_struct({"x": math.nan})),
            ]
        )
    )
    assert (reply.imported, reply.failed) == (2, 5)
    assert [(f.index, f.source_id) for f in reply.failures] == [
        (1, "nul"),
        (2, "far-future"),
        (4, "unknown-type"),
        (5, "unknown-state"),
        (6, "nan"),
    ]
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user_id}"))
    assert sorted(m.content for m in listed.memories) == ["likes tea", "lives in Berlin"]


# Page tokens and cursors: signed by the server, their values checked.


def _unsigned(payload: object) -> str:
    """A token as a caller could make one up: base64 of the JSON inside."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _tampered(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-3] ^= 0x01  # a digit of the key inside, the signature left as it was
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


async def _signed_like_the_server(server: ServerProcess, scope: str, key: list[Any]) -> str:
    """A token with a valid signature (made with the server's secret, read from its
    database) but a key the server would never write."""
    conn = await asyncpg.connect(server.database_url)
    try:
        secret = await conn.fetchval("SELECT secret FROM token_secret")
    finally:
        await conn.close()
    set_signing_key(secret)
    return encode_token(scope, key)


async def _two_pages(stub, user_id: str) -> str:  # type: ignore[no-untyped-def]
    parent = f"users/{user_id}"
    for text in ("likes tea", "lives in Berlin", "works on databases"):
        await stub.CreateMemory(svc.CreateMemoryRequest(parent=parent, memory=Memory(content=text)))
    first = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent, page_size=1))
    assert first.next_page_token
    return str(first.next_page_token)


async def test_altered_or_made_up_page_token_is_rejected(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    token = await _two_pages(stub, user_id)
    # What the unsigned tokens held: the query's fingerprint (made of values the caller
    # knows) and the sort key.
    query = fingerprint(user_id, "", "create_time", True, False)
    made_up = _unsigned({"q": query, "k": ["9999-12-31T00:00:00+00:00", "0" * 32]})
    for bad in (_tampered(token), made_up, token[:-2], token + "AA"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListMemories(
                svc.ListMemoriesRequest(parent=parent, page_size=1, page_token=bad)
            )
        err = details_of(caught.value)
        assert (err.code, err.reason, err.fields) == (
            INVALID,
            "INVALID_PAGE_TOKEN",
            ["page_token"],
        ), bad
    second = await stub.ListMemories(
        svc.ListMemoriesRequest(parent=parent, page_size=1, page_token=token)
    )
    assert len(second.memories) == 1


async def test_cursor_values_out_of_range_are_rejected(
    server: ServerProcess, stub, user_id: str
) -> None:
    parent = f"users/{user_id}"
    created = await stub.CreateMemory(
        svc.CreateMemoryRequest(parent=parent, memory=Memory(content="likes tea"))
    )
    for position in (2**70, -1, "7", 1.5):
        cursor = await _signed_like_the_server(server, watch_cursor_scope(user_id), [position])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            # A deadline, so that a cursor taken for good fails the test instead of hanging.
            async for _ in stub.WatchMemories(
                streams_pb2.WatchMemoriesRequest(parent=parent, cursor=cursor), timeout=10
            ):
                pass
        err = details_of(caught.value)
        assert (err.code, err.reason) == (INVALID, "INVALID_CURSOR"), position

        token = await _signed_like_the_server(server, fingerprint(created.name), [position])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListMemoryRevisions(
                svc.ListMemoryRevisionsRequest(name=created.name, page_token=token)
            )
        err = details_of(caught.value)
        assert (err.code, err.reason) == (INVALID, "INVALID_PAGE_TOKEN"), position


async def test_altered_watch_cursor_is_rejected(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    await stub.CreateMemory(svc.CreateMemoryRequest(parent=parent, memory=Memory(content="x")))
    export = [
        m async for m in stub.ExportMemories(streams_pb2.ExportMemoriesRequest(parent=parent))
    ]
    cursor = export[-1].cursor
    made_up = _unsigned({"q": watch_cursor_scope(user_id), "k": [0]})
    for request in (
        streams_pb2.WatchMemoriesRequest(parent=parent, cursor=made_up),
        streams_pb2.WatchMemoriesRequest(parent=parent, cursor=_tampered(cursor)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.WatchMemories(request, timeout=10):
                pass
        assert details_of(caught.value).reason == "INVALID_CURSOR"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.ExportMemories(
            streams_pb2.ExportMemoriesRequest(parent=parent, cursor=_tampered(cursor))
        ):
            pass
    assert details_of(caught.value).reason == "INVALID_CURSOR"


async def test_tokens_hold_on_another_replica(server: ServerProcess, stub, user_id: str) -> None:
    """The signing secret lives in the database: a token from one server process is good
    on another of the same database (a replica, or the same server after a restart)."""
    token = await _two_pages(stub, user_id)
    request = svc.ListMemoriesRequest(parent=f"users/{user_id}", page_size=1, page_token=token)
    expected = await stub.ListMemories(request)
    replica = ServerProcess(database_url=server.database_url, port=free_port())
    replica.start()
    try:
        async with replica.channel() as channel:
            other = memory_service_pb2_grpc.MemoryServiceStub(channel)
            assert await other.ListMemories(request) == expected
    finally:
        replica.stop()
