"""Graph memory, end to end: a real server process, real PostgreSQL, a real Neo4j 5.26
(embedded, started once for the module by tests/support/neo4j.py) and the scripted
OpenAI-compatible LLM server.

Graph updates are applied by the server's outbox worker after AddMemories returns, so the
LLM answers are routed by request kind (fact extraction, reconciliation, graph extraction,
contradiction check) rather than by order, and tests wait for the user's graph status to
show nothing pending before they look at the graph.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from mem0stack.v1 import graph_pb2, graph_service_pb2_grpc, memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import graph_service_pb2 as gsvc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts
from tests.support.neo4j import Neo4jProcess, TcpProxy
from tests.support.servers import ServerProcess, free_port

Event = memory_pb2.MemoryEvent
Relation = graph_pb2.Relation


@pytest.fixture(scope="module")
def neo4j() -> Iterator[Neo4jProcess]:
    process = Neo4jProcess()
    process.start()
    yield process
    process.stop()


def _env(fake: FakeLLM, neo4j_uri: str, **extra: str) -> dict[str, str]:
    return {
        **fake.server_env(),
        "MEM0STACK_LLM_TIMEOUT_S": "5",
        "MEM0STACK_LLM_MAX_RETRIES": "0",
        "MEM0STACK_NEO4J_URI": neo4j_uri,
        "MEM0STACK_GRAPH_OUTBOX_POLL_S": "0.2",
        "MEM0STACK_GRAPH_RETRY_MAX_S": "0.5",
        **extra,
    }


@pytest.fixture(scope="module")
def graph_server(make_database, fake_llm: FakeLLM, neo4j: Neo4jProcess) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("graph"), port=free_port(), env=_env(fake_llm, neo4j.uri)
    )
    process.start()
    yield process
    process.stop()


class Router:
    """Answers LLM requests by kind: queued replies first, then the kind's default."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply | Callable[[Recorded], Reply]]] = {}
        self.defaults: dict[str, Callable[[Recorded], Reply]] = {
            # Reconciliation adds every fact unless a test says otherwise.
            "reconcile_memories": lambda r: Reply(
                json={
                    "decisions": [
                        {"fact": f["index"], "event": "ADD", "memory": None, "text": f["text"]}
                        for f in r.payload()["facts"]
                    ]
                }
            ),
            "contradict_relations": lambda r: Reply(json={"contradicted": []}),
        }

    def add(self, kind: str, *replies: Reply | Callable[[Recorded], Reply]) -> None:
        self.queues.setdefault(kind, deque()).extend(replies)

    def __call__(self, request: Recorded) -> Reply:
        queue = self.queues.get(request.schema_name)
        if queue:
            item = queue.popleft()
            return item if isinstance(item, Reply) else item(request)
        default = self.defaults.get(request.schema_name)
        if default is None:
            return Reply(status=500, error=f"no scripted answer for {request.schema_name}")
        return default(request)

    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values())


@pytest.fixture
def llm(fake_llm: FakeLLM) -> Iterator[Router]:
    fake_llm.reset()
    router = Router()
    fake_llm.responder = router
    yield router
    assert router.pending() == 0, "a scripted LLM answer was never asked for"


@dataclass
class Stubs:
    memories: memory_service_pb2_grpc.MemoryServiceStub
    graph: graph_service_pb2_grpc.GraphServiceStub


@pytest.fixture
async def stubs(graph_server: ServerProcess) -> AsyncIterator[Stubs]:
    async with graph_server.channel() as channel:
        yield Stubs(
            memory_service_pb2_grpc.MemoryServiceStub(channel),
            graph_service_pb2_grpc.GraphServiceStub(channel),
        )


def graph(*entities: tuple[str, str], relations: list[tuple[str, str, str, list[int]]]) -> Reply:
    """A graph extraction answer."""
    return Reply(
        json={
            "entities": [{"name": n, "type": t} for n, t in entities],
            "relations": [
                {"source": s, "relation": r, "target": t, "memories": m} for s, r, t, m in relations
            ],
        }
    )


async def add(stubs: Stubs, user_id: str, *turns: str) -> svc.AddMemoriesResponse:
    response: svc.AddMemoriesResponse = await stubs.memories.AddMemories(
        svc.AddMemoriesRequest(
            parent=f"users/{user_id}",
            messages=[memory_pb2.Message(role="user", content=t) for t in turns],
        )
    )
    return response


async def settled(stubs: Stubs, user_id: str, timeout_s: float = 60.0) -> graph_pb2.GraphStatus:
    """Wait until no graph update of the user is pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: graph_pb2.GraphStatus = await stubs.graph.GetGraphStatus(
            gsvc.GetGraphStatusRequest(name=f"users/{user_id}/graphStatus")
        )
        if status.pending_jobs == 0:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"graph still pending: {status}")
        await asyncio.sleep(0.1)


async def entities(stubs: Stubs, user_id: str, filter: str = "") -> list[graph_pb2.Entity]:
    listed = await stubs.graph.ListEntities(
        gsvc.ListEntitiesRequest(parent=f"users/{user_id}", filter=filter)
    )
    return list(listed.entities)


async def relations(
    stubs: Stubs, user_id: str, filter: str = "", show_invalid: bool = False
) -> list[graph_pb2.Relation]:
    listed = await stubs.graph.ListRelations(
        gsvc.ListRelationsRequest(
            parent=f"users/{user_id}", filter=filter, show_invalid=show_invalid
        )
    )
    return list(listed.relations)


def triples(found: list[graph_pb2.Relation]) -> set[tuple[str, str, str]]:
    return {(r.source_display_name, r.relation, r.target_display_name) for r in found}


def memory_names(response: svc.AddMemoriesResponse) -> dict[str, str]:
    return {e.memory.content: e.memory.name for e in response.events}


# Writing


async def test_extraction_writes_entities_and_relations(
    stubs: Stubs, llm: Router, fake_llm: FakeLLM, user_id: str
) -> None:
    llm.add("extract_facts", facts("Has a sister named Alice", "Alice works at Acme"))
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"),
            ("Alice", "person"),
            ("Acme", "organization"),
            relations=[("Alice", "sister_of", "me", [0]), ("Alice", "works_at", "Acme", [1])],
        ),
    )
    response = await add(stubs, user_id, "My sister Alice works at Acme.")
    names = memory_names(response)
    await settled(stubs, user_id)

    request = fake_llm.calls("extract_graph")[0]
    assert "My sister Alice works at Acme." in request.user
    assert "[0] Has a sister named Alice" in request.user

    found = await entities(stubs, user_id)
    assert sorted((e.display_name, e.entity_type, e.is_user) for e in found) == sorted(
        [(user_id, "person", True), ("Alice", "person", False), ("Acme", "organization", False)]
    )
    alice = next(e for e in found if e.display_name == "Alice")
    assert sorted(alice.memories) == sorted(names.values())
    listed = await relations(stubs, user_id)
    assert triples(listed) == {("Alice", "sister_of", user_id), ("Alice", "works_at", "Acme")}
    by_type = {r.relation: r for r in listed}
    assert list(by_type["sister_of"].memories) == [names["Has a sister named Alice"]]
    assert list(by_type["works_at"].memories) == [names["Alice works at Acme"]]
    assert all(r.state == Relation.VALID and r.HasField("valid_time") for r in listed)


async def test_entity_resolution_merges_and_keeps_apart(
    stubs: Stubs, llm: Router, user_id: str
) -> None:
    steps = [
        ("Alice", "friend_of"),
        ("alice", "likes"),  # same name, other case
        ("Alice Smith", "works_with"),  # the more complete name of the same person
        ("Bob", "friend_of"),  # someone else
        ("Alice Jones", "neighbour_of"),  # not Alice Smith
    ]
    for name, relation in steps:
        llm.add("extract_facts", facts(f"{name} is {relation.replace('_', ' ')} the user"))
        llm.add(
            "extract_graph",
            graph(("USER", "person"), (name, "person"), relations=[(name, relation, "USER", [0])]),
        )
        await add(stubs, user_id, f"About {name}.")
        await settled(stubs, user_id)

    people = {e.display_name: e for e in await entities(stubs, user_id, "is_user = false")}
    assert set(people) == {"Alice Smith", "Bob", "Alice Jones"}
    assert set(people["Alice Smith"].aliases) == {"alice", "alice smith"}
    assert len(people["Alice Smith"].memories) == 3
    listed = await relations(stubs, user_id, f'entity = "{people["Alice Smith"].name}"')
    assert {r.relation for r in listed} == {"friend_of", "likes", "works_with"}
    # Filters see the merged node under any of its names.
    assert [e.display_name for e in await entities(stubs, user_id, 'alias = "ALICE"')] == [
        "Alice Smith"
    ]


async def test_contradiction_invalidates_and_keeps_history(
    stubs: Stubs, llm: Router, user_id: str
) -> None:
    # 1. Through the memories: "Lives in Berlin" supersedes "Lives in Paris".
    llm.add("extract_facts", facts("Lives in Paris"))
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"), ("Paris", "place"), relations=[("USER", "lives_in", "Paris", [0])]
        ),
    )
    await add(stubs, user_id, "I live in Paris.")
    await settled(stubs, user_id)
    llm.add("extract_facts", facts("Lives in Berlin"))
    llm.add(
        "reconcile_memories",
        Reply(
            json={
                "decisions": [
                    {"fact": 0, "event": "SUPERSEDE", "memory": 0, "text": "Lives in Berlin"}
                ]
            }
        ),
    )
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"), ("Berlin", "place"), relations=[("USER", "lives_in", "Berlin", [0])]
        ),
    )
    response = await add(stubs, user_id, "I moved to Berlin.")
    assert [e.type for e in response.events] == [Event.SUPERSEDE]
    await settled(stubs, user_id)

    assert triples(await relations(stubs, user_id)) == {(user_id, "lives_in", "Berlin")}
    history = await relations(stubs, user_id, 'relation = "lives_in"', show_invalid=True)
    states = {r.target_display_name: r for r in history}
    assert states["Paris"].state == Relation.INVALID and states["Paris"].HasField("invalid_time")
    assert states["Berlin"].state == Relation.VALID and not states["Berlin"].HasField(
        "invalid_time"
    )
    assert triples(await relations(stubs, user_id, "state = INVALID")) == {
        (user_id, "lives_in", "Paris")
    }

    # 2. Through the graph: the memories kept both jobs, the graph's check did not.
    llm.add("extract_facts", facts("Works at Acme"))
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"),
            ("Acme", "organization"),
            relations=[("USER", "works_at", "Acme", [0])],
        ),
    )
    await add(stubs, user_id, "I work at Acme.")
    await settled(stubs, user_id)
    llm.add("extract_facts", facts("Works at Initech"))
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"),
            ("Initech", "organization"),
            relations=[("USER", "works_at", "Initech", [0])],
        ),
    )

    def contradicted(request: Recorded) -> Reply:
        stored = request.payload()["stored"]
        assert [(s["relation"], s["target"]) for s in stored] == [("works_at", "Acme")]
        return Reply(json={"contradicted": [stored[0]["id"]]})

    llm.add("contradict_relations", contradicted)
    await add(stubs, user_id, "I changed jobs, I'm at Initech now.")
    await settled(stubs, user_id)
    valid = triples(await relations(stubs, user_id, 'relation = "works_at"'))
    assert valid == {(user_id, "works_at", "Initech")}
    invalid = await relations(stubs, user_id, 'relation = "works_at" AND state = INVALID')
    assert triples(invalid) == {(user_id, "works_at", "Acme")}


async def test_deleting_memories_cleans_the_graph(stubs: Stubs, llm: Router, user_id: str) -> None:
    llm.add("extract_facts", facts("Has a dog named Rex", "Rex likes the park"))
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"),
            ("Rex", "pet"),
            ("the park", "place"),
            relations=[("USER", "owns", "Rex", [0]), ("Rex", "likes", "the park", [1])],
        ),
    )
    names = memory_names(await add(stubs, user_id, "My dog Rex loves the park."))
    await settled(stubs, user_id)
    assert len(await relations(stubs, user_id)) == 2

    await stubs.memories.DeleteMemory(svc.DeleteMemoryRequest(name=names["Rex likes the park"]))
    await settled(stubs, user_id)
    assert triples(await relations(stubs, user_id, show_invalid=True)) == {(user_id, "owns", "Rex")}
    # The park was only in the deleted memory; Rex and the user are still mentioned.
    assert {e.display_name for e in await entities(stubs, user_id)} == {user_id, "Rex"}

    deleted = await stubs.memories.BatchDeleteMemories(
        svc.BatchDeleteMemoriesRequest(parent=f"users/{user_id}", confirm=True)
    )
    assert deleted.deleted_count == 1
    await settled(stubs, user_id)
    assert await entities(stubs, user_id) == []
    assert await relations(stubs, user_id, show_invalid=True) == []


async def test_neo4j_down_during_add_then_the_outbox_catches_up(
    make_database, fake_llm: FakeLLM, llm: Router, neo4j: Neo4jProcess, user_id: str
) -> None:  # type: ignore[no-untyped-def]
    proxy = TcpProxy(neo4j.port)  # Neo4j as this server sees it: down from the start
    server = ServerProcess(
        database_url=make_database("graphdown"),
        port=free_port(),
        env=_env(fake_llm, f"bolt://127.0.0.1:{proxy.port}", MEM0STACK_NEO4J_TIMEOUT_S="1"),
    )
    server.start()
    try:
        async with server.channel() as channel:
            stubs = Stubs(
                memory_service_pb2_grpc.MemoryServiceStub(channel),
                graph_service_pb2_grpc.GraphServiceStub(channel),
            )
            llm.add("extract_facts", facts("Plays chess with Carol"))
            llm.add(
                "extract_graph",
                graph(
                    ("USER", "person"),
                    ("Carol", "person"),
                    relations=[("USER", "plays_chess_with", "Carol", [0])],
                ),
            )
            response = await add(stubs, user_id, "I play chess with Carol.")
            assert [e.type for e in response.events] == [Event.ADD]
            listed = await stubs.memories.ListMemories(
                svc.ListMemoriesRequest(parent=f"users/{user_id}")
            )
            assert [m.content for m in listed.memories] == ["Plays chess with Carol"]

            # The update waits, and says why.
            status = await _wait(
                lambda: stubs.graph.GetGraphStatus(
                    gsvc.GetGraphStatusRequest(name=f"users/{user_id}/graphStatus")
                ),
                lambda s: "Neo4j" in s.last_error,
            )
            assert status.pending_jobs == 1 and status.HasField("oldest_pending_time")
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stubs.graph.ListRelations(
                    gsvc.ListRelationsRequest(parent=f"users/{user_id}")
                )
            details = details_of(raised.value)
            assert (details.code, details.reason, details.retry) == (
                grpc.StatusCode.UNAVAILABLE,
                "GRAPH_UNAVAILABLE",
                True,
            )

            proxy.up()
            await settled(stubs, user_id)
            assert triples(await relations(stubs, user_id)) == {
                (user_id, "plays_chess_with", "Carol")
            }
            # The extraction was kept between attempts: the LLM was asked once.
            assert len(fake_llm.calls("extract_graph")) == 1
    finally:
        server.stop()
        proxy.down()


async def _wait(call: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await call()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached: {value}")
        await asyncio.sleep(0.1)


# Reading


async def _family(stubs: Stubs, llm: Router, user_id: str) -> dict[str, str]:
    llm.add(
        "extract_facts",
        facts("Has a sister named Alice", "Alice works at Acme as an engineer", "Likes jazz"),
    )
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"),
            ("Alice", "person"),
            ("Acme", "organization"),
            ("jazz", "music"),
            relations=[
                ("Alice", "sister_of", "USER", [0]),
                ("Alice", "works_at", "Acme", [1]),
                ("USER", "likes", "jazz", [2]),
            ],
        ),
    )
    names = memory_names(
        await add(stubs, user_id, "My sister Alice is an engineer at Acme. I like jazz.")
    )
    await settled(stubs, user_id)
    return names


async def test_search_returns_relations_and_boosts_their_memories(
    stubs: Stubs, llm: Router, user_id: str
) -> None:
    names = await _family(stubs, llm, user_id)
    query = "Where does my sister work?"
    plain = await stubs.memories.SearchMemories(
        svc.SearchMemoriesRequest(parent=f"users/{user_id}", query=query, top_k=3)
    )
    assert list(plain.relations) == []

    found = await stubs.memories.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query=query, top_k=3, include_relations=True
        )
    )
    ranked = [
        (r.relation.source_display_name, r.relation.relation, r.relation.target_display_name)
        for r in found.relations
    ]
    assert ranked[0] == ("Alice", "sister_of", user_id)
    assert ("Alice", "works_at", "Acme") in ranked
    hops = {r.relation.relation: r.hops for r in found.relations}
    assert hops["sister_of"] == 1 and hops["works_at"] == 2
    scores = [r.score for r in found.relations]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert [r.memory.name for r in found.results] == [r.memory.name for r in plain.results]

    # Named entity, one hop: "Acme".
    acme = await stubs.memories.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query="Who works at Acme?", include_relations=True
        )
    )
    assert acme.relations[0].relation.relation == "works_at"

    vector = await stubs.memories.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query=query, top_k=3, mode=svc.SearchMemoriesRequest.VECTOR
        )
    )
    similarity = {r.memory.name: r.score for r in vector.results}
    boosted = await stubs.memories.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}",
            query=query,
            top_k=1,
            mode=svc.SearchMemoriesRequest.VECTOR,
            graph_boost=1.0,
        )
    )
    assert [r.memory.name for r in boosted.results] == [names["Has a sister named Alice"]]
    sister = names["Has a sister named Alice"]
    assert boosted.results[0].score > similarity[sister]  # its similarity plus the boost

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.memories.SearchMemories(
            svc.SearchMemoriesRequest(parent=f"users/{user_id}", query=query, graph_boost=2)
        )
    assert details_of(raised.value).fields == ["graph_boost"]


async def test_get_entity_neighbourhood_pagination_and_delete(
    stubs: Stubs, llm: Router, user_id: str
) -> None:
    await _family(stubs, llm, user_id)
    (alice,) = await entities(stubs, user_id, 'display_name = "Ali*"')
    one = await stubs.graph.GetEntity(gsvc.GetEntityRequest(name=alice.name))
    assert one.entity == alice
    assert {r.relation for r in one.relations} == {"sister_of", "works_at"}
    assert {n.display_name for n in one.neighbours} == {user_id, "Acme"}
    two = await stubs.graph.GetEntity(gsvc.GetEntityRequest(name=alice.name, hops=2))
    assert {r.relation for r in two.relations} == {"sister_of", "works_at", "likes"}
    assert "jazz" in {n.display_name for n in two.neighbours}

    pages: list[str] = []
    token = ""
    while True:
        page = await stubs.graph.ListRelations(
            gsvc.ListRelationsRequest(parent=f"users/{user_id}", page_size=2, page_token=token)
        )
        pages.append(",".join(r.relation for r in page.relations))
        token = page.next_page_token
        if not token:
            break
    assert len(pages) == 2 and sorted(",".join(pages).split(",")) == [
        "likes",
        "sister_of",
        "works_at",
    ]
    people = await entities(stubs, user_id, 'entity_type = "person" AND is_user = false')
    assert [e.display_name for e in people] == ["Alice"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await entities(stubs, user_id, 'colour = "red"')
    assert details_of(raised.value).reason == "UNKNOWN_FILTER_FIELD"

    await stubs.graph.DeleteEntity(gsvc.DeleteEntityRequest(name=alice.name))
    assert triples(await relations(stubs, user_id)) == {(user_id, "likes", "jazz")}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.graph.GetEntity(gsvc.GetEntityRequest(name=alice.name))
    assert (details_of(raised.value).code, details_of(raised.value).reason) == (
        grpc.StatusCode.NOT_FOUND,
        "ENTITY_NOT_FOUND",
    )


async def test_users_graphs_are_isolated(stubs: Stubs, llm: Router, user_id: str) -> None:
    other = f"{user_id}-other"
    await _family(stubs, llm, user_id)
    llm.add("extract_facts", facts("Has a friend named Alice"))
    llm.add(
        "extract_graph",
        graph(
            ("USER", "person"), ("Alice", "person"), relations=[("Alice", "friend_of", "USER", [0])]
        ),
    )
    await add(stubs, other, "My friend Alice.")
    await settled(stubs, other)

    # The same name is a different entity for another user.
    mine = {e.display_name: e for e in await entities(stubs, user_id)}
    theirs = {e.display_name: e for e in await entities(stubs, other)}
    assert set(theirs) == {other, "Alice"}
    assert mine["Alice"].uid != theirs["Alice"].uid
    assert triples(await relations(stubs, other)) == {("Alice", "friend_of", other)}
    found = await stubs.memories.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{other}", query="Where does Alice work?", include_relations=True
        )
    )
    assert {r.relation.relation for r in found.relations} == {"friend_of"}
    # Another user's entity under this user's name does not exist.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.graph.GetEntity(
            gsvc.GetEntityRequest(name=f"users/{other}/entities/{mine['Alice'].uid}")
        )
    assert details_of(raised.value).reason == "ENTITY_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError):
        await stubs.graph.DeleteEntity(
            gsvc.DeleteEntityRequest(name=f"users/{other}/entities/{mine['Alice'].uid}")
        )
    assert "Alice" in {e.display_name for e in await entities(stubs, user_id)}


async def test_without_neo4j_graph_memory_is_off(server: ServerProcess, user_id: str) -> None:
    async with server.channel() as channel:
        graph_stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await graph_stub.ListEntities(gsvc.ListEntitiesRequest(parent=f"users/{user_id}"))
        assert (details_of(raised.value).code, details_of(raised.value).reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "GRAPH_DISABLED",
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await memories.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=f"users/{user_id}", query="anything", include_relations=True
                )
            )
        assert details_of(raised.value).reason == "GRAPH_DISABLED"
        # Everything else is unchanged.
        await memories.CreateMemory(
            svc.CreateMemoryRequest(
                parent=f"users/{user_id}", memory=memory_pb2.Memory(content="Likes tea")
            )
        )
        found = await memories.SearchMemories(
            svc.SearchMemoriesRequest(parent=f"users/{user_id}", query="tea")
        )
        assert [r.memory.content for r in found.results] == ["Likes tea"]
