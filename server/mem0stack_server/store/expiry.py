"""SQL of the expiry sweeper: deletes memories past their expire_time plus the retention.

Expired memories are hidden from list and search as soon as their expire_time passes
(``memory_filter``); they stay readable with ``show_expired`` for the retention, so a
caller can still extend one, and are then deleted here. Each deletion records a DELETE
revision (actor ``expiry``) like any other, and its change-feed entry is EXPIRED rather
than DELETED: the transaction sets ``mem0stack.change_reason``, which the feed trigger
reads (migration 0011).

Replicas may sweep at the same time: rows are claimed with FOR UPDATE SKIP LOCKED, so
each memory is deleted (and announced) by exactly one of them.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

#: The actor of the DELETE revisions the sweeper records.
ACTOR = "expiry"

_SWEEP = """
    WITH doomed AS (
        SELECT user_id, id FROM memories
        WHERE expire_time IS NOT NULL AND expire_time <= now() - $1::interval
        ORDER BY expire_time LIMIT $2
        FOR UPDATE SKIP LOCKED),
    deleted AS (
        DELETE FROM memories AS m USING doomed AS d
        WHERE m.user_id = d.user_id AND m.id = d.id
        RETURNING m.id, m.user_id, m.content, m.metadata)
    INSERT INTO memory_revisions (memory_id, user_id, event, content_before, metadata_before,
                                  actor, request_id)
    SELECT id, user_id, 'DELETE', content, metadata, $3, '' FROM deleted"""


async def sweep_batch(
    pool: asyncpg.Pool, retention: timedelta, limit: int, timeout_s: float
) -> int:
    """Delete up to ``limit`` memories expired more than ``retention`` ago, oldest expiry
    first, in one transaction; how many were deleted."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('mem0stack.change_reason', 'expired', true)", timeout=timeout_s
        )
        status: str = await conn.execute(_SWEEP, retention, limit, ACTOR, timeout=timeout_s)
    return int(status.rsplit(" ", 1)[1])
