"""AddMemories with an LLM, end to end: a real server process, real PostgreSQL, the real
``openai`` client over HTTP, and a local OpenAI-compatible server that answers from a script.

One server is shared by the module (each test uses its own user). It is configured the way
users configure it, through OPENAI_BASE_URL and OPENAI_API_KEY, with short timeouts so the
failure tests stay fast. Every test that makes the endpoint fail ends with a success, so the
circuit breaker (3 failures) is closed again for the next test.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, operation_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, Recorded, Reply, decide, facts, memory_id
from tests.support.metrics import metric_value
from tests.support.servers import ServerProcess, free_port

Event = memory_pb2.MemoryEvent
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def llm_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("llm"),
        port=free_port(),
        env={
            **fake_llm.server_env(),
            "MEM0STACK_LLM_TIMEOUT_S": "1",
            "MEM0STACK_LLM_MAX_RETRIES": "1",
            "MEM0STACK_LLM_BACKOFF_BASE_S": "0.05",
            "MEM0STACK_LLM_BACKOFF_MAX_S": "0.2",
            "MEM0STACK_LLM_BREAKER_FAILURES": "3",
            "MEM0STACK_LLM_BREAKER_RESET_S": "1",
            "MEM0STACK_LLM_INSTRUCTIONS": "Never store payment card numbers.",
            "MEM0STACK_LLM_CATEGORIES": '["food", "travel", "personal_details", "preferences"]',
            "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{METRICS_PORT}",
            "MEM0STACK_OPERATION_QUEUE_SIZE": "1",
            "MEM0STACK_OPERATION_WORKERS": "1",
            "MEM0STACK_OPERATION_LEASE_S": "1",
            "MEM0STACK_LOG_LEVEL": "DEBUG",
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
async def stub(
    llm_server: ServerProcess,
) -> AsyncIterator[memory_service_pb2_grpc.MemoryServiceStub]:
    async with llm_server.channel() as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


def conversation(*turns: str | tuple[str, str], **fields: Any) -> svc.AddMemoriesRequest:
    """Strings are user turns; (role, content) pairs give the role."""
    messages = [
        memory_pb2.Message(role="user", content=t)
        if isinstance(t, str)
        else memory_pb2.Message(role=t[0], content=t[1])
        for t in turns
    ]
    return svc.AddMemoriesRequest(messages=messages, **fields)


async def add(stub: Any, user_id: str, *turns: str | tuple[str, str], **fields: Any) -> Any:
    request = conversation(*turns, **fields)
    request.parent = f"users/{user_id}"
    return await stub.AddMemories(request)


async def contents(stub: Any, user_id: str, filter: str = "") -> list[str]:
    listed = await stub.ListMemories(
        svc.ListMemoriesRequest(parent=f"users/{user_id}", filter=filter)
    )
    return sorted(m.content for m in listed.memories)


def metric(name: str, **labels: str) -> float:
    return metric_value(METRICS_PORT, name, **labels) or 0.0


# Step 1 and the simple decisions


async def test_extraction_then_add(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(
        facts(
            {"text": "Is vegetarian", "categories": ["food", "not-a-category"]},
            {"text": "Lives in Lisbon", "categories": ["personal_details"], "message": 2},
            prompt_tokens=120,
            completion_tokens=30,
        )
    )
    response = await add(
        stub,
        user_id,
        "Hi, I'm vegetarian.",
        ("assistant", "Noted! Any favourite cuisine?"),
        "Not really. I live in Lisbon by the way.",
        run_id="chat-1",
        categories=["from-app"],
    )
    assert [e.type for e in response.events] == [Event.ADD, Event.ADD]
    vegetarian, lisbon = (e.memory for e in response.events)
    assert (vegetarian.content, lisbon.content) == ("Is vegetarian", "Lives in Lisbon")
    assert list(vegetarian.categories) == ["food", "from-app"]
    assert list(lisbon.categories) == ["personal_details", "from-app"]
    assert (vegetarian.role, vegetarian.run_id) == ("user", "chat-1")
    assert response.usage == memory_pb2.TokenUsage(
        prompt_tokens=120, completion_tokens=30, llm_calls=1
    )
    # The empty scope had nothing to reconcile with: one LLM call, not two.
    (request,) = fake.requests
    assert request.schema_name == "extract_facts"
    assert request.body["response_format"]["json_schema"]["strict"] is True
    assert "[2] user: Not really. I live in Lisbon by the way." in request.user
    assert "[1] assistant: Noted! Any favourite cuisine?" in request.user
    assert "Never store payment card numbers." in request.system  # deployment instructions
    categories = request.body["response_format"]["json_schema"]["schema"]["properties"]["facts"]
    assert categories["items"]["properties"]["categories"]["items"]["enum"] == [
        "food",
        "travel",
        "personal_details",
        "preferences",
    ]
    assert await contents(stub, user_id) == ["Is vegetarian", "Lives in Lisbon"]


async def test_the_same_conversation_again_is_noop(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Is vegetarian", "Plays the cello"))
    first = await add(stub, user_id, "I'm vegetarian and I play the cello.")
    fake.script(facts("Is vegetarian", "Plays the cello"))
    again = await add(stub, user_id, "I'm vegetarian and I play the cello.")
    assert [e.type for e in again.events] == [Event.NOOP, Event.NOOP]
    assert [e.memory.name for e in again.events] == [e.memory.name for e in first.events]
    assert again.usage.llm_calls == 1  # word-for-word known facts need no reconciliation
    assert fake.calls("reconcile_memories") == []
    assert len(await contents(stub, user_id)) == 2


async def test_the_llm_decides_noop_for_a_paraphrase(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Is vegetarian"))
    (first,) = (await add(stub, user_id, "I'm vegetarian")).events
    fake.script(
        facts("Is a vegetarian"),
        decide(
            lambda p: [
                {"fact": 0, "event": "NOOP", "memory": memory_id(p, "Is vegetarian"), "text": ""}
            ]
        ),
    )
    (event,) = (await add(stub, user_id, "Did I mention I'm a vegetarian?")).events
    assert event.type == Event.NOOP
    assert event.memory.name == first.memory.name
    assert await contents(stub, user_id) == ["Is vegetarian"]


async def test_a_richer_fact_updates_the_memory(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Likes coffee"))
    (first,) = (await add(stub, user_id, "I like coffee")).events
    merged = "Likes coffee, especially flat whites"
    fake.script(
        facts({"text": "Likes flat whites", "categories": ["food"]}),
        decide(
            lambda p: [
                {
                    "fact": 0,
                    "event": "UPDATE",
                    "memory": memory_id(p, "Likes coffee"),
                    "text": merged,
                }
            ]
        ),
    )
    response = await add(stub, user_id, "Flat whites are my favourite coffee")
    (event,) = response.events
    assert event.type == Event.UPDATE
    assert event.memory.name == first.memory.name
    assert event.memory.content == merged
    assert event.previous_content == "Likes coffee"
    assert list(event.memory.categories) == ["food"]
    assert response.usage.llm_calls == 2
    assert await contents(stub, user_id) == [merged]
    revisions = await stub.ListMemoryRevisions(
        svc.ListMemoryRevisionsRequest(name=first.memory.name)
    )
    assert [(r.event, r.content_after) for r in revisions.revisions] == [
        (memory_pb2.MemoryRevision.CREATE, "Likes coffee"),
        (memory_pb2.MemoryRevision.UPDATE, merged),
    ]
    # The updated memory is found by its new words.
    found = await stub.SearchMemories(
        svc.SearchMemoriesRequest(parent=f"users/{user_id}", query="flat white")
    )
    assert found.results[0].memory.content == merged


async def test_moving_supersedes_the_old_city(stub, fake: FakeLLM, user_id: str) -> None:
    parent = f"users/{user_id}"
    fake.script(facts("Lives in Paris", "Works as a nurse"))
    paris = next(
        e.memory for e in (await add(stub, user_id, "I live in Paris, I'm a nurse")).events
    )
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
    (event,) = (await add(stub, user_id, "I moved from Paris to Berlin")).events
    assert event.type == Event.SUPERSEDE
    assert event.memory.content == "Lives in Berlin"
    assert event.memory.state == memory_pb2.Memory.ACTIVE
    assert event.superseded_memory == paris.name
    assert event.previous_content == "Lives in Paris"

    old = await stub.GetMemory(svc.GetMemoryRequest(name=paris.name))
    assert old.state == memory_pb2.Memory.SUPERSEDED
    assert old.superseded_by == event.memory.name
    assert old.content == "Lives in Paris"
    history = await stub.ListMemoryRevisions(svc.ListMemoryRevisionsRequest(name=paris.name))
    assert [r.event for r in history.revisions] == [
        memory_pb2.MemoryRevision.CREATE,
        memory_pb2.MemoryRevision.SUPERSEDE,
    ]

    async def search(filter: str = "") -> list[str]:
        found = await stub.SearchMemories(
            svc.SearchMemoriesRequest(parent=parent, query="where does she live", filter=filter)
        )
        return [r.memory.content for r in found.results]

    live = await search()
    assert live[0] == "Lives in Berlin"
    assert "Lives in Paris" not in live
    assert await search("state = SUPERSEDED") == ["Lives in Paris"]
    both = await search("state = ACTIVE OR state = SUPERSEDED")
    assert {"Lives in Berlin", "Lives in Paris"} <= set(both)
    assert await contents(stub, user_id) == ["Lives in Berlin", "Works as a nurse"]

    # The LLM saw numbers, never ids or the user.
    for request in fake.requests:
        sent = json.dumps(request.body)
        assert not UUID.search(sent), sent
        assert user_id not in sent


async def test_a_request_to_forget_deletes(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Likes sushi", "Has a cat named Miso"))
    sushi = (await add(stub, user_id, "I like sushi and have a cat, Miso")).events[0].memory
    fake.script(
        facts({"text": "Likes sushi", "forget": True}),
        decide(
            lambda p: [
                {
                    "fact": 0,
                    "event": "DELETE",
                    "memory": memory_id(p, "Likes sushi"),
                    "text": "Likes sushi",
                }
            ]
        ),
    )
    (event,) = (await add(stub, user_id, "Please forget that I like sushi")).events
    assert event.type == Event.DELETE
    assert event.memory.name == sushi.name
    assert await contents(stub, user_id) == ["Has a cat named Miso"]
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetMemory(svc.GetMemoryRequest(name=sushi.name))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_invented_memory_id_is_ignored_and_reported(
    stub, fake: FakeLLM, user_id: str
) -> None:
    fake.script(facts("Likes tea"))
    await add(stub, user_id, "I like tea")
    fake.script(
        facts("Likes green tea"),
        decide(lambda p: [{"fact": 0, "event": "UPDATE", "memory": 99, "text": "x"}]),
    )
    response = await add(stub, user_id, "Green tea especially")
    assert [e.type for e in response.events] == [Event.ADD]
    assert response.events[0].memory.content == "Likes green tea"
    assert any("99" in w and "not among the memories shown" in w for w in response.warnings)
    assert await contents(stub, user_id) == ["Likes green tea", "Likes tea"]


async def test_nothing_to_remember_is_reported(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts())
    response = await add(stub, user_id, "Hello! How are you?")
    assert list(response.events) == []
    assert response.warnings == ["the LLM found no facts worth remembering in the conversation"]


# Step 1's inputs


async def test_dates_instructions_and_language_reach_the_prompt(
    stub, fake: FakeLLM, user_id: str
) -> None:
    said = timestamp_pb2.Timestamp()
    said.FromJsonString("2026-03-13T09:00:00Z")
    reference = timestamp_pb2.Timestamp()
    reference.FromJsonString("2026-03-14T10:00:00Z")
    fake.script(facts({"text": "Ist am 2026-03-12 nach Berlin gezogen", "message": 0}))
    request = svc.AddMemoriesRequest(
        parent=f"users/{user_id}",
        messages=[
            memory_pb2.Message(
                role="user", content="Ich bin gestern nach Berlin gezogen", name="anna", time=said
            ),
            memory_pb2.Message(role="user", content="Und nächste Woche fange ich an"),
        ],
        reference_time=reference,
        instructions="Only remember where the user lives.",
    )
    (event,) = (await stub.AddMemories(request)).events
    assert event.memory.event_time == said  # the time of the message the fact came from
    assert event.memory.actor_id == "anna"
    (sent,) = fake.requests
    assert "Reference time: 2026-03-14T10:00:00Z (Saturday)" in sent.user
    assert (
        '[0] user "anna" at 2026-03-13T09:00:00Z (Friday): Ich bin gestern nach Berlin gezogen'
        in sent.user
    )
    assert "Only remember where the user lives." in sent.system
    assert "Never store payment card numbers." in sent.system
    assert "language the user wrote it in" in sent.system


async def test_procedural_memory_summarises_the_agents_run(
    stub, fake: FakeLLM, user_id: str
) -> None:
    summary = "Task: book a flight LIS-BER. Steps: searched; booked TP123. Remaining: hotel."
    fake.script(Reply(json={"summary": summary}))
    response = await add(
        stub,
        user_id,
        "Book me a flight from Lisbon to Berlin",
        ("assistant", "Searching... Found TP123. Booked."),
        agent_id="travel-agent",
        memory_type=memory_pb2.Memory.PROCEDURAL,
    )
    (event,) = response.events
    assert event.type == Event.ADD
    assert event.memory.content == summary
    assert event.memory.memory_type == memory_pb2.Memory.PROCEDURAL
    assert event.memory.agent_id == "travel-agent"
    assert fake.requests[0].schema_name == "summarize_run"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await add(stub, user_id, "x", memory_type=memory_pb2.Memory.PROCEDURAL)
    assert details_of(missing.value).fields == ["agent_id"]


async def test_infer_false_stores_verbatim_without_the_llm(
    stub, fake: FakeLLM, user_id: str
) -> None:
    response = await add(stub, user_id, "Book a table", ("assistant", "Done"), infer=False)
    assert [e.memory.content for e in response.events] == ["Book a table", "Done"]
    assert fake.requests == []


# Robust output


async def test_code_fenced_json(stub, fake: FakeLLM, user_id: str) -> None:
    fenced = '```json\n{"facts": [{"text": "Speaks Portuguese", "subject": "user", ' + (
        '"forget": false, "categories": [], "message": 0}]}\n```'
    )
    fake.script(Reply(content=fenced))
    response = await add(stub, user_id, "Falo português")
    assert [e.memory.content for e in response.events] == ["Speaks Portuguese"]
    assert response.usage.llm_calls == 1


async def test_prose_around_json_with_trailing_commas(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(
        Reply(
            content='Sure! Here are the facts I found:\n{"facts": [{"text": "Has two kids",},'
            "\n]}\nLet me know if you need anything else."
        )
    )
    response = await add(stub, user_id, "I have two kids")
    assert [e.memory.content for e in response.events] == ["Has two kids"]


async def test_a_broken_answer_is_repaired(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(Reply(content="The user has a dog."), facts("Has a dog"))
    response = await add(stub, user_id, "I have a dog")
    assert [e.memory.content for e in response.events] == ["Has a dog"]
    assert response.usage.llm_calls == 2


async def test_unparseable_output_fails_clearly_and_writes_nothing(
    stub, llm_server: ServerProcess, fake: FakeLLM, user_id: str
) -> None:
    raw = "I'm sorry, I can only answer in prose. You like jazz-unparseable-marker."
    fake.script(Reply(content=raw), Reply(content=raw))
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await add(stub, user_id, "I like jazz")
    error = details_of(failed.value)
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "LLM_OUTPUT_INVALID"
    assert error.metadata["model"] == "fake-model"
    assert error.metadata["llm_calls"] == "2"
    assert "fake-model" in failed.value.details()
    assert await contents(stub, user_id) == []
    await asyncio.sleep(0.2)  # let the log line reach the file
    assert "jazz-unparseable-marker" in llm_server.logs()  # at debug level only


# The endpoint failing


async def test_429_then_success(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "0.3"}), facts("Rides a bike"))
    response = await add(stub, user_id, "I ride a bike")
    assert [e.memory.content for e in response.events] == ["Rides a bike"]
    first, second = fake.requests
    assert second.time - first.time >= 0.3
    assert metric("mem0stack_llm_retries_total", cause="rate_limited") >= 1


async def test_a_timeout_is_unavailable_and_writes_nothing(
    stub, fake: FakeLLM, user_id: str
) -> None:
    slow = facts("Is slow", delay_s=1.5)
    fake.script(slow, slow)  # the first try and its one retry both time out
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await add(stub, user_id, "I am slow")
    assert time.monotonic() - started < 3.5
    error = details_of(failed.value)
    assert (error.code, error.reason, error.retry) == (
        grpc.StatusCode.UNAVAILABLE,
        "LLM_UNAVAILABLE",
        True,
    )
    assert "timed out" in failed.value.details()
    assert await contents(stub, user_id) == []
    fake.script(facts("Is fast"))  # and the next call works (closing the circuit count)
    await add(stub, user_id, "I am fast")


async def test_the_circuit_opens_while_the_endpoint_is_down_and_closes_after(
    stub, fake: FakeLLM, user_id: str
) -> None:
    fake.responder = lambda request: Reply(status=503, error="overloaded")
    for _ in range(2):  # 2 calls x 2 tries: the third failure opens the circuit
        with pytest.raises(grpc.aio.AioRpcError):
            await add(stub, user_id, "I like chess")
    assert metric("mem0stack_llm_circuit_state") == 2
    sent = len(fake.requests)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await add(stub, user_id, "I like chess")
    assert time.monotonic() - started < 0.5  # at once, no waiting for the endpoint
    assert len(fake.requests) == sent  # and without calling it
    error = details_of(refused.value)
    assert (error.code, error.reason, error.retry) == (
        grpc.StatusCode.UNAVAILABLE,
        "LLM_UNAVAILABLE",
        True,
    )
    assert "circuit breaker is open" in refused.value.details()

    fake.responder = None  # the endpoint recovers
    fake.script(facts("Likes chess"))
    await asyncio.sleep(1.1)  # MEM0STACK_LLM_BREAKER_RESET_S
    response = await add(stub, user_id, "I like chess")
    assert [e.memory.content for e in response.events] == ["Likes chess"]
    assert metric("mem0stack_llm_circuit_state") == 0


async def test_token_usage_is_reported_and_counted(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Owns a red car"))
    await add(stub, user_id, "I own a red car")
    prompt_before = metric("mem0stack_llm_tokens_total", kind="prompt")
    completion_before = metric("mem0stack_llm_tokens_total", kind="completion")
    fake.script(
        facts("Owns a blue car", prompt_tokens=200, completion_tokens=40),
        decide(
            lambda p: [
                {
                    "fact": 0,
                    "event": "SUPERSEDE",
                    "memory": memory_id(p, "Owns a red car"),
                    "text": "Owns a blue car",
                }
            ],
            prompt_tokens=300,
            completion_tokens=60,
        ),
    )
    response = await add(stub, user_id, "I sold the red car and bought a blue one")
    assert response.usage == memory_pb2.TokenUsage(
        prompt_tokens=500, completion_tokens=100, llm_calls=2
    )
    assert metric("mem0stack_llm_tokens_total", kind="prompt") - prompt_before == 500
    assert metric("mem0stack_llm_tokens_total", kind="completion") - completion_before == 100


async def test_concurrent_adds_reconcile_again_instead_of_losing_a_change(
    stub, fake: FakeLLM, user_id: str
) -> None:
    fake.script(facts("Lives in Paris"))
    await add(stub, user_id, "I live in Paris")

    def respond(request: Recorded) -> Reply:
        if request.schema_name == "extract_facts":
            city = "Munich" if "Munich" in request.user else "Berlin"
            return facts(f"Lives in {city}")
        payload = request.payload()
        (fact,) = payload["facts"]
        (shown,) = [m for m in payload["memories"] if m["text"].startswith("Lives in")]
        decision = {"fact": 0, "event": "SUPERSEDE", "memory": shown["id"], "text": fact["text"]}
        if fact["text"] == "Lives in Munich" and shown["text"] == "Lives in Paris":
            # Munich's first decision waits until Berlin has committed (within the
            # server's 1 s LLM timeout).
            munich_deciding.set()
            berlin_committed.wait(0.9)
        return Reply(json={"decisions": [decision]})

    munich_deciding, berlin_committed = threading.Event(), threading.Event()
    fake.responder = respond
    munich = asyncio.ensure_future(add(stub, user_id, "I moved to Munich"))
    for _ in range(500):
        if munich_deciding.is_set():
            break
        await asyncio.sleep(0.01)
    berlin = await add(stub, user_id, "I moved to Berlin")
    berlin_committed.set()
    munich_response = await munich
    assert berlin.events[0].previous_content == "Lives in Paris"
    # Munich's first decision named Paris, which Berlin had superseded meanwhile: it was
    # decided again against Berlin instead of superseding Paris a second time.
    (event,) = munich_response.events
    assert (event.type, event.previous_content) == (Event.SUPERSEDE, "Lives in Berlin")
    assert munich_response.usage.llm_calls == 3
    assert await contents(stub, user_id) == ["Lives in Munich"]
    history = await contents(stub, user_id, "state = SUPERSEDED")
    assert history == ["Lives in Berlin", "Lives in Paris"]


# Asynchronous mode


async def wait_done(stub: Any, name: str, timeout_s: float = 15.0) -> operation_pb2.Operation:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        op = await stub.GetOperation(operation_pb2.GetOperationRequest(name=name))
        if op.done:
            return op
        await asyncio.sleep(0.1)
    raise AssertionError(f"operation {name} not done after {timeout_s}s")


async def wait_state(stub: Any, name: str, state: int) -> None:
    for _ in range(100):
        op = await stub.GetOperation(operation_pb2.GetOperationRequest(name=name))
        if op.state == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"operation {name} never reached state {state}")


async def test_async_mode_end_to_end(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Plays padel", delay_s=0.8))
    started = time.monotonic()
    accepted = await add(stub, user_id, "I play padel", async_mode=True, request_id="req-1")
    assert time.monotonic() - started < 0.8  # answered before the LLM did
    assert list(accepted.events) == []
    assert re.fullmatch(rf"users/{user_id}/operations/{UUID.pattern}", accepted.operation)
    retried = await add(stub, user_id, "I play padel", async_mode=True, request_id="req-1")
    assert retried.operation == accepted.operation  # idempotent: the same operation

    op = await wait_done(stub, accepted.operation)
    assert op.state == operation_pb2.Operation.SUCCEEDED
    assert op.attempts == 1
    assert op.end_time.ToDatetime() >= op.start_time.ToDatetime()
    result = svc.AddMemoriesResponse()
    assert op.response.Unpack(result)
    (event,) = result.events
    assert (event.type, event.memory.content) == (Event.ADD, "Plays padel")
    assert result.usage.llm_calls == 1
    revisions = await stub.ListMemoryRevisions(
        svc.ListMemoryRevisionsRequest(name=event.memory.name)
    )
    assert [(r.event, r.request_id) for r in revisions.revisions] == [
        (memory_pb2.MemoryRevision.CREATE, "req-1")
    ]
    assert await contents(stub, user_id) == ["Plays padel"]

    # Another user's operation, or a malformed name, is not there.
    other = accepted.operation.replace(user_id, "someone-else")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetOperation(operation_pb2.GetOperationRequest(name=other))
    assert details_of(missing.value).reason == "OPERATION_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await stub.GetOperation(operation_pb2.GetOperationRequest(name="users/x/operations/1"))
    assert details_of(malformed.value).reason == "INVALID_NAME"


async def test_async_failure_is_recorded(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(Reply(content="no json"), Reply(content="still no json"))
    accepted = await add(stub, user_id, "I like jazz", async_mode=True)
    op = await wait_done(stub, accepted.operation)
    assert op.state == operation_pb2.Operation.FAILED
    assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "LLM_OUTPUT_INVALID" in op.error.details[0].value.decode(errors="replace")
    assert not op.HasField("response")
    assert await contents(stub, user_id) == []


async def test_async_invalid_request_fails_at_once(stub, fake: FakeLLM, user_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await add(stub, user_id, "", async_mode=True)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_full_queue_is_resource_exhausted(stub, fake: FakeLLM, user_id: str) -> None:
    fake.script(facts("Likes opera", delay_s=0.8), facts("Collects stamps"))
    # Whether the second fact is similar enough to need reconciliation is the embedder's
    # call; if it is, it is new.
    fake.responder = decide(lambda p: [{"fact": 0, "event": "ADD", "memory": None, "text": ""}])
    first = await add(stub, user_id, "one", async_mode=True)
    await wait_state(stub, first.operation, operation_pb2.Operation.RUNNING)
    second = await add(stub, user_id, "two", async_mode=True)  # waits in the queue (size 1)
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await add(stub, user_id, "three", async_mode=True)
    error = details_of(full.value)
    assert (error.code, error.reason, error.retry) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "OPERATION_QUEUE_FULL",
        True,
    )
    for accepted in (first, second):
        assert (await wait_done(stub, accepted.operation)).state == (
            operation_pb2.Operation.SUCCEEDED
        )
    assert await contents(stub, user_id) == ["Collects stamps", "Likes opera"]


async def test_an_operation_survives_a_server_crash(
    llm_server: ServerProcess, fake: FakeLLM, user_id: str
) -> None:
    # Last in the module: it kills the shared server and starts it again.
    fake.script(facts("Survived", delay_s=1.0), facts("Survived"))
    async with llm_server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        accepted = await add(stub, user_id, "I survive crashes", async_mode=True)
        await wait_state(stub, accepted.operation, operation_pb2.Operation.RUNNING)
    assert llm_server.process is not None
    llm_server.process.kill()  # no graceful stop: the lease must run out
    llm_server.process.wait()
    llm_server.process = None
    llm_server.start()
    async with llm_server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        op = await wait_done(stub, accepted.operation)
        assert op.state == operation_pb2.Operation.SUCCEEDED
        assert op.attempts == 2
        assert await contents(stub, user_id) == ["Survived"]  # applied exactly once
