"""A circuit breaker: while the LLM endpoint keeps failing, fail at once instead of waiting.

Closed: requests flow; ``failure_threshold`` consecutive failures open it. Open: every
request is refused at once for ``reset_after_s`` (callers get UNAVAILABLE with the time
left as RetryInfo), so a dead endpoint does not pile up calls, each waiting for its own
timeouts and retries. Half-open: after that time one trial request goes through; its success
closes the circuit, its failure opens it again. Other requests are refused while the trial
is in flight.

Single-threaded by design: it lives on the server's event loop.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.IntEnum):
    """Values also used for the ``mem0stack_llm_circuit_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpenError(Exception):
    """The circuit refuses requests for now; retry after ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"circuit open; retry in {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    """Counts consecutive failures of one endpoint and refuses requests while it is down."""

    def __init__(
        self,
        failure_threshold: int,
        reset_after_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_after_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_after_s > 0")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The state now (an open circuit whose time is up reads as half-open)."""
        if self._state is BreakerState.OPEN and self._remaining() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    def before_request(self) -> None:
        """Let one request through, or raise CircuitOpenError.

        Every request let through must end in exactly one of ``success``, ``failure`` or
        ``abandon``.
        """
        if self._state is BreakerState.CLOSED:
            return
        if self._state is BreakerState.OPEN:
            remaining = self._remaining()
            if remaining > 0:
                raise CircuitOpenError(remaining)
            self._set(BreakerState.HALF_OPEN)
        if self._trial_in_flight:
            # A trial is deciding; its answer comes within one request timeout.
            raise CircuitOpenError(min(self.reset_after_s, 1.0))
        self._trial_in_flight = True

    def success(self) -> None:
        """The endpoint answered (any answer that is not a server-side failure)."""
        self._failures = 0
        self._trial_in_flight = False
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def failure(self) -> None:
        """The endpoint failed: timeout, no connection, 429 or 5xx."""
        self._trial_in_flight = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def abandon(self) -> None:
        """The request was cancelled before it said anything about the endpoint."""
        self._trial_in_flight = False

    def retry_after_s(self) -> float:
        """How long until the circuit lets a request through again (0 when it does now)."""
        return max(0.0, self._remaining()) if self._state is BreakerState.OPEN else 0.0

    def _remaining(self) -> float:
        return self._opened_at + self.reset_after_s - self._clock()

    def _set(self, state: BreakerState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
