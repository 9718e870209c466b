"""SQL for background operations (the ``operations`` table).

Only this module writes SQL for that table. A worker owns an operation while it holds an
unexpired lease; every state change after the claim checks the lease, so a worker that lost
its lease (it was too slow, another server took over) cannot overwrite the new owner's work.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from mem0stack_server.context import time_left

OPERATION_COLUMNS = (
    "id, user_id, state, request, actor, request_id, result, error, attempts, "
    "create_time, start_time, end_time"
)


class LeaseLostError(RuntimeError):
    """The operation is no longer this worker's: its changes must not commit."""


class OperationStore:
    """Queries over ``operations``, each bounded by the caller's deadline."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    def _t(self) -> float:
        return time_left(self.timeout_s)

    async def create(
        self, op_id: uuid.UUID, user_id: str, request: bytes, actor: str, request_id: str
    ) -> None:
        await self.pool.execute(
            """INSERT INTO operations (id, user_id, request, actor, request_id)
               VALUES ($1, $2, $3, $4, $5)""",
            op_id,
            user_id,
            request,
            actor,
            request_id,
            timeout=self._t(),
        )

    async def get(self, user_id: str, op_id: uuid.UUID) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"SELECT {OPERATION_COLUMNS} FROM operations WHERE user_id = $1 AND id = $2",
            user_id,
            op_id,
            timeout=self._t(),
        )
        return row

    async def claim(self, op_id: uuid.UUID, owner: str, lease: timedelta) -> asyncpg.Record | None:
        """Take a PENDING operation, or a RUNNING one whose lease ran out; None if neither."""
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"""UPDATE operations
                SET state = 'RUNNING', attempts = attempts + 1, lease_owner = $2,
                    lease_until = now() + $3::interval, start_time = now()
                WHERE id = $1 AND (state = 'PENDING'
                                   OR (state = 'RUNNING' AND lease_until < now()))
                RETURNING {OPERATION_COLUMNS}""",
            op_id,
            owner,
            lease,
            timeout=self._t(),
        )
        return row

    async def renew(self, op_id: uuid.UUID, owner: str, lease: timedelta) -> bool:
        status: str = await self.pool.execute(
            """UPDATE operations SET lease_until = now() + $3::interval
               WHERE id = $1 AND lease_owner = $2 AND state = 'RUNNING'""",
            op_id,
            owner,
            lease,
            timeout=self._t(),
        )
        return status.endswith(" 1")

    async def succeed(
        self, conn: asyncpg.Connection, op_id: uuid.UUID, owner: str, result: bytes
    ) -> None:
        """Record the result inside the transaction of the memory changes.

        Raises LeaseLostError (rolling those changes back) when another worker owns the
        operation now, so an operation's changes commit at most once.
        """
        status: str = await conn.execute(
            """UPDATE operations
               SET state = 'SUCCEEDED', result = $3, end_time = now(),
                   lease_owner = NULL, lease_until = NULL
               WHERE id = $1 AND lease_owner = $2 AND state = 'RUNNING'""",
            op_id,
            owner,
            result,
            timeout=self._t(),
        )
        if not status.endswith(" 1"):
            raise LeaseLostError(f"operation {op_id} is no longer owned by this worker")

    async def fail(self, op_id: uuid.UUID, owner: str | None, error: bytes) -> None:
        """Mark FAILED; with ``owner`` only if this worker still holds the lease."""
        await self.pool.execute(
            """UPDATE operations
               SET state = 'FAILED', error = $3, end_time = now(),
                   lease_owner = NULL, lease_until = NULL
               WHERE id = $1 AND state IN ('PENDING', 'RUNNING')
                 AND ($2::text IS NULL OR lease_owner = $2)""",
            op_id,
            owner,
            error,
            timeout=self._t(),
        )

    async def release(self, op_ids: list[uuid.UUID], owner: str) -> None:
        """Hand running operations back (PENDING) on a graceful stop, for a quick re-run."""
        if not op_ids:
            return
        await self.pool.execute(
            """UPDATE operations
               SET state = 'PENDING', lease_owner = NULL, lease_until = NULL
               WHERE id = ANY($1::uuid[]) AND lease_owner = $2 AND state = 'RUNNING'""",
            op_ids,
            owner,
            timeout=self._t(),
        )

    async def orphans(self, pending_older_than: timedelta, limit: int) -> list[uuid.UUID]:
        """Operations no live worker holds: RUNNING with a lapsed lease, or PENDING for long.

        A PENDING one may still sit in another server's queue; taking it is harmless, since
        only one ``claim`` can succeed.
        """
        rows = await self.pool.fetch(
            """SELECT id FROM operations
               WHERE (state = 'RUNNING' AND lease_until < now())
                  OR (state = 'PENDING' AND create_time <= now() - $1::interval)
               ORDER BY create_time LIMIT $2""",
            pending_older_than,
            limit,
            timeout=self._t(),
        )
        return [r["id"] for r in rows]

    async def purge_finished(self, older_than: timedelta) -> int:
        status: str = await self.pool.execute(
            "DELETE FROM operations WHERE end_time < now() - $1::interval",
            older_than,
            timeout=self._t(),
        )
        return int(status.rsplit(" ", 1)[1])
