"""Requests per second per API key: a token bucket for each key this process has seen.

Each server process limits on its own (no shared state to reach on every call): behind N
replicas a key may reach N times the rate, which docs/operations.md says. Buckets of keys
idle long enough to be full again are dropped, so the map stays as small as the set of
keys in use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``rate`` requests per second per key on average, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._last_sweep = clock()

    def try_acquire(self, key: str) -> float | None:
        """Take one token of ``key``'s bucket: None if allowed, else the seconds until one
        is free (what RetryInfo tells the caller)."""
        now = self._clock()
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        # A bucket that has refilled completely says no more than a new one would.
        full_after = self.burst / self.rate
        if now - self._last_sweep < max(full_after, 1.0):
            return
        self._last_sweep = now
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
