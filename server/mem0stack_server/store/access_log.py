"""SQL for the access audit log (migration 0009)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from mem0stack_server.store.sql import Params


@dataclass(frozen=True)
class Access:
    """One call that reached (or tried to reach) a user's memories."""

    user_id: str
    key_id: str
    action: str
    method: str
    outcome: str
    request_id: str
    peer: str
    time: datetime


class AccessLogStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def insert(self, rows: Sequence[Access]) -> None:
        await self.pool.executemany(
            """INSERT INTO access_log
                   (user_id, key_id, action, method, outcome, request_id, peer, time)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            [
                (r.user_id, r.key_id, r.action, r.method, r.outcome, r.request_id, r.peer, r.time)
                for r in rows
            ],
        )

    async def purge_before(self, cutoff: datetime) -> int:
        status: str = await self.pool.execute("DELETE FROM access_log WHERE time < $1", cutoff)
        return int(status.rsplit(" ", 1)[1])

    async def list(
        self,
        *,
        user_id: str | None = None,
        key_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[asyncpg.Record]:
        """The newest entries first, narrowed by whichever of user, key and time are given."""
        params = Params()
        where = ["true"]
        if user_id is not None:
            where.append(f"user_id = {params.add(user_id)}")
        if key_id is not None:
            where.append(f"key_id = {params.add(key_id)}")
        if since is not None:
            where.append(f"time >= {params.add(since)}")
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"""SELECT time, user_id, key_id, action, method, outcome, request_id, peer
                FROM access_log WHERE {" AND ".join(where)}
                ORDER BY time DESC, id DESC LIMIT {params.add(limit)}""",
            *params,
        )
        return rows
