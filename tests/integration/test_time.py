"""Time and lifecycle (issue 23): validity intervals, as-of reads, expiry and its sweeper.

A real server process on real PostgreSQL; supersession is decided by the scripted
OpenAI-compatible LLM (the only fake). REST goes through a real Envoy, the SDK over gRPC.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from mem0stack import Client
from mem0stack.v1 import (
    memory_pb2,
    memory_service_pb2_grpc,
    streams_pb2,
    webhook_pb2,
    webhook_service_pb2_grpc,
)
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1 import webhook_service_pb2 as wsvc
from tests.support.envoy import EnvoyProcess
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, decide, facts, memory_id
from tests.support.metrics import metric_value
from tests.support.servers import REPO, ServerProcess, free_port

METRICS_PORT = free_port()
# When the user lived where: the conversations carry these message times.
PARIS_FROM = datetime(2024, 3, 1, 12, tzinfo=UTC)
BERLIN_FROM = datetime(2025, 6, 15, 12, tzinfo=UTC)
BETWEEN = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def time_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """A server with an LLM and an expiry retention of 3.6 s, swept every 0.2 s."""
    process = ServerProcess(
        database_url=make_database("time"),
        port=free_port(),
        env={
            **fake_llm.server_env(),
            "MEM0STACK_EXPIRY_RETENTION_HOURS": "0.001",
            "MEM0STACK_EXPIRY_SWEEP_INTERVAL_S": "0.2",
            "MEM0STACK_WATCH_CHECKPOINT_S": "0.5",
            "MEM0STACK_WEBHOOK_POLL_S": "0.2",
            "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{METRICS_PORT}",
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def fake(fake_llm: FakeLLM) -> Iterator[FakeLLM]:
    fake_llm.reset()
    yield fake_llm
    assert fake_llm.pending() == 0, "a scripted LLM answer was never asked for"


@pytest.fixture
async def stub(time_server: ServerProcess) -> AsyncIterator[Any]:
    async with time_server.channel() as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def said(text: str, when: datetime) -> memory_pb2.Message:
    return memory_pb2.Message(role="user", content=text, time=ts(when))


async def move_to_berlin(stub: Any, fake: FakeLLM, user_id: str) -> tuple[Any, Any]:
    """Paris from PARIS_FROM, superseded by Berlin from BERLIN_FROM: (paris, berlin)."""
    parent = f"users/{user_id}"
    fake.script(facts("Lives in Paris"))
    added = await stub.AddMemories(
        svc.AddMemoriesRequest(parent=parent, messages=[said("I live in Paris", PARIS_FROM)])
    )
    paris = added.events[0].memory
    fake.script(
        facts("Lives in Berlin"),
        decide(
            lambda p: [
                {
                    "fact": 0,
                    "event": "SUPERSEDE",
                    "memory": memory_id(p, "Lives in Paris"),
                    "text": "Lives in Berlin",
                }
            ]
        ),
    )
    moved = await stub.AddMemories(
        svc.AddMemoriesRequest(parent=parent, messages=[said("I moved to Berlin", BERLIN_FROM)])
    )
    (event,) = moved.events
    assert event.type == memory_pb2.MemoryEvent.SUPERSEDE
    return paris, event.memory


async def search(stub: Any, user_id: str, **fields: Any) -> list[str]:
    found = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query="Where does the user live?", **fields
        )
    )
    return [r.memory.content for r in found.results]


async def listed(stub: Any, user_id: str, **fields: Any) -> list[str]:
    page = await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user_id}", **fields))
    return sorted(m.content for m in page.memories)


# Validity and as-of


async def test_a_superseded_memory_keeps_its_interval_and_as_of_finds_each_version(
    stub: Any, fake: FakeLLM, user_id: str
) -> None:
    paris, berlin = await move_to_berlin(stub, fake, user_id)
    assert paris.valid_time.ToDatetime(UTC) == PARIS_FROM
    assert not paris.HasField("invalid_time")
    assert berlin.valid_time.ToDatetime(UTC) == BERLIN_FROM

    old = await stub.GetMemory(svc.GetMemoryRequest(name=paris.name))
    assert old.state == memory_pb2.Memory.SUPERSEDED
    assert old.valid_time.ToDatetime(UTC) == PARIS_FROM
    # It stopped being true when its successor became true.
    assert old.invalid_time.ToDatetime(UTC) == BERLIN_FROM

    # Now: only the current fact, as before.
    assert await search(stub, user_id) == ["Lives in Berlin"]
    assert await listed(stub, user_id) == ["Lives in Berlin"]
    # Between the two: the old fact, though it is superseded today.
    assert await search(stub, user_id, as_of=ts(BETWEEN)) == ["Lives in Paris"]
    assert await listed(stub, user_id, as_of=ts(BETWEEN)) == ["Lives in Paris"]
    # Before either: nothing was known to be true.
    assert await search(stub, user_id, as_of=ts(PARIS_FROM - timedelta(days=1))) == []
    # At the instant of the move the new fact holds and the old one no longer does.
    assert await listed(stub, user_id, as_of=ts(BERLIN_FROM)) == ["Lives in Berlin"]
    # Everything, whatever its validity.
    assert await listed(stub, user_id, include_invalid=True) == [
        "Lives in Berlin",
        "Lives in Paris",
    ]
    assert set(await search(stub, user_id, include_invalid=True)) == {
        "Lives in Berlin",
        "Lives in Paris",
    }


async def test_as_of_over_rest_through_envoy_and_the_sdk(
    time_server: ServerProcess, stub: Any, fake: FakeLLM, user_id: str
) -> None:
    paris, _ = await move_to_berlin(stub, fake, user_id)
    envoy = EnvoyProcess(
        upstream=time_server.target, platform=f"127.0.0.1:{time_server.platform_port}"
    )
    envoy.start()
    try:
        found = envoy.request(
            "POST",
            f"/v1/users/{user_id}/memories:search",
            {"query": "Where does the user live?", "asOf": "2025-01-01T00:00:00Z"},
        )
        assert found.status == 200, found.body
        (result,) = found.json["results"]
        assert result["memory"]["content"] == "Lives in Paris"
        assert result["memory"]["validTime"] == "2024-03-01T12:00:00Z"
        assert result["memory"]["invalidTime"] == "2025-06-15T12:00:00Z"

        later = envoy.request(
            "GET", f"/v1/users/{user_id}/memories", params={"as_of": "2025-07-01T00:00:00Z"}
        )
        assert [m["content"] for m in later.json["memories"]] == ["Lives in Berlin"]
        every = envoy.request(
            "GET", f"/v1/users/{user_id}/memories", params={"include_invalid": "true"}
        )
        assert len(every.json["memories"]) == 2

        bad = envoy.request(
            "GET",
            f"/v1/users/{user_id}/memories",
            params={"as_of": "2025-07-01T00:00:00Z", "include_invalid": "true"},
        )
        assert bad.status == 400, bad.body

        # mem0's Platform routes: timestamp is when it was said (so valid from then),
        # expiration_date is expire_time; reads return them.
        added = envoy.request(
            "POST",
            "/v1/memories/",
            {
                "messages": [{"role": "user", "content": "I work at Acme"}],
                "user_id": f"{user_id}-mem0",
                "infer": False,
                "timestamp": 1718000000,
                "expiration_date": "2030-01-01",
            },
        )
        assert added.status == 200, added.body
        acme = added.json["results"][0]["id"]
        got = envoy.request("GET", f"/v1/memories/{acme}/").json
        assert got["valid_time"] == "2024-06-10T06:13:20Z"
        assert got["event_time"] == "2024-06-10T06:13:20Z"
        assert got["expiration_date"] == "2030-01-01"
        assert got["invalid_time"] is None
        found = envoy.request(
            "POST",
            "/v1/memories/search/",
            {
                "query": "Where does the user work?",
                "user_id": f"{user_id}-mem0",
                "filters": {"valid_time": {"lt": "2024-07-01"}},
            },
        ).json
        assert [m["memory"] for m in found] == ["I work at Acme"]
    finally:
        envoy.stop()

    def sdk() -> tuple[list[str], list[str]]:
        with Client(time_server.target) as client:
            then = [r.memory.content for r in client.search(user_id, "Where?", as_of=BETWEEN)]
            listed_then = [m.name for m in client.iter_memories(user_id, as_of=BETWEEN)]
            return then, listed_then

    then, listed_then = await asyncio.to_thread(sdk)
    assert then == ["Lives in Paris"]
    assert listed_then == [paris.name]


async def test_stated_dates_set_validity(stub: Any, fake: FakeLLM, user_id: str) -> None:
    """A date the LLM extracts ("since March 2019") is the valid_time; without one, the
    message time is."""
    fake.script(
        facts(
            {"text": "Plays the cello", "valid_from": "2019-03"},
            {"text": "Has a cat", "valid_from": "not a date"},
        )
    )
    response = await stub.AddMemories(
        svc.AddMemoriesRequest(
            parent=f"users/{user_id}",
            messages=[said("I've played the cello since March 2019; I have a cat", BETWEEN)],
        )
    )
    times = {e.memory.content: e.memory.valid_time.ToDatetime(UTC) for e in response.events}
    assert times == {
        "Plays the cello": datetime(2019, 3, 1, tzinfo=UTC),
        "Has a cat": BETWEEN,
    }
    assert "valid_from" in fake.requests[0].system


async def test_created_memories_take_validity_and_filters_use_it(stub: Any, user_id: str) -> None:
    parent = f"users/{user_id}"

    async def create(content: str, **times: datetime) -> memory_pb2.Memory:
        return await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent=parent,
                memory=memory_pb2.Memory(content=content, **{k: ts(v) for k, v in times.items()}),
            )
        )

    plain = await create("Likes tea")
    # Unset: valid from its creation.
    assert plain.valid_time == plain.create_time
    told = await create("Owned a bike", valid_time=PARIS_FROM, invalid_time=BETWEEN)
    from_event = await create("Visited Rome", event_time=BERLIN_FROM)
    assert from_event.valid_time.ToDatetime(UTC) == BERLIN_FROM

    # A stated end in the past: not true now, true then.
    assert "Owned a bike" not in await listed(stub, user_id)
    assert await listed(stub, user_id, as_of=ts(PARIS_FROM + timedelta(days=1))) == ["Owned a bike"]
    # The filter language knows the new fields.
    assert await listed(
        stub, user_id, filter='valid_time < "2025-01-01T00:00:00Z"', include_invalid=True
    ) == ["Owned a bike"]
    assert await listed(stub, user_id, filter="invalid_time:*", include_invalid=True) == [
        "Owned a bike"
    ]
    assert await listed(stub, user_id, filter="-invalid_time:*") == [
        "Likes tea",
        "Visited Rome",
    ]

    # UpdateMemory sets and clears them; clearing valid_time goes back to the default.
    updated = await stub.UpdateMemory(
        svc.UpdateMemoryRequest(
            memory=memory_pb2.Memory(name=told.name),
            update_mask=field_mask_pb2.FieldMask(paths=["invalid_time", "valid_time"]),
        )
    )
    assert not updated.HasField("invalid_time")
    assert updated.valid_time == updated.create_time
    assert "Owned a bike" in await listed(stub, user_id)


async def test_bad_times_and_filters_are_invalid_argument(stub: Any, user_id: str) -> None:
    parent = f"users/{user_id}"

    async def code_of(call: Any) -> tuple[grpc.StatusCode, str, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        details = details_of(caught.value)
        return caught.value.code(), details.reason, details.fields[0] if details.fields else ""

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(
        stub.SearchMemories(
            svc.SearchMemoriesRequest(
                parent=parent, query="x", as_of=ts(BETWEEN), include_invalid=True
            )
        )
    ) == (invalid, "INVALID_ARGUMENT", "include_invalid")
    assert await code_of(
        stub.ListMemories(
            svc.ListMemoriesRequest(
                parent=parent, as_of=timestamp_pb2.Timestamp(seconds=300_000_000_000)
            )
        )
    ) == (invalid, "INVALID_ARGUMENT", "as_of")
    assert (
        await code_of(
            stub.ListMemories(svc.ListMemoriesRequest(parent=parent, filter="valid_time > soon"))
        )
    )[:2] == (invalid, "INVALID_FILTER")
    assert await code_of(
        stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent=parent,
                memory=memory_pb2.Memory(
                    content="x", valid_time=ts(BETWEEN), invalid_time=ts(PARIS_FROM)
                ),
            )
        )
    ) == (invalid, "INVALID_ARGUMENT", "memory.invalid_time")


async def test_a_correction_stored_verbatim_ranks_above_what_it_corrects(
    time_server: ServerProcess, stub: Any, user_id: str
) -> None:
    """Two versions of one fact, both ACTIVE (no LLM superseded the first): the newer one,
    which says the deadline moved, first; as of before the correction, only the first; a
    question about the past keeps the older one first. A server with the updated-first
    tie-break off (MEM0STACK_SEARCH_UPDATE_WINDOW 0) ranks the older one first, so it is the
    rule that orders them."""
    parent = f"users/{user_id}"
    for content, valid in (
        ("The sprint deadline is March 15.", datetime(2024, 1, 1, tzinfo=UTC)),
        ("The sprint deadline was moved to April 1.", datetime(2024, 2, 1, tzinfo=UTC)),
        ("Likes hiking in the Alps.", datetime(2024, 3, 1, tzinfo=UTC)),
    ):
        await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent=parent, memory=memory_pb2.Memory(content=content, valid_time=ts(valid))
            )
        )

    async def ranked(
        target: Any, query: str = "When is the sprint deadline?", **fields: Any
    ) -> list[str]:
        found = await target.SearchMemories(
            svc.SearchMemoriesRequest(parent=parent, query=query, top_k=2, **fields)
        )
        return [r.memory.content for r in found.results]

    assert await ranked(stub) == [
        "The sprint deadline was moved to April 1.",
        "The sprint deadline is March 15.",
    ]
    assert (await ranked(stub, as_of=ts(datetime(2024, 1, 15, tzinfo=UTC))))[0] == (
        "The sprint deadline is March 15."
    )
    assert (await ranked(stub, "What was the sprint deadline first set to?"))[0] == (
        "The sprint deadline is March 15."
    )
    plain = ServerProcess(
        database_url=time_server.database_url,
        port=free_port(),
        env={"MEM0STACK_SEARCH_UPDATE_WINDOW": "0"},
    )
    plain.start()
    try:
        async with plain.channel() as channel:
            without = await ranked(memory_service_pb2_grpc.MemoryServiceStub(channel))
    finally:
        plain.stop()
    assert without == [
        "The sprint deadline is March 15.",
        "The sprint deadline was moved to April 1.",
    ]


# Expiry


def metric(name: str) -> float:
    return metric_value(METRICS_PORT, name) or 0.0


class Receiver:
    """A local HTTP endpoint that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        bodies: list[dict[str, Any]] = []
        arrived = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                bodies.append(json.loads(self.rfile.read(length)))
                arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.bodies = bodies
        self.arrived = arrived
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


async def test_expired_memories_are_hidden_then_swept_with_an_expired_event(
    time_server: ServerProcess, stub: Any, user_id: str
) -> None:
    parent = f"users/{user_id}"
    swept_before = metric("mem0stack_memories_expired_total")
    receiver = Receiver()
    async with time_server.channel() as channel:
        hooks = webhook_service_pb2_grpc.WebhookServiceStub(channel)
        await hooks.CreateWebhook(
            wsvc.CreateWebhookRequest(
                parent=parent,
                webhook=webhook_pb2.Webhook(
                    url=receiver.url, event_types=[webhook_pb2.Webhook.EXPIRED]
                ),
            )
        )
    stream = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=parent))
    await stream.initial_metadata()
    soon = datetime.now(UTC) + timedelta(seconds=1)
    brief = await stub.CreateMemory(
        svc.CreateMemoryRequest(
            parent=parent, memory=memory_pb2.Memory(content="Is in Lisbon", expire_time=ts(soon))
        )
    )
    await stub.CreateMemory(
        svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content="Likes Lisbon"))
    )
    assert await listed(stub, user_id) == ["Is in Lisbon", "Likes Lisbon"]

    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.3)
    # Expired: hidden from list and search, still there with show_expired.
    assert await listed(stub, user_id) == ["Likes Lisbon"]
    assert "Is in Lisbon" not in await search(stub, user_id)
    assert await listed(stub, user_id, show_expired=True) == ["Is in Lisbon", "Likes Lisbon"]

    # The retention (3.6 s) later, the sweeper deletes it and the feed says EXPIRED.
    changes: list[streams_pb2.MemoryChange] = []
    async with asyncio.timeout(20):
        async for message in stream:
            if message.HasField("change"):
                changes.append(message.change)
                if message.change.type == streams_pb2.MemoryChange.EXPIRED:
                    break
    stream.cancel()
    assert [(c.type, c.memory.content) for c in changes] == [
        (streams_pb2.MemoryChange.CREATED, "Is in Lisbon"),
        (streams_pb2.MemoryChange.CREATED, "Likes Lisbon"),
        (streams_pb2.MemoryChange.EXPIRED, "Is in Lisbon"),
    ]
    assert changes[-1].memory.name == brief.name
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetMemory(svc.GetMemoryRequest(name=brief.name))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert await listed(stub, user_id, show_expired=True) == ["Likes Lisbon"]
    history = await stub.ListMemoryRevisions(svc.ListMemoryRevisionsRequest(name=brief.name))
    last = history.revisions[-1]
    assert (last.event, last.actor) == (memory_pb2.MemoryRevision.DELETE, "expiry")
    assert metric("mem0stack_memories_expired_total") >= swept_before + 1

    # A webhook asking for EXPIRED gets that change, and nothing else.
    try:
        assert await asyncio.to_thread(receiver.arrived.wait, 20)
        await asyncio.sleep(0.5)  # room for a wrong second delivery to show
    finally:
        receiver.close()
    (body,) = receiver.bodies
    assert (body["type"], body["memory"]["content"]) == ("EXPIRED", "Is in Lisbon")


# docs/time.md


def test_the_docs_example_runs_as_written(time_server: ServerProcess) -> None:
    """docs/time.md's Python block, run as written against a development server."""
    doc = (REPO / "docs" / "time.md").read_text()
    (block,) = re.findall(r"^```python\n(.*?)^```", doc, flags=re.S | re.M)
    printed: list[tuple[Any, ...]] = []
    namespace: dict[str, Any] = {"print": lambda *args: printed.append(args)}
    saved = os.environ.get("MEM0STACK_TARGET")
    os.environ["MEM0STACK_TARGET"] = time_server.target
    try:
        exec(block, namespace)
    finally:
        if saved is None:
            os.environ.pop("MEM0STACK_TARGET")
        else:
            os.environ["MEM0STACK_TARGET"] = saved
    ((now, then, every),) = printed
    assert now == ["Lives in Berlin"]
    assert then == ["Lives in Paris"]
    assert every == ["Lives in Berlin", "Lives in Paris"]
