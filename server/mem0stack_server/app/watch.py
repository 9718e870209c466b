"""WatchMemories: a user's changes after a cursor, then new ones as they commit.

The feed is stored by :mod:`mem0stack_server.store.events`: triggers append every committed
change to ``memory_events`` and notify the user id; watchers of a user wake when the
notification reaches this process and read the events after their cursor. Correctness
never depends on the notification: a watcher also polls at every checkpoint, so a lost
notification (or a lost LISTEN connection) only delays delivery. Because the feed lives in
PostgreSQL, a watcher on one replica sees the writes of every other replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mem0stack.v1 import memory_pb2, streams_pb2
from mem0stack_server.domain.convert import memory_from_row, timestamp
from mem0stack_server.domain.errors import (
    Code,
    DomainError,
    Reason,
    unavailable,
    with_cursor,
)
from mem0stack_server.domain.filter import Node, parse_filter
from mem0stack_server.domain.pagination import fingerprint
from mem0stack_server.domain.tokens import decode_cursor, encode_cursor
from mem0stack_server.obs import metrics
from mem0stack_server.store.database import unreachable
from mem0stack_server.store.events import EventStore, FeedListener
from mem0stack_server.store.filter_sql import compile_filter
from mem0stack_server.store.sql import Params

log = logging.getLogger(__name__)

PAGE = 500
_TIME_COLUMNS = (
    "create_time",
    "update_time",
    "expire_time",
    "event_time",
    "valid_time",
    "invalid_time",
)


@dataclass(frozen=True)
class WatchSettings:
    checkpoint_s: float
    queue_size: int


def watch_cursor_scope(user_id: str) -> str:
    return fingerprint("watch", user_id)


async def watch(
    events: EventStore,
    listener: FeedListener,
    settings: WatchSettings,
    user_id: str,
    req: streams_pb2.WatchMemoriesRequest,
    on_ready: Callable[[], Awaitable[None]],
    interrupted: Callable[[], Awaitable[DomainError]],
) -> AsyncIterator[streams_pb2.WatchMemoriesResponse]:
    """Changes of one user after the cursor, then new ones as they commit.

    ``on_ready`` runs once the start position is fixed (the servicer sends the response
    headers then), so a client knows every change from that moment on will reach it.
    ``interrupted`` returns when the watch must end early (the server drains, or the
    database went away); it ends with that error and the cursor of the last message
    delivered, so the client resumes without losing or repeating a change.
    """
    node = parse_filter(req.filter)
    # Compiled once now only to check it: a bad filter must fail before the headers go out.
    compile_filter(node, Params())
    scope = watch_cursor_scope(user_id)

    with listener.subscribe(user_id) as wake:
        # Subscribe before reading the start position, so no notification falls between.
        position = await _start_position(events, user_id, scope, req.cursor)
        await on_ready()
        queue: asyncio.Queue[streams_pb2.WatchMemoriesResponse] = asyncio.Queue(settings.queue_size)
        state = _ProducerState(position)
        producer = asyncio.create_task(
            _produce(events, user_id, node, scope, settings, wake, queue, state),
            name=f"watch-{user_id}",
        )
        delivered = encode_cursor(scope, position)
        stop = asyncio.ensure_future(interrupted())
        getter: asyncio.Future[streams_pb2.WatchMemoriesResponse] | None = None
        metrics.WATCH_STREAMS.inc()
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, producer, stop}, return_when=asyncio.FIRST_COMPLETED
                )
                if stop in done:
                    getter.cancel()
                    raise with_cursor(stop.result(), delivered)
                if getter not in done:
                    getter.cancel()
                    try:
                        producer.result()  # the producer failed or overflowed: raise it
                    except Exception as exc:
                        if unreachable(exc):
                            raise with_cursor(_database_lost(), delivered) from exc
                        raise
                    continue
                message = getter.result()
                if message.HasField("change"):
                    committed = message.change.change_time
                    metrics.WATCH_LAG_SECONDS.observe(
                        max(0.0, time.time() - committed.seconds - committed.nanos / 1e9)
                    )
                yield message
                delivered = message.cursor
                if state.overflowed:
                    raise _overflow(delivered)
        except _Overflowed:
            raise _overflow(delivered) from None
        finally:
            metrics.WATCH_STREAMS.dec()
            stop.cancel()
            if getter is not None:
                getter.cancel()  # the client may have gone while this waited
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Overflowed, Exception):
                await producer


def _database_lost() -> DomainError:
    return unavailable(Reason.DATABASE_UNAVAILABLE, "the database is unavailable")


class _Overflowed(Exception):
    """The watcher's queue filled: it reads slower than the feed grows."""


def _overflow(cursor: str) -> DomainError:
    metrics.WATCH_OVERFLOWS.inc()
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


async def _start_position(events: EventStore, user_id: str, scope: str, cursor: str) -> int:
    if cursor:
        position = decode_cursor(cursor, scope, "cursor")
        oldest = await events.pruned_through()
        if oldest is not None and position < oldest:
            raise DomainError(
                Code.FAILED_PRECONDITION,
                Reason.CURSOR_EXPIRED,
                "the cursor is older than the change feed keeps; start a new watch "
                "(and re-read with ExportMemories if you need the full state)",
                oldest_cursor=encode_cursor(scope, oldest),
            )
        return int(position)
    # Events of one user commit in seq order, so the newest committed one is a safe start.
    return await events.latest(user_id)


async def _produce(
    events: EventStore,
    user_id: str,
    node: Node | None,
    scope: str,
    settings: WatchSettings,
    wake: asyncio.Event,
    queue: asyncio.Queue[streams_pb2.WatchMemoriesResponse],
    state: _ProducerState,
) -> None:
    while True:
        wake.clear()
        rows = await events.after(user_id, state.position, node, PAGE)
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


def memory_from_snapshot(stored: dict[str, Any]) -> memory_pb2.Memory:
    """The memory of a feed entry's snapshot (the row as JSON)."""
    snapshot = dict(stored)
    # Entries written before migration 0011 have no validity columns.
    snapshot.setdefault("valid_time", snapshot.get("event_time") or snapshot.get("create_time"))
    snapshot.setdefault("invalid_time", None)
    for column in _TIME_COLUMNS:
        if snapshot.get(column) is not None:
            snapshot[column] = datetime.fromisoformat(snapshot[column])
    return memory_from_row(_SnapshotRow(snapshot))


def _change_message(row: asyncpg.Record, scope: str) -> streams_pb2.WatchMemoriesResponse:
    return streams_pb2.WatchMemoriesResponse(
        change=streams_pb2.MemoryChange(
            type=streams_pb2.MemoryChange.Type.Value(row["event"]),
            memory=memory_from_snapshot(row["snapshot"]),
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
