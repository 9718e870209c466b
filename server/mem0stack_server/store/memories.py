"""SQL for memories, their revisions and idempotent responses.

Only this module writes SQL for those tables. Every write of a memory also writes its
revision in the same transaction; triggers add the change-feed event, so history and the
Watch feed can never disagree with the data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from mem0stack_server.context import time_left

MEMORY_COLUMNS = (
    "id, user_id, agent_id, run_id, actor_id, role, memory_type, content, hash, metadata, "
    "categories, state, superseded_by, version, create_time, update_time, expire_time, event_time"
)

_INSERT_REVISION = """
INSERT INTO memory_revisions (memory_id, user_id, event, content_before, content_after,
                              metadata_before, metadata_after, actor, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


@dataclass(frozen=True)
class NewMemory:
    """A memory about to be inserted; every value is already validated."""

    id: uuid.UUID
    user_id: str
    content: str
    hash: str
    embedding: np.ndarray
    agent_id: str = ""
    run_id: str = ""
    actor_id: str = ""
    role: str = ""
    memory_type: str = "SEMANTIC"
    metadata: dict[str, Any] | None = None
    categories: Sequence[str] = ()
    create_time: datetime | None = None
    expire_time: datetime | None = None
    event_time: datetime | None = None
    # Kept from the source system on import; a fresh memory is ACTIVE and created now.
    update_time: datetime | None = None
    state: str = "ACTIVE"
    source_id: str = ""

    def row(self, now: datetime) -> dict[str, Any]:
        """The row this memory became when inserted at ``now``, without reading it back."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "actor_id": self.actor_id,
            "role": self.role,
            "memory_type": self.memory_type,
            "content": self.content,
            "hash": self.hash,
            "metadata": self.metadata or {},
            "categories": list(self.categories),
            "state": self.state,
            "superseded_by": None,
            "version": 1,
            "create_time": self.create_time or now,
            "update_time": self.update_time or self.create_time or now,
            "expire_time": self.expire_time,
            "event_time": self.event_time,
        }


@dataclass(frozen=True)
class Revision:
    """One history entry to record alongside a change."""

    memory_id: uuid.UUID
    user_id: str
    event: str
    content_before: str = ""
    content_after: str = ""
    metadata_before: dict[str, Any] | None = None
    metadata_after: dict[str, Any] | None = None


class MemoryStore:
    """Queries over the memories tables, each bounded by the caller's deadline."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

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

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[asyncpg.Record]:
        """Run a read built by the engine (list and search queries)."""
        rows: list[asyncpg.Record] = await self.pool.fetch(sql, *params, timeout=self._t())
        return rows

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
        """Insert memories with their CREATE revisions (triggers add the feed events)."""
        await conn.executemany(
            """INSERT INTO memories (id, user_id, agent_id, run_id, actor_id, role, memory_type,
                                     content, hash, embedding, metadata, categories,
                                     create_time, update_time, expire_time, event_time,
                                     state, source_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, $18)""",
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

    async def delete_where(
        self,
        conn: asyncpg.Connection,
        where_sql: str,
        params: Sequence[Any],
        actor: str,
        request_id: str,
    ) -> int:
        """Delete every memory matching ``where_sql``, recording a DELETE revision for each.

        One statement however many rows match: "delete all" really deletes all.
        """
        n = len(params)
        sql = f"""
            WITH deleted AS (
                DELETE FROM memories WHERE {where_sql}
                RETURNING id, user_id, content, metadata)
            INSERT INTO memory_revisions (memory_id, user_id, event, content_before,
                                          metadata_before, actor, request_id)
            SELECT id, user_id, 'DELETE', content, metadata, ${n + 1}, ${n + 2} FROM deleted"""
        status: str = await conn.execute(sql, *params, actor, request_id, timeout=self._t())
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
        change, and a SUPERSEDE revision says so.
        """
        row: asyncpg.Record = await conn.fetchrow(
            f"""UPDATE memories SET state = 'SUPERSEDED', superseded_by = $3,
                       version = version + 1, update_time = $4
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
