"""The per-key token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from mem0stack_server.auth.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_holds() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.try_acquire("k") for _ in range(3)] == [None, None, None]
    wait = limiter.try_acquire("k")
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.try_acquire("k") is None
    assert limiter.try_acquire("k") == pytest.approx(0.5)


def test_keys_have_their_own_buckets() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.try_acquire("a") is None
    assert limiter.try_acquire("a") is not None
    assert limiter.try_acquire("b") is None


def test_refusals_take_no_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.try_acquire("k") is None
    for _ in range(5):
        assert limiter.try_acquire("k") is not None
    clock.now += 1.0
    assert limiter.try_acquire("k") is None


def test_idle_buckets_are_dropped() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    for key in range(100):
        limiter.try_acquire(str(key))
    clock.now += 2.0
    limiter.try_acquire("new")
    assert set(limiter._buckets) == {"new"}


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(ValueError):
        RateLimiter(rate=1, burst=0)
