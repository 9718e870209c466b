"""The change feed's tables (``memory_events``, filled by triggers on ``memories``) and the
LISTEN connection that tells watchers when a user's feed has grown.

Triggers on ``memories`` append every committed change to ``memory_events`` (with a snapshot
of the memory) and ``NOTIFY`` the user id. Each server process keeps one LISTEN connection;
watchers of a user wake when it fires and read the events after their cursor. Correctness
never depends on the notification (see :mod:`mem0stack_server.app.watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from mem0stack_server.domain.filter import Node
from mem0stack_server.store.database import DATABASE_ERRORS
from mem0stack_server.store.filter_sql import compile_filter
from mem0stack_server.store.sql import Params

log = logging.getLogger(__name__)

CHANNEL = "mem0stack_memory_events"
_CONNECT_TIMEOUT_S = 5.0
_CHECK_EVERY_S = 1.0
_RECONNECT_INITIAL_S = 0.1
_RECONNECT_MAX_S = 2.0


class FeedListener:
    """One LISTEN connection per process, fanning notifications out to watchers by user."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._keep_connected(), name="feed-listener")

    async def close(self) -> None:
        self._closed.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            try:
                await asyncio.wait_for(self._conn.close(), _CONNECT_TIMEOUT_S)
            except DATABASE_ERRORS:
                self._conn.terminate()  # the database is away: do not wait on it

    async def _connect(self) -> None:
        self._conn = await asyncpg.connect(self.dsn, timeout=_CONNECT_TIMEOUT_S)
        await self._conn.add_listener(CHANNEL, self._notified)

    async def _keep_connected(self) -> None:
        # Reconnect with a growing wait while the database is away: a watcher still polls
        # at each checkpoint, so only notifications are late meanwhile.
        wait = _RECONNECT_INITIAL_S
        while not self._closed.is_set():
            await asyncio.sleep(wait if self._conn is None else _CHECK_EVERY_S)
            if self._conn is not None and not self._conn.is_closed():
                continue
            try:
                await self._connect()
            except DATABASE_ERRORS as exc:
                if self._conn is not None:
                    self._conn.terminate()
                self._conn = None
                if wait == _RECONNECT_INITIAL_S:
                    log.warning("change feed listener cannot connect: %s", exc)
                wait = min(wait * 2, _RECONNECT_MAX_S)
                continue
            wait = _RECONNECT_INITIAL_S
            log.info("change feed listener reconnected")
            self._wake_all()  # anything may have been missed meanwhile

    def _notified(self, _conn: object, _pid: int, _channel: str, user_id: str) -> None:
        for event in self._waiters.get(user_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def subscribe(self, user_id: str) -> Any:
        """An Event set whenever the user's feed may have new entries."""
        event = asyncio.Event()
        self._waiters[user_id].add(event)
        try:
            yield event
        finally:
            self._waiters[user_id].discard(event)
            if not self._waiters[user_id]:
                del self._waiters[user_id]


class EventStore:
    """Reads of the change feed."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def pruned_through(self) -> int | None:
        """The newest position pruned away (cursors at or before it have expired), if any."""
        value = await self.pool.fetchval(
            "SELECT value::bigint FROM store_meta WHERE key = 'events_pruned_through'"
        )
        return None if value is None else int(value)

    async def latest(self, user_id: str) -> int:
        """The position of the user's newest committed change (0 for none)."""
        latest: int = await self.pool.fetchval(
            "SELECT coalesce(max(seq), 0) FROM memory_events WHERE user_id = $1", user_id
        )
        return latest

    async def after(
        self, user_id: str, position: int, node: Node | None, limit: int
    ) -> list[asyncpg.Record]:
        """Up to ``limit`` changes of the user after ``position``, in order: seq, event,
        snapshot, create_time and ``matches``, whether the snapshot passes the filter."""
        params = Params()
        matches = compile_filter(node, params, column_prefix="m.").sql
        sql = f"""
            SELECT e.seq, e.event, e.snapshot, e.create_time, coalesce({matches}, false) AS matches
            FROM memory_events AS e,
                 LATERAL jsonb_populate_record(NULL::memories, e.snapshot) AS m
            WHERE e.user_id = {params.add(user_id)} AND e.seq > {params.add(position)}
            ORDER BY e.seq LIMIT {params.add(limit)}"""
        rows: list[asyncpg.Record] = await self.pool.fetch(sql, *params)
        return rows

    async def prune(self, retention: timedelta) -> int:
        """Delete feed entries older than ``retention``; cursors before them become expired."""
        cutoff = datetime.now(UTC) - retention
        async with self.pool.acquire() as conn, conn.transaction():
            through = await conn.fetchval(
                "SELECT max(seq) FROM memory_events WHERE create_time < $1", cutoff
            )
            if through is None:
                return 0
            status: str = await conn.execute("DELETE FROM memory_events WHERE seq <= $1", through)
            await conn.execute(
                """INSERT INTO store_meta (key, value) VALUES ('events_pruned_through', $1)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                str(through),
            )
        return int(status.rsplit(" ", 1)[1])
