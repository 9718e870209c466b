"""The access audit log: each read, list, search, export, watch or delete of a user's
memories, recorded off the call's path.

A call hands its entry to :meth:`AccessLog.record`, which only appends to a bounded queue; a
background task writes what has gathered every half second in one statement, so auditing
adds no database round trip to any call. If the database is slower than the calls for long
enough to fill the queue (10,000 entries), newer entries are dropped and counted
(``mem0stack_audit_entries_dropped_total``) rather than slowing the calls. A second task
deletes entries older than the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from mem0stack_server.obs import metrics
from mem0stack_server.store.access_log import Access, AccessLogStore

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
FLUSH_EVERY_S = 0.5
PURGE_EVERY_S = 3600.0


class AccessLog:
    def __init__(self, store: AccessLogStore, retention_days: float) -> None:
        self.store = store
        self.retention = timedelta(days=retention_days) if retention_days > 0 else None
        self._queue: asyncio.Queue[Access] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []

    def record(
        self,
        *,
        user_id: str,
        key_id: str,
        action: str,
        method: str,
        outcome: str,
        request_id: str,
        peer: str,
    ) -> None:
        entry = Access(user_id, key_id, action, method, outcome, request_id, peer, _now())
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            metrics.AUDIT_DROPPED.inc()
            return
        metrics.AUDIT_ENTRIES.labels(action).inc()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._flush_loop(), name="access-log-flush")]
        if self.retention is not None:
            self._tasks.append(asyncio.create_task(self._purge_loop(), name="access-log-purge"))

    async def stop(self) -> None:
        """Write what is queued, then end the tasks."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self._flush()
            except Exception:  # the database is away: keep the entries, try again
                log.warning("could not write the access log; retrying", exc_info=True)

    async def _flush(self) -> None:
        batch: list[Access] = []
        while not self._queue.empty() and len(batch) < QUEUE_SIZE:
            batch.append(self._queue.get_nowait())
        if not batch:
            return
        try:
            await self.store.insert(batch)
        except BaseException:
            for entry in batch:  # back in the queue, for the next flush
                with contextlib.suppress(asyncio.QueueFull):
                    self._queue.put_nowait(entry)
            raise

    async def _purge_loop(self) -> None:
        assert self.retention is not None
        while True:
            try:
                purged = await self.store.purge_before(_now() - self.retention)
                if purged:
                    log.info("purged old access log entries", extra={"deleted": purged})
            except Exception:
                log.warning("could not purge the access log", exc_info=True)
            await asyncio.sleep(PURGE_EVERY_S)


def _now() -> datetime:
    return datetime.now(UTC)
