"""The durable outbox of graph updates in PostgreSQL (migration 0003).

AddMemories queues an EXTRACT job in the transaction of its memory changes
(``enqueue_extraction``); triggers queue FORGET and SUPERSEDE jobs when memories with graph
data are deleted or superseded. Workers (``worker.py``) claim the oldest job of each user
with a lease, apply it to Neo4j, and delete it; a failed attempt is tried again after an
exponential backoff. Only this module writes SQL for these tables.

Every write to Neo4j holds the shared side of an advisory lock (``graph_writes``) for its
duration; a backup holds the exclusive side (``pause_graph_writes``) from just before its
database snapshot until it has read the graph, so the graph it reads is exactly what the
snapshot's outbox leaves it: every job done before the snapshot is in it, none queued after.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mem0stack.v1 import memory_pb2

CHANNEL = "mem0stack_graph_outbox"
# Any constant works; it only has to be the same in every replica and in backups.
GRAPH_WRITES_LOCK = 0x6D656D31

# Roles whose memories are about the user: an agent's facts about itself are not.
_GRAPH_ROLES = ("user", "")


@dataclass(frozen=True)
class Job:
    id: int
    user_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    create_time: datetime


@dataclass(frozen=True)
class Status:
    pending: int
    oldest: datetime | None
    last_error: str
    failed: int


async def pause_graph_writes(conn: asyncpg.Connection) -> None:
    """Wait for the Neo4j writes in progress, then hold off new ones until
    :func:`resume_graph_writes` (or until ``conn`` closes)."""
    await conn.execute("SELECT pg_advisory_lock($1)", GRAPH_WRITES_LOCK)


async def resume_graph_writes(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", GRAPH_WRITES_LOCK)


async def enqueue_extraction(
    conn: asyncpg.Connection,
    user_id: str,
    transcript: str,
    reference_time: datetime,
    events: Sequence[memory_pb2.MemoryEvent],
) -> bool:
    """Queue the graph extraction of the memories an AddMemories call added or changed.

    Runs inside the call's transaction, so the job exists exactly when the memories do.
    Returns whether a job was queued (not when no memory about the user changed).
    """
    chosen: dict[str, str] = {}
    for event in events:
        if event.type not in (
            memory_pb2.MemoryEvent.ADD,
            memory_pb2.MemoryEvent.UPDATE,
            memory_pb2.MemoryEvent.SUPERSEDE,
        ):
            continue
        memory = event.memory
        if memory.uid and memory.role in _GRAPH_ROLES:
            chosen[memory.uid] = memory.content
    if not chosen:
        return False
    payload = {
        "transcript": transcript,
        "reference_time": reference_time.isoformat(),
        "memories": [{"id": k, "content": v} for k, v in chosen.items()],
    }
    await conn.execute(
        "INSERT INTO graph_outbox (user_id, kind, payload) VALUES ($1, 'EXTRACT', $2)",
        user_id,
        payload,
    )
    await conn.executemany(
        "INSERT INTO graph_sources (memory_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(uuid.UUID(k), user_id) for k in chosen],
    )
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return True


class OutboxStore:
    """Claiming, finishing and inspecting jobs."""

    def __init__(self, pool: asyncpg.Pool, owner: str) -> None:
        self.pool = pool
        self.owner = owner

    @asynccontextmanager
    async def graph_writes(self) -> AsyncIterator[None]:
        """Hold the shared side of the backup lock while writing to Neo4j (waits while a
        backup reads the graph). Released with the transaction, whatever happens."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", GRAPH_WRITES_LOCK)
            yield

    async def claim(self, limit: int, lease_s: float) -> list[Job]:
        """Lease up to ``limit`` due jobs, at most one per user: each user's oldest
        pending job, when no worker holds it."""
        rows = await self.pool.fetch(
            """WITH heads AS (
                   SELECT DISTINCT ON (user_id) id, next_attempt, lease_until
                   FROM graph_outbox WHERE state = 'PENDING'
                   ORDER BY user_id, id),
               due AS (
                   SELECT o.id FROM graph_outbox AS o JOIN heads USING (id)
                   WHERE heads.next_attempt <= now()
                     AND (heads.lease_until IS NULL OR heads.lease_until < now())
                   ORDER BY o.id LIMIT $1
                   FOR UPDATE OF o SKIP LOCKED)
               UPDATE graph_outbox AS o
               SET lease_owner = $2, lease_until = now() + make_interval(secs => $3),
                   attempts = o.attempts + 1
               FROM due WHERE o.id = due.id
               RETURNING o.id, o.user_id, o.kind, o.payload, o.attempts, o.create_time""",
            limit,
            self.owner,
            lease_s,
        )
        return [
            Job(r["id"], r["user_id"], r["kind"], r["payload"], r["attempts"], r["create_time"])
            for r in sorted(rows, key=lambda r: r["id"])
        ]

    async def done(self, job: Job) -> None:
        await self.pool.execute(
            "DELETE FROM graph_outbox WHERE id = $1 AND lease_owner = $2", job.id, self.owner
        )

    async def retry(self, job: Job, error: str, delay_s: float) -> None:
        """Release a failed job, to be tried again after ``delay_s``."""
        await self.pool.execute(
            """UPDATE graph_outbox SET lease_owner = NULL, lease_until = NULL, last_error = $3,
                      next_attempt = now() + make_interval(secs => $4)
               WHERE id = $1 AND lease_owner = $2""",
            job.id,
            self.owner,
            error[:2000],
            delay_s,
        )

    async def fail(self, job: Job, error: str) -> None:
        """Give a job up: it stays, FAILED, and no longer holds up the user's queue."""
        await self.pool.execute(
            """UPDATE graph_outbox SET state = 'FAILED', lease_owner = NULL, lease_until = NULL,
                      last_error = $3
               WHERE id = $1 AND lease_owner = $2""",
            job.id,
            self.owner,
            error[:2000],
        )

    async def save_payload(self, job: Job, payload: dict[str, Any]) -> None:
        """Keep an intermediate result (the LLM's extraction) for the next attempt."""
        await self.pool.execute(
            "UPDATE graph_outbox SET payload = $3 WHERE id = $1 AND lease_owner = $2",
            job.id,
            self.owner,
            payload,
        )

    async def release_all(self) -> None:
        """Give back every lease of this server (at shutdown), so no job waits for it."""
        await self.pool.execute(
            """UPDATE graph_outbox SET lease_owner = NULL, lease_until = NULL
               WHERE lease_owner = $1""",
            self.owner,
        )

    async def user_has_memories(self, user_id: str) -> bool:
        found: bool = await self.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM memories WHERE user_id = $1)", user_id
        )
        return found

    async def status(self, user_id: str) -> Status:
        row = await self.pool.fetchrow(
            """SELECT count(*) FILTER (WHERE state = 'PENDING') AS pending,
                      min(create_time) FILTER (WHERE state = 'PENDING') AS oldest,
                      count(*) FILTER (WHERE state = 'FAILED') AS failed,
                      (SELECT last_error FROM graph_outbox
                       WHERE user_id = $1 AND state = 'PENDING' ORDER BY id LIMIT 1)
                       AS last_error
               FROM graph_outbox WHERE user_id = $1""",
            user_id,
        )
        assert row is not None
        return Status(row["pending"], row["oldest"], row["last_error"] or "", row["failed"])

    async def totals(self) -> tuple[int, float]:
        """Pending jobs of every user, and the age in seconds of the oldest (the lag)."""
        row = await self.pool.fetchrow(
            """SELECT count(*) AS pending,
                      coalesce(extract(epoch FROM now() - min(create_time)), 0) AS lag
               FROM graph_outbox WHERE state = 'PENDING'"""
        )
        assert row is not None
        return int(row["pending"]), float(row["lag"])
