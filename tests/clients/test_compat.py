"""The mem0-compatible facade (``mem0stack.compat``): mem0's calls and result shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mem0stack.compat import AsyncMemory, Mem0StackWarning, Memory, filters_to_aip160
from tests.support.servers import ServerProcess


@pytest.fixture
def m(server: ServerProcess) -> Iterator[Memory]:
    with Memory(server.target) as memory:
        yield memory


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
    m.add("I live in Porto", user_id=user_id, metadata={"topic": "home"})

    found = m.search("what can I cook for them?", user_id=user_id, limit=1)
    (hit,) = found["results"]
    assert hit["id"] == memory_id and hit["memory"].startswith("I am vegetarian")
    assert 0 < hit["score"] <= 1
    assert hit["user_id"] == user_id and hit["agent_id"] == "chef"
    assert hit["metadata"] == {"source": "onboarding"}

    # mem0 2.x style: the scope in filters, metadata conditions beside it.
    scoped = m.search("where?", filters={"user_id": user_id, "topic": "home"})
    assert [r["memory"] for r in scoped["results"]] == ["I live in Porto"]

    got = m.get(memory_id)
    assert got is not None and got["memory"] == hit["memory"] and got["created_at"]
    assert m.get(memory_id.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000") is None

    assert m.update(memory_id, "I am vegan") == {"message": "Memory updated successfully!"}
    assert m.get(memory_id)["memory"] == "I am vegan"  # type: ignore[index]

    history = m.history(memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "I am vegetarian and allergic to nuts"),
        ("UPDATE", "I am vegetarian and allergic to nuts", "I am vegan"),
    ]

    assert m.delete(memory_id) == {"message": "Memory deleted successfully!"}
    with pytest.raises(ValueError):
        m.delete(memory_id)
    assert m.history(memory_id)[-1]["is_deleted"] is True


def test_get_all_and_delete_all_by_scope(m: Memory, user_id: str) -> None:
    for i in range(3):
        m.add(f"travel fact {i}", user_id=user_id, agent_id="travel", infer=False)
    m.add("food fact", user_id=user_id, agent_id="food", infer=False)

    everything = m.get_all(user_id=user_id)["results"]
    assert len(everything) == 4
    assert len(m.get_all(user_id=user_id, limit=2)["results"]) == 2
    travel = m.get_all(filters={"user_id": user_id, "agent_id": "travel"})["results"]
    assert sorted(r["memory"] for r in travel) == [f"travel fact {i}" for i in range(3)]

    assert m.delete_all(user_id=user_id, agent_id="travel") == {
        "message": "Memories deleted successfully!"
    }
    assert [r["memory"] for r in m.get_all(user_id=user_id)["results"]] == ["food fact"]
    m.delete_all(user_id=user_id)
    assert m.get_all(user_id=user_id)["results"] == []


def test_user_id_is_required(m: Memory) -> None:
    with pytest.raises(ValueError, match="user_id"):
        m.search("anything", filters={"agent_id": "a"})
    with pytest.raises(ValueError, match="user_id"):
        m.add("hello")


async def test_async_memory(server: ServerProcess, user_id: str) -> None:
    async with AsyncMemory(server.target) as am:
        added = await am.add("I cycle to work", user_id=user_id)
        memory_id = added["results"][0]["id"]
        found = await am.search("how do I commute?", user_id=user_id)
        assert found["results"][0]["id"] == memory_id
        assert (await am.get_all(user_id=user_id))["results"][0]["memory"] == "I cycle to work"
        await am.update(memory_id, text="I take the train to work")
        assert [h["event"] for h in await am.history(memory_id)] == ["ADD", "UPDATE"]
        await am.delete_all(user_id=user_id)
        assert await am.get(memory_id) is None


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
        result = await am.get_all(user_id="nobody-at-all")
        assert result == {"results": []}
