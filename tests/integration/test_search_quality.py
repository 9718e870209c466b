"""SearchMemories ranking: BM25 keyword relevance, weighted hybrid fusion, neighbouring
context (the replies stored next to a match) and the name boost, over real gRPC and
PostgreSQL."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1.memory_pb2 import Memory
from mem0stack_server.store import search as search_sql
from tests.support.errors import details_of

pytestmark = pytest.mark.asyncio

KEYWORD = svc.SearchMemoriesRequest.KEYWORD
VECTOR = svc.SearchMemoriesRequest.VECTOR
HYBRID = svc.SearchMemoriesRequest.HYBRID


async def _create(stub, user_id: str, content: str, **fields) -> Memory:  # type: ignore[no-untyped-def]
    return await stub.CreateMemory(
        svc.CreateMemoryRequest(parent=f"users/{user_id}", memory=Memory(content=content, **fields))
    )


async def _search(stub, user_id: str, query: str, **fields) -> list[str]:  # type: ignore[no-untyped-def]
    reply = await stub.SearchMemories(
        svc.SearchMemoriesRequest(parent=f"users/{user_id}", query=query, **fields)
    )
    return [r.memory.content for r in reply.results]


async def _chat(stub, user_id: str) -> None:  # type: ignore[no-untyped-def]
    """A question whose answer shares no word with it, between unrelated memories of
    another run stored in between."""
    await _create(stub, user_id, "Ana: What did you name the new puppy?", run_id="chat-1")
    await _create(stub, user_id, "Notes: renew the car insurance in March", run_id="notes")
    await _create(stub, user_id, "Ben: Biscuit, after my favourite cookie!", run_id="chat-1")
    await _create(stub, user_id, "Ana: Lovely. Is he sleeping through the night?", run_id="chat-1")
    await _create(stub, user_id, "Notes: dentist appointment on Friday", run_id="notes")


async def test_context_returns_the_reply_next_to_a_match(stub, user_id: str) -> None:
    await _chat(stub, user_id)
    query = "what name did Ben give the puppy"
    alone = await _search(stub, user_id, query, mode=KEYWORD)
    assert "Ben: Biscuit, after my favourite cookie!" in alone  # "ben" matches
    plain = await _search(stub, user_id, query, mode=KEYWORD, top_k=1)
    assert plain == ["Ana: What did you name the new puppy?"]

    with_context = await _search(
        stub, user_id, "name of the new puppy", mode=KEYWORD, context_weight=0.5, top_k=3
    )
    without = await _search(stub, user_id, "name of the new puppy", mode=KEYWORD)
    # The reply matches no query word: only neighbouring context brings it in.
    assert "Ben: Biscuit, after my favourite cookie!" not in without
    assert with_context[0] == "Ana: What did you name the new puppy?"
    assert "Ben: Biscuit, after my favourite cookie!" in with_context


async def test_context_stays_within_the_run(stub, user_id: str) -> None:
    await _chat(stub, user_id)
    found = await _search(
        stub, user_id, "name of the new puppy", mode=KEYWORD, context_weight=1.0, top_k=10
    )
    # Stored between the question and its answer, but in another run.
    assert "Notes: renew the car insurance in March" not in found
    assert "Ana: Lovely. Is he sleeping through the night?" in found


async def test_context_window_bounds_the_neighbours(stub, user_id: str) -> None:
    await _chat(stub, user_id)
    one = await _search(
        stub,
        user_id,
        "name of the new puppy",
        mode=KEYWORD,
        context_weight=1.0,
        context_window=1,
    )
    # The answer right after the question gains the question's relevance twice over.
    assert one == [
        "Ben: Biscuit, after my favourite cookie!",
        "Ana: What did you name the new puppy?",
    ]


async def test_context_neighbours_obey_the_filter(stub, user_id: str) -> None:
    await _create(stub, user_id, "Ana: What did you name the new puppy?", run_id="c", role="user")
    await _create(
        stub, user_id, "Biscuit, after my favourite cookie!", run_id="c", role="assistant"
    )
    found = await _search(
        stub,
        user_id,
        "name of the new puppy",
        mode=KEYWORD,
        context_weight=1.0,
        filter='role = "user"',
    )
    assert found == ["Ana: What did you name the new puppy?"]


async def test_hybrid_default_uses_context(stub, user_id: str) -> None:
    await _create(stub, user_id, "Ana: What did you name the new puppy?", run_id="chat-1")
    await _create(stub, user_id, "Ben: Biscuit, after my favourite cookie!", run_id="chat-1")
    # Closer to the query than the reply, each in a run of its own.
    for i, content in enumerate(
        ["The puppy school is closed on Sundays", "Puppies need a lot of sleep"]
    ):
        await _create(stub, user_id, content, run_id=f"other-{i}")
    query = "name of the new puppy"
    without = await _search(stub, user_id, query, context_weight=0)
    assert without.index("Ben: Biscuit, after my favourite cookie!") > 1
    found = await _search(stub, user_id, query)
    assert found[:2] == [
        "Ana: What did you name the new puppy?",
        "Ben: Biscuit, after my favourite cookie!",
    ]


async def test_the_reply_to_a_matching_question_outranks_other_neighbours(
    stub, user_id: str
) -> None:
    await _create(stub, user_id, "Ana: We finally adopted a dog last week.", run_id="chat-1")
    await _create(stub, user_id, "Ben: What did you name the new puppy?", run_id="chat-1")
    await _create(stub, user_id, "Ana: Biscuit, after my favourite cookie!", run_id="chat-1")
    query = "name of the new puppy"
    # Both neighbours of the question match nothing and get the same neighbour context;
    # the memory after the question is its likely answer and gets more.
    found = await _search(stub, user_id, query, mode=KEYWORD, context_weight=1.0, top_k=3)
    assert found[0] == "Ana: Biscuit, after my favourite cookie!"
    assert found[2] == "Ana: We finally adopted a dog last week."


async def test_name_boost_prefers_memories_about_the_named(stub, user_id: str) -> None:
    await _create(stub, user_id, "Alice: Bob went hiking in the Alps.")
    await _create(
        stub,
        user_id,
        "Bob: I went hiking in the Alps last summer with my cousins, and we camped by a lake.",
    )
    query = "Where did Bob go hiking?"
    # Both match "bob" and "hiking"; BM25 prefers the shorter memory ...
    plain = await _search(stub, user_id, query, mode=KEYWORD)
    assert plain[0].startswith("Alice:")
    # ... the name boost the one whose subject is Bob.
    boosted = await _search(stub, user_id, query, mode=KEYWORD, name_weight=0.5)
    assert boosted[0].startswith("Bob:")
    # A name that starts the question is not told from an ordinary capitalised word.
    assert (await _search(stub, user_id, "Bob hiking?", mode=KEYWORD, name_weight=0.5)) == plain


async def test_keyword_ranking_weighs_rare_words(stub, user_id: str) -> None:
    for content in [
        "Caroline likes green tea",
        "Caroline went hiking with friends",
        "Caroline reads a book every week",
        "Caroline moved to a new flat",
        "Rex the dog barked at the mailman",
    ]:
        await _create(stub, user_id, content)
    # "caroline" is in most memories, "rex" in one: BM25's inverse document frequency
    # puts the rare word's memory first (ts_rank would tie them).
    found = await _search(stub, user_id, "Did Caroline meet Rex?", mode=KEYWORD)
    assert found[0] == "Rex the dog barked at the mailman"
    assert len(found) == 5


async def test_keyword_weight_moves_hybrid_between_the_legs(stub, user_id: str) -> None:
    for content in [
        "She drinks a flat white every morning",
        "Morning meetings start at nine",
        "Coffee beans come from Ethiopia",
        "The train was late again",
    ]:
        await _create(stub, user_id, content)
    query = "what coffee does she have in the morning"
    kw = await _search(stub, user_id, query, mode=KEYWORD)
    vec = await _search(stub, user_id, query, mode=VECTOR)
    only_keyword = await _search(
        stub, user_id, query, mode=HYBRID, keyword_weight=1.0, context_weight=0
    )
    # Vector candidates that match no word follow, with relevance 0.
    assert only_keyword[: len(kw)] == kw
    only_vector = await _search(
        stub, user_id, query, mode=HYBRID, keyword_weight=0.0, context_weight=0
    )
    assert only_vector[: len(vec)] == vec


async def test_keyword_search_with_only_stop_words_finds_nothing(stub, user_id: str) -> None:
    await _create(stub, user_id, "Enjoys long walks")
    assert await _search(stub, user_id, "the and of", mode=KEYWORD) == []
    # HYBRID still answers from the vector leg.
    assert await _search(stub, user_id, "the and of") == ["Enjoys long walks"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"keyword_weight": 1.5}, "keyword_weight"),
        ({"keyword_weight": -0.1}, "keyword_weight"),
        ({"context_weight": 2.0}, "context_weight"),
        ({"context_window": 11}, "context_window"),
        ({"context_window": -1}, "context_window"),
        ({"name_weight": 1.5}, "name_weight"),
        ({"name_weight": -0.5}, "name_weight"),
    ],
)
async def test_search_options_are_validated(stub, user_id: str, fields: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _search(stub, user_id, "anything", **fields)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.fields == [field]


async def _fill(stub, user_id: str, count: int, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    """``count`` memories with random unit embeddings (nothing for the model to embed)."""
    vectors = rng.standard_normal((count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, count, 500):
        await stub.BatchCreateMemories(
            svc.BatchCreateMemoriesRequest(
                parent=f"users/{user_id}",
                requests=[
                    svc.CreateMemoryRequest(
                        memory=Memory(content=f"filler {i}", run_id="filler"),
                        embedding=vectors[i].tolist(),
                    )
                    for i in range(start, min(start + 500, count))
                ],
            )
        )


async def test_vector_search_in_a_scope_too_large_for_the_exact_scan(stub, user_id: str) -> None:
    # Past EXACT_SCAN_MAX memories the vector leg walks the HNSW index; a filter that
    # leaves the index short still finds every match through the exact scan.
    rng = np.random.default_rng(7)
    await _fill(stub, user_id, search_sql.EXACT_SCAN_MAX + 100, rng)
    target = rng.standard_normal(384).astype(np.float32)
    target /= np.linalg.norm(target)
    near = target + 0.005 * rng.standard_normal(384).astype(np.float32)
    await stub.CreateMemory(
        svc.CreateMemoryRequest(
            parent=f"users/{user_id}",
            memory=Memory(content="the needle", run_id="rare"),
            embedding=(near / np.linalg.norm(near)).tolist(),
        )
    )
    await _create(stub, user_id, "another rare one", run_id="rare")

    reply = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query_embedding=target.tolist(), mode=VECTOR, top_k=3
        )
    )
    assert reply.results[0].memory.content == "the needle"
    assert reply.results[0].score > 0.98

    found = await _search(stub, user_id, "rare", mode=VECTOR, filter='run_id = "rare"', top_k=10)
    assert sorted(found) == ["another rare one", "the needle"]


async def _import(stub, user_id: str, items: list[tuple[str, int]]) -> None:  # type: ignore[no-untyped-def]
    """Memories without a run, created the given seconds after a fixed moment."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from mem0stack.v1 import streams_pb2

    def stamp(seconds: int) -> Timestamp:
        moment = Timestamp()
        moment.FromSeconds(1_767_225_600 + seconds)
        return moment

    requests = [
        streams_pb2.ImportMemoriesRequest(
            parent=f"users/{user_id}" if i == 0 else "",
            memory=Memory(content=content, create_time=stamp(at), update_time=stamp(at)),
        )
        for i, (content, at) in enumerate(items)
    ]
    reply = await stub.ImportMemories(iter(requests))
    assert reply.imported == len(items)


async def test_memories_without_a_run_get_context_within_a_session(stub, user_id: str) -> None:
    # One conversation stored without a run_id: the reply matches no query word, and only
    # the time adjacency to the question brings it in.
    await _import(
        stub,
        user_id,
        [
            ("Ana: What did you name the new puppy?", 0),
            ("Ben: Biscuit, after my favourite cookie!", 40),
            ("Ana: Lovely. Is he sleeping through the night?", 95),
        ],
    )
    without = await _search(stub, user_id, "name of the new puppy", mode=KEYWORD)
    assert "Ben: Biscuit, after my favourite cookie!" not in without
    found = await _search(
        stub, user_id, "name of the new puppy", mode=KEYWORD, context_weight=0.5, top_k=3
    )
    assert found[:2] == [
        "Ana: What did you name the new puppy?",
        "Ben: Biscuit, after my favourite cookie!",
    ]


async def test_memories_without_a_run_apart_in_time_are_not_neighbours(stub, user_id: str) -> None:
    # Stored two hours apart, beyond the default session gap (30 minutes): no context.
    await _import(
        stub,
        user_id,
        [
            ("Ana: What did you name the new puppy?", 0),
            ("Ben: Biscuit, after my favourite cookie!", 7200),
        ],
    )
    found = await _search(
        stub, user_id, "name of the new puppy", mode=KEYWORD, context_weight=1.0, top_k=3
    )
    assert found == ["Ana: What did you name the new puppy?"]


async def test_an_assistants_reply_gets_no_context(stub, user_id: str) -> None:
    # A question, then a reply that matches no query word: from another person the reply is
    # brought in by its question (neighbouring context and the reply boost); from the
    # assistant it is not, by default (search_assistant_context = 0), although its question
    # matches the query better than the person's does.
    chats = (
        ("people", "Any name for the puppy yet?", "user"),
        ("assistant-chat", "What did you name the new puppy?", "assistant"),
    )
    for run, question, role in chats:
        await _create(stub, user_id, question, run_id=run, role="user")
        await _create(stub, user_id, f"Biscuit ({role})", run_id=run, role=role)
    found = await _search(
        stub, user_id, "name of the new puppy", mode=KEYWORD, context_weight=0.5, top_k=4
    )
    assert found[2:] == ["Biscuit (user)", "Biscuit (assistant)"]
