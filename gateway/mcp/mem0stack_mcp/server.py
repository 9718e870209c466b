"""The MCP server: OpenMemory's memory tools, a resource and a prompt, each one gRPC call.

The bridge keeps nothing but a gRPC channel. Every request is resolved to a
:class:`~mem0stack_mcp.config.Caller` (user and API key) from the bridge's configuration
or, over HTTP, the request's headers, and made with the typed ``mem0stack.AsyncClient``.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import MCPServerError, ResourceError, ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mem0stack import AsyncClient, Mem0StackError
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_mcp.config import BridgeConfig, Caller, IdentityError, caller_for
from mem0stack_mcp.errors import describe
from mem0stack_mcp.models import (
    AddResult,
    DeleteAllResult,
    DeleteResult,
    Memory,
    MemoryList,
    ScoredMemory,
    SearchResults,
    change_of,
)

__all__ = ["GUIDELINES", "RECENT_MEMORIES_URI", "build_server"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MIN_SCORE = 0.2
"""search_memory leaves out results less similar than this (cosine similarity) unless asked.

A model shown the top results of every search reads the unrelated ones as facts about the
user. Measured with the default local embedder (all-MiniLM-L6-v2) on ten everyday memories
and eleven questions: the relevant memory scored 0.28 to 0.74, unrelated ones at most 0.23,
and every result of a question nothing answered (weather, stocks, tyres) at most 0.14. 0.2
drops all of the latter and errs on the side of keeping a borderline memory, which a model
can ignore; a dropped one it never sees. Other embedders score differently: pass
``min_score`` (null keeps everything)."""

RECENT_MEMORIES_URI = "mem0stack://memories/recent"
RECENT_MEMORIES_COUNT = 20

INSTRUCTIONS = """\
Long-term memory of the user, kept across conversations. Call search_memory before answering \
anything that may depend on what you know about the user; call add_memories whenever the user \
shares a lasting fact, preference, plan or correction, or asks you to remember something. \
The prompt memory_guidelines has the details."""

GUIDELINES = """\
You have a long-term memory of this user through the tools add_memories, search_memory, \
list_memories, get_memory, update_memory, delete_memories and delete_all_memories.

When to search (search_memory):
- At the start of a task, and before any answer that could depend on the user's preferences, \
history, projects, people, or earlier decisions. Search with a short query in your own words \
("preferred programming language", "travel plans for June").
- When the user refers to something from before ("as I said", "my usual setup").
Use what you find; do not recite memories the user did not ask about.

When to save (add_memories):
- The user states a lasting fact about themselves or their work, a preference, a plan, \
a relationship, or corrects something you knew.
- The user asks you to remember something.
Save one self-contained statement per fact, in plain words ("Prefers window seats on long \
flights"). Do not save small talk, one-off requests, secrets (passwords, keys), or what is \
already in memory: the server reconciles duplicates and contradictions, and tells you what it did.

When to change or forget:
- The user corrects a memory: update_memory with the memory's id, or add the corrected fact.
- The user asks to forget something: find it with search_memory, then delete_memories with its id.
- delete_all_memories only when the user explicitly asks to erase everything, with confirm=true.
"""

_request_headers: ContextVar[Mapping[str, str] | None] = ContextVar(
    "mem0stack_mcp_request_headers", default=None
)
_path_user: ContextVar[str | None] = ContextVar("mem0stack_mcp_path_user", default=None)


async def _remember_headers(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Make the HTTP request's headers (``None`` on stdio), and the user its URL names, visible
    to the handler's identity lookup, including the resource handler, which gets no Context."""
    token = _request_headers.set(getattr(ctx.request, "headers", None))
    path_params: Mapping[str, str] = getattr(ctx.request, "path_params", None) or {}
    user_token = _path_user.set(path_params["user"]) if "user" in path_params else None
    try:
        return await call_next(ctx)
    finally:
        if user_token is not None:
            _path_user.reset(user_token)
        _request_headers.reset(token)


TRACE_HEADERS = ("traceparent", "tracestate")


def trace_metadata(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The W3C trace context headers of an HTTP request, as gRPC metadata (none on stdio)."""
    if not headers:
        return ()
    return tuple((name, headers[name]) for name in TRACE_HEADERS if headers.get(name))


class Bridge:
    """The connection to the memory server and the per-request identity."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self._base: AsyncClient | None = None
        self._users = 0

    @asynccontextmanager
    async def lifespan(self, _server: MCPServer[None]) -> AsyncIterator[None]:
        """One channel for the bridge's lifetime (made inside the event loop it serves).

        Streamable HTTP enters this once; every SSE connection enters it again while it
        lasts, so the first opens the channel and the last closes it.
        """
        if self._users == 0:
            self._base = AsyncClient(
                self.config.server, tls=self.config.tls, timeout=self.config.timeout
            )
        self._users += 1
        try:
            yield None
        finally:
            self._users -= 1
            if self._users == 0 and self._base is not None:
                await self._base.close()
                self._base = None

    async def call(
        self,
        action: Callable[[AsyncClient, Caller], Awaitable[T]],
        error: type[MCPServerError] = ToolError,
    ) -> T:
        """Run ``action`` as the request's caller; failures become ``error``, readably."""
        try:
            caller = caller_for(self.config, _request_headers.get(), _path_user.get())
        except IdentityError as exc:
            raise error(f"The memory bridge cannot tell whose memories to use: {exc}.") from exc
        if self._base is None:
            raise error("The memory bridge is not connected to a server.")
        client = AsyncClient(
            self.config.server,
            caller.api_key,
            channel=self._base.channel,
            timeout=self.config.timeout,
        )
        # The HTTP caller's trace context goes on to the server as gRPC metadata, so its
        # trace covers MCP -> server. (The client sends its metadata tuple with every call.)
        client._metadata = (*client._metadata, *trace_metadata(_request_headers.get()))
        try:
            return await action(client, caller)
        except Mem0StackError as exc:
            raise error(describe(exc, self.config.server)) from exc


def memory_name(caller: Caller, memory_id: str) -> str:
    """The resource name of ``memory_id`` (an id, or a full name) under the caller's user.

    A name of another user is reported as unknown, the way the server reports it.
    """
    value = memory_id.strip()
    uid = value
    if value.startswith("users/"):
        parts = value.split("/")
        if len(parts) != 4 or parts[2] != "memories":
            raise ToolError(f"{memory_id!r} is not a memory id or users/{{user}}/memories/{{id}}.")
        if parts[1] != caller.user:
            raise ToolError(f"No memory {memory_id!r} among this user's memories.")
        uid = parts[3]
    try:
        uid = str(uuid.UUID(uid))
    except ValueError:
        raise ToolError(
            f"{memory_id!r} is not a memory id: ids are UUIDs, as returned by search_memory "
            "and list_memories."
        ) from None
    return f"{caller.parent}/memories/{uid}"


MemoryId = Annotated[
    str,
    Field(
        min_length=1,
        description="A memory's id, as search_memory or list_memories return it.",
    ),
]


def build_server(config: BridgeConfig) -> MCPServer[None]:
    """The MCP server for ``config``; run it with ``.run("stdio")`` or serve its HTTP app."""
    bridge = Bridge(config)
    server: MCPServer[None] = MCPServer(
        name="mem0-stack",
        title="mem0-stack memory",
        description="Long-term memory for AI assistants, served by a mem0-stack memory server.",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=bridge.lifespan,
        middleware=[_remember_headers],
    )

    def tool(**options: Any) -> Callable[[F], F]:
        """``server.tool``, described by the function's docstring without its indentation
        (the model reads the description as it is sent)."""

        def register(fn: F) -> F:
            description = inspect.cleandoc(fn.__doc__ or "")
            registered: F = server.tool(description=description, **options)(fn)
            return registered

        return register

    @tool(
        title="Save memories",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        ),
    )
    async def add_memories(
        text: Annotated[
            str,
            Field(
                min_length=1,
                description="What the user said or asked you to remember, in plain words. "
                "It may hold several facts.",
            ),
        ],
        infer: Annotated[
            bool | None,
            Field(
                description="Leave unset (true) to let the server extract the facts and reconcile "
                "them with what it already knows; false stores the text verbatim as one memory.",
            ),
        ] = None,
    ) -> AddResult:
        """Save information about the user in long-term memory.

        Call it whenever the user shares something worth remembering in later conversations:
        a fact about themselves, a preference, a plan, a person, a decision, a correction, or
        anything they ask you to remember. The server splits the text into facts and compares
        them with the memories it has: each result says whether a fact was added (ADD), merged
        into a memory (UPDATE), replaced a contradicted memory (SUPERSEDE), removed one (DELETE)
        or was already known (NOOP).
        """

        async def act(client: AsyncClient, caller: Caller) -> AddResult:
            response = await client.add(caller.user, text, infer=infer)
            return AddResult(
                results=[change_of(event) for event in response.events],
                warnings=list(response.warnings),
            )

        return await bridge.call(act)

    @tool(
        title="Search memories",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def search_memory(
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=4096,
                description="What to look for, in natural language "
                '("favourite cuisine", "where does the user work").',
            ),
        ],
        top_k: Annotated[int, Field(ge=1, le=100, description="The most memories to return.")] = 10,
        filter: Annotated[
            str,
            Field(
                description="Optional AIP-160 filter on the memories' fields, e.g. "
                "'categories:\"food\"', 'agent_id = \"travel\"', 'metadata.source = \"chat\"' or "
                "'create_time > \"2026-01-01T00:00:00Z\"'. Leave empty to search everything.",
            ),
        ] = "",
        min_score: Annotated[
            float | None,
            Field(
                ge=-1,
                le=1,
                description=f"Leave out memories less similar to the query than this "
                f"(default {DEFAULT_MIN_SCORE}: unrelated memories are left out). Lower it, "
                "or pass null, to see weaker matches too.",
            ),
        ] = DEFAULT_MIN_SCORE,
    ) -> SearchResults:
        """Search the user's long-term memory for what is relevant to a query.

        Call it before answering anything that may depend on what you know about the user:
        their preferences, history, projects, people or earlier decisions. Results come most
        relevant first, each with its id (for get_memory, update_memory, delete_memories) and a
        similarity score; memories unrelated to the query are left out (see min_score).
        """

        async def act(client: AsyncClient, caller: Caller) -> SearchResults:
            results = await client.search(
                caller.user, query, top_k=top_k, filter=filter, min_score=min_score
            )
            return SearchResults(results=[ScoredMemory.of_result(r) for r in results])

        return await bridge.call(act)

    @tool(
        title="List memories",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def list_memories(
        page_token: Annotated[
            str,
            Field(
                description="Leave empty for the first page; then pass the next_page_token of "
                "the previous page.",
            ),
        ] = "",
    ) -> MemoryList:
        """List the user's memories, newest first, one page at a time (up to 50 per page).

        Use it when the user wants to see what you remember; to answer a question, prefer
        search_memory. When next_page_token is present there are more pages.
        """

        async def act(client: AsyncClient, caller: Caller) -> MemoryList:
            request = svc.ListMemoriesRequest(parent=caller.parent, page_token=page_token)
            page = await client.list_memories(request)
            return MemoryList(
                memories=[Memory.of(m) for m in page.memories],
                next_page_token=page.next_page_token or None,
            )

        return await bridge.call(act)

    @tool(
        title="Get a memory",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def get_memory(id: MemoryId) -> Memory:
        """Read one memory by its id, including one since superseded by a newer memory."""

        async def act(client: AsyncClient, caller: Caller) -> Memory:
            return Memory.of(await client.get(memory_name(caller, id)))

        return await bridge.call(act)

    @tool(
        title="Update a memory",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def update_memory(
        id: MemoryId,
        text: Annotated[str, Field(min_length=1, description="The memory's new, complete text.")],
    ) -> Memory:
        """Replace the text of one memory, when the user corrects it. The old text is kept in
        the memory's history."""

        async def act(client: AsyncClient, caller: Caller) -> Memory:
            return Memory.of(await client.update(memory_name(caller, id), content=text))

        return await bridge.call(act)

    @tool(
        title="Delete memories",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    async def delete_memories(
        ids: Annotated[
            list[str] | None,
            Field(
                min_length=1,
                max_length=1000,
                description="The ids of the memories to delete, as search_memory or "
                "list_memories return them.",
            ),
        ] = None,
        memory_ids: Annotated[
            list[str] | None,
            Field(
                min_length=1,
                max_length=1000,
                description="The same as ids (OpenMemory's name for it); give one of the two.",
            ),
        ] = None,
    ) -> DeleteResult:
        """Delete the given memories, when the user asks you to forget something.

        All or nothing: if one id is unknown, nothing is deleted and the error names it.
        """
        if (ids is None) == (memory_ids is None):
            raise ToolError("Nothing was deleted: give the memories' ids, as ids (or memory_ids).")
        given: list[str] = ids or memory_ids or []

        async def act(client: AsyncClient, caller: Caller) -> DeleteResult:
            names = list(dict.fromkeys(memory_name(caller, i) for i in given))
            request = svc.BatchDeleteMemoriesRequest(parent=caller.parent, names=names)
            response = await client.batch_delete_memories(request)
            return DeleteResult(
                deleted_count=response.deleted_count, ids=[n.rsplit("/", 1)[-1] for n in names]
            )

        return await bridge.call(act)

    @tool(
        title="Delete all memories",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def delete_all_memories(
        confirm: Annotated[
            bool,
            Field(
                description="Must be true. Set it only when the user has explicitly asked to "
                "erase all of their memories.",
            ),
        ],
    ) -> DeleteAllResult:
        """Delete every memory of the user. Irreversible: call it only when the user explicitly
        asks to erase everything you remember about them, and pass confirm=true."""
        if not confirm:
            raise ToolError(
                "Nothing was deleted: delete_all_memories needs confirm=true, and only when the "
                "user has explicitly asked to erase all of their memories."
            )

        async def act(client: AsyncClient, caller: Caller) -> DeleteAllResult:
            return DeleteAllResult(deleted_count=await client.delete_all(caller.user))

        return await bridge.call(act)

    @server.resource(
        RECENT_MEMORIES_URI,
        name="recent_memories",
        title="Recent memories",
        description=f"The user's {RECENT_MEMORIES_COUNT} most recently saved or changed "
        "memories, as JSON.",
        mime_type="application/json",
    )
    async def recent_memories() -> str:
        async def act(client: AsyncClient, caller: Caller) -> str:
            request = svc.ListMemoriesRequest(
                parent=caller.parent, page_size=RECENT_MEMORIES_COUNT, order_by="update_time desc"
            )
            page = await client.list_memories(request)
            memories = [Memory.of(m).model_dump(mode="json") for m in page.memories]
            return json.dumps({"user": caller.user, "memories": memories}, ensure_ascii=False)

        return await bridge.call(act, ResourceError)

    @server.prompt(
        name="memory_guidelines",
        title="When to save and when to search memories",
        description="Instructions for an assistant on using the long-term memory tools.",
    )
    def memory_guidelines() -> str:
        return GUIDELINES

    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mem0stack-mcp")
    except PackageNotFoundError:
        return "0"
