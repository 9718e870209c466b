"""SQL for memories, their revisions and idempotent responses.

Only the storage package writes SQL; this module owns these tables (search statements
are built in :mod:`.search`, the change feed's in :mod:`.events`). Every write of a memory
also writes its revision in the same transaction; triggers add the change-feed event, so
history and the Watch feed can never disagree with the data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.context import time_left
from mem0stack_server.domain.filter import Node
from mem0stack_server.domain.records import NewMemory, Revision
from mem0stack_server.store.filter_sql import compile_filter
from mem0stack_server.store.quota import check_room
from mem0stack_server.store.sql import Params

MEMORY_COLUMNS = (
    "id, user_id, agent_id, run_id, actor_id, role, memory_type, content, hash, metadata, "
    "categories, state, superseded_by, version, create_time, update_time, expire_time, event_time, "
    "valid_time, invalid_time"
)

_INSERT_REVISION = """
INSERT INTO memory_revisions (memory_id, user_id, event, content_before, content_after,
                              metadata_before, metadata_after, actor, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


#: Runs inside the transaction of an AddMemories' changes, with its response (a background
#: operation records its result there, so the two commit together).
Finish = Callable[[asyncpg.Connection, svc.AddMemoriesResponse], Awaitable[None]]

# order_by value -> (column, descending)
ORDERS = {
    "create_time desc": ("create_time", True),
    "create_time": ("create_time", False),
    "create_time asc": ("create_time", False),
    "update_time desc": ("update_time", True),
    "update_time": ("update_time", False),
    "update_time asc": ("update_time", False),
}


@dataclass(frozen=True)
class Validity:
    """Which memories a read counts as true: those true now (the default), those true at
    ``as_of``, or all of them (``include_invalid``)."""

    as_of: datetime | None = None
    include_invalid: bool = False


CURRENT = Validity()


def memory_filter(
    node: Node | None,
    params: Params,
    *,
    show_expired: bool,
    validity: Validity = CURRENT,
    column_prefix: str = "",
) -> str:
    """The caller's filter plus the defaults: memories true now (ACTIVE, and no
    invalid_time passed) and, unless ``show_expired``, unexpired ones. A filter that names
    ``state`` replaces the first default; ``validity`` can move it to another time
    (``as_of``: valid_time at or before it, invalid_time unset or after it, whatever the
    state now) or drop it (``include_invalid``)."""
    p = column_prefix
    compiled = compile_filter(node, params, column_prefix=p)
    parts = [compiled.sql]
    if validity.as_of is not None:
        at = params.add(validity.as_of)
        parts.append(
            f"{p}valid_time <= {at} AND ({p}invalid_time IS NULL OR {p}invalid_time > {at})"
        )
    elif not validity.include_invalid and "state" not in compiled.fields:
        parts.append(
            f"{p}state = 'ACTIVE' AND ({p}invalid_time IS NULL OR {p}invalid_time > now())"
        )
    if not show_expired:
        parts.append(f"({p}expire_time IS NULL OR {p}expire_time > now())")
    return " AND ".join(parts)


class MemoryStore:
    """Queries over the memories tables, each bounded by the caller's deadline."""

    def __init__(
        self, pool: asyncpg.Pool, *, timeout_s: float, max_memories_per_user: int = 0
    ) -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self.max_memories_per_user = max_memories_per_user  # 0: no quota

    def _t(self) -> float:
        return time_left(self.timeout_s)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    # Reads

    async def get(
        self,
        user_id: str,
        memory_id: uuid.UUID,
        conn: asyncpg.Connection | None = None,
        *,
        for_update: bool = False,
    ) -> asyncpg.Record | None:
        sql = f"SELECT {MEMORY_COLUMNS} FROM memories WHERE user_id = $1 AND id = $2"
        if for_update:
            sql += " FOR UPDATE"
        runner = conn or self.pool
        row: asyncpg.Record | None = await runner.fetchrow(
            sql, user_id, memory_id, timeout=self._t()
        )
        return row

    async def fetch(
        self, sql: str, params: Sequence[Any], *, generic_plan: bool = False
    ) -> list[asyncpg.Record]:
        """Run a read built in this package (the search statements).

        ``generic_plan`` runs it on PostgreSQL's generic plan of the prepared statement,
        planned once per connection, instead of letting the plan cache decide: for a
        statement whose plan does not depend on its values, the cache's custom plans only
        add planning time to every execution (see store/search.py).
        """
        if not generic_plan:
            rows: list[asyncpg.Record] = await self.pool.fetch(sql, *params, timeout=self._t())
            return rows
        async with self.pool.acquire() as conn, conn.transaction():
            # SET LOCAL ends with the transaction: the connection returns to the pool as
            # it came, whatever happens to the statement.
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan", timeout=self._t())
            rows = await conn.fetch(sql, *params, timeout=self._t())
            return rows

    async def list_page(
        self,
        user_id: str,
        node: Node | None,
        *,
        show_expired: bool,
        validity: Validity = CURRENT,
        order: str,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[asyncpg.Record]:
        """Up to ``limit`` memories in ``order`` (a key of :data:`ORDERS`), after the
        (time, id) key of the previous page's last one."""
        column, descending = ORDERS[order]
        params = Params()
        conditions = [
            f"user_id = {params.add(user_id)}",
            memory_filter(node, params, show_expired=show_expired, validity=validity),
        ]
        if after is not None:
            op = "<" if descending else ">"
            conditions.append(
                f"({column}, id) {op} ({params.add(after[0])}, {params.add(after[1])})"
            )
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {' AND '.join(conditions)} "
            f"ORDER BY {column} {direction}, id {direction} LIMIT {params.add(limit)}"
        )
        rows: list[asyncpg.Record] = await self.pool.fetch(sql, *params, timeout=self._t())
        return rows

    async def scored_by_ids(
        self,
        user_id: str,
        vector: np.ndarray,
        ids: Sequence[uuid.UUID],
        min_score: float,
        node: Node | None,
        *,
        show_expired: bool,
        validity: Validity = CURRENT,
    ) -> list[asyncpg.Record]:
        """The memories ``ids`` that pass the filter and ``min_score``, with ``score``."""
        params = Params()
        distance = f"(embedding <=> {params.add(vector)})"
        sql = f"""SELECT {MEMORY_COLUMNS}, 1 - {distance} AS score FROM memories
            WHERE user_id = {params.add(user_id)} AND id = ANY({params.add(list(ids))}::uuid[])
              AND 1 - {distance} >= {params.add(min_score)}
              AND {memory_filter(node, params, show_expired=show_expired, validity=validity)}"""
        rows: list[asyncpg.Record] = await self.pool.fetch(sql, *params, timeout=self._t())
        return rows

    async def export_rows(
        self,
        user_id: str,
        node: Node | None,
        after: tuple[datetime, uuid.UUID] | None,
        *,
        include_embeddings: bool,
    ) -> AsyncIterator[asyncpg.Record]:
        """Every memory of the user the filter selects (any state), oldest first, after the
        (create_time, id) key, read from one REPEATABLE READ snapshot."""
        params = Params()
        conditions = [f"user_id = {params.add(user_id)}", compile_filter(node, params).sql]
        if after is not None:
            conditions.append(
                f"(create_time, id) > ({params.add(after[0])}, {params.add(after[1])})"
            )
        embedding = ", embedding" if include_embeddings else ""
        sql = (
            f"SELECT {MEMORY_COLUMNS}{embedding} FROM memories "
            f"WHERE {' AND '.join(conditions)} ORDER BY create_time, id"
        )
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            async for row in conn.cursor(sql, *params, prefetch=500):
                yield row

    async def imported_sources(self, user_id: str, source_ids: Sequence[str]) -> set[str]:
        """Which of ``source_ids`` the user already has memories from."""
        rows = await self.pool.fetch(
            "SELECT source_id FROM memories WHERE user_id = $1 AND source_id = ANY($2::text[])",
            user_id,
            list(source_ids),
            timeout=self._t(),
        )
        return {r["source_id"] for r in rows}

    async def lock_existing(
        self, conn: asyncpg.Connection, user_id: str, ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Which of ``ids`` exist for the user, locked until the transaction ends."""
        rows = await conn.fetch(
            "SELECT id FROM memories WHERE user_id = $1 AND id = ANY($2::uuid[]) FOR UPDATE",
            user_id,
            list(ids),
            timeout=self._t(),
        )
        return {r["id"] for r in rows}

    async def nearest_in_scope(
        self, user_id: str, agent_id: str, run_id: str, embedding: np.ndarray, limit: int
    ) -> list[asyncpg.Record]:
        """The live memories of one scope closest to ``embedding``, with their similarity.

        Exact, not HNSW: a single scope is small, and duplicate detection must not miss.
        """
        sql = f"""
            WITH scoped AS MATERIALIZED (
                SELECT {MEMORY_COLUMNS}, 1 - (embedding <=> $4) AS score
                FROM memories
                WHERE user_id = $1 AND agent_id = $2 AND run_id = $3 AND state = 'ACTIVE'
                  AND (expire_time IS NULL OR expire_time > now()))
            SELECT * FROM scoped ORDER BY score DESC LIMIT $5"""
        rows: list[asyncpg.Record] = await self.pool.fetch(
            sql, user_id, agent_id, run_id, embedding, limit, timeout=self._t()
        )
        return rows

    async def similar_in_scope(
        self,
        user_id: str,
        agent_id: str,
        run_id: str,
        embeddings: Sequence[np.ndarray],
        limit: int,
        min_score: float,
    ) -> list[list[asyncpg.Record]]:
        """For each embedding, the closest live non-procedural memories of one scope.

        One round trip for all of an AddMemories call's facts. Exact, like
        ``nearest_in_scope``: reconciliation must not miss the memory a fact contradicts.
        Vectors travel as text because asyncpg cannot encode arrays of pgvector values.
        """
        if not embeddings:
            return []
        columns = ", ".join(f"s.{c.strip()}" for c in MEMORY_COLUMNS.split(","))
        sql = f"""
            WITH scoped AS MATERIALIZED (
                SELECT {MEMORY_COLUMNS}, embedding
                FROM memories
                WHERE user_id = $1 AND agent_id = $2 AND run_id = $3 AND state = 'ACTIVE'
                  AND memory_type <> 'PROCEDURAL'
                  AND (expire_time IS NULL OR expire_time > now()))
            SELECT q.i AS query, m.*
            FROM unnest($4::text[]) WITH ORDINALITY AS q(v, i)
            CROSS JOIN LATERAL (
                SELECT {columns}, 1 - (s.embedding <=> q.v::vector) AS score
                FROM scoped AS s
                ORDER BY s.embedding <=> q.v::vector
                LIMIT $5) AS m
            WHERE m.score >= $6
            ORDER BY q.i, m.score DESC"""
        rows = await self.pool.fetch(
            sql,
            user_id,
            agent_id,
            run_id,
            [_vector_text(e) for e in embeddings],
            limit,
            min_score,
            timeout=self._t(),
        )
        found: list[list[asyncpg.Record]] = [[] for _ in embeddings]
        for row in rows:
            found[row["query"] - 1].append(row)
        return found

    async def revisions(
        self, user_id: str, memory_id: uuid.UUID, after_id: int, limit: int
    ) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.pool.fetch(
            """SELECT id, memory_id, user_id, event, content_before, content_after,
                      metadata_before, metadata_after, actor, request_id, create_time
               FROM memory_revisions
               WHERE memory_id = $1 AND user_id = $2 AND id > $3
               ORDER BY id LIMIT $4""",
            memory_id,
            user_id,
            after_id,
            limit,
            timeout=self._t(),
        )
        return rows

    # Writes (inside a transaction the engine holds)

    async def insert(
        self,
        conn: asyncpg.Connection,
        memories: Sequence[NewMemory],
        now: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        """Insert memories with their CREATE revisions (triggers add the feed events).

        With a quota on, RESOURCE_EXHAUSTED (QUOTA_EXCEEDED) when a user would hold more
        active memories than it allows; the caller's transaction then writes nothing.
        """
        if self.max_memories_per_user > 0:
            active = [m.user_id for m in memories if m.state == "ACTIVE"]
            await check_room(conn, active, self.max_memories_per_user, self._t())
        await conn.executemany(
            """INSERT INTO memories (id, user_id, agent_id, run_id, actor_id, role, memory_type,
                                     content, hash, embedding, metadata, categories,
                                     create_time, update_time, expire_time, event_time,
                                     state, source_id, valid_time, invalid_time)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, $18, $19, $20)""",
            [
                (
                    m.id,
                    m.user_id,
                    m.agent_id,
                    m.run_id,
                    m.actor_id,
                    m.role,
                    m.memory_type,
                    m.content,
                    m.hash,
                    m.embedding,
                    m.metadata or {},
                    list(m.categories),
                    m.create_time or now,
                    m.update_time or m.create_time or now,
                    m.expire_time,
                    m.event_time,
                    m.state,
                    m.source_id,
                    m.valid_from(now),
                    m.invalid_time,
                )
                for m in memories
            ],
            timeout=self._t(),
        )
        await self.record(
            conn,
            [
                Revision(
                    m.id,
                    m.user_id,
                    "CREATE",
                    content_after=m.content,
                    metadata_after=m.metadata or {},
                )
                for m in memories
            ],
            actor,
            request_id,
        )

    async def record(
        self, conn: asyncpg.Connection, revisions: Sequence[Revision], actor: str, request_id: str
    ) -> None:
        """Write revisions (the change feed is written by triggers on memories)."""
        if not revisions:
            return
        await conn.executemany(
            _INSERT_REVISION,
            [
                (
                    r.memory_id,
                    r.user_id,
                    r.event,
                    r.content_before,
                    r.content_after,
                    r.metadata_before,
                    r.metadata_after,
                    actor,
                    request_id,
                )
                for r in revisions
            ],
            timeout=self._t(),
        )

    async def update(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        memory_id: uuid.UUID,
        changes: dict[str, Any],
        now: datetime,
    ) -> asyncpg.Record:
        """Apply column changes, bump the version and return the new row."""
        assignments = []
        params: list[Any] = [user_id, memory_id, now]
        for column, value in changes.items():
            params.append(value)
            assignments.append(f"{column} = ${len(params)}")
        sql = f"""UPDATE memories SET {", ".join([*assignments, "update_time = $3"])},
                         version = version + 1
                  WHERE user_id = $1 AND id = $2
                  RETURNING {MEMORY_COLUMNS}"""
        row: asyncpg.Record = await conn.fetchrow(sql, *params, timeout=self._t())
        return row

    async def delete_ids(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        ids: Sequence[uuid.UUID],
        actor: str,
        request_id: str,
    ) -> int:
        """Delete the user's memories ``ids`` (those that exist), with their revisions."""
        params = Params()
        where = f"user_id = {params.add(user_id)} AND id = ANY({params.add(list(ids))}::uuid[])"
        return await self._delete(conn, where, params, actor, request_id)

    async def delete_matching(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        node: Node | None,
        actor: str,
        request_id: str,
    ) -> int:
        """Delete every memory of the user the filter selects, whatever its state."""
        params = Params()
        where = f"user_id = {params.add(user_id)} AND {compile_filter(node, params).sql}"
        return await self._delete(conn, where, params, actor, request_id)

    async def _delete(
        self, conn: asyncpg.Connection, where: str, params: Params, actor: str, request_id: str
    ) -> int:
        """Delete every memory matching ``where``, recording a DELETE revision for each.

        One statement however many rows match: "delete all" really deletes all.
        """
        sql = f"""
            WITH deleted AS (
                DELETE FROM memories WHERE {where}
                RETURNING id, user_id, content, metadata)
            INSERT INTO memory_revisions (memory_id, user_id, event, content_before,
                                          metadata_before, actor, request_id)
            SELECT id, user_id, 'DELETE', content, metadata, {params.add(actor)},
                   {params.add(request_id)}
            FROM deleted"""
        status: str = await conn.execute(sql, *params, timeout=self._t())
        return int(status.rsplit(" ", 1)[1])

    async def lock_for_change(
        self, conn: asyncpg.Connection, user_id: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, asyncpg.Record]:
        """The current rows of ``ids`` (those that still exist), locked until commit."""
        rows = await conn.fetch(
            f"""SELECT {MEMORY_COLUMNS} FROM memories
                WHERE user_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE""",
            user_id,
            list(ids),
            timeout=self._t(),
        )
        return {r["id"]: r for r in rows}

    async def supersede(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        old_id: uuid.UUID,
        new_id: uuid.UUID,
        now: datetime,
        actor: str,
        request_id: str,
    ) -> asyncpg.Record:
        """Mark ``old_id`` superseded by ``new_id`` (already inserted) and record it.

        The old memory keeps its content; its state, successor, version and update time
        change, and a SUPERSEDE revision says so. It stopped being true when its successor
        became true (never before it became true itself), unless it was already stated to
        have stopped earlier.
        """
        row: asyncpg.Record = await conn.fetchrow(
            f"""UPDATE memories SET state = 'SUPERSEDED', superseded_by = $3,
                       version = version + 1, update_time = $4,
                       invalid_time = least(invalid_time, greatest(valid_time, (
                           SELECT s.valid_time FROM memories AS s
                           WHERE s.user_id = $1 AND s.id = $3)))
                WHERE user_id = $1 AND id = $2
                RETURNING {MEMORY_COLUMNS}""",
            user_id,
            old_id,
            new_id,
            now,
            timeout=self._t(),
        )
        await self.record(
            conn,
            [
                Revision(
                    old_id,
                    user_id,
                    "SUPERSEDE",
                    content_before=row["content"],
                    content_after=row["content"],
                    metadata_before=row["metadata"],
                    metadata_after=row["metadata"],
                )
            ],
            actor,
            request_id,
        )
        return row

    # Idempotency

    async def stored_response(
        self, user_id: str, method: str, request_id: str
    ) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            """SELECT request_hash, response FROM idempotency
               WHERE user_id = $1 AND method = $2 AND request_id = $3
                 AND create_time > now() - interval '24 hours'""",
            user_id,
            method,
            request_id,
            timeout=self._t(),
        )
        return row

    async def store_response(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        method: str,
        request_id: str,
        request_hash: bytes,
        response: bytes,
    ) -> None:
        """Remember a response; a concurrent duplicate makes this raise UniqueViolationError."""
        await conn.execute(
            """DELETE FROM idempotency WHERE user_id = $1 AND method = $2 AND request_id = $3
                 AND create_time <= now() - interval '24 hours'""",
            user_id,
            method,
            request_id,
            timeout=self._t(),
        )
        await conn.execute(
            """INSERT INTO idempotency (user_id, method, request_id, request_hash, response)
               VALUES ($1, $2, $3, $4, $5)""",
            user_id,
            method,
            request_id,
            request_hash,
            response,
            timeout=self._t(),
        )


def _vector_text(vector: np.ndarray) -> str:
    """pgvector's text form; repr of each float32 value round-trips exactly."""
    return "[" + ",".join(repr(float(x)) for x in vector.tolist()) + "]"
