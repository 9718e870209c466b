"""MemoryService over real gRPC against a real server process and PostgreSQL + pgvector."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2

from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of

Memory = memory_pb2.Memory


def _metadata(**values: object) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


async def _create(stub, user_id: str, content: str, **fields) -> memory_pb2.Memory:  # type: ignore[no-untyped-def]
    return await stub.CreateMemory(
        svc.CreateMemoryRequest(parent=f"users/{user_id}", memory=Memory(content=content, **fields))
    )


async def _error(call) -> object:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details_of(caught.value)


# CRUD


async def test_create_get_update_delete(stub, user_id: str) -> None:
    created = await _create(
        stub,
        user_id,
        "Prefers window seats on long flights",
        agent_id="travel",
        metadata=_metadata(source="chat", priority=2),
        categories=["travel"],
    )
    assert created.name.startswith(f"users/{user_id}/memories/")
    assert created.uid == created.name.rsplit("/", 1)[1]
    assert created.state == Memory.ACTIVE
    assert created.memory_type == Memory.SEMANTIC
    assert created.hash and created.etag
    assert created.metadata["source"] == "chat"
    assert created.create_time == created.update_time

    got = await stub.GetMemory(svc.GetMemoryRequest(name=created.name))
    assert got == created

    updated = await stub.UpdateMemory(
        svc.UpdateMemoryRequest(
            memory=Memory(name=created.name, content="Prefers aisle seats on long flights"),
            update_mask=field_mask_pb2.FieldMask(paths=["content"]),
        )
    )
    assert updated.content == "Prefers aisle seats on long flights"
    assert updated.metadata == created.metadata  # not in the mask: untouched
    assert updated.etag != created.etag
    assert updated.hash != created.hash
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()

    # The new content was re-embedded: a search for it finds it first.
    found = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query="aisle seat", mode=svc.SearchMemoriesRequest.VECTOR
        )
    )
    assert found.results[0].memory.name == created.name

    await stub.DeleteMemory(svc.DeleteMemoryRequest(name=created.name))
    err = await _error(stub.GetMemory(svc.GetMemoryRequest(name=created.name)))
    assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND")


async def test_empty_update_mask_updates_every_populated_field(stub, user_id: str) -> None:
    created = await _create(stub, user_id, "Likes jazz", metadata=_metadata(mood="calm"))
    updated = await stub.UpdateMemory(
        svc.UpdateMemoryRequest(memory=Memory(name=created.name, categories=["music"]))
    )
    assert list(updated.categories) == ["music"]
    assert updated.content == "Likes jazz"
    assert updated.metadata["mood"] == "calm"


async def test_update_with_stale_etag_is_aborted_and_changes_nothing(stub, user_id: str) -> None:
    created = await _create(stub, user_id, "Owns a cat named Miso")
    await stub.UpdateMemory(
        svc.UpdateMemoryRequest(
            memory=Memory(name=created.name, content="Owns two cats", etag=created.etag)
        )
    )
    err = await _error(
        stub.UpdateMemory(
            svc.UpdateMemoryRequest(
                memory=Memory(name=created.name, content="Owns a dog", etag=created.etag)
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    err = await _error(
        stub.DeleteMemory(svc.DeleteMemoryRequest(name=created.name, etag=created.etag))
    )
    assert err.reason == "ETAG_MISMATCH"
    got = await stub.GetMemory(svc.GetMemoryRequest(name=created.name))
    assert got.content == "Owns two cats"


async def test_scope_fields_are_immutable(stub, user_id: str) -> None:
    created = await _create(stub, user_id, "Works at a bakery", agent_id="a1")
    err = await _error(
        stub.UpdateMemory(
            svc.UpdateMemoryRequest(
                memory=Memory(name=created.name, agent_id="a2"),
                update_mask=field_mask_pb2.FieldMask(paths=["agent_id"]),
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD_MASK")
    err = await _error(
        stub.UpdateMemory(
            svc.UpdateMemoryRequest(memory=Memory(name=created.name, agent_id="a2", content="x"))
        )
    )
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        await stub.GetMemory(svc.GetMemoryRequest(name=created.name))
    ).content == "Works at a bakery"


async def test_create_with_request_id_is_idempotent(stub, user_id: str) -> None:
    request = svc.CreateMemoryRequest(
        parent=f"users/{user_id}", memory=Memory(content="Allergic to peanuts"), request_id="req-1"
    )
    first = await stub.CreateMemory(request)
    again = await stub.CreateMemory(request)
    assert again == first
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user_id}"))
    assert [m.name for m in listed.memories] == [first.name]

    request.memory.content = "Allergic to shellfish"
    err = await _error(stub.CreateMemory(request))
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED")


async def test_batch_create_is_atomic(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    ok = await stub.BatchCreateMemories(
        svc.BatchCreateMemoriesRequest(
            parent=parent,
            requests=[
                svc.CreateMemoryRequest(memory=Memory(content=f"fact {i}")) for i in range(5)
            ],
        )
    )
    assert [m.content for m in ok.memories] == [f"fact {i}" for i in range(5)]
    err = await _error(
        stub.BatchCreateMemories(
            svc.BatchCreateMemoriesRequest(
                parent=parent,
                requests=[
                    svc.CreateMemoryRequest(memory=Memory(content="valid")),
                    svc.CreateMemoryRequest(memory=Memory(content="   ")),
                ],
            )
        )
    )
    assert err.reason == "INVALID_CONTENT"
    assert err.fields == ["requests[1].memory.content"]
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
    assert len(listed.memories) == 5  # nothing of the failed batch was written


# AddMemories without an LLM


async def test_add_memories_without_llm_stores_user_messages_and_skips_duplicates(
    stub, user_id: str
) -> None:
    parent = f"users/{user_id}"
    first = await stub.AddMemories(
        svc.AddMemoriesRequest(
            parent=parent,
            messages=[
                memory_pb2.Message(role="user", content="I am vegetarian", name="sam"),
                memory_pb2.Message(
                    role="assistant", content="Noted, I'll suggest vegetarian places."
                ),
                memory_pb2.Message(role="user", content="I live in Lisbon"),
            ],
            run_id="chat-1",
        )
    )
    assert [e.type for e in first.events] == [memory_pb2.MemoryEvent.ADD] * 2
    assert [e.memory.content for e in first.events] == ["I am vegetarian", "I live in Lisbon"]
    assert first.events[0].memory.actor_id == "sam"
    assert first.events[0].memory.role == "user"
    assert first.events[0].memory.run_id == "chat-1"
    # The caller asked for inference and got none: the response says so, and how to fix it.
    (warning,) = first.warnings
    assert "no LLM is configured" in warning and "MEM0STACK_LLM_MODEL" in warning

    again = await stub.AddMemories(
        svc.AddMemoriesRequest(
            parent=parent,
            messages=[
                memory_pb2.Message(role="user", content="I am vegetarian."),  # near duplicate
                memory_pb2.Message(role="user", content="I play the cello"),
            ],
            run_id="chat-1",
        )
    )
    assert [e.type for e in again.events] == [
        memory_pb2.MemoryEvent.NOOP,
        memory_pb2.MemoryEvent.ADD,
    ]
    assert again.events[0].memory.name == first.events[0].memory.name
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
    assert len(listed.memories) == 3


def test_start_up_log_says_no_llm_is_configured(server) -> None:  # type: ignore[no-untyped-def]
    log = server.log_path.read_text()
    assert "no LLM configured" in log and "MEM0STACK_LLM_MODEL" in log


async def test_add_memories_with_infer_false_stores_every_message(stub, user_id: str) -> None:
    response = await stub.AddMemories(
        svc.AddMemoriesRequest(
            parent=f"users/{user_id}",
            messages=[
                memory_pb2.Message(role="user", content="Book a table for two"),
                memory_pb2.Message(role="assistant", content="Booked for 8pm"),
            ],
            infer=False,
        )
    )
    assert [e.memory.role for e in response.events] == ["user", "assistant"]
    assert not response.warnings  # verbatim was asked for: nothing to warn about


# Listing


async def test_list_paginates_without_gaps_or_repeats_while_inserting(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    await stub.BatchCreateMemories(
        svc.BatchCreateMemoriesRequest(
            parent=parent,
            requests=[
                svc.CreateMemoryRequest(memory=Memory(content=f"original {i}")) for i in range(25)
            ],
        )
    )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListMemories(
            svc.ListMemoriesRequest(parent=parent, page_size=7, page_token=token)
        )
        seen += [m.content for m in page.memories]
        pages += 1
        # Newer memories arrive while paging; they sort before the cursor and must not
        # shift the pages still to come.
        await _create(stub, user_id, f"inserted during page {pages}")
        token = page.next_page_token
        if not token:
            break
    assert pages == 4
    assert sorted(seen) == sorted(f"original {i}" for i in range(25))
    assert seen == [f"original {i}" for i in reversed(range(25))]  # newest first

    oldest_first = await stub.ListMemories(
        svc.ListMemoriesRequest(parent=parent, order_by="create_time asc", page_size=3)
    )
    assert [m.content for m in oldest_first.memories] == ["original 0", "original 1", "original 2"]


async def test_page_token_of_another_query_is_rejected(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    for i in range(3):
        await _create(stub, user_id, f"memory {i}")
    page = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent, page_size=1))
    err = await _error(
        stub.ListMemories(
            svc.ListMemoriesRequest(
                parent=parent, page_size=1, page_token=page.next_page_token, filter='role = "user"'
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    err = await _error(
        stub.ListMemories(svc.ListMemoriesRequest(parent=parent, page_token="not-a-token"))
    )
    assert err.reason == "INVALID_PAGE_TOKEN"


FILTER_CASES = [
    ('agent_id = "travel"', {"flight", "hotel"}),
    ('agent_id != "travel"', {"coffee", "tax", "vinyl"}),
    ('agent_id = "tra*"', {"flight", "hotel"}),
    ("agent_id:*", {"flight", "hotel", "tax"}),
    ('run_id = "r1"', {"flight", "coffee"}),
    ('actor_id = "ana"', {"coffee"}),
    ('role = "user"', {"coffee", "tax"}),
    ('categories:"food"', {"coffee"}),
    ('categories:"finance" OR categories:"music"', {"tax", "vinyl"}),
    ("metadata.priority >= 2", {"hotel", "tax"}),
    ("metadata.priority < 2", {"flight"}),
    ('metadata.source = "email"', {"tax"}),
    ("metadata.urgent = true", {"hotel"}),
    ("metadata.urgent:*", {"hotel", "flight"}),
    ('metadata.tags:"red"', {"vinyl"}),
    ('agent_id = "travel" AND metadata.priority > 1', {"hotel"}),
    ('NOT agent_id = "travel"', {"coffee", "tax", "vinyl"}),
    ('-role = "user"', {"flight", "hotel", "vinyl"}),
    (
        '(agent_id = "travel" OR role = "user") AND NOT metadata.priority = 3',
        {"flight", "hotel", "coffee"},
    ),
    ("memory_type = EPISODIC", {"vinyl"}),
]


@pytest.fixture
async def filter_user(stub) -> str:  # type: ignore[no-untyped-def]
    user_id = f"filters-{uuid.uuid4().hex[:8]}"
    rows = [
        (
            "flight",
            dict(agent_id="travel", run_id="r1", metadata=_metadata(priority=1, urgent=False)),
        ),
        ("hotel", dict(agent_id="travel", metadata=_metadata(priority=2, urgent=True))),
        ("coffee", dict(run_id="r1", actor_id="ana", role="user", categories=["food"])),
        (
            "tax",
            dict(
                agent_id="acct",
                role="user",
                categories=["finance"],
                metadata=_metadata(priority=3, source="email"),
            ),
        ),
        (
            "vinyl",
            dict(
                categories=["music"],
                memory_type=Memory.EPISODIC,
                metadata=_metadata(tags=["red", "blue"]),
            ),
        ),
    ]
    for content, fields in rows:
        await _create(stub, user_id, content, **fields)
    return user_id


@pytest.mark.parametrize(("expression", "expected"), FILTER_CASES)
async def test_filter_operators(
    stub, filter_user: str, expression: str, expected: set[str]
) -> None:
    listed = await stub.ListMemories(
        svc.ListMemoriesRequest(parent=f"users/{filter_user}", filter=expression)
    )
    assert {m.content for m in listed.memories} == expected
    searched = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{filter_user}", query="anything", filter=expression, top_k=50
        )
    )
    assert {r.memory.content for r in searched.results} == expected


async def test_time_filters(stub, user_id: str) -> None:
    first = await _create(stub, user_id, "first")
    await asyncio.sleep(0.01)
    await _create(stub, user_id, "second")
    cutoff = first.create_time.ToJsonString()
    parent = f"users/{user_id}"
    after = await stub.ListMemories(
        svc.ListMemoriesRequest(parent=parent, filter=f'create_time > "{cutoff}"')
    )
    assert [m.content for m in after.memories] == ["second"]
    upto = await stub.ListMemories(
        svc.ListMemoriesRequest(parent=parent, filter=f'create_time <= "{cutoff}"')
    )
    assert [m.content for m in upto.memories] == ["first"]


async def test_expired_memories_are_hidden_unless_asked_for(stub, user_id: str) -> None:
    past = timestamp_pb2.Timestamp()
    past.FromSeconds(1_000_000_000)
    await _create(stub, user_id, "old coupon code", expire_time=past)
    await _create(stub, user_id, "current coupon code")
    parent = f"users/{user_id}"
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
    assert [m.content for m in listed.memories] == ["current coupon code"]
    everything = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent, show_expired=True))
    assert len(everything.memories) == 2
    searched = await stub.SearchMemories(
        svc.SearchMemoriesRequest(parent=parent, query="coupon code")
    )
    assert [r.memory.content for r in searched.results] == ["current coupon code"]


# Search


@pytest.mark.parametrize(
    "mode", [svc.SearchMemoriesRequest.HYBRID, svc.SearchMemoriesRequest.VECTOR]
)
async def test_search_ranks_relevant_memory_first(stub, user_id: str, mode: int) -> None:
    for content in [
        "He filed his tax return in April",
        "She drinks a flat white every morning before work",
        "The car needs new tyres",
    ]:
        await _create(stub, user_id, content)
    result = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query="what does she drink in the morning", mode=mode
        )
    )
    contents = [r.memory.content for r in result.results]
    assert contents[0] == "She drinks a flat white every morning before work"
    assert contents.index("She drinks a flat white every morning before work") < contents.index(
        "He filed his tax return in April"
    )
    scores = {r.memory.content: r.score for r in result.results}
    assert scores[contents[0]] > scores["He filed his tax return in April"]
    assert all(-1.0 <= s <= 1.0 for s in scores.values())


async def test_search_min_score_and_top_k(stub, user_id: str) -> None:
    for content in ["Loves hiking in the Alps", "Goes hiking every weekend", "Collects stamps"]:
        await _create(stub, user_id, content)
    parent = f"users/{user_id}"
    one = await stub.SearchMemories(
        svc.SearchMemoriesRequest(parent=parent, query="hiking", top_k=1)
    )
    assert len(one.results) == 1
    strict = await stub.SearchMemories(
        svc.SearchMemoriesRequest(parent=parent, query="hiking", min_score=0.4)
    )
    assert strict.results
    assert all(r.score >= 0.4 for r in strict.results)
    assert "Collects stamps" not in {r.memory.content for r in strict.results}


async def test_keyword_search_matches_any_word(stub, user_id: str) -> None:
    await _create(stub, user_id, "Her sister Priya lives in Toronto")
    await _create(stub, user_id, "Enjoys long walks")
    result = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}",
            query="where does Priya live?",
            mode=svc.SearchMemoriesRequest.KEYWORD,
        )
    )
    assert [r.memory.content for r in result.results] == ["Her sister Priya lives in Toronto"]


async def test_search_with_precomputed_embedding(stub, user_id: str) -> None:
    vector = [0.0] * 384
    vector[0] = 1.0
    created = await stub.CreateMemory(
        svc.CreateMemoryRequest(
            parent=f"users/{user_id}", memory=Memory(content="synthetic"), embedding=vector
        )
    )
    result = await stub.SearchMemories(
        svc.SearchMemoriesRequest(
            parent=f"users/{user_id}", query_embedding=vector, mode=svc.SearchMemoriesRequest.VECTOR
        )
    )
    assert result.results[0].memory.name == created.name
    assert result.results[0].score == pytest.approx(1.0, abs=1e-5)


# Revisions and deletes


async def test_revisions_record_create_update_delete(stub, user_id: str) -> None:
    created = await _create(stub, user_id, "Drives a blue car", metadata=_metadata(v=1))
    await stub.UpdateMemory(
        svc.UpdateMemoryRequest(
            memory=Memory(name=created.name, content="Drives a red car"), request_id="upd-7"
        )
    )
    await stub.DeleteMemory(svc.DeleteMemoryRequest(name=created.name))
    revisions = await stub.ListMemoryRevisions(
        svc.ListMemoryRevisionsRequest(name=created.name, page_size=2)
    )
    assert [r.event for r in revisions.revisions] == [
        memory_pb2.MemoryRevision.CREATE,
        memory_pb2.MemoryRevision.UPDATE,
    ]
    create, update = revisions.revisions
    assert (create.content_before, create.content_after) == ("", "Drives a blue car")
    assert (update.content_before, update.content_after) == (
        "Drives a blue car",
        "Drives a red car",
    )
    assert update.request_id == "upd-7"
    assert update.actor == "dev"
    assert create.name.startswith(created.name + "/revisions/")
    rest = await stub.ListMemoryRevisions(
        svc.ListMemoryRevisionsRequest(name=created.name, page_token=revisions.next_page_token)
    )
    assert [r.event for r in rest.revisions] == [memory_pb2.MemoryRevision.DELETE]
    assert rest.revisions[0].content_before == "Drives a red car"
    assert rest.next_page_token == ""


async def test_batch_delete_by_names_is_all_or_nothing(stub, user_id: str) -> None:
    a = await _create(stub, user_id, "a")
    b = await _create(stub, user_id, "b")
    missing = f"users/{user_id}/memories/{uuid.uuid4()}"
    err = await _error(
        stub.BatchDeleteMemories(
            svc.BatchDeleteMemoriesRequest(parent=f"users/{user_id}", names=[a.name, missing])
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND")
    assert (await stub.GetMemory(svc.GetMemoryRequest(name=a.name))).content == "a"
    done = await stub.BatchDeleteMemories(
        svc.BatchDeleteMemoriesRequest(parent=f"users/{user_id}", names=[a.name, b.name])
    )
    assert done.deleted_count == 2


async def test_delete_all_needs_confirm_and_deletes_everything(stub, user_id: str) -> None:
    parent = f"users/{user_id}"
    for start in range(0, 2500, 1000):
        await stub.BatchCreateMemories(
            svc.BatchCreateMemoriesRequest(
                parent=parent,
                requests=[
                    svc.CreateMemoryRequest(memory=Memory(content=f"m{i}"), embedding=_unit(i))
                    for i in range(start, min(start + 1000, 2500))
                ],
            )
        )
    err = await _error(stub.BatchDeleteMemories(svc.BatchDeleteMemoriesRequest(parent=parent)))
    assert err.reason == "CONFIRMATION_REQUIRED"
    by_filter = await stub.BatchDeleteMemories(
        svc.BatchDeleteMemoriesRequest(parent=parent, filter='agent_id = "none"')
    )
    assert by_filter.deleted_count == 0
    done = await stub.BatchDeleteMemories(
        svc.BatchDeleteMemoriesRequest(parent=parent, confirm=True)
    )
    assert done.deleted_count == 2500
    listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
    assert list(listed.memories) == []


def _unit(i: int) -> list[float]:
    vector = [0.0] * 384
    vector[i % 384] = 1.0
    vector[(i * 7 + 1) % 384] += 0.5
    return vector
