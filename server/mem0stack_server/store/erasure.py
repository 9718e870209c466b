"""SQL for erasing a user: every row that holds what they stored, in one transaction.

Deleting memories fires the same triggers as any delete: the change feed records DELETED
events (erased with the rest below) and, where graph memory holds something of theirs, a
FORGET job is queued for the graph worker, which removes their relations and, once no
memory of theirs is left, every node of theirs in Neo4j. That job carries memory ids only.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

#: Every table that holds a user's content or what was derived from it, with the statement
#: that erases their rows, in an order the foreign keys allow. A test checks that every
#: table with a user column is here or in KEPT.
ERASE: dict[str, str] = {
    "memories": "DELETE FROM memories WHERE user_id = $1",
    "memory_revisions": "DELETE FROM memory_revisions WHERE user_id = $1",
    "memory_events": "DELETE FROM memory_events WHERE user_id = $1",
    "idempotency": "DELETE FROM idempotency WHERE user_id = $1",
    "operations": "DELETE FROM operations WHERE user_id = $1",
    # Conversations waiting for graph extraction; FORGET jobs (ids only) must stay.
    "graph_outbox": "DELETE FROM graph_outbox WHERE user_id = $1 AND kind <> 'FORGET'",
    "graph_sources": "DELETE FROM graph_sources WHERE user_id = $1",
    "webhook_deliveries": "DELETE FROM webhook_deliveries WHERE user_id = $1",
    "webhooks": "DELETE FROM webhooks WHERE scope_user = $1",
    "usage_daily": "DELETE FROM usage_daily WHERE user_id = $1",
}

#: Tables with a user column that an erasure leaves, and why.
KEPT: dict[str, str] = {
    "access_log": "who reached the user's memories, when and how it ended, without any "
    "content: the record of processing an erasure is itself part of, dropped after "
    "MEM0STACK_AUDIT_RETENTION_DAYS",
    "api_keys": "keys name the users they may reach; revoking them is the operator's call "
    "(`mem0stack keys revoke`), and they hold nothing the user stored",
}


@dataclass(frozen=True)
class Erased:
    """How many rows of each table an erasure removed."""

    rows: dict[str, int]

    @property
    def memories(self) -> int:
        return self.rows.get("memories", 0)


async def erase_user(pool: asyncpg.Pool, user_id: str) -> Erased:
    """Remove every row of ``user_id`` listed in :data:`ERASE`, all or nothing."""
    rows: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        for table, statement in ERASE.items():
            status: str = await conn.execute(statement, user_id)
            rows[table] = int(status.rsplit(" ", 1)[1])
    return Erased(rows)
