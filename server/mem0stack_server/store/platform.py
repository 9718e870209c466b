"""SQL the mem0 Platform routes need beyond the memory resource's own statements.

mem0's clients name a memory or an event by its bare id, page lists by number and ask how
many memories match, and list the users, agents, apps and runs that hold memories. These
reads are here; every write still goes through the application layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from mem0stack_server.context import time_left
from mem0stack_server.domain.filter import Node
from mem0stack_server.store.memories import MEMORY_COLUMNS, memory_filter
from mem0stack_server.store.sql import Params

#: The metadata key that holds a memory's mem0 ``app_id`` (our memories have no app column).
APP_ID_KEY = "mem0_app_id"

_ENTITY_COLUMNS = {"user": "user_id", "agent": "agent_id", "run": "run_id"}


class PlatformStore:
    """Reads by bare id, numbered pages, counts and entities, bounded by the deadline."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    def _t(self) -> float:
        return time_left(self.timeout_s)

    async def memory_owner(self, memory_id: uuid.UUID) -> str | None:
        """The user that owns memory ``memory_id``, or, once it is deleted, the one its
        history belongs to; None when no such memory ever existed."""
        owner: str | None = await self.pool.fetchval(
            """SELECT user_id FROM memories WHERE id = $1
               UNION ALL
               (SELECT user_id FROM memory_revisions WHERE memory_id = $1 LIMIT 1)
               LIMIT 1""",
            memory_id,
            timeout=self._t(),
        )
        return owner

    async def operation_owner(self, operation_id: uuid.UUID) -> str | None:
        owner: str | None = await self.pool.fetchval(
            "SELECT user_id FROM operations WHERE id = $1", operation_id, timeout=self._t()
        )
        return owner

    async def count(self, user_id: str, node: Node | None, *, show_expired: bool) -> int:
        params = Params()
        where = (
            f"user_id = {params.add(user_id)} AND "
            f"{memory_filter(node, params, show_expired=show_expired)}"
        )
        total: int = await self.pool.fetchval(
            f"SELECT count(*) FROM memories WHERE {where}", *params, timeout=self._t()
        )
        return total

    async def page(
        self, user_id: str, node: Node | None, *, show_expired: bool, offset: int, limit: int
    ) -> list[asyncpg.Record]:
        """Memories ``offset`` to ``offset + limit`` of the user's, newest first."""
        params = Params()
        where = (
            f"user_id = {params.add(user_id)} AND "
            f"{memory_filter(node, params, show_expired=show_expired)}"
        )
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {where} "
            f"ORDER BY create_time DESC, id DESC "
            f"LIMIT {params.add(limit)} OFFSET {params.add(offset)}",
            *params,
            timeout=self._t(),
        )
        return rows

    async def entities(self, owners: Sequence[str] | None) -> list[asyncpg.Record]:
        """Every user, agent, run and app holding live memories (of ``owners`` only, unless
        None), with how many and when the first was created and the last updated.

        Owners whose id starts with ``~`` hold the memories added without a user id: they
        are listed by their agent, app or run, not as users.
        """
        params = Params()
        scope = "state = 'ACTIVE'"
        if owners is not None:
            scope += f" AND user_id = ANY({params.add(list(owners))}::text[])"
        parts = []
        for kind, column in _ENTITY_COLUMNS.items():
            present = "user_id NOT LIKE '~%'" if kind == "user" else f"{column} <> ''"
            parts.append(
                f"SELECT '{kind}' AS type, {column} AS name, count(*) AS total, "
                f"min(create_time) AS created, max(update_time) AS updated "
                f"FROM memories WHERE {scope} AND {present} GROUP BY {column}"
            )
        app = f"metadata->>'{APP_ID_KEY}'"
        parts.append(
            f"SELECT 'app' AS type, {app} AS name, count(*) AS total, "
            f"min(create_time) AS created, max(update_time) AS updated "
            f"FROM memories WHERE {scope} AND {app} IS NOT NULL GROUP BY {app}"
        )
        rows: list[asyncpg.Record] = await self.pool.fetch(
            " UNION ALL ".join(parts) + " ORDER BY updated DESC, type, name",
            *params,
            timeout=self._t(),
        )
        return rows

    async def owners_holding(self, kind: str, name: str, owners: Sequence[str] | None) -> list[str]:
        """The users (of ``owners`` only, unless None) holding memories, in any state, of
        the agent, run or app ``name`` (``kind``)."""
        params = Params()
        if kind == "app":
            match = f"metadata->>'{APP_ID_KEY}' = {params.add(name)}"
        else:
            match = f"{_ENTITY_COLUMNS[kind]} = {params.add(name)}"
        if owners is not None:
            match += f" AND user_id = ANY({params.add(list(owners))}::text[])"
        rows = await self.pool.fetch(
            f"SELECT DISTINCT user_id FROM memories WHERE {match} ORDER BY user_id",
            *params,
            timeout=self._t(),
        )
        return [r["user_id"] for r in rows]
