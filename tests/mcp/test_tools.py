"""Every tool, the resource and the prompt through a real MCP ClientSession, over stdio
(spawning ``mem0stack mcp``) and streamable HTTP (``mem0stack mcp --http``), against a live
development-mode server."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
from mcp import ClientSession
from mcp.types import TextContent, TextResourceContents

from mem0stack import AsyncClient
from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_mcp import RECENT_MEMORIES_URI
from mem0stack_mcp.server import DEFAULT_MIN_SCORE
from tests.mcp.bridges import HttpBridge, call, fails, stdio_session
from tests.support.servers import ServerProcess, free_port

TOOLS = {
    "add_memories",
    "search_memory",
    "list_memories",
    "get_memory",
    "update_memory",
    "delete_memories",
    "delete_all_memories",
}

Connect = Callable[[], AbstractAsyncContextManager[ClientSession]]


@pytest.fixture(scope="module")
def http_bridge(server: ServerProcess) -> Iterator[HttpBridge]:
    """An HTTP bridge with no identity of its own: callers name their user in a header."""
    bridge = HttpBridge(["--server", server.target])
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture(params=["stdio", "http"])
def connect(request: pytest.FixtureRequest, server: ServerProcess, user_id: str) -> Connect:
    """Opens a session acting as ``user_id``, over the transport of the test's parameter."""
    if request.param == "stdio":
        return lambda: stdio_session(["--user", user_id, "--server", server.target])
    bridge: HttpBridge = request.getfixturevalue("http_bridge")
    return lambda: bridge.session(user=user_id)


@pytest.fixture
async def grpc_client(server: ServerProcess) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.target) as client:
        yield client


async def test_every_tool(connect: Connect, user_id: str) -> None:
    async with connect() as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description and tool.output_schema
            assert tool.input_schema["type"] == "object"
            # Sent as the model reads it: no docstring indentation.
            assert tool.description == inspect.cleandoc(tool.description)
            assert "\n    " not in tool.description
        assert tools["delete_all_memories"].input_schema["required"] == ["confirm"]
        # Identity comes from the bridge's configuration, never from the model's arguments.
        arguments = {name for tool in tools.values() for name in tool.input_schema["properties"]}
        assert arguments.isdisjoint({"user", "user_id", "api_key", "key"})

        added = await call(session, "add_memories", text="I am allergic to peanuts")
        assert [(r["event"], r["memory"]) for r in added["results"]] == [
            ("ADD", "I am allergic to peanuts")
        ]
        assert any("no LLM is configured" in w for w in added["warnings"])
        peanuts = added["results"][0]["id"]
        again = await call(session, "add_memories", text="I am allergic to peanuts")
        assert [(r["event"], r["id"]) for r in again["results"]] == [("NOOP", peanuts)]
        verbatim = await call(
            session, "add_memories", text="Flies to Lisbon on June 3", infer=False
        )
        lisbon = verbatim["results"][0]["id"]

        found = await call(session, "search_memory", query="food allergies", top_k=1)
        assert [r["id"] for r in found["results"]] == [peanuts]
        assert 0 < found["results"][0]["score"] <= 1

        got = await call(session, "get_memory", id=peanuts)
        assert (got["memory"], got["state"]) == ("I am allergic to peanuts", "ACTIVE")
        full_name = f"users/{user_id}/memories/{peanuts}"
        assert await call(session, "get_memory", id=full_name) == got

        updated = await call(session, "update_memory", id=lisbon, text="Flies to Lisbon on June 4")
        assert updated["memory"] == "Flies to Lisbon on June 4"
        assert (await call(session, "get_memory", id=lisbon))["memory"] == updated["memory"]

        listed = await call(session, "list_memories")
        assert [m["id"] for m in listed["memories"]] == [lisbon, peanuts]
        assert listed["next_page_token"] is None

        recent = await session.read_resource(RECENT_MEMORIES_URI)
        content = recent.contents[0]
        assert isinstance(content, TextResourceContents)
        assert content.mime_type == "application/json"
        body = json.loads(content.text)
        assert body["user"] == user_id
        assert [m["memory"] for m in body["memories"]] == [
            "Flies to Lisbon on June 4",
            "I am allergic to peanuts",
        ]

        prompt = await session.get_prompt("memory_guidelines")
        message = prompt.messages[0].content
        assert isinstance(message, TextContent)
        assert "search_memory" in message.text and "add_memories" in message.text

        # OpenMemory's name for the ids works as well; one of the two is needed.
        assert "give the memories' ids" in await fails(session, "delete_memories")
        both = await fails(session, "delete_memories", ids=[lisbon], memory_ids=[lisbon])
        assert "give the memories' ids" in both
        deleted = await call(session, "delete_memories", memory_ids=[lisbon])
        assert deleted == {"deleted_count": 1, "ids": [lisbon]}
        assert "MEMORY_NOT_FOUND" in await fails(session, "get_memory", id=lisbon)

        refused = await fails(session, "delete_all_memories", confirm=False)
        assert "confirm=true" in refused
        assert len((await call(session, "list_memories"))["memories"]) == 1
        cleared = await call(session, "delete_all_memories", confirm=True)
        assert cleared == {"deleted_count": 1}
        assert (await call(session, "list_memories"))["memories"] == []


async def test_search_leaves_out_unrelated_memories(connect: Connect, user_id: str) -> None:
    async with connect() as session:
        for text in ("Prefers window seats on long flights", "Has a dog called Biscuit"):
            await call(session, "add_memories", text=text, infer=False)
        found = await call(session, "search_memory", query="airplane seat preference")
        assert [r["memory"] for r in found["results"]] == ["Prefers window seats on long flights"]
        assert all(r["score"] >= DEFAULT_MIN_SCORE for r in found["results"])
        # A question nothing answers finds nothing, unless weaker matches are asked for.
        assert (await call(session, "search_memory", query="stock market forecast")) == {
            "results": []
        }
        everything = await call(
            session, "search_memory", query="stock market forecast", min_score=None
        )
        assert len(everything["results"]) == 2
        assert max(r["score"] for r in everything["results"]) < DEFAULT_MIN_SCORE
        some = await call(session, "search_memory", query="stock market forecast", min_score=-1)
        assert some == everything


async def test_openmemory_urls(http_bridge: HttpBridge, user_id: str) -> None:
    # OpenMemory's clients are configured with /mcp/{client}/sse/{user} (or .../http/...):
    # the same tools, OpenMemory's parameter names, the user from the URL.
    async with http_bridge.openmemory_session(f"/mcp/claude/sse/{user_id}") as session:
        assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
        added = await call(session, "add_memories", text="Drinks oat milk", infer=True)
        oat = added["results"][0]["id"]
        found = await call(session, "search_memory", query="what milk does the user drink?")
        assert [r["id"] for r in found["results"]] == [oat]
    async with http_bridge.openmemory_session(f"/mcp/cursor/http/{user_id}") as session:
        listed = await call(session, "list_memories")
        assert [m["id"] for m in listed["memories"]] == [oat]
        assert (await call(session, "delete_memories", memory_ids=[oat]))["deleted_count"] == 1
    # Two SSE connections at once, for two users, each sees its own.
    other = f"{user_id}-2"
    async with (
        http_bridge.openmemory_session(f"/mcp/claude/sse/{user_id}") as first,
        http_bridge.openmemory_session(f"/mcp/claude/sse/{other}") as second,
    ):
        await call(second, "add_memories", text="Lives in Oslo", infer=False)
        assert (await call(first, "list_memories"))["memories"] == []
        assert len((await call(second, "list_memories"))["memories"]) == 1
    # The streamable HTTP endpoint still works after SSE connections came and went.
    async with http_bridge.session(user=other) as session:
        assert len((await call(session, "list_memories"))["memories"]) == 1


async def test_list_memories_pages(
    connect: Connect, user_id: str, grpc_client: AsyncClient
) -> None:
    requests = [
        svc.CreateMemoryRequest(memory=memory_pb2.Memory(content=f"note {i}")) for i in range(60)
    ]
    await grpc_client.batch_create_memories(
        svc.BatchCreateMemoriesRequest(parent=f"users/{user_id}", requests=requests)
    )
    async with connect() as session:
        first = await call(session, "list_memories")
        assert len(first["memories"]) == 50 and first["next_page_token"]
        second = await call(session, "list_memories", page_token=first["next_page_token"])
        assert second["next_page_token"] is None
        texts = [m["memory"] for m in first["memories"] + second["memories"]]
        assert sorted(texts) == sorted(f"note {i}" for i in range(60))


async def test_server_errors_are_tool_errors(connect: Connect, user_id: str) -> None:
    async with connect() as session:
        kept = (await call(session, "add_memories", text="Works as a nurse"))["results"][0]["id"]
        missing = str(uuid.uuid4())

        message = await fails(session, "search_memory", query="job", filter='colour = "red"')
        assert "INVALID_ARGUMENT UNKNOWN_FILTER_FIELD" in message and "colour" in message
        message = await fails(session, "get_memory", id=missing)
        assert "NOT_FOUND MEMORY_NOT_FOUND" in message and "search_memory" in message
        assert "not a memory id" in await fails(session, "get_memory", id="nurse")
        other = f"users/someone-else/memories/{kept}"
        assert "No memory" in await fails(session, "get_memory", id=other)
        assert "No memory" in await fails(session, "update_memory", id=other, text="x")
        # All or nothing: one unknown id deletes none.
        assert "NOT_FOUND" in await fails(session, "delete_memories", ids=[kept, missing])
        # Arguments outside the input schema are refused before reaching the server.
        await fails(session, "search_memory", query="job", top_k=0)
        await fails(session, "update_memory", id=kept)

        # The bridge is still there, and nothing was lost.
        assert (await call(session, "get_memory", id=kept))["memory"] == "Works as a nurse"


async def test_unreachable_server_is_a_tool_error(user_id: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with stdio_session(["--user", user_id], env={"MEM0STACK_SERVER": dead}) as session:
        message = await fails(session, "search_memory", query="anything")
        assert f"memory server at {dead} failed (UNAVAILABLE)" in message
        assert "try again later" in message
        assert len((await session.list_tools()).tools) == len(TOOLS)
