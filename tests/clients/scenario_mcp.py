"""The congruence scenario (scenario.py) through the MCP bridge, with the MCP SDK's client.

The bridge runs as users run it (``mem0stack mcp --user USER --server TARGET`` over stdio)
and a real ``ClientSession`` calls its tools. The tools are OpenMemory's, so they cover only
part of the scenario: the steps in NO_TOOL have no tool that could do them, and are left out
of the result (the test checks that exactly these are missing). The seed memories, which
``add_memories`` cannot create with metadata and categories, are created with the Python
client first; every later step goes through a tool.

The tools answer with their own JSON (``id``, ``memory``, ``state``, ...). Each answer is
read back into the proto message it was made from and normalised by scenario.py's
functions; the fields the tools do not carry (NO_FIELD) are left out of the memories. A
tool error is read from the text the bridge writes for it, "failed (CODE REASON)".

    python -m tests.clients.scenario_mcp TARGET USER
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import grpc
from mcp import ClientSession
from mcp.types import CallToolResult

from mem0stack import AsyncClient, Mem0StackError
from mem0stack.v1 import memory_pb2
from tests.clients.scenario import (
    NEW_CONTENT,
    QUERY,
    SEED,
    TOP_K,
    Positions,
    error,
    memory,
    search_result,
    struct,
)
from tests.mcp.bridges import call, stdio_session, text_of

NO_TOOL = {
    "created": "add_memories takes text only, no metadata or categories",
    "pages": "list_memories has no page size (its pages hold 50)",
    "revisions": "no tool reads a memory's revisions",
    "bad_filter": "list_memories takes no filter",
}
"""The scenario's steps no MCP tool can do, and why."""

NO_FIELD = {"memory_type": "the tools' memories do not carry it"}
"""Fields of a normalised memory the tools' answers do not carry."""

# describe() in gateway/mcp/mem0stack_mcp/errors.py: "... failed (NOT_FOUND MEMORY_NOT_FOUND): ..."
_FAILED = re.compile(r"failed \(([A-Z_]+)(?: ([A-Z_]+))?\)")


def _memory(user: str, fields: dict[str, Any]) -> memory_pb2.Memory:
    """The Memory a tool's memory was made from, as far as the tool tells."""
    return memory_pb2.Memory(
        name=f"users/{user}/memories/{fields['id']}",
        content=fields["memory"],
        metadata=struct(fields["metadata"]),
        categories=fields["categories"],
        state=memory_pb2.Memory.State.Value(fields["state"]),
    )


def _normalised(user: str, fields: dict[str, Any], pos: Positions) -> dict[str, Any]:
    normal = memory(_memory(user, fields), pos)
    for name in NO_FIELD:
        del normal[name]
    return normal


def _error(result: CallToolResult) -> Mem0StackError:
    """The server's error a failed tool call reports."""
    text = text_of(result)
    match = _FAILED.search(text)
    assert match, f"a tool error that names no server error: {text}"
    return Mem0StackError(grpc.StatusCode[match[1]], text, reason_name=match[2] or "")


async def _list(session: ClientSession) -> list[dict[str, Any]]:
    """Every memory list_memories returns, page after page."""
    memories: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await call(session, "list_memories", page_token=token)
        memories += page["memories"]
        token = page["next_page_token"] or ""
        if not token:
            return memories


async def run(target: str, user: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with AsyncClient(target) as client:
        created = [
            await client.create(user, content, metadata=meta, categories=cats)
            for content, meta, cats in SEED
        ]
    names = [m.name for m in created]
    ids = [m.uid for m in created]
    pos = Positions(names)

    async with stdio_session(["--user", user, "--server", target]) as session:
        out["listed"] = [pos(_memory(user, m).name) for m in await _list(session)]

        # The other front doors send no minimum score: neither does this one.
        found = await call(session, "search_memory", query=QUERY, top_k=TOP_K, min_score=None)
        out["search"] = [
            search_result(memory_pb2.SearchResult(memory=_memory(user, r), score=r["score"]), pos)
            for r in found["results"]
        ]

        # The tool sends the content alone: there is no metadata to be ignored.
        updated = await call(session, "update_memory", id=ids[0], text=NEW_CONTENT)
        out["updated"] = _normalised(user, updated, pos)

        await call(session, "delete_memories", ids=[ids[1]])
        got = await session.call_tool("get_memory", {"id": ids[1]})
        out["get_deleted"] = error(_error(got)) if got.is_error else None

        out["remaining"] = [pos(_memory(user, m).name) for m in await _list(session)]
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(sys.argv[1], sys.argv[2])), indent=2, sort_keys=True))
