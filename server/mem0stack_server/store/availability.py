"""Whether the database can be reached, found by probing it on a connection of its own;
and, for the embedded PostgreSQL, starting it again when it has died.

The pool reconnects by itself (asyncpg replaces a closed connection on its next acquire),
so recovering needs no action here beyond expiring the pool's connections once the
database went away. What the server needs is to *know*: to report NOT_SERVING, to refuse
calls at once with a retryable error instead of letting each one discover the outage, and
to end streams with their resume cursor. The probe uses its own connection so that a busy
pool (every connection taken by slow calls) never reads as an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from mem0stack_server.store.database import DATABASE_ERRORS, EmbeddedPostgres

log = logging.getLogger(__name__)

#: Probes in a row that must time out before the database counts as away.
_TIMEOUTS_FOR_OUTAGE = 2

#: Told ``True`` when the database comes back and ``False`` when it goes away.
AvailabilityObserver = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True)
class ProbeSettings:
    interval_s: float  # between probes while the database is up
    timeout_s: float  # for one probe (connect, or SELECT 1)
    backoff_initial_s: float  # first wait between attempts while it is away
    backoff_max_s: float  # longest wait between attempts


class DatabaseMonitor:
    """Probes the database, reports changes, and restarts the embedded one when it died."""

    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        settings: ProbeSettings,
        on_change: AvailabilityObserver,
        embedded: EmbeddedPostgres | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self.dsn = dsn
        self.pool = pool
        self.settings = settings
        self.on_change = on_change
        self.embedded = embedded
        self.on_restart = on_restart
        self.available = True
        self.down_since: float | None = None
        self._conn: asyncpg.Connection | None = None
        self._nudge = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._restart_backoff_s = settings.backoff_initial_s
        self._next_restart = 0.0
        self._timeouts = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="database-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop_connection()  # never wait on a database that may be gone

    def suspect(self) -> None:
        """Probe now: a call has just failed to reach the database."""
        self._nudge.set()

    def retry_after_s(self) -> float:
        """How long a refused caller should wait: the current wait between attempts."""
        return max(self.settings.backoff_initial_s, min(self._restart_backoff_s, 5.0))

    async def _run(self) -> None:
        backoff = self.settings.backoff_initial_s
        while True:
            ok = await self._probe()
            try:
                if ok != self.available:
                    await self._changed(ok)
                if not ok and self.embedded is not None:
                    await self._maybe_restart_embedded()
            except Exception:  # a bug here must not end the monitoring for good
                log.exception("database monitor step failed")
            if ok:
                backoff = self.settings.backoff_initial_s
                wait = self.settings.interval_s
            else:
                wait = backoff
                backoff = min(backoff * 2, self.settings.backoff_max_s)
            self._nudge.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), timeout=wait)

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self.dsn, timeout=self.settings.timeout_s)
                    # A closed probe connection is the quickest sign of a lost database.
                    self._conn.add_termination_listener(lambda _conn: self._nudge.set())
                await self._conn.fetchval("SELECT 1")
        except TimeoutError:
            # A slow answer is ambiguous (a starved event loop, a database under load): only
            # a second one in a row counts as an outage. A refused or lost connection is not.
            self._timeouts += 1
            if self._timeouts < _TIMEOUTS_FOR_OUTAGE:
                self._drop_connection()  # a cancelled statement leaves it unusable
                return self.available
            return self._failed("no answer within the probe timeout")
        except DATABASE_ERRORS as exc:
            return self._failed(str(exc) or type(exc).__name__)
        self._timeouts = 0
        return True

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    def _failed(self, why: str) -> bool:
        self._timeouts = 0
        self._drop_connection()
        if self.available:
            log.warning("database unreachable: %s", why)
        return False

    async def _changed(self, ok: bool) -> None:
        self.available = ok
        if ok:
            away = time.monotonic() - (self.down_since or time.monotonic())
            self.down_since = None
            self._restart_backoff_s = self.settings.backoff_initial_s
            log.info("database reachable again", extra={"away_s": round(away, 3)})
        else:
            self.down_since = time.monotonic()
            # Connections made before the outage are dead: replace them on next acquire
            # instead of letting each fail one call first.
            with contextlib.suppress(Exception):
                await self.pool.expire_connections()
        await self.on_change(ok)

    async def _maybe_restart_embedded(self) -> None:
        """Start the embedded postmaster again if it is gone, waiting longer after each
        failed attempt (a crashed one's shared memory may take a moment to be released)."""
        assert self.embedded is not None
        now = time.monotonic()
        if now < self._next_restart:
            return
        if await asyncio.to_thread(self.embedded.running):
            return  # alive (starting up, or recovering): the probe will see it come back
        log.warning(
            "the embedded postgres has stopped; starting it again",
            extra={"data_dir": str(self.embedded.data_dir)},
        )
        try:
            await asyncio.to_thread(self.embedded.restart)
        except Exception as exc:  # pg_ctl failed or timed out: try again later
            self._next_restart = time.monotonic() + self._restart_backoff_s
            log.warning(
                "could not restart the embedded postgres (next attempt in %.1fs): %s",
                self._restart_backoff_s,
                exc,
            )
            self._restart_backoff_s = min(
                self._restart_backoff_s * 2, max(self.settings.backoff_max_s, 1.0) * 5
            )
            return
        log.warning("restarted the embedded postgres")
        if self.on_restart is not None:
            self.on_restart()
        self._nudge.set()
