"""The mem0-compatible facade (``mem0stack.compat``): mem0's calls, result shapes, ids,
scopes, settings and exceptions, against a live development-mode server."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import grpc
import httpx2
import pytest

from mem0stack import Client, ErrorReason, Mem0StackError
from mem0stack.compat import AsyncMemory, Mem0StackWarning, Memory, _mem0, filters_to_aip160
from mem0stack.compat.exceptions import (
    AuthenticationError,
    LLMError,
    MemoryError,
    MemoryNotFoundError,
    NetworkError,
    RateLimitError,
    ValidationError,
    from_error,
)
from mem0stack.structs import json_numbers
from tests.support.servers import ServerProcess, free_port


@pytest.fixture
def m(server: ServerProcess) -> Iterator[Memory]:
    with Memory(server.target) as memory:
        yield memory


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: no facade has seen any memory id or user yet."""
    monkeypatch.setattr(_mem0, "_DIRECTORIES", {})


def test_add_search_get_update_history_delete(m: Memory, user_id: str) -> None:
    # mem0 code reads only "results": a server without an LLM also raises a Python warning.
    with pytest.warns(Mem0StackWarning, match="no LLM is configured"):
        added = m.add(
            [
                {"role": "user", "content": "I am vegetarian and allergic to nuts"},
                {"role": "assistant", "content": "Noted!"},
            ],
            user_id=user_id,
            agent_id="chef",
            metadata={"source": "onboarding"},
        )
    assert any("MEM0STACK_LLM_MODEL" in w for w in added["warnings"])
    assert [(r["memory"], r["event"]) for r in added["results"]] == [
        ("I am vegetarian and allergic to nuts", "ADD")
    ]
    memory_id = added["results"][0]["id"]
    assert str(uuid.UUID(memory_id)) == memory_id  # a mem0-style id, not a resource name
    m.add("I live in Porto", user_id=user_id, metadata={"topic": "home"})

    found = m.search("what can I cook for them?", filters={"user_id": user_id}, top_k=1)
    (hit,) = found["results"]
    assert hit["id"] == memory_id and hit["memory"].startswith("I am vegetarian")
    assert 0.1 <= hit["score"] <= 1
    assert hit["user_id"] == user_id and hit["agent_id"] == "chef"
    assert hit["metadata"] == {"source": "onboarding"}

    # mem0 2.x style: the scope in filters, metadata conditions beside it; the older
    # top-level user_id and limit still work.
    scoped = m.search("where?", filters={"user_id": user_id, "topic": "home"}, threshold=None)
    assert [r["memory"] for r in scoped["results"]] == ["I live in Porto"]
    assert len(m.search("food", user_id=user_id, limit=1)["results"]) == 1

    got = m.get(memory_id)
    assert got is not None and got["memory"] == hit["memory"] and got["created_at"]
    # The resource name works as an id too; an unknown id is None, as in mem0.
    assert m.get(f"users/{user_id}/memories/{memory_id}") == got
    assert m.get(str(uuid.uuid4())) is None

    assert m.update(memory_id, "I am vegan") == {"message": "Memory updated successfully!"}
    assert m.get(memory_id)["memory"] == "I am vegan"  # type: ignore[index]
    m.update(memory_id=memory_id, text="I am vegan, no nuts", metadata={"source": "chat"})
    assert m.get(memory_id)["metadata"] == {"source": "chat"}  # type: ignore[index]

    history = m.history(memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "I am vegetarian and allergic to nuts"),
        ("UPDATE", "I am vegetarian and allergic to nuts", "I am vegan"),
        ("UPDATE", "I am vegan", "I am vegan, no nuts"),
    ]
    assert {h["memory_id"] for h in history} == {memory_id}

    assert m.delete(memory_id) == {"message": "Memory deleted successfully!"}
    # mem0 raises ValueError for an unknown id; code catching mem0's class works as well.
    with pytest.raises(MemoryNotFoundError, match=f"Memory with id {memory_id} not found"):
        m.delete(memory_id)
    with pytest.raises(ValueError, match="not found"):
        m.update(memory_id, "gone")
    assert m.history(memory_id)[-1]["is_deleted"] is True
    assert m.get(memory_id) is None


def test_get_all_and_delete_all_by_scope(m: Memory, user_id: str) -> None:
    for i in range(3):
        m.add(f"travel fact {i}", user_id=user_id, agent_id="travel", infer=False)
    m.add("food fact", user_id=user_id, agent_id="food", infer=False)

    everything = m.get_all(filters={"user_id": user_id})["results"]
    assert len(everything) == 4
    assert len(m.get_all(filters={"user_id": user_id}, top_k=2)["results"]) == 2
    assert len(m.get_all(user_id=user_id, limit=2)["results"]) == 2
    travel = m.get_all(filters={"user_id": user_id, "agent_id": "travel"})["results"]
    assert sorted(r["memory"] for r in travel) == [f"travel fact {i}" for i in range(3)]

    assert m.delete_all(user_id=user_id, agent_id="travel") == {
        "message": "Memories deleted successfully!"
    }
    assert [r["memory"] for r in m.get_all(filters={"user_id": user_id})["results"]] == [
        "food fact"
    ]
    m.delete_all(user_id=user_id)
    assert m.get_all(filters={"user_id": user_id})["results"] == []


def test_agent_only_and_run_only_scopes(m: Memory, user_id: str) -> None:
    agent, run = f"bot-{user_id}", f"session-{user_id}"
    m.add("Answer in French", agent_id=agent, infer=False)
    m.add("The ticket is #4521", run_id=run, infer=False)
    m.add("Alice's own fact", user_id=user_id, agent_id=agent, infer=False)

    # Without a user, the agent's (or the run's) memories are their own scope, as in mem0.
    (own,) = m.search("language", filters={"agent_id": agent})["results"]
    assert own["memory"] == "Answer in French" and own["agent_id"] == agent
    assert "user_id" not in own
    assert m.get(own["id"]) == {k: v for k, v in own.items() if k != "score"}
    (ticket,) = m.get_all(filters={"run_id": run})["results"]
    assert ticket["memory"] == "The ticket is #4521" and ticket["run_id"] == run
    # The reserved owner is the one the mem0 Platform routes use.
    assert m.get(f"users/~agent:{agent}/memories/{own['id']}") is not None
    with pytest.raises(ValidationError, match="reserved"):
        m.add("x", user_id="~agent:someone")

    m.delete_all(agent_id=agent)
    assert m.get_all(filters={"agent_id": agent})["results"] == []
    # The user's memory with the same agent is the user's, untouched.
    assert [r["memory"] for r in m.get_all(filters={"user_id": user_id})["results"]] == [
        "Alice's own fact"
    ]
    m.delete_all(run_id=run)
    assert m.get_all(filters={"run_id": run})["results"] == []


def test_a_scope_is_required(m: Memory) -> None:
    with pytest.raises(ValidationError, match="at least one of user_id, agent_id, run_id"):
        m.search("anything", filters={"topic": "a"})
    with pytest.raises(ValueError, match="'user_id', 'agent_id', or 'run_id'"):
        m.add("hello")
    with pytest.raises(ValueError, match="reset"):
        m.delete_all()
    with pytest.raises(ValidationError, match="whitespace"):
        m.add("hello", user_id="two words")


def test_whole_numbers_in_metadata_stay_integers(m: Memory, user_id: str) -> None:
    metadata = {"priority": 7, "ratio": 0.5, "big": -3, "nested": {"ids": [1, 2.5, 3]}}
    memory_id = m.add("Numbers", user_id=user_id, metadata=metadata, infer=False)["results"][0][
        "id"
    ]
    got = m.get(memory_id)
    assert got is not None and got["metadata"] == metadata
    assert type(got["metadata"]["priority"]) is int
    assert type(got["metadata"]["nested"]["ids"][1]) is float
    (listed,) = m.get_all(filters={"user_id": user_id, "priority": {"gte": 7}})["results"]
    assert type(listed["metadata"]["priority"]) is int
    assert json_numbers({"n": 2.0**60}) == {"n": 2.0**60}  # beyond exact doubles: a float


def test_search_threshold_rerank_explain(m: Memory, user_id: str) -> None:
    for text in ("I play the cello", "My cat is called Miso", "Invoice 2291 is overdue"):
        m.add(text, user_id=user_id, infer=False)
    everything = m.search("music instruments", filters={"user_id": user_id}, threshold=None)
    scores = [r["score"] for r in everything["results"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    # mem0's default threshold, 0.1, applies to the similarity score.
    default = m.search("music instruments", filters={"user_id": user_id})
    assert [r["id"] for r in default["results"]] == [
        r["id"] for r in everything["results"] if r["score"] >= 0.1
    ]
    strict = m.search("music instruments", filters={"user_id": user_id}, threshold=0.99)
    assert strict["results"] == []
    with pytest.raises(ValueError, match="threshold"):
        m.search("x", filters={"user_id": user_id}, threshold=2)

    with pytest.warns(Mem0StackWarning, match="no reranker"):
        reranked = m.search("cello", filters={"user_id": user_id}, rerank=True)
    assert reranked["results"][0]["memory"] == "I play the cello"
    explained = m.search("cello", filters={"user_id": user_id}, explain=True)
    details = explained["results"][0]["score_details"]
    assert details["semantic_score"] == explained["results"][0]["score"]
    assert details["threshold"] == 0.1


def test_add_expiration_date_and_timestamp(m: Memory, server: ServerProcess, user_id: str) -> None:
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    m.add("An offer that ended", user_id=user_id, expiration_date=yesterday, infer=False)
    kept = m.add("A standing fact", user_id=user_id, expiration_date="2099-01-31", infer=False)
    said = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    dated = m.add("Met Bob today", user_id=user_id, timestamp=int(said.timestamp()), infer=False)

    # Expired memories are hidden, as in mem0, unless show_expired.
    shown = m.get_all(filters={"user_id": user_id})["results"]
    assert sorted(r["memory"] for r in shown) == ["A standing fact", "Met Bob today"]
    (standing,) = [r for r in shown if r["memory"] == "A standing fact"]
    assert standing["expiration_date"] == "2099-01-31"
    expired = m.get_all(filters={"user_id": user_id}, show_expired=True)["results"]
    assert {r["memory"]: r.get("expiration_date") for r in expired}["An offer that ended"] == (
        yesterday
    )
    m.update(kept["results"][0]["id"], expiration_date=None)
    assert "expiration_date" not in m.get(kept["results"][0]["id"])  # type: ignore[operator]

    # timestamp is when it was said: the memory's event_time.
    with Client(server.target) as client:
        memory = client.get(f"users/{user_id}/memories/{dated['results'][0]['id']}")
    assert memory.event_time.ToDatetime(tzinfo=UTC) == said
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        m.add("x", user_id=user_id, expiration_date="next week")
    assert date.fromisoformat(yesterday)  # the format mem0 documents


def test_config_is_mapped_and_the_rest_reported(server: ServerProcess, user_id: str) -> None:
    config = {
        "target": server.target,
        "vector_store": {"provider": "qdrant", "config": {"host": "localhost", "port": 6333}},
        "llm": {"provider": "openai", "config": {"model": "gpt-5-mini"}},
        "embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}},
        "history_db_path": "/tmp/history.db",
        "version": "v1.1",
        "custom_instructions": "Only remember food preferences",
        "colour": "blue",
    }
    with pytest.warns(Mem0StackWarning) as said:
        memory = Memory.from_config(config)
    messages = [str(w.message) for w in said]
    assert any(
        "vector_store" in w and "llm" in w and "embedder" in w and "history_db_path" in w
        for w in messages
    )
    assert any("colour" in w for w in messages)
    named = " ".join(w.split(":", 1)[0] for w in messages)  # "Memory config a, b: ..."
    assert "version" not in named and "target" not in named and "custom" not in named
    with memory:
        assert memory.client.target == server.target
        assert memory._session.instructions == "Only remember food preferences"
        memory.add("I like figs", user_id=user_id, infer=False)
    # Memory(config=...) and the async class read the same settings; nothing to report.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Memory(config={"target": server.target, "api_key": None}) as same:
            assert same.get_all(filters={"user_id": user_id})["results"][0]["memory"] == (
                "I like figs"
            )


class _PydanticLike:
    """mem0's MemoryConfig is a pydantic model: only the settings given are read."""

    def model_dump(self, exclude_unset: bool = False) -> dict[str, object]:
        assert exclude_unset
        return {"target": "127.0.0.1:1", "reranker": {"provider": "cohere"}}


@pytest.mark.usefixtures("new_process")
async def test_async_memory(server: ServerProcess, user_id: str) -> None:
    with pytest.warns(Mem0StackWarning, match="reranker"):
        configured = AsyncMemory(config=_PydanticLike())
    assert configured.client.target == "127.0.0.1:1"
    await configured.close()

    async with AsyncMemory(server.target) as am:
        added = await am.add("I cycle to work", user_id=user_id, metadata={"days": 5})
        memory_id = added["results"][0]["id"]
        found = await am.search("how do I commute?", filters={"user_id": user_id})
        assert found["results"][0]["id"] == memory_id
        assert found["results"][0]["metadata"] == {"days": 5}
        assert type(found["results"][0]["metadata"]["days"]) is int
        listed = await am.get_all(filters={"user_id": user_id})
        assert listed["results"][0]["memory"] == "I cycle to work"
        await am.update(memory_id, text="I take the train to work")
        assert [h["event"] for h in await am.history(memory_id)] == ["ADD", "UPDATE"]
        await am.add("Deploys on Fridays", agent_id=f"ops-{user_id}", infer=False)
        (ops,) = (await am.get_all(filters={"agent_id": f"ops-{user_id}"}))["results"]
        assert "user_id" not in ops
        await am.delete_all(user_id=user_id)
        assert await am.get(memory_id) is None
        with pytest.raises(MemoryNotFoundError):
            await am.delete(memory_id)
        with pytest.warns(Mem0StackWarning, match="2 user"):
            await am.reset()
        assert (await am.get_all(filters={"agent_id": f"ops-{user_id}"}))["results"] == []


@pytest.mark.usefixtures("new_process")
def test_reset_erases_what_this_process_worked_with(server: ServerProcess, user_id: str) -> None:
    other = f"{user_id}-other"
    with Client(server.target) as client:
        client.create(other, "Not touched by reset")
    with Memory(server.target) as m:
        m.add("One", user_id=user_id, infer=False)
    # Another Memory of the same process: mem0 code makes one wherever it needs one.
    with Memory(server.target) as m:
        m.add("Two", agent_id=f"agent-{user_id}", infer=False)
        with pytest.warns(Mem0StackWarning, match="2 user"):
            assert m.reset() is None
        assert m.get_all(filters={"user_id": user_id})["results"] == []
        assert m.get_all(filters={"agent_id": f"agent-{user_id}"})["results"] == []
        assert len(m.get_all(filters={"user_id": other})["results"]) == 1


def test_bare_ids_across_memories_and_processes(
    m: Memory, server: ServerProcess, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory_id = m.add("Seen once", user_id=user_id, infer=False)["results"][0]["id"]
    # Another Memory of the process finds it by its bare id ...
    with Memory(server.target) as other:
        assert other.get(memory_id)["memory"] == "Seen once"  # type: ignore[index]
    # ... a new process cannot tell whose it is: the error says how to name the user.
    monkeypatch.setattr(_mem0, "_DIRECTORIES", {})
    with Memory(server.target) as fresh:
        with pytest.raises(ValidationError, match="user_id="):
            fresh.get(memory_id)
        assert fresh.get(memory_id, user_id=user_id)["memory"] == "Seen once"  # type: ignore[index]
    monkeypatch.setattr(_mem0, "_DIRECTORIES", {})
    with Memory(server.target) as working:
        # Once it has worked with the user (this finds nothing, so the id itself is still
        # unseen), a bare id is looked up among the users it worked with.
        assert working.get_all(filters={"user_id": user_id, "topic": "none"})["results"] == []
        assert working.get(memory_id)["memory"] == "Seen once"  # type: ignore[index]
        assert working.get(str(uuid.uuid4())) is None
        with pytest.raises(ValidationError, match="not a memory id"):
            working.get("mem_123")


def test_server_errors_are_mem0_exceptions(m: Memory, user_id: str) -> None:
    with pytest.raises(ValidationError) as bad:
        m.search("x", filters={"user_id": user_id, "create_time": {"gt": "yesterday"}})
    assert bad.value.error_code == "INVALID_FILTER"
    assert bad.value.reason == ErrorReason.INVALID_FILTER
    assert isinstance(bad.value, Mem0StackError) and bad.value.suggestion
    with pytest.raises(ValidationError, match="icontains"):
        m.search("x", filters={"user_id": user_id, "topic": {"icontains": "x"}})
    with Memory(f"127.0.0.1:{free_port()}", timeout=0.5) as down, pytest.raises(NetworkError):
        down.get_all(filters={"user_id": user_id})


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID", AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED", AuthenticationError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "OPERATION_QUEUE_FULL", RateLimitError),
        (grpc.StatusCode.UNAVAILABLE, "LLM_UNAVAILABLE", LLMError),
        (grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND", MemoryNotFoundError),
        (grpc.StatusCode.INTERNAL, "INTERNAL", MemoryError),
    ],
)
def test_exception_classes(code: grpc.StatusCode, reason: str, expected: type) -> None:
    error = Mem0StackError(code, "it failed", ErrorReason.Value(reason), reason, retry_delay=2.0)
    mapped = from_error(error)
    assert type(mapped) is expected
    assert (mapped.message, mapped.error_code, mapped.code) == ("it failed", reason, code)
    assert mapped.debug_info["retry_after"] == 2.0


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"agent_id": "a"}, 'agent_id = "a"'),
        ({"topic": "x", "n": 3}, 'metadata.topic = "x" AND metadata.n = 3'),
        ({"n": {"gte": 2, "lt": 5}}, "metadata.n >= 2 AND metadata.n < 5"),
        ({"tag": {"in": ["a", "b"]}}, '(metadata.tag = "a" OR metadata.tag = "b")'),
        ({"tag": {"nin": ["a"]}}, 'NOT (metadata.tag = "a")'),
        ({"tag": "*"}, "metadata.tag:*"),
        ({"flag": True}, "metadata.flag = true"),
        ({"a.b": {"ne": "c"}}, 'metadata.a.b != "c"'),
        ({"odd key": 1}, 'metadata."odd key" = 1'),
        ({"categories": {"contains": "diet"}}, 'categories:"diet"'),
        (
            {"OR": [{"agent_id": "a"}, {"run_id": "r"}]},
            '((agent_id = "a") OR (run_id = "r"))',
        ),
        ({"NOT": [{"topic": "x"}]}, 'NOT (metadata.topic = "x")'),
    ],
)
def test_filters_translate_to_aip160(filters: dict[str, object], expected: str) -> None:
    assert filters_to_aip160(filters) == expected


def test_unsupported_filter_operator_is_an_error() -> None:
    with pytest.raises(ValueError, match="icontains"):
        filters_to_aip160({"topic": {"icontains": "x"}})


async def test_async_iterators_are_async(server: ServerProcess) -> None:
    # get_all on AsyncMemory must not block the loop: it awaits the pages.
    async with AsyncMemory(server.target) as am:
        result = await am.get_all(filters={"user_id": "nobody-at-all"})
        assert result == {"results": []}


@pytest.mark.parametrize(
    ("kind", "value"), [("agent", "support-bot"), ("run", "session 7"), ("agent", "x" * 101)]
)
def test_reserved_owners_are_the_platform_routes(kind: str, value: str) -> None:
    from mem0stack_server.transport.platform.scope import Scope

    assert _mem0.reserved_owner(kind, value) == Scope(**{f"{kind}_id": value}).owner()


def test_scope_only_memories_are_shared_with_the_platform_routes(
    m: Memory, server: ServerProcess, user_id: str
) -> None:
    # Congruence: an agent-only memory added through the facade is the agent's on mem0's
    # REST routes, and a run-only one added there is the run's here.
    agent, run = f"agent-{user_id}", f"run-{user_id}"
    m.add("Added through the facade", agent_id=agent, infer=False)
    base = f"http://127.0.0.1:{server.platform_port}"
    with httpx2.Client(base_url=base, timeout=30) as rest:
        listed = rest.post("/v3/memories/", json={"filters": {"agent_id": agent}})
        assert listed.status_code == 200, listed.text
        assert [r["memory"] for r in listed.json()["results"]] == ["Added through the facade"]
        added = rest.post(
            "/v3/memories/add/",
            json={
                "messages": [{"role": "user", "content": "Added through REST"}],
                "run_id": run,
                "infer": False,
            },
        )
        assert added.status_code == 200, added.text
    (found,) = m.get_all(filters={"run_id": run})["results"]
    assert found["memory"] == "Added through REST" and "user_id" not in found
    assert found["id"] == added.json()["results"][0]["id"]
