"""The expiry sweeper: a background task of every server that deletes expired memories
once their retention has passed (see :mod:`mem0stack_server.store.expiry`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from mem0stack_server.obs import metrics
from mem0stack_server.store.expiry import sweep_batch

log = logging.getLogger(__name__)

#: Memories deleted per transaction: bounds how long a sweep holds its row and feed locks.
BATCH = 500


@dataclass(frozen=True)
class ExpirySettings:
    retention: timedelta
    interval_s: float
    timeout_s: float


async def sweep(pool: asyncpg.Pool, settings: ExpirySettings) -> int:
    """Delete every memory whose retention after expiry has passed, batch by batch."""
    total = 0
    while True:
        deleted = await sweep_batch(pool, settings.retention, BATCH, settings.timeout_s)
        if deleted:
            metrics.MEMORIES_EXPIRED.inc(deleted)
            total += deleted
        if deleted < BATCH:
            return total


async def sweep_periodically(pool: asyncpg.Pool, settings: ExpirySettings) -> None:
    """Sweep at start-up and then every interval; a failed sweep is retried at the next."""
    while True:
        try:
            deleted = await sweep(pool, settings)
            if deleted:
                log.info("deleted expired memories", extra={"deleted": deleted})
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("could not sweep expired memories: %s", exc)
        await asyncio.sleep(settings.interval_s)
