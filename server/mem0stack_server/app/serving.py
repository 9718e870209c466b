"""Whether this process takes calls now: the database may be away, or the server draining.

One object answers, for every call, "may it start?" (:meth:`ServingState.refusal`), and tells
long streams when to end early (:meth:`ServingState.interrupted`), so they can close with
their resume cursor instead of being cut off. It also counts the calls in flight, which
the shutdown waits for before it stops the gRPC server: grpc cancels whatever is still
running when its own grace period ends, and refuses calls it has received but not yet
handed to the application with CANCELLED, so the server stops taking calls itself first
(UNAVAILABLE, retry elsewhere) and lets the ones it took finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from mem0stack_server.domain.errors import DomainError, Reason, unavailable

#: What a refused or interrupted caller is told to wait before trying again (a drained
#: replica's load balancer has moved traffic away by then; a database is often back).
SHUTDOWN_RETRY_S = 1.0


class ServingState:
    """Database availability and drain, seen by every call of this process."""

    def __init__(self, database_retry_s: Callable[[], float] = lambda: 1.0) -> None:
        self.database_available = True
        self.draining = False
        self.database_retry_s = database_retry_s  # the monitor's current backoff, once set
        self._changed = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def set_database_available(self, available: bool) -> None:
        self.database_available = available
        self._wake()

    def start_draining(self) -> None:
        """Refuse new calls from now on and end open streams (with their cursor)."""
        self.draining = True
        self._wake()

    def refusal(self) -> DomainError | None:
        """The error a call starting now gets, or None when it may run."""
        if self.draining:
            return unavailable(
                Reason.SHUTTING_DOWN,
                "this server is shutting down; retry (another replica, or this one once restarted)",
                SHUTDOWN_RETRY_S,
            )
        if not self.database_available:
            return unavailable(
                Reason.DATABASE_UNAVAILABLE,
                "the database is unavailable; retry shortly",
                self.database_retry_s(),
            )
        return None

    async def interrupted(self) -> DomainError:
        """Wait until calls must stop (drain, or the database gone); the error to end with."""
        while True:
            refusal = self.refusal()
            if refusal is not None:
                return refusal
            await self._changed.wait()

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Count a call as in flight while the block runs."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until no call is in flight; whether none is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=max(timeout_s, 0.0))
        return self._in_flight == 0

    def _wake(self) -> None:
        # Waiters re-check the state, so one event, replaced each time, wakes them all.
        self._changed.set()
        self._changed = asyncio.Event()
