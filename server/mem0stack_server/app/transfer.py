"""ExportMemories and ImportMemories: moving whole memory stores in and out."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import asyncpg
import numpy as np

from mem0stack.v1 import memory_pb2, streams_pb2
from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.config import Settings
from mem0stack_server.domain.convert import content_hash, from_struct, memory_from_row
from mem0stack_server.domain.errors import DomainError, Reason, invalid, unavailable, with_cursor
from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.domain.ids import new_memory_id
from mem0stack_server.domain.pagination import fingerprint
from mem0stack_server.domain.records import NewMemory
from mem0stack_server.domain.tokens import decode_cursor_parts, encode_cursor
from mem0stack_server.domain.validation import Validator, check_message
from mem0stack_server.store.database import unreachable
from mem0stack_server.store.memories import MemoryStore

MAX_REPORTED_FAILURES = 1_000


# Export


async def export(
    store: MemoryStore,
    user_id: str,
    req: streams_pb2.ExportMemoriesRequest,
    refusal: Callable[[], DomainError | None] = lambda: None,
) -> AsyncIterator[streams_pb2.ExportMemoriesResponse]:
    """Every matching memory, oldest first, from one REPEATABLE READ snapshot.

    An export cut short, because ``refusal`` says the server drains or the database went
    away, ends with that error and the cursor of the last memory sent (or the request's
    cursor when none was), from which a new export continues.
    """
    node = parse_filter(req.filter)
    scope = fingerprint("export", user_id, req.filter)
    after = None
    if req.cursor:
        after_time, after_id = decode_cursor_parts(req.cursor, scope, "cursor", 2)
        try:
            after = (datetime.fromisoformat(after_time), uuid.UUID(after_id))
        except (TypeError, ValueError):
            raise invalid(Reason.INVALID_CURSOR, "cursor", "is malformed") from None
    sent = req.cursor
    # An async generator: closing it (when cut short) ends its transaction at once.
    rows = cast(
        AsyncGenerator[asyncpg.Record, None],
        store.export_rows(user_id, node, after, include_embeddings=req.include_embeddings),
    )
    try:
        async with contextlib.aclosing(rows):
            async for row in rows:
                stop = refusal()
                if stop is not None:
                    raise with_cursor(stop, sent)
                cursor = encode_cursor(scope, row["create_time"].isoformat(), str(row["id"]))
                yield streams_pb2.ExportMemoriesResponse(
                    memory=memory_from_row(row),
                    cursor=cursor,
                    embedding=row["embedding"].to_list() if req.include_embeddings else [],
                )
                sent = cursor
    except Exception as exc:
        if unreachable(exc):
            raise with_cursor(
                unavailable(Reason.DATABASE_UNAVAILABLE, "the database is unavailable"), sent
            ) from exc
        raise


# Import


class Importer:
    """Validates, embeds (in batches) and stores a stream of memories for one user.

    Embedding the next batch overlaps with writing the previous one, so on the local
    embedder an import runs close to the model's own batch throughput.
    """

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embeddings: Embeddings,
        actor: str,
        request_id: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embeddings = embeddings
        self.check = Validator(settings)
        self.actor = actor
        self.request_id = request_id
        self.summary = streams_pb2.ImportMemoriesResponse()
        self._seen: set[str] = set()
        self._writing: asyncio.Task[None] | None = None

    async def run(
        self,
        requests: AsyncIterator[streams_pb2.ImportMemoriesRequest],
        authorize: Callable[[str], str],
    ) -> streams_pb2.ImportMemoriesResponse:
        """Consume the stream; ``authorize`` maps the parent to a user id or raises."""
        user_id: str | None = None
        parent = ""
        batch: list[tuple[int, NewMemory, np.ndarray | None]] = []
        index = -1
        try:
            async for req in requests:
                index += 1
                if user_id is None:
                    if not req.parent:
                        raise invalid(
                            Reason.INVALID_NAME, "parent", "the first message must set parent"
                        )
                    parent = req.parent
                    user_id = authorize(req.parent)
                elif req.parent and req.parent != parent:
                    self._fail(index, req.source_id, "parent: must be empty or equal to the first")
                    continue
                item = self._prepare(index, user_id, req)
                if item is not None:
                    batch.append(item)
                if len(batch) >= self.settings.import_batch_size:
                    await self._flush(user_id, batch)
                    batch = []
            if user_id is not None and batch:
                await self._flush(user_id, batch)
            if self._writing is not None:
                await self._writing
        finally:
            if self._writing is not None and not self._writing.done():
                self._writing.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._writing
        return self.summary  # an empty stream imports nothing, which is no error

    def _fail(self, index: int, source_id: str, reason: str) -> None:
        self.summary.failed += 1
        if len(self.summary.failures) < MAX_REPORTED_FAILURES:
            self.summary.failures.append(
                streams_pb2.ImportFailure(index=index, source_id=source_id, reason=reason)
            )

    def _prepare(
        self, index: int, user_id: str, req: streams_pb2.ImportMemoriesRequest
    ) -> tuple[int, NewMemory, np.ndarray | None] | None:
        m = req.memory
        try:
            # The transport leaves a stream's messages to the method, so one bad item
            # is reported here and the rest still import.
            check_message(req)
            content = self.check.content(m.content, "memory.content")
            source_id = req.source_id or f"hash:{content_hash(content)}"
            vector = (
                self.check.embedding(req.embedding, self.embeddings.dimension, "embedding")
                if req.embedding
                else None
            )
            new = NewMemory(
                id=new_memory_id(),
                user_id=user_id,
                content=content,
                hash=content_hash(content),
                embedding=np.empty(0, dtype=np.float32),
                agent_id=self.check.scope_id(m.agent_id, "memory.agent_id"),
                run_id=self.check.scope_id(m.run_id, "memory.run_id"),
                actor_id=self.check.scope_id(m.actor_id, "memory.actor_id"),
                role=self.check.scope_id(m.role, "memory.role"),
                memory_type=memory_pb2.Memory.Type.Name(
                    m.memory_type or memory_pb2.Memory.SEMANTIC
                ),
                metadata=self.check.metadata(from_struct(m.metadata), "memory.metadata"),
                categories=self.check.categories(m.categories, "memory.categories"),
                create_time=_time(m, "create_time"),
                update_time=_time(m, "update_time"),
                expire_time=_time(m, "expire_time"),
                event_time=_time(m, "event_time"),
                valid_time=_time(m, "valid_time"),
                invalid_time=_time(m, "invalid_time"),
                state=memory_pb2.Memory.State.Name(m.state or memory_pb2.Memory.ACTIVE),
                source_id=source_id[:512],
            )
        except DomainError as exc:
            self._fail(index, req.source_id, exc.message)
            return None
        if new.source_id in self._seen:
            self.summary.skipped += 1
            return None
        self._seen.add(new.source_id)
        return index, new, vector

    async def _flush(
        self, user_id: str, batch: list[tuple[int, NewMemory, np.ndarray | None]]
    ) -> None:
        known = await self.store.imported_sources(user_id, [n.source_id for _, n, _ in batch])
        fresh = [(i, n, v) for i, n, v in batch if n.source_id not in known]
        self.summary.skipped += len(batch) - len(fresh)
        missing = [n.content for _, n, v in fresh if v is None]
        computed = iter(await self.embeddings.documents(missing)) if missing else iter(())
        ready = [replace(n, embedding=v if v is not None else next(computed)) for _, n, v in fresh]
        # Wait for the previous batch's write only now, after this batch's embedding ran.
        if self._writing is not None:
            await self._writing
        indices = [i for i, _, _ in fresh]
        self._writing = asyncio.create_task(self._write(user_id, ready, indices))

    async def _write(self, user_id: str, memories: list[NewMemory], indices: list[int]) -> None:
        if not memories:
            return
        try:
            async with self.store.transaction() as conn:
                await self.store.insert(
                    conn, memories, datetime.now(UTC), self.actor, self.request_id
                )
        except DomainError as exc:
            if exc.reason != Reason.QUOTA_EXCEEDED:
                raise
            await self._write_what_fits(memories, indices, exc)
            return
        except asyncpg.UniqueViolationError:
            # A concurrent import of the same source won the race: skip what it stored.
            known = await self.store.imported_sources(user_id, [m.source_id for m in memories])
            remaining = [m for m in memories if m.source_id not in known]
            self.summary.skipped += len(memories) - len(remaining)
            if remaining:
                async with self.store.transaction() as conn:
                    await self.store.insert(
                        conn, remaining, datetime.now(UTC), self.actor, self.request_id
                    )
            self.summary.imported += len(remaining)
            return
        self.summary.imported += len(memories)

    async def _write_what_fits(
        self, memories: list[NewMemory], indices: list[int], refusal: DomainError
    ) -> None:
        """Store the batch's first memories up to the user's quota; report the others, as
        any item that cannot be stored is reported, and go on (later items fail too)."""
        room = max(int(refusal.metadata["limit"]) - int(refusal.metadata["active"]), 0)
        if room:
            async with self.store.transaction() as conn:
                await self.store.insert(
                    conn, memories[:room], datetime.now(UTC), self.actor, self.request_id
                )
            self.summary.imported += room
        for index, memory in zip(indices[room:], memories[room:], strict=True):
            self._fail(index, memory.source_id, f"QUOTA_EXCEEDED: {refusal.message}")


def _time(memory: memory_pb2.Memory, field: str) -> datetime | None:
    if not memory.HasField(field):  # type: ignore[arg-type]
        return None
    value: datetime = getattr(memory, field).ToDatetime(UTC)
    return value
