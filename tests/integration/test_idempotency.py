"""A write retried with the same request_id is answered, not done, a second time.

Clients retry after a timeout without knowing whether the first attempt committed. The
retry must return the first answer: for AddMemories with no second LLM call (the fake LLM
records every call) and no duplicate memory; for BatchCreateMemories no second batch. A
request_id belongs to its user: the same one from two users is two requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.fake_llm import FakeLLM, facts
from tests.support.keys import create_key
from tests.support.servers import ServerProcess, free_port


@pytest.fixture(scope="module")
def llm_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("idem"),
        port=free_port(),
        env={
            **fake_llm.server_env(),
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


def add_request(user_id: str, text: str, request_id: str) -> svc.AddMemoriesRequest:
    return svc.AddMemoriesRequest(
        parent=f"users/{user_id}",
        messages=[memory_pb2.Message(role="user", content=text)],
        request_id=request_id,
    )


async def contents(stub, user_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user_id}"))
    return sorted(m.content for m in listed.memories)


async def test_add_memories_retried_returns_the_same_events_without_the_llm(
    stub, fake: FakeLLM, user_id: str
) -> None:
    fake.script(facts("Likes chess", "Lives in Oslo"))
    request = add_request(user_id, "I like chess and live in Oslo", "add-1")
    first = await stub.AddMemories(request)
    calls = len(fake.requests)
    assert calls == 1
    again = await stub.AddMemories(request)
    assert again == first
    assert len(fake.requests) == calls  # no second LLM call
    assert await contents(stub, user_id) == ["Likes chess", "Lives in Oslo"]


async def test_batch_create_retried_creates_nothing_more(stub, fake: FakeLLM, user_id: str) -> None:
    parent = f"users/{user_id}"
    request = svc.BatchCreateMemoriesRequest(
        parent=parent,
        requests=[
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content=text))
            for text in ("one", "two", "three")
        ],
        request_id="batch-1",
    )
    first = await stub.BatchCreateMemories(request)
    again = await stub.BatchCreateMemories(request)
    assert [m.name for m in again.memories] == [m.name for m in first.memories]
    assert again == first
    assert await contents(stub, user_id) == ["one", "three", "two"]
    assert fake.requests == []


async def test_the_same_request_id_from_two_users_is_two_requests(
    stub, fake: FakeLLM, user_id: str
) -> None:
    other = f"{user_id}-other"
    fake.script(facts("Likes tea"), facts("Likes coffee"))
    mine = await stub.AddMemories(add_request(user_id, "I like tea", "shared-id"))
    theirs = await stub.AddMemories(add_request(other, "I like coffee", "shared-id"))
    assert [e.memory.content for e in mine.events] == ["Likes tea"]
    assert [e.memory.content for e in theirs.events] == ["Likes coffee"]
    assert len(fake.requests) == 2
    assert await contents(stub, user_id) == ["Likes tea"]
    assert await contents(stub, other) == ["Likes coffee"]

    parent_of = {user_id: f"users/{user_id}", other: f"users/{other}"}
    batches = {
        user: await stub.BatchCreateMemories(
            svc.BatchCreateMemoriesRequest(
                parent=parent,
                requests=[
                    svc.CreateMemoryRequest(
                        parent=parent, memory=memory_pb2.Memory(content=f"note of {user}")
                    )
                ],
                request_id="shared-batch",
            )
        )
        for user, parent in parent_of.items()
    }
    for user, batch in batches.items():
        assert [m.name.rsplit("/memories/", 1)[0] for m in batch.memories] == [parent_of[user]]
        assert f"note of {user}" in await contents(stub, user)


async def test_the_same_request_id_from_two_keys_of_different_users(make_database) -> None:  # type: ignore[no-untyped-def]
    # With keys, as deployed: alice's key and bob's key each send request_id "r".
    database_url = make_database("idem_keys")
    keys = {user: create_key(database_url, "--user", user) for user in ("alice", "bob")}
    server = ServerProcess(database_url=database_url, port=free_port())
    server.start()
    try:
        made = {}
        for user, key in keys.items():
            async with server.channel(key) as channel:
                stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
                made[user] = await stub.CreateMemory(
                    svc.CreateMemoryRequest(
                        parent=f"users/{user}",
                        memory=memory_pb2.Memory(content=f"{user}'s note"),
                        request_id="r",
                    )
                )
        assert made["alice"].name.startswith("users/alice/")
        assert made["bob"].name.startswith("users/bob/")
        assert made["bob"].content == "bob's note"
    finally:
        server.stop()
