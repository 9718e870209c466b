"""The memory resource's standard and batch methods: create, read, list, update, delete.

Every method works inside one user id: the transport has already authenticated the caller
and checked that it may reach the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from google.protobuf import empty_pb2

from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.app.idempotency import Idempotency
from mem0stack_server.config import Settings
from mem0stack_server.domain.convert import (
    content_hash,
    etag_of,
    from_struct,
    memory_from_row,
    revision_from_row,
)
from mem0stack_server.domain.errors import Code, DomainError, Reason, echo, invalid, not_found
from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.domain.ids import new_memory_id
from mem0stack_server.domain.names import MemoryName, parse_memory_name
from mem0stack_server.domain.pagination import decode_token, encode_token, fingerprint
from mem0stack_server.domain.records import Caller, NewMemory, Revision
from mem0stack_server.domain.tokens import position
from mem0stack_server.domain.validation import Validator, masked_paths
from mem0stack_server.store.memories import ORDERS, MemoryStore, Validity

_UPDATABLE = (
    "content",
    "metadata",
    "categories",
    "expire_time",
    "event_time",
    "valid_time",
    "invalid_time",
)
_TimeField = Literal["expire_time", "event_time", "valid_time", "invalid_time"]
_TIMES: tuple[_TimeField, ...] = ("expire_time", "event_time", "valid_time", "invalid_time")
_IMMUTABLE = ("agent_id", "run_id", "actor_id", "role", "memory_type")


class Memories:
    """CreateMemory, BatchCreateMemories, GetMemory, ListMemories, ListMemoryRevisions,
    UpdateMemory, DeleteMemory and BatchDeleteMemories."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embeddings: Embeddings,
        idempotency: Idempotency,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embeddings = embeddings
        self.idempotency = idempotency
        self.check = Validator(settings)

    async def create(
        self, user_id: str, req: svc.CreateMemoryRequest, caller: Caller
    ) -> memory_pb2.Memory:
        self.check.request_id(req.request_id)
        new = self._new_memory(user_id, req, "memory")

        async def run() -> memory_pb2.Memory:
            (memory,) = await self._insert(user_id, [new], [req], caller)
            return memory

        return await self.idempotency.run(user_id, "CreateMemory", req, run, memory_pb2.Memory)

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

        return await self.idempotency.run(
            user_id, "BatchCreateMemories", req, run, svc.BatchCreateMemoriesResponse
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
            expire_time=_time(m, "expire_time"),
            event_time=_time(m, "event_time"),
            valid_time=_time(m, "valid_time"),
            invalid_time=_checked_interval(
                _time(m, "valid_time") or _time(m, "event_time") or datetime.now(UTC),
                _time(m, "invalid_time"),
                f"{field}.invalid_time",
            ),
        )

    async def _insert(
        self,
        user_id: str,
        news: list[NewMemory],
        requests: Sequence[svc.CreateMemoryRequest],
        caller: Caller,
    ) -> list[memory_pb2.Memory]:
        """Embed what has no caller-supplied embedding (one batch), then insert atomically."""
        dim = self.embeddings.dimension
        vectors: list[np.ndarray | None] = []
        for i, r in enumerate(requests):
            field = "embedding" if len(requests) == 1 else f"requests[{i}].embedding"
            vectors.append(self.check.embedding(r.embedding, dim, field) if r.embedding else None)
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            computed = await self.embeddings.documents([news[i].content for i in missing])
            for i, vector in zip(missing, computed, strict=True):
                vectors[i] = vector
        ready = [with_embedding(n, v) for n, v in zip(news, vectors, strict=True) if v is not None]
        now = datetime.now(UTC)
        async with self.store.transaction() as conn:
            await self.store.insert(conn, ready, now, caller.actor, caller.request_id)
        return [memory_from_row(n.row(now)) for n in ready]

    async def get(self, name: MemoryName) -> memory_pb2.Memory:
        row = await self.store.get(name.user_id, name.memory_id)
        if row is None:
            raise not_found(str(name))
        return memory_from_row(row)

    async def list(self, user_id: str, req: svc.ListMemoriesRequest) -> svc.ListMemoriesResponse:
        page_size = self.check.page_size(req.page_size)
        order = " ".join(req.order_by.lower().split()) or "create_time desc"
        if order not in ORDERS:
            raise invalid(
                Reason.INVALID_ORDER_BY,
                "order_by",
                f"{echo(req.order_by)} is not supported; use create_time or update_time, "
                "optionally followed by desc",
            )
        column, descending = ORDERS[order]
        node = parse_filter(req.filter)
        validity = requested_validity(req)
        query_fp = fingerprint(
            user_id,
            req.filter,
            column,
            descending,
            req.show_expired,
            validity.as_of.isoformat() if validity.as_of else "",
            validity.include_invalid,
        )
        token = decode_token(req.page_token, query_fp, 2)
        after = None
        if token is not None:
            try:
                after = (datetime.fromisoformat(token[0]), uuid.UUID(token[1]))
            except (TypeError, ValueError):
                raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed") from None
        rows = await self.store.list_page(
            user_id,
            node,
            show_expired=req.show_expired,
            validity=validity,
            order=order,
            after=after,
            limit=page_size + 1,
        )
        next_token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            next_token = encode_token(query_fp, [last[column].isoformat(), str(last["id"])])
        return svc.ListMemoriesResponse(
            memories=[memory_from_row(r) for r in rows], next_page_token=next_token
        )

    async def revisions(
        self, name: MemoryName, req: svc.ListMemoryRevisionsRequest
    ) -> svc.ListMemoryRevisionsResponse:
        page_size = self.check.page_size(req.page_size)
        query_fp = fingerprint(str(name))
        after = decode_token(req.page_token, query_fp, 1)
        after_id = position(after[0], Reason.INVALID_PAGE_TOKEN, "page_token") if after else 0
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
        for time_field in _TIMES:
            if time_field in paths:
                changes[time_field] = _time(m, time_field)
        if "content" in changes:
            changes["embedding"] = (await self.embeddings.documents([changes["content"]]))[0]

        async with self.store.transaction() as conn:
            row = await self.store.get(name.user_id, name.memory_id, conn, for_update=True)
            if row is None:
                raise not_found(str(name))
            if m.etag and m.etag != etag_of(row["id"], row["version"]):
                raise etag_mismatch(str(name))
            for field in _IMMUTABLE:
                value = getattr(m, field)
                current = row[field]
                if field == "memory_type":
                    value = memory_pb2.Memory.Type.Name(value) if value else ""
                if value and value != current:
                    raise invalid(Reason.INVALID_ARGUMENT, f"memory.{field}", "cannot be changed")
            if "valid_time" in changes and changes["valid_time"] is None:
                # Cleared: back to the default, the event time or else the create time.
                event_time = changes.get("event_time", row["event_time"])
                changes["valid_time"] = event_time or row["create_time"]
            _checked_interval(
                changes.get("valid_time", row["valid_time"]),
                changes.get("invalid_time", row["invalid_time"]),
                "memory.invalid_time",
            )
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
        masked = masked_paths(req.update_mask.paths, _UPDATABLE)
        if masked is not None:
            return masked
        paths = set()
        if m.content:
            paths.add("content")
        if m.HasField("metadata"):
            paths.add("metadata")
        if m.categories:
            paths.add("categories")
        for time_field in _TIMES:
            if m.HasField(time_field):
                paths.add(time_field)
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
                raise etag_mismatch(str(name))
            await self.store.delete_ids(
                conn, name.user_id, [name.memory_id], caller.actor, caller.request_id
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
                deleted = await self.store.delete_ids(conn, user_id, ids, caller.actor, request_id)
            return svc.BatchDeleteMemoriesResponse(deleted_count=deleted)
        if not req.filter.strip() and not req.confirm:
            raise invalid(
                Reason.CONFIRMATION_REQUIRED,
                "confirm",
                "must be true to delete every memory of the user (no names and no filter)",
            )
        node = parse_filter(req.filter)
        async with self.store.transaction() as conn:
            deleted = await self.store.delete_matching(
                conn, user_id, node, caller.actor, request_id
            )
        return svc.BatchDeleteMemoriesResponse(deleted_count=deleted)


def requested_validity(req: svc.ListMemoriesRequest | svc.SearchMemoriesRequest) -> Validity:
    """The validity a list or search asks for: now, at ``as_of``, or any."""
    if req.HasField("as_of"):
        if req.include_invalid:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                "include_invalid",
                "cannot be combined with as_of (as_of selects what was valid then)",
            )
        return Validity(as_of=req.as_of.ToDatetime(UTC))
    return Validity(include_invalid=req.include_invalid)


def _time(m: memory_pb2.Memory, field: _TimeField) -> datetime | None:
    return getattr(m, field).ToDatetime(UTC) if m.HasField(field) else None


def _checked_interval(
    valid_time: datetime, invalid_time: datetime | None, field: str
) -> datetime | None:
    """``invalid_time``, which must come after ``valid_time``: a fact cannot stop being true
    before it became true."""
    if invalid_time is not None and invalid_time <= valid_time:
        raise invalid(
            Reason.INVALID_ARGUMENT, field, "must be after valid_time (when the fact became true)"
        )
    return invalid_time


def etag_mismatch(name: str) -> DomainError:
    return DomainError(
        Code.ABORTED,
        Reason.ETAG_MISMATCH,
        f"memory {name!r} changed since it was read; get it again and retry",
        name=name,
    )


def with_embedding(new: NewMemory, vector: np.ndarray) -> NewMemory:
    return replace(new, embedding=vector)
