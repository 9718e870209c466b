"""The memory engine: what each MemoryService method does, independent of transport.

The servicer has already authenticated the caller and checked that it may reach the user;
everything here works inside one user id.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import asyncpg
import numpy as np
from google.protobuf import empty_pb2
from google.protobuf.message import Message as ProtoMessage

from mem0stack.v1 import memory_pb2, operation_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.config import Settings
from mem0stack_server.core import filter as aip160
from mem0stack_server.core import search as search_sql
from mem0stack_server.core.convert import (
    content_hash,
    etag_of,
    from_struct,
    memory_from_row,
    revision_from_row,
)
from mem0stack_server.core.ids import new_memory_id
from mem0stack_server.core.names import MemoryName, parse_memory_name
from mem0stack_server.core.pagination import decode_token, encode_token, fingerprint
from mem0stack_server.core.validation import Validator
from mem0stack_server.domain.errors import (
    Code,
    DomainError,
    Reason,
    invalid,
    not_found,
    unavailable,
)
from mem0stack_server.embed import Embedder, EmbedderError
from mem0stack_server.obs import metrics
from mem0stack_server.store.memories import MEMORY_COLUMNS, MemoryStore, NewMemory, Revision

if TYPE_CHECKING:
    from mem0stack_server.core.operations import Operations
    from mem0stack_server.core.pipeline import Finish, InferencePipeline
    from mem0stack_server.graph.service import GraphService
    from mem0stack_server.llm import LLMClient

log = logging.getLogger(__name__)

R = TypeVar("R", bound=ProtoMessage)

# order_by value -> (column, descending)
_ORDERS = {
    "create_time desc": ("create_time", True),
    "create_time": ("create_time", False),
    "create_time asc": ("create_time", False),
    "update_time desc": ("update_time", True),
    "update_time": ("update_time", False),
    "update_time asc": ("update_time", False),
}
_UPDATABLE = ("content", "metadata", "categories", "expire_time", "event_time")
_IMMUTABLE = ("agent_id", "run_id", "actor_id", "role", "memory_type")
_MODES = {
    "hybrid": svc.SearchMemoriesRequest.HYBRID,
    "vector": svc.SearchMemoriesRequest.VECTOR,
    "keyword": svc.SearchMemoriesRequest.KEYWORD,
}


@dataclass(frozen=True)
class Caller:
    """Who makes a change, as recorded in revisions."""

    actor: str
    request_id: str = ""


@dataclass(frozen=True)
class AddInput:
    """The validated fields of an AddMemoriesRequest, other than its messages."""

    agent_id: str
    run_id: str
    metadata: dict[str, Any]
    categories: list[str]
    infer: bool
    memory_type: str


#: Told in every AddMemories response that asked for inference on a server without an LLM
#: (and logged at start-up): callers used to mem0 expect facts to be extracted.
NO_LLM_WARNING = (
    "no LLM is configured, so the user messages were stored verbatim (deduplicated), "
    "without fact extraction or reconciliation; to extract facts, start the server with "
    "MEM0STACK_LLM_MODEL set (and OPENAI_BASE_URL / OPENAI_API_KEY for the endpoint), "
    "see docs/llm.md; send infer=false to store messages verbatim without this warning"
)


class MemoryEngine:
    """Business logic of MemoryService."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embedder: Embedder,
        llm: LLMClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.check = Validator(settings)
        # The LLM path of AddMemories; None keeps the documented path without an LLM.
        self.pipeline: InferencePipeline | None = None
        if llm is not None:
            # Imported here: the pipeline module imports this one.
            from mem0stack_server.core.pipeline import InferencePipeline

            self.pipeline = InferencePipeline(settings, store, self._embed, llm)
        # Background AddMemories (async_mode); the server attaches it at start-up.
        self.operations: Operations | None = None
        # Graph memory (graph/service.py); the server attaches it when Neo4j is configured.
        self.graph: GraphService | None = None

    # Creating

    async def create(
        self, user_id: str, req: svc.CreateMemoryRequest, caller: Caller
    ) -> memory_pb2.Memory:
        self.check.request_id(req.request_id)
        new = self._new_memory(user_id, req, "memory")

        async def run() -> memory_pb2.Memory:
            (memory,) = await self._insert(user_id, [new], [req], caller)
            return memory

        return await self._idempotent(user_id, "CreateMemory", req, caller, run, memory_pb2.Memory)

    async def batch_create(
        self, user_id: str, req: svc.BatchCreateMemoriesRequest, caller: Caller
    ) -> svc.BatchCreateMemoriesResponse:
        self.check.request_id(req.request_id)
        self.check.item_count(len(req.requests), "requests", self.settings.max_batch_items)
        news = []
        for i, item in enumerate(req.requests):
            if item.parent and item.parent != req.parent:
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    f"requests[{i}].parent",
                    "must be empty or equal to parent",
                )
            news.append(self._new_memory(user_id, item, f"requests[{i}].memory"))

        async def run() -> svc.BatchCreateMemoriesResponse:
            memories = await self._insert(user_id, news, list(req.requests), caller)
            return svc.BatchCreateMemoriesResponse(memories=memories)

        return await self._idempotent(
            user_id, "BatchCreateMemories", req, caller, run, svc.BatchCreateMemoriesResponse
        )

    def _new_memory(self, user_id: str, req: svc.CreateMemoryRequest, field: str) -> NewMemory:
        m = req.memory
        content = self.check.content(m.content, f"{field}.content")
        return NewMemory(
            id=new_memory_id(),
            user_id=user_id,
            content=content,
            hash=content_hash(content),
            # Filled in by _insert, batched across the request.
            embedding=np.empty(0, dtype=np.float32),
            agent_id=self.check.scope_id(m.agent_id, f"{field}.agent_id"),
            run_id=self.check.scope_id(m.run_id, f"{field}.run_id"),
            actor_id=self.check.scope_id(m.actor_id, f"{field}.actor_id"),
            role=self.check.scope_id(m.role, f"{field}.role"),
            memory_type=memory_pb2.Memory.Type.Name(m.memory_type or memory_pb2.Memory.SEMANTIC),
            metadata=self.check.metadata(from_struct(m.metadata), f"{field}.metadata"),
            categories=self.check.categories(m.categories, f"{field}.categories"),
            expire_time=m.expire_time.ToDatetime(UTC) if m.HasField("expire_time") else None,
            event_time=m.event_time.ToDatetime(UTC) if m.HasField("event_time") else None,
        )

    async def _insert(
        self,
        user_id: str,
        news: list[NewMemory],
        requests: Sequence[svc.CreateMemoryRequest],
        caller: Caller,
    ) -> list[memory_pb2.Memory]:
        """Embed what has no caller-supplied embedding (one batch), then insert atomically."""
        dim = self.embedder.dimension
        vectors: list[np.ndarray | None] = []
        for i, r in enumerate(requests):
            field = "embedding" if len(requests) == 1 else f"requests[{i}].embedding"
            vectors.append(self.check.embedding(r.embedding, dim, field) if r.embedding else None)
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            computed = await self._embed([news[i].content for i in missing])
            for i, vector in zip(missing, computed, strict=True):
                vectors[i] = vector
        ready = [_with_embedding(n, v) for n, v in zip(news, vectors, strict=True) if v is not None]
        now = datetime.now(UTC)
        async with self.store.transaction() as conn:
            await self.store.insert(conn, ready, now, caller.actor, caller.request_id)
        return [memory_from_row(n.row(now)) for n in ready]

    async def _embed(self, texts: list[str]) -> np.ndarray:
        with _embedder_unavailable():
            return await self.embedder.embed(texts)

    async def _embed_query(self, query: str) -> np.ndarray:
        """The vector a search compares stored embeddings with (see Embedder.embed_query)."""
        with _embedder_unavailable():
            return await self.embedder.embed_query(query)

    async def _idempotent(
        self,
        user_id: str,
        method: str,
        req: Any,
        caller: Caller,
        run: Callable[[], Awaitable[R]],
        response_type: type[R],
    ) -> R:
        """Run ``run`` once per request id: a retry gets the stored first response.

        The response is stored after the work commits; two concurrent calls with one id may
        both run, and the second's store fails with a unique violation, so it answers with
        the first one's response. (Memory writes themselves are not rolled back in that
        race; the window is one round trip.)
        """
        request_id: str = req.request_id
        if not request_id:
            return await run()
        request_hash = hashlib.sha256(req.SerializeToString(deterministic=True)).digest()
        stored = await self.store.stored_response(user_id, method, request_id)
        if stored is not None:
            return self._replay(stored, request_hash, response_type)
        response = await run()
        try:
            async with self.store.transaction() as conn:
                await self.store.store_response(
                    conn,
                    user_id,
                    method,
                    request_id,
                    request_hash,
                    response.SerializeToString(),
                )
        except asyncpg.UniqueViolationError:
            stored = await self.store.stored_response(user_id, method, request_id)
            if stored is not None:
                return self._replay(stored, request_hash, response_type)
        return response

    @staticmethod
    def _replay(stored: asyncpg.Record, request_hash: bytes, response_type: type[R]) -> R:
        if bytes(stored["request_hash"]) != request_hash:
            raise invalid(
                Reason.REQUEST_ID_REUSED,
                "request_id",
                "was already used for a different request; use a new request_id",
            )
        return response_type.FromString(bytes(stored["response"]))

    # AddMemories

    async def add(
        self, user_id: str, req: svc.AddMemoriesRequest, caller: Caller
    ) -> svc.AddMemoriesResponse:
        """AddMemories: validate, then run now or (``async_mode``) queue an operation.

        A retry with the same request_id gets the first answer: the events, or in async mode
        the same operation.
        """
        self._check_add(req)
        if req.async_mode:
            if self.operations is None:
                raise invalid(
                    Reason.INVALID_ARGUMENT, "async_mode", "is not available on this server"
                )
            operations = self.operations

            async def submit() -> svc.AddMemoriesResponse:
                name = await operations.submit(user_id, req, caller)
                return svc.AddMemoriesResponse(operation=name, usage=memory_pb2.TokenUsage())

            return await self._idempotent(
                user_id, "AddMemories", req, caller, submit, svc.AddMemoriesResponse
            )

        async def run() -> svc.AddMemoriesResponse:
            return await self.run_add(user_id, req, caller)

        return await self._idempotent(
            user_id, "AddMemories", req, caller, run, svc.AddMemoriesResponse
        )

    async def run_add(
        self,
        user_id: str,
        req: svc.AddMemoriesRequest,
        caller: Caller,
        finish: Finish | None = None,
    ) -> svc.AddMemoriesResponse:
        """Do the work of one AddMemories (now, or as a background operation).

        ``finish`` runs inside the transaction of the changes, with the response. The
        request is checked again: an operation may run on a server with other settings.
        """
        checked = self._check_add(req)
        if self.pipeline is not None and checked.infer:
            response = await self.pipeline.run(user_id, req, checked, caller, finish)
        else:
            response = await self._add_without_llm(user_id, req, checked, caller, finish)
        for event in response.events:
            metrics.MEMORY_EVENTS.labels(memory_pb2.MemoryEvent.Type.Name(event.type)).inc()
        return response

    def _check_add(self, req: svc.AddMemoriesRequest) -> AddInput:
        self.check.request_id(req.request_id)
        self.check.item_count(len(req.messages), "messages", self.settings.max_messages)
        for i, msg in enumerate(req.messages):
            self.check.content(msg.content, f"messages[{i}].content")
            if msg.role not in ("user", "assistant", "system"):
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    f"messages[{i}].role",
                    "must be user, assistant or system",
                )
        checked = AddInput(
            agent_id=self.check.scope_id(req.agent_id, "agent_id"),
            run_id=self.check.scope_id(req.run_id, "run_id"),
            metadata=self.check.metadata(from_struct(req.metadata), "metadata"),
            categories=self.check.categories(req.categories, "categories"),
            infer=req.infer if req.HasField("infer") else True,
            memory_type=memory_pb2.Memory.Type.Name(req.memory_type or memory_pb2.Memory.SEMANTIC),
        )
        if self.pipeline is not None and checked.infer:
            if checked.memory_type == "PROCEDURAL" and not checked.agent_id:
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    "agent_id",
                    "is required with memory_type PROCEDURAL: the summary is the agent's",
                )
            if len(req.instructions) > self.settings.max_content_chars:
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    "instructions",
                    f"is longer than {self.settings.max_content_chars} characters",
                )
        return checked

    async def _add_without_llm(
        self,
        user_id: str,
        req: svc.AddMemoriesRequest,
        checked: AddInput,
        caller: Caller,
        finish: Finish | None,
    ) -> svc.AddMemoriesResponse:
        infer = checked.infer
        # Without an LLM, "inference" keeps what the user said: assistant and system turns
        # are context for an LLM, not facts about the user.
        chosen = [m for m in req.messages if m.role == "user"] if infer else list(req.messages)
        news = [
            NewMemory(
                id=new_memory_id(),
                user_id=user_id,
                content=m.content,
                hash=content_hash(m.content),
                embedding=np.empty(0, dtype=np.float32),
                agent_id=checked.agent_id,
                run_id=checked.run_id,
                actor_id=m.name,
                role=m.role,
                memory_type=checked.memory_type,
                metadata=checked.metadata,
                categories=checked.categories,
                event_time=m.time.ToDatetime(UTC) if m.HasField("time") else None,
            )
            for m in chosen
        ]
        vectors = await self._embed([n.content for n in news]) if news else np.empty((0, 0))
        news = [_with_embedding(n, v) for n, v in zip(news, vectors, strict=True)]
        events: list[memory_pb2.MemoryEvent] = []
        to_insert: list[NewMemory] = []
        if infer:
            for new in news:
                known = await self._duplicate_of(new, to_insert)
                if known is not None:
                    events.append(
                        memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.NOOP, memory=known)
                    )
                else:
                    to_insert.append(new)
                    events.append(memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.ADD))
        else:
            to_insert = news
            events = [memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.ADD) for _ in news]
        now = datetime.now(UTC)
        added = iter(to_insert)
        for event in events:
            if event.type == memory_pb2.MemoryEvent.ADD:
                event.memory.CopyFrom(memory_from_row(next(added).row(now)))
        response = svc.AddMemoriesResponse(
            events=events,
            usage=memory_pb2.TokenUsage(),
            warnings=[NO_LLM_WARNING] if infer else [],
        )
        if to_insert or finish is not None:
            async with self.store.transaction() as conn:
                if to_insert:
                    await self.store.insert(conn, to_insert, now, caller.actor, caller.request_id)
                if finish is not None:
                    await finish(conn, response)
        return response

    async def get_operation(self, user_id: str, operation_id: uuid.UUID) -> operation_pb2.Operation:
        """GetOperation: a background AddMemories of this user."""
        if self.operations is None:
            raise DomainError(
                Code.NOT_FOUND,
                Reason.OPERATION_NOT_FOUND,
                f"operation {operation_id} not found",
            )
        return await self.operations.get(user_id, operation_id)

    async def _duplicate_of(
        self, new: NewMemory, pending: list[NewMemory]
    ) -> memory_pb2.Memory | None:
        """The live memory (or one about to be added) that already says what ``new`` says."""
        threshold = self.settings.dedup_threshold
        for other in pending:
            if other.hash == new.hash or float(np.dot(other.embedding, new.embedding)) >= threshold:
                return memory_from_row(other.row(datetime.now(UTC)))
        (nearest,) = await self.store.nearest_in_scope(
            new.user_id, new.agent_id, new.run_id, new.embedding, 1
        ) or (None,)
        if nearest is not None and (nearest["hash"] == new.hash or nearest["score"] >= threshold):
            return memory_from_row(nearest)
        return None

    # Reading

    async def get(self, name: MemoryName) -> memory_pb2.Memory:
        row = await self.store.get(name.user_id, name.memory_id)
        if row is None:
            raise not_found(str(name))
        return memory_from_row(row)

    def _where(
        self, filter_text: str, *, show_expired: bool, first_param: int
    ) -> aip160.CompiledFilter:
        """The caller's filter plus the defaults: live (ACTIVE) and unexpired memories."""
        try:
            compiled = aip160.compile_filter(filter_text, first_param=first_param)
        except aip160.UnknownFilterFieldError as exc:
            raise invalid(
                Reason.UNKNOWN_FILTER_FIELD, "filter", str(exc), field=getattr(exc, "field", "")
            ) from exc
        except aip160.FilterError as exc:
            raise invalid(
                Reason.INVALID_FILTER,
                "filter",
                str(exc),
                position=str(getattr(exc, "position", "")),
            ) from exc
        parts = [f"({compiled.sql})"]
        if "state" not in compiled.fields:
            parts.append("state = 'ACTIVE'")
        if not show_expired:
            parts.append("(expire_time IS NULL OR expire_time > now())")
        return aip160.CompiledFilter(" AND ".join(parts), compiled.params, compiled.fields)

    async def list(self, user_id: str, req: svc.ListMemoriesRequest) -> svc.ListMemoriesResponse:
        page_size = self.check.page_size(req.page_size)
        order = " ".join(req.order_by.lower().split()) or "create_time desc"
        if order not in _ORDERS:
            raise invalid(
                Reason.INVALID_ORDER_BY,
                "order_by",
                f"{req.order_by!r} is not supported; use create_time or update_time, "
                "optionally followed by desc",
            )
        column, descending = _ORDERS[order]
        where = self._where(req.filter, show_expired=req.show_expired, first_param=2)
        query_fp = fingerprint(user_id, req.filter, column, descending, req.show_expired)
        after = decode_token(req.page_token, query_fp, 2)
        params: list[Any] = [user_id, *where.params]
        conditions = ["user_id = $1", where.sql]
        if after is not None:
            try:
                key_time = datetime.fromisoformat(after[0])
                key_id = uuid.UUID(after[1])
            except (TypeError, ValueError):
                raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed") from None
            params += [key_time, key_id]
            op = "<" if descending else ">"
            conditions.append(f"({column}, id) {op} (${len(params) - 1}, ${len(params)})")
        direction = "DESC" if descending else "ASC"
        params.append(page_size + 1)
        sql = (
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {' AND '.join(conditions)} "
            f"ORDER BY {column} {direction}, id {direction} LIMIT ${len(params)}"
        )
        rows = await self.store.fetch(sql, params)
        next_token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            next_token = encode_token(query_fp, [last[column].isoformat(), str(last["id"])])
        return svc.ListMemoriesResponse(
            memories=[memory_from_row(r) for r in rows], next_page_token=next_token
        )

    async def search(
        self, user_id: str, req: svc.SearchMemoriesRequest
    ) -> svc.SearchMemoriesResponse:
        top_k = self.check.top_k(req.top_k)
        query = self.check.query(req.query)
        vector: np.ndarray | None = None
        if req.query_embedding:
            vector = self.check.embedding(
                req.query_embedding, self.embedder.dimension, "query_embedding"
            )
        elif not query.strip():
            raise invalid(Reason.INVALID_ARGUMENT, "query", "must not be empty")
        min_score = self._ranged(req, "min_score", search_sql.NO_MIN_SCORE, -1, 1)
        mode = req.mode or _MODES[self.settings.default_search_mode]
        mode_name = svc.SearchMemoriesRequest.Mode.Name(mode).lower()
        hybrid = mode_name == "hybrid"
        keyword_weight = self._ranged(
            req, "keyword_weight", self.settings.search_keyword_weight, 0, 1
        )
        # VECTOR and KEYWORD stay pure rankings unless the request asks for more.
        context_weight = self._ranged(
            req, "context_weight", self.settings.search_context_weight if hybrid else 0.0, 0, 1
        )
        name_weight = self._ranged(
            req, "name_weight", self.settings.search_name_weight if hybrid else 0.0, 0, 1
        )
        context_window = int(
            self._ranged(
                req,
                "context_window",
                self.settings.search_context_window,
                0,
                search_sql.MAX_CONTEXT_WINDOW,
            )
        )
        plan = search_sql.plan(
            mode_name,
            context_weight=context_weight,
            context_window=context_window,
            name_weight=name_weight,
        )
        where = self._where(
            req.filter, show_expired=req.show_expired, first_param=search_sql.FIRST_FILTER_PARAM
        )
        keyword_rows: list[asyncpg.Record] = []
        if plan.keyword and query.strip():
            # The keyword statement needs only the text: it runs while the query embeds.
            keyword_where = self._where(
                req.filter,
                show_expired=req.show_expired,
                first_param=search_sql.KEYWORD_FIRST_FILTER_PARAM,
            )
            keyword_search = self.store.fetch(
                search_sql.keyword_sql(keyword_where.sql),
                [user_id, query, search_sql.KEYWORD_ROWS, *keyword_where.params],
            )
            if vector is None:
                # gather raises the first failure as is; the other call runs to its end.
                keyword_rows, vector = await asyncio.gather(
                    keyword_search, self._embed_query(query)
                )
            else:
                keyword_rows = await keyword_search
        elif vector is None:
            vector = await self._embed_query(query)
        params: list[Any] = [
            user_id,
            vector,
            min_score,
            top_k,
            [r["id"] for r in keyword_rows],
            [float(r["relevance"]) for r in keyword_rows],
            keyword_weight,
            context_weight,
            context_window,
            search_sql.query_names(query) if plan.names else [],
            name_weight,
            *where.params,
        ]
        rows = await self.store.fetch(search_sql.search_sql(plan, where.sql), params)
        response = svc.SearchMemoriesResponse(
            results=[
                memory_pb2.SearchResult(memory=memory_from_row(r), score=float(r["score"]))
                for r in rows
            ]
        )
        if req.include_relations or req.graph_boost:
            response = await self._graph_step(user_id, req, vector, top_k, min_score, response)
        return response

    @staticmethod
    def _ranged(
        req: svc.SearchMemoriesRequest,
        field: Literal[
            "min_score", "keyword_weight", "context_weight", "name_weight", "context_window"
        ],
        default: float,
        low: float,
        high: float,
    ) -> float:
        """An optional numeric field of the request, checked against [low, high], or the
        default when unset."""
        if not req.HasField(field):
            return default
        value = float(getattr(req, field))
        if not low <= value <= high:
            raise invalid(Reason.INVALID_ARGUMENT, field, f"must be between {low:g} and {high:g}")
        return value

    async def _graph_step(
        self,
        user_id: str,
        req: svc.SearchMemoriesRequest,
        vector: np.ndarray,
        top_k: int,
        min_score: float,
        response: svc.SearchMemoriesResponse,
    ) -> svc.SearchMemoriesResponse:
        """Graph memory's part of search, after the memories are found: the relations of
        the entities the query names and, with graph_boost, the memories they support."""
        if self.graph is None:
            from mem0stack_server.graph.service import graph_disabled

            raise graph_disabled()
        where = self._where(req.filter, show_expired=req.show_expired, first_param=5)

        async def fetch(ids: list[uuid.UUID]) -> list[asyncpg.Record]:
            return await self.store.fetch(
                f"""SELECT {MEMORY_COLUMNS}, 1 - (embedding <=> $2) AS score FROM memories
                    WHERE user_id = $1 AND id = ANY($3::uuid[])
                      AND 1 - (embedding <=> $2) >= $4 AND {where.sql}""",
                [user_id, vector, ids, min_score, *where.params],
            )

        return await self.graph.augment_search(user_id, req, vector, top_k, response, fetch)

    async def revisions(
        self, name: MemoryName, req: svc.ListMemoryRevisionsRequest
    ) -> svc.ListMemoryRevisionsResponse:
        page_size = self.check.page_size(req.page_size)
        query_fp = fingerprint(str(name))
        after = decode_token(req.page_token, query_fp, 1)
        after_id = after[0] if after else 0
        if not isinstance(after_id, int):
            raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed")
        rows = await self.store.revisions(name.user_id, name.memory_id, after_id, page_size + 1)
        if not rows and after is None:
            raise not_found(str(name))
        next_token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            next_token = encode_token(query_fp, [rows[-1]["id"]])
        return svc.ListMemoryRevisionsResponse(
            revisions=[revision_from_row(r) for r in rows], next_page_token=next_token
        )

    # Changing

    async def update(
        self, name: MemoryName, req: svc.UpdateMemoryRequest, caller: Caller
    ) -> memory_pb2.Memory:
        self.check.request_id(req.request_id)
        m = req.memory
        paths = self._update_paths(req)
        changes: dict[str, Any] = {}
        if "content" in paths:
            changes["content"] = self.check.content(m.content, "memory.content")
            changes["hash"] = content_hash(m.content)
        if "metadata" in paths:
            changes["metadata"] = self.check.metadata(from_struct(m.metadata), "memory.metadata")
        if "categories" in paths:
            changes["categories"] = self.check.categories(m.categories, "memory.categories")
        for field in ("expire_time", "event_time"):
            if field in paths:
                changes[field] = getattr(m, field).ToDatetime(UTC) if m.HasField(field) else None
        if "content" in changes:
            changes["embedding"] = (await self._embed([changes["content"]]))[0]

        async with self.store.transaction() as conn:
            row = await self.store.get(name.user_id, name.memory_id, conn, for_update=True)
            if row is None:
                raise not_found(str(name))
            if m.etag and m.etag != etag_of(row["id"], row["version"]):
                raise _etag_mismatch(str(name))
            for field in _IMMUTABLE:
                value = getattr(m, field)
                current = row[field]
                if field == "memory_type":
                    value = memory_pb2.Memory.Type.Name(value) if value else ""
                if value and value != current:
                    raise invalid(Reason.INVALID_ARGUMENT, f"memory.{field}", "cannot be changed")
            if not changes:
                return memory_from_row(row)
            updated = await self.store.update(
                conn, name.user_id, name.memory_id, changes, datetime.now(UTC)
            )
            await self.store.record(
                conn,
                [
                    Revision(
                        name.memory_id,
                        name.user_id,
                        "UPDATE",
                        content_before=row["content"],
                        content_after=updated["content"],
                        metadata_before=row["metadata"],
                        metadata_after=updated["metadata"],
                    )
                ],
                caller.actor,
                caller.request_id,
            )
        return memory_from_row(updated)

    @staticmethod
    def _update_paths(req: svc.UpdateMemoryRequest) -> set[str]:
        """AIP-134: the mask's paths, or every updatable field set in the memory."""
        m = req.memory
        if req.update_mask.paths:
            paths = set(req.update_mask.paths)
            unknown = paths - set(_UPDATABLE)
            if unknown:
                raise invalid(
                    Reason.INVALID_FIELD_MASK,
                    "update_mask",
                    f"cannot update {', '.join(sorted(unknown))}; updatable fields are "
                    f"{', '.join(_UPDATABLE)}",
                )
            return paths
        paths = set()
        if m.content:
            paths.add("content")
        if m.HasField("metadata"):
            paths.add("metadata")
        if m.categories:
            paths.add("categories")
        for field in ("expire_time", "event_time"):
            if m.HasField(field):
                paths.add(field)
        return paths

    async def delete(
        self, name: MemoryName, req: svc.DeleteMemoryRequest, caller: Caller
    ) -> empty_pb2.Empty:
        self.check.request_id(req.request_id)
        async with self.store.transaction() as conn:
            row = await self.store.get(name.user_id, name.memory_id, conn, for_update=True)
            if row is None:
                raise not_found(str(name))
            if req.etag and req.etag != etag_of(row["id"], row["version"]):
                raise _etag_mismatch(str(name))
            await self.store.delete_where(
                conn,
                "user_id = $1 AND id = $2",
                [name.user_id, name.memory_id],
                caller.actor,
                caller.request_id,
            )
        return empty_pb2.Empty()

    async def batch_delete(
        self, user_id: str, req: svc.BatchDeleteMemoriesRequest, caller: Caller
    ) -> svc.BatchDeleteMemoriesResponse:
        self.check.request_id(req.request_id)
        request_id = caller.request_id
        if req.names and req.filter:
            raise invalid(Reason.INVALID_ARGUMENT, "filter", "cannot be combined with names")
        if req.names:
            self.check.item_count(len(req.names), "names", self.settings.max_batch_items)
            ids = []
            for i, raw in enumerate(req.names):
                parsed = parse_memory_name(raw, f"names[{i}]")
                if parsed.user_id != user_id:
                    raise not_found(raw)
                ids.append(parsed.memory_id)
            async with self.store.transaction() as conn:
                # Lock and check first: deleting only some of the names would be a
                # half-done change.
                found = await self.store.lock_existing(conn, user_id, ids)
                for raw, memory_id in zip(req.names, ids, strict=True):
                    if memory_id not in found:
                        raise not_found(raw)
                deleted = await self.store.delete_where(
                    conn,
                    "user_id = $1 AND id = ANY($2::uuid[])",
                    [user_id, ids],
                    caller.actor,
                    request_id,
                )
            return svc.BatchDeleteMemoriesResponse(deleted_count=deleted)
        if not req.filter.strip() and not req.confirm:
            raise invalid(
                Reason.CONFIRMATION_REQUIRED,
                "confirm",
                "must be true to delete every memory of the user (no names and no filter)",
            )
        try:
            compiled = aip160.compile_filter(req.filter, first_param=2)
        except aip160.UnknownFilterFieldError as exc:
            raise invalid(Reason.UNKNOWN_FILTER_FIELD, "filter", str(exc)) from exc
        except aip160.FilterError as exc:
            raise invalid(Reason.INVALID_FILTER, "filter", str(exc)) from exc
        async with self.store.transaction() as conn:
            deleted = await self.store.delete_where(
                conn,
                f"user_id = $1 AND ({compiled.sql})",
                [user_id, *compiled.params],
                caller.actor,
                request_id,
            )
        return svc.BatchDeleteMemoriesResponse(deleted_count=deleted)


@contextmanager
def _embedder_unavailable() -> Iterator[None]:
    """Report the embedding backend's failures as UNAVAILABLE (EMBEDDER_UNAVAILABLE)."""
    try:
        yield
    except EmbedderError as exc:
        raise unavailable(Reason.EMBEDDER_UNAVAILABLE, f"embedding failed: {exc}") from exc


def _etag_mismatch(name: str) -> DomainError:
    return DomainError(
        Code.ABORTED,
        Reason.ETAG_MISMATCH,
        f"memory {name!r} changed since it was read; get it again and retry",
        name=name,
    )


def _with_embedding(new: NewMemory, vector: np.ndarray) -> NewMemory:
    return replace(new, embedding=vector)
