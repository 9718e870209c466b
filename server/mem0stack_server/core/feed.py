"""The change feed behind WatchMemories.

Triggers on ``memories`` append every committed change to ``memory_events`` (with a snapshot
of the memory) and ``NOTIFY`` the user id. Each server process keeps one LISTEN connection;
watchers of a user wake when it fires and read the events after their cursor. Correctness
never depends on the notification: a watcher also polls at every checkpoint, so a lost
notification (or a lost LISTEN connection) only delays delivery. Because the feed lives in
PostgreSQL, a watcher on one replica sees the writes of every other replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from mem0stack.v1 import streams_pb2
from mem0stack_server.core import filter as aip160
from mem0stack_server.core.convert import memory_from_row, timestamp
from mem0stack_server.core.pagination import fingerprint
from mem0stack_server.core.tokens import decode_cursor, encode_cursor
from mem0stack_server.domain.errors import Code, DomainError, Reason, invalid

log = logging.getLogger(__name__)

CHANNEL = "mem0stack_memory_events"
PAGE = 500
_TIME_COLUMNS = ("create_time", "update_time", "expire_time", "event_time")


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
            await self._conn.close()

    async def _connect(self) -> None:
        self._conn = await asyncpg.connect(self.dsn)
        await self._conn.add_listener(CHANNEL, self._notified)

    async def _keep_connected(self) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(1.0)
            if self._conn is None or self._conn.is_closed():
                try:
                    await self._connect()
                    log.info("change feed listener reconnected")
                    self._wake_all()  # anything may have been missed meanwhile
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("change feed listener cannot connect: %s", exc)

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


@dataclass(frozen=True)
class WatchSettings:
    checkpoint_s: float
    queue_size: int


def watch_cursor_scope(user_id: str) -> str:
    return fingerprint("watch", user_id)


async def watch(
    pool: asyncpg.Pool,
    listener: FeedListener,
    settings: WatchSettings,
    user_id: str,
    req: streams_pb2.WatchMemoriesRequest,
    on_ready: Callable[[], Awaitable[None]],
) -> AsyncIterator[streams_pb2.WatchMemoriesResponse]:
    """Changes of one user after the cursor, then new ones as they commit.

    ``on_ready`` runs once the start position is fixed (the servicer sends the response
    headers then), so a client knows every change from that moment on will reach it.
    """
    try:
        compiled = aip160.compile_filter(req.filter, first_param=3, column_prefix="m.")
    except aip160.UnknownFilterFieldError as exc:
        raise invalid(Reason.UNKNOWN_FILTER_FIELD, "filter", str(exc), field=exc.field) from exc
    except aip160.FilterError as exc:
        raise invalid(Reason.INVALID_FILTER, "filter", str(exc)) from exc
    scope = watch_cursor_scope(user_id)

    with listener.subscribe(user_id) as wake:
        # Subscribe before reading the start position, so no notification falls between.
        position = await _start_position(pool, user_id, scope, req.cursor)
        await on_ready()
        queue: asyncio.Queue[streams_pb2.WatchMemoriesResponse] = asyncio.Queue(settings.queue_size)
        state = _ProducerState(position)
        producer = asyncio.create_task(
            _produce(pool, user_id, compiled, scope, settings, wake, queue, state),
            name=f"watch-{user_id}",
        )
        delivered = encode_cursor(scope, position)
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, producer}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    producer.result()  # the producer failed or overflowed: raise it
                    continue
                message = getter.result()
                yield message
                delivered = message.cursor
                if state.overflowed:
                    raise _overflow(delivered)
        except _Overflowed:
            raise _overflow(delivered) from None
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Overflowed, Exception):
                await producer


class _Overflowed(Exception):
    """The watcher's queue filled: it reads slower than the feed grows."""


def _overflow(cursor: str) -> DomainError:
    return DomainError(
        Code.RESOURCE_EXHAUSTED,
        Reason.WATCH_OVERFLOW,
        "the watcher fell too far behind the change feed; resume from the cursor in the "
        "error's metadata",
        cursor=cursor,
    )


@dataclass
class _ProducerState:
    position: int
    overflowed: bool = False


async def _start_position(pool: asyncpg.Pool, user_id: str, scope: str, cursor: str) -> int:
    if cursor:
        position = decode_cursor(cursor, scope, "cursor")
        oldest = await pool.fetchval(
            "SELECT value::bigint FROM store_meta WHERE key = 'events_pruned_through'"
        )
        if oldest is not None and position < oldest:
            raise DomainError(
                Code.FAILED_PRECONDITION,
                Reason.CURSOR_EXPIRED,
                "the cursor is older than the change feed keeps; start a new watch "
                "(and re-read with ExportMemories if you need the full state)",
                oldest_cursor=encode_cursor(scope, int(oldest)),
            )
        return int(position)
    # Events of one user commit in seq order, so the newest committed one is a safe start.
    latest: int = await pool.fetchval(
        "SELECT coalesce(max(seq), 0) FROM memory_events WHERE user_id = $1", user_id
    )
    return latest


async def _produce(
    pool: asyncpg.Pool,
    user_id: str,
    compiled: aip160.CompiledFilter,
    scope: str,
    settings: WatchSettings,
    wake: asyncio.Event,
    queue: asyncio.Queue[streams_pb2.WatchMemoriesResponse],
    state: _ProducerState,
) -> None:
    sql = f"""
        SELECT e.seq, e.event, e.snapshot, e.create_time, coalesce({compiled.sql}, false) AS matches
        FROM memory_events AS e,
             LATERAL jsonb_populate_record(NULL::memories, e.snapshot) AS m
        WHERE e.user_id = $1 AND e.seq > $2
        ORDER BY e.seq LIMIT {PAGE}"""
    while True:
        wake.clear()
        rows = await pool.fetch(sql, user_id, state.position, *compiled.params)
        for row in rows:
            state.position = row["seq"]
            if not row["matches"]:
                continue
            try:
                queue.put_nowait(_change_message(row, scope))
            except asyncio.QueueFull:
                state.overflowed = True
                raise _Overflowed() from None
        if len(rows) == PAGE:
            continue
        try:
            await asyncio.wait_for(wake.wait(), timeout=settings.checkpoint_s)
        except TimeoutError:
            try:
                queue.put_nowait(
                    streams_pb2.WatchMemoriesResponse(
                        cursor=encode_cursor(scope, state.position), checkpoint=True
                    )
                )
            except asyncio.QueueFull:
                state.overflowed = True
                raise _Overflowed() from None


def _change_message(row: asyncpg.Record, scope: str) -> streams_pb2.WatchMemoriesResponse:
    snapshot: dict[str, Any] = dict(row["snapshot"])
    for column in _TIME_COLUMNS:
        if snapshot.get(column) is not None:
            snapshot[column] = datetime.fromisoformat(snapshot[column])
    return streams_pb2.WatchMemoriesResponse(
        change=streams_pb2.MemoryChange(
            type=streams_pb2.MemoryChange.Type.Value(row["event"]),
            memory=memory_from_row(_SnapshotRow(snapshot)),
            change_time=timestamp(row["create_time"]),
        ),
        cursor=encode_cursor(scope, row["seq"]),
    )


class _SnapshotRow(dict[str, Any]):
    """A snapshot as a row: ids come back from JSON as strings."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if key in ("id", "superseded_by") and isinstance(value, str):
            return uuid.UUID(value)
        return value


async def prune_events(pool: asyncpg.Pool, retention: timedelta) -> int:
    """Delete feed entries older than ``retention``; cursors before them become expired."""
    cutoff = datetime.now(UTC) - retention
    async with pool.acquire() as conn, conn.transaction():
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
