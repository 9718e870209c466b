"""The circuit breaker's states, on a fake clock."""

from __future__ import annotations

import pytest

from mem0stack_server.llm.breaker import BreakerState, CircuitBreaker, CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_refuses_at_once() -> None:
    clock = Clock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(3, 10.0, clock=clock, on_change=changes.append)
    for _ in range(2):
        breaker.before_request()
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_request()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert changes == [BreakerState.OPEN]
    clock.now += 4.0
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_request()
    assert refused.value.retry_after_s == pytest.approx(6.0)
    assert breaker.retry_after_s() == pytest.approx(6.0)


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(2, 10.0, clock=Clock())
    for _ in range(5):
        breaker.before_request()
        breaker.failure()
        breaker.before_request()
        breaker.success()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_trial_through_and_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.before_request()
    breaker.failure()
    clock.now += 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_request()  # the trial
    with pytest.raises(CircuitOpenError):
        breaker.before_request()  # others wait for the trial's verdict
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_request()


def test_a_failed_trial_opens_again_for_the_full_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 5.0, clock=clock)
    for _ in range(3):
        breaker.before_request()
        breaker.failure()
    clock.now += 5.0
    breaker.before_request()
    breaker.failure()  # one failure is enough in half-open
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(5.0)


def test_an_abandoned_trial_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)
    breaker.before_request()
    breaker.failure()
    clock.now += 1.0
    breaker.before_request()
    breaker.abandon()  # e.g. the caller was cancelled
    breaker.before_request()  # the next request becomes the trial
