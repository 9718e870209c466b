# ruff: noqa: E501 (mem0's examples keep their own line lengths)
"""mem0's documented OSS ``Memory`` examples, run against a mem0-stack server with only the
import changed (``from mem0 import`` becomes ``from mem0stack.compat import``).

The examples are copied from mem0's documentation (docs/open-source/python-quickstart.mdx,
features/metadata-filtering.mdx, features/async-memory.mdx, configuration.mdx and
core-concepts/memory-operations/{add,search,update,delete}.mdx in mem0ai/mem0), as written
there. Placeholders the docs leave to the reader (``"mem_123"``, ``"memory-id-here"``) are
filled with a real id; nothing else is edited. They use ``Memory()``, which finds the server
through ``MEM0STACK_TARGET``, and fixed user ids ("alice", "alex"), so they get a server and
database of their own. The examples of docs/moving-from-mem0.md's sections on the OSS
``Memory`` class and OpenMemory's MCP users run here too, as written.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from mem0stack.compat import Mem0StackWarning, Memory
from mem0stack.compat.exceptions import ValidationError
from tests.mcp.bridges import HttpBridge
from tests.support.servers import REPO, ServerProcess, free_port

QUICKSTART = """
from mem0 import Memory

m = Memory()

messages = [
    {"role": "user", "content": "Hi, I'm Alex. I love basketball and gaming."},
    {"role": "assistant", "content": "Hey Alex! I'll remember your interests."}
]
m.add(messages, user_id="alex")

results = m.search("What do you know about me?", filters={"user_id": "alex"})
print(results)
"""

ADD = """
import os
from mem0 import Memory

os.environ["OPENAI_API_KEY"] = "your-api-key"

m = Memory()

messages = [
    {"role": "user", "content": "I'm planning to watch a movie tonight. Any recommendations?"},
    {"role": "assistant", "content": "How about thriller movies? They can be quite engaging."},
    {"role": "user", "content": "I'm not a big fan of thriller movies but I love sci-fi movies."},
    {"role": "assistant", "content": "Got it! I'll avoid thriller recommendations and suggest sci-fi movies in the future."}
]

# Store inferred memories (default behavior)
result = m.add(messages, user_id="alice", metadata={"category": "movie_recommendations"})

# Optionally store raw messages without inference
result = m.add(messages, user_id="alice", metadata={"category": "movie_recommendations"}, infer=False)

# Optionally set an expiration date (YYYY-MM-DD)
result = m.add(messages, user_id="alice", expiration_date="2030-01-31")
"""

SEARCH = """
from mem0 import Memory

m = Memory()

# Simple search: entity IDs go in `filters`
related_memories = m.search("Should I drink coffee or tea?", filters={"user_id": "alice"})

# Search with additional metadata filters (combine entity + metadata in the same dict)
memories = m.search(
    "food preferences",
    filters={"user_id": "alice", "categories": {"contains": "diet"}},
)

results = m.search(
    "food preferences",
    filters={"user_id": "alice"},
    explain=True,
)

print(results["results"][0]["score_details"])

# Get memories from a specific agent session: entity IDs combined in filters
m.search("query", filters={
    "user_id": "alice",
    "agent_id": "chatbot",
    "run_id": "session-123",
})
"""

METADATA_FILTERING = """
from mem0 import Memory

m = Memory()

# Search with simple metadata filters
results = m.search(
    "What are my preferences?",
    filters={"user_id": "alice", "category": "preferences"}
)

# Greater than / Less than
results = m.search(
    "recent activities",
    filters={
        "user_id": "alice",
        "score": {"gt": 0.8},
        "priority": {"gte": 5},
        "confidence": {"lt": 0.9},
        "rating": {"lte": 3}
    }
)

# Equality operators
results = m.search(
    "specific content",
    filters={
        "user_id": "alice",
        "status": {"eq": "active"},
        "archived": {"ne": True}
    }
)

# In / Not in operators
results = m.search(
    "multi-category search",
    filters={
        "user_id": "alice",
        "category": {"in": ["food", "travel", "entertainment"]},
        "status": {"nin": ["deleted", "archived"]}
    }
)

# Match any value for a field
results = m.search(
    "all with category",
    filters={
        "user_id": "alice",
        "category": "*"
    }
)

# Logical AND
results = m.search(
    "complex query",
    filters={
        "user_id": "alice",
        "AND": [
            {"category": "work"},
            {"priority": {"gte": 7}},
            {"status": {"ne": "completed"}}
        ]
    }
)

# Logical NOT
results = m.search(
    "exclusion query",
    filters={
        "user_id": "alice",
        "NOT": [
            {"category": "archived"},
            {"status": "deleted"}
        ]
    }
)

# Complex nested logic
results = m.search(
    "advanced query",
    filters={
        "user_id": "alice",
        "AND": [
            {
                "OR": [
                    {"category": "work"},
                    {"category": "personal"}
                ]
            },
            {"priority": {"gte": 5}},
            {
                "NOT": [
                    {"status": "archived"}
                ]
            }
        ]
    }
)
"""

# Substring matches on metadata text: the server's filter language has none (see
# docs/clients.md), and the facade says so instead of returning a wrong answer.
STRING_OPERATORS = """
from mem0 import Memory

m = Memory()

# Text matching operators
results = m.search(
    "content search",
    filters={
        "user_id": "alice",
        "title": {"contains": "meeting"},
        "description": {"icontains": "important"},
        "tags": {"contains": "urgent"}
    }
)
"""

UPDATE = """
from mem0 import Memory

memory = Memory()

# Replace the content
memory.update(
    memory_id="mem_123",
    text="Alex now prefers decaf coffee",
)

# Update content plus metadata and an expiration date (None clears it)
memory.update(
    memory_id="mem_123",
    text="Alex now prefers decaf coffee",
    metadata={"category": "preferences"},
    expiration_date="2030-01-31",
)
"""

DELETE = """
from mem0 import Memory

memory = Memory()

memory.delete(memory_id="mem_123")
memory.delete_all(user_id="alice")
"""

CONFIGURATION = """
from mem0 import Memory

config = {
    "vector_store": {
        "provider": "qdrant",
        "config": {"host": "localhost", "port": 6333},
    },
    "llm": {
        "provider": "openai",
        "config": {"model": "gpt-5-mini", "temperature": 0.1},
    },
    "embedder": {
        "provider": "openai",
        "config": {"model": "text-embedding-3-small"},
    },
    "reranker": {
        "provider": "cohere",
        "config": {"model": "rerank-v3.5"},
    },
}

memory = Memory.from_config(config)
"""

ASYNC_MEMORY = """
import asyncio
from mem0 import AsyncMemory

# Default configuration
memory = AsyncMemory()

import asyncio
from contextlib import asynccontextmanager
from mem0 import AsyncMemory

@asynccontextmanager
async def get_memory():
    memory = AsyncMemory()
    try:
        yield memory
    finally:
        # Clean up resources if needed
        pass

async def safe_memory_usage():
    async with get_memory() as memory:
        return await memory.search("test query", filters={"user_id": "alice"})

async def batch_operations():
    memory = AsyncMemory()

    tasks = [
        memory.add(
            messages=[{"role": "user", "content": f"Message {i}"}],
            user_id=f"user_{i}"
        )
        for i in range(5)
    ]

    results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, result in enumerate(results):
        if isinstance(result, Exception):
            print(f"Task {i} failed: {result}")
        else:
            print(f"Task {i} completed successfully")

import asyncio
from mem0 import AsyncMemory

async def with_timeout_and_retry(operation, max_retries=3, timeout=10.0):
    for attempt in range(max_retries):
        try:
            return await asyncio.wait_for(operation(), timeout=timeout)
        except asyncio.TimeoutError:
            print(f"Timeout on attempt {attempt + 1}")
        except Exception as exc:
            print(f"Error on attempt {attempt + 1}: {exc}")

        if attempt < max_retries - 1:
            await asyncio.sleep(2 ** attempt)

    raise Exception(f"Operation failed after {max_retries} attempts")

async def robust_memory_search():
    memory = AsyncMemory()

    async def search_operation():
        return await memory.search("test query", filters={"user_id": "alice"})

    return await with_timeout_and_retry(search_operation)
"""

# The "Core operations" block of the same page: top-level awaits, so run as a coroutine.
ASYNC_CORE_OPERATIONS = """
# Create memories
result = await memory.add(
    messages=[
        {"role": "user", "content": "I'm travelling to SF"},
        {"role": "assistant", "content": "That's great to hear!"}
    ],
    user_id="alice"
)

# Search memories
results = await memory.search(
    query="Where am I travelling?",
    filters={"user_id": "alice"}
)

# List memories
all_memories = await memory.get_all(filters={"user_id": "alice"})

# Get a specific memory
specific_memory = await memory.get(memory_id="memory-id-here")

# Update a memory
updated_memory = await memory.update(
    memory_id="memory-id-here",
    text="I'm travelling to Seattle"
)

# Delete a memory
await memory.delete(memory_id="memory-id-here")

# Delete scoped memories
await memory.delete_all(user_id="alice")
"""


def swapped(example: str) -> str:
    """The example with mem0's import changed to mem0-stack's, and nothing else."""
    return example.replace("from mem0 import", "from mem0stack.compat import")


def run(example: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(names)
    exec(compile(swapped(example), "<mem0 example>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def own_server(make_database) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(database_url=make_database("mem0ex"), port=free_port())
    process.start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def target(own_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM0STACK_TARGET", own_server.target)
    monkeypatch.delenv("MEM0STACK_API_KEY", raising=False)
    # The server has no LLM: every add says so, which these examples do not read.
    monkeypatch.setattr("warnings.filters", [("ignore", None, Mem0StackWarning, None, 0)])


def test_quickstart_add_search_update_delete(capsys: pytest.CaptureFixture[str]) -> None:
    quickstart = run(QUICKSTART)
    (found,) = quickstart["results"]["results"]
    assert found["memory"] == "Hi, I'm Alex. I love basketball and gaming."
    assert found["user_id"] == "alex" and "score" in found
    assert "basketball" in capsys.readouterr().out

    added = run(ADD)["result"]["results"]
    assert added == []  # the same messages again: already known (NOOP), as mem0 reports
    alice = Memory().get_all(filters={"user_id": "alice"})["results"]
    # Without an LLM the two user turns are stored as they are (the third add repeats them:
    # nothing new); infer=False stores all four turns verbatim.
    assert len(alice) == 2 + 4
    assert "I'm not a big fan of thriller movies but I love sci-fi movies." in {
        r["memory"] for r in alice
    }
    assert all(r["metadata"] == {"category": "movie_recommendations"} for r in alice)

    search = run(SEARCH)
    assert search["memories"] == {"results": []}  # no memory of alice has the category diet
    assert "semantic_score" in capsys.readouterr().out

    filtered = run(METADATA_FILTERING)
    assert filtered["results"]["results"] == []  # none of alice's memories is archived work
    with pytest.raises(ValidationError, match="'contains' on 'title'"):
        run(STRING_OPERATORS)

    memory_id = quickstart["results"]["results"][0]["id"]
    run(UPDATE.replace('"mem_123"', repr(memory_id)))
    updated = Memory().get(memory_id)
    assert updated is not None and updated["memory"] == "Alex now prefers decaf coffee"
    assert updated["metadata"] == {"category": "preferences"}
    assert updated["expiration_date"] == "2030-01-31"

    run(DELETE.replace('"mem_123"', repr(memory_id)))
    assert Memory().get(memory_id) is None
    assert Memory().get_all(filters={"user_id": "alice"})["results"] == []


def test_configuration_is_reported_not_applied() -> None:
    with pytest.warns(Mem0StackWarning, match="vector_store, llm, embedder, reranker") as said:
        memory = run(CONFIGURATION)["memory"]
    assert len(said) == 1
    assert memory.get_all(filters={"user_id": "nobody"}) == {"results": []}


async def test_async_memory(capsys: pytest.CaptureFixture[str]) -> None:
    page = run(ASYNC_MEMORY)
    assert await page["safe_memory_usage"]() == {"results": []}
    await page["batch_operations"]()
    assert capsys.readouterr().out.count("completed successfully") == 5
    assert await page["robust_memory_search"]() == {"results": []}

    memory = page["memory"]
    added = await memory.add("I'm travelling to SF", user_id="alice")
    memory_id = added["results"][0]["id"]
    filled = ASYNC_CORE_OPERATIONS.replace('"memory-id-here"', repr(memory_id))
    core = textwrap.indent(filled, "    ")
    done = run(f"async def core_operations():\n{core}\n    return locals()\n", memory=memory)
    namespace = await done["core_operations"]()
    assert namespace["results"]["results"][0]["memory"] == "I'm travelling to SF"
    assert namespace["specific_memory"]["id"] == memory_id
    assert namespace["updated_memory"] == {"message": "Memory updated successfully!"}
    assert await memory.get_all(filters={"user_id": "alice"}) == {"results": []}
    for i in range(5):
        assert len((await memory.get_all(filters={"user_id": f"user_{i}"}))["results"]) == 1
    await asyncio.sleep(0)


PAGE = REPO / "docs" / "moving-from-mem0.md"


def page_blocks(section: str) -> list[str]:
    """The fenced python blocks of one section of docs/moving-from-mem0.md, in order."""
    text = PAGE.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    found = re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert found, f"no python examples under {section}"
    return found


def test_moving_from_mem0_memory_example(capsys: pytest.CaptureFixture[str]) -> None:
    for block in page_blocks("## The OSS `Memory` class"):
        run(block)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("I'm vegetarian and allergic to nuts.")
    assert printed[-4:] == ["7", "['ADD', 'UPDATE']", "Answer in French.", "MEMORY_NOT_FOUND"]
    assert Memory().get_all(filters={"user_id": "alice"}) == {"results": []}


def test_moving_from_mem0_mcp_example(
    own_server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = HttpBridge(["--server", own_server.target])
    bridge.start()
    try:
        for block in page_blocks("## OpenMemory MCP users"):
            run(block.replace("http://localhost:8765", f"http://127.0.0.1:{bridge.port}"))
    finally:
        bridge.stop()
    assert capsys.readouterr().out.splitlines() == ["['I drink oat milk']"]
    assert Memory().get_all(filters={"user_id": "alice"}) == {"results": []}
