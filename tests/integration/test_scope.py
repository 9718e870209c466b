"""Agents of one user keep their memories apart when the LLM reconciles.

AddMemories under agent B compares new facts with B's memories only: the memories of agent
A (same user) are never shown to the LLM (the fake LLM records every prompt), never
superseded, updated or deleted, and a fact A already holds is not deduplicated against A's
copy: B gets its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts, memory_id
from tests.support.servers import ServerProcess, free_port

Event = memory_pb2.MemoryEvent
A_ONLY = "Lives in Paris near the Louvre"


@pytest.fixture(scope="module")
def llm_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("scope"),
        port=free_port(),
        env={
            **fake_llm.server_env(),
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def stub(
    llm_server: ServerProcess,
) -> AsyncIterator[memory_service_pb2_grpc.MemoryServiceStub]:
    async with llm_server.channel() as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel)


async def listed(stub, user_id: str, agent: str) -> list[memory_pb2.Memory]:  # type: ignore[no-untyped-def]
    reply = await stub.ListMemories(
        svc.ListMemoriesRequest(
            parent=f"users/{user_id}",
            filter=f'agent_id = "{agent}" AND (state = ACTIVE OR state = SUPERSEDED)',
        )
    )
    return sorted(reply.memories, key=lambda m: m.content)


async def test_another_agents_memories_are_never_shown_or_changed(
    stub, fake_llm: FakeLLM, user_id: str
) -> None:
    parent = f"users/{user_id}"
    for agent, text in (("a", A_ONLY), ("a", "Likes chess"), ("b", "Lives in Rome")):
        await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent=parent, memory=memory_pb2.Memory(content=text, agent_id=agent)
            )
        )
    before_a = await listed(stub, user_id, "a")

    shown: list[list[str]] = []

    def respond(request: Recorded) -> Reply:
        if request.schema_name == "extract_facts":
            return facts("Lives in Berlin", "Likes chess")
        payload = request.payload()
        shown.append([m["text"] for m in payload["memories"]])
        # Whatever the model is shown, it tries to supersede every memory with the move.
        return Reply(
            json={
                "decisions": [
                    {
                        "fact": 0,
                        "event": "SUPERSEDE",
                        "memory": memory_id(payload, m["text"]),
                        "text": "Lives in Berlin",
                    }
                    for m in payload["memories"]
                    if m["text"].startswith("Lives in")
                ]
            }
        )

    fake_llm.reset()
    fake_llm.responder = respond
    try:
        response = await stub.AddMemories(
            svc.AddMemoriesRequest(
                parent=parent,
                agent_id="b",
                messages=[
                    memory_pb2.Message(role="user", content="I moved to Berlin; I like chess")
                ],
            )
        )
    finally:
        fake_llm.responder = None

    # No prompt of any kind carried agent a's memories.
    for request in fake_llm.requests:
        for message in request.body["messages"]:
            assert "Louvre" not in str(message["content"]), request.schema_name
    assert shown and all("Likes chess" not in texts for texts in shown), shown
    assert all(A_ONLY not in texts for texts in shown), shown

    events = {(e.type, e.memory.content, e.previous_content) for e in response.events}
    assert events == {
        (Event.SUPERSEDE, "Lives in Berlin", "Lives in Rome"),
        # Agent a has the same fact: b gets its own copy, not a NOOP against a's.
        (Event.ADD, "Likes chess", ""),
    }
    assert all(e.memory.agent_id == "b" for e in response.events)
    # Agent a's memories are exactly as they were.
    assert await listed(stub, user_id, "a") == before_a
    b = await listed(stub, user_id, "b")
    assert [(m.content, m.state) for m in b] == [
        ("Likes chess", memory_pb2.Memory.ACTIVE),
        ("Lives in Berlin", memory_pb2.Memory.ACTIVE),
        ("Lives in Rome", memory_pb2.Memory.SUPERSEDED),
    ]


async def test_the_same_fact_under_two_agents_is_two_memories(
    stub, fake_llm: FakeLLM, user_id: str
) -> None:
    # The exact-text shortcut (a NOOP without asking the LLM) stays inside the agent too.
    parent = f"users/{user_id}"
    fake_llm.reset()
    fake_llm.script(facts("Prefers window seats"), facts("Prefers window seats"))
    for agent in ("a", "b"):
        reply = await stub.AddMemories(
            svc.AddMemoriesRequest(
                parent=parent,
                agent_id=agent,
                messages=[memory_pb2.Message(role="user", content="I prefer window seats")],
            )
        )
        assert [(e.type, e.memory.agent_id) for e in reply.events] == [(Event.ADD, agent)]
    assert fake_llm.calls("reconcile_memories") == []
