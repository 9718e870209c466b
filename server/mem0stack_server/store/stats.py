"""What the database holds, for the metrics: memories by state, users, sizes.

Run every stats interval by the server, never at scrape time: counting memories scans
their table, which is cheap at that pace and not per scrape of every replica.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class DatabaseStats:
    memories: dict[str, int]  # state (lower case) -> count
    users: int
    database_bytes: int
    wal_bytes: int


async def read_stats(pool: asyncpg.Pool, timeout_s: float = 10.0) -> DatabaseStats:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT state, count(*) AS n FROM memories GROUP BY state", timeout=timeout_s
        )
        memories = {"active": 0, "superseded": 0}
        memories.update({row["state"].lower(): row["n"] for row in rows})
        users = await conn.fetchval(
            "SELECT count(DISTINCT user_id) FROM memories WHERE state = 'ACTIVE'",
            timeout=timeout_s,
        )
        size = await conn.fetchval("SELECT pg_database_size(current_database())", timeout=timeout_s)
        try:
            wal = await conn.fetchval(
                "SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()", timeout=timeout_s
            )
        except asyncpg.InsufficientPrivilegeError:
            wal = 0  # needs superuser or pg_monitor: an external database may not grant it
    return DatabaseStats(memories, int(users), int(size), int(wal))
