"""The memories-per-user quota, checked inside the transaction that would exceed it.

Each check takes a transaction-scoped advisory lock on the user, so two writes of one user
cannot both see room for one more memory and together go over: writes of one user wait for
each other (only while the quota is on; writes of different users never do).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import asyncpg

from mem0stack_server.domain.errors import Code, DomainError, Reason


def quota_exceeded(user_id: str, limit: int, active: int, adding: int) -> DomainError:
    return DomainError(
        Code.RESOURCE_EXHAUSTED,
        Reason.QUOTA_EXCEEDED,
        f"users/{user_id} holds {active} active memories and may hold at most {limit} "
        f"(MEM0STACK_MAX_MEMORIES_PER_USER); storing {adding} more would exceed it. Delete "
        "some first; nothing was written.",
        user=f"users/{user_id}",
        limit=str(limit),
        active=str(active),
    )


async def check_room(
    conn: asyncpg.Connection, user_ids: Iterable[str], limit: int, timeout_s: float
) -> None:
    """RESOURCE_EXHAUSTED (QUOTA_EXCEEDED) unless each user has room for the memories about
    to be stored for them (one per occurrence in ``user_ids``)."""
    for user_id, adding in sorted(Counter(user_ids).items()):  # sorted: locks in one order
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('mem0stack.quota:' || $1, 0))",
            user_id,
            timeout=timeout_s,
        )
        active: int = await conn.fetchval(
            "SELECT count(*) FROM memories WHERE user_id = $1 AND state = 'ACTIVE'",
            user_id,
            timeout=timeout_s,
        )
        if active + adding > limit:
            raise quota_exceeded(user_id, limit, active, adding)
