"""Closed-loop clients: each sends its next call as soon as the previous one returns, so N
clients keep N calls in flight and the figure measured is the server's throughput at that
concurrency. All clients are coroutines of one asyncio loop in one process, which keeps the
load generator to (at most) one core; its CPU is measured beside the server's so a reader
sees when it, rather than the server, bounds a figure.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.common import percentiles

OPS = ("search", "add", "list")
#: The workloads, as weights of OPS.
WORKLOADS: dict[str, dict[str, int]] = {
    "search": {"search": 100},
    "mixed": {"search": 70, "add": 20, "list": 10},
}
#: After a failed call a client pauses this long, so a server that refuses every call (or
#: a dead one) shows up as an error rate instead of a busy loop in the generator.
ERROR_PAUSE_S = 0.01

#: One sequence for the whole process: every query and every added text is distinct across
#: points and systems, so no cache answers a repeated request.
_sequence = itertools.count()


class Backend(Protocol):
    """One system's client side: ``call`` sends one request as client ``client`` and raises
    on failure; ``error_code`` names a failure (a gRPC status, an HTTP status, ...)."""

    async def call(self, client: int, op: str, seq: int) -> None: ...

    def error_code(self, exc: BaseException) -> str: ...

    def error_text(self, exc: BaseException) -> str: ...


@dataclass
class Recorder:
    """Latencies of the calls that succeeded and failures by call type and code."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    #: The first message of each kind of failure, to tell a reader what went wrong.
    examples: dict[str, str] = field(default_factory=dict)

    def failed(self, key: str, text: str) -> None:
        self.errors[key] += 1
        self.examples.setdefault(key, text[:300])

    def summary(self, seconds: float) -> dict[str, Any]:
        ops: dict[str, Any] = {}
        for op in OPS:
            done = self.latencies.get(op, [])
            failed = sum(n for key, n in self.errors.items() if key.startswith(op + " "))
            if not done and not failed:
                continue
            ops[op] = {"ok": len(done), "errors": failed, "per_s": len(done) / seconds} | (
                percentiles(done) if done else {}
            )
        ok = sum(len(v) for v in self.latencies.values())
        return {
            "seconds": seconds,
            "ok": ok,
            "per_s": ok / seconds,
            "errors": dict(self.errors),
            "error_examples": self.examples,
            "ops": ops,
        }


class Sink:
    """Where clients record; the soak swaps ``recorder`` at every report."""

    def __init__(self) -> None:
        self.recorder = Recorder()

    def swap(self) -> Recorder:
        previous, self.recorder = self.recorder, Recorder()
        return previous


async def run_clients(
    backend: Backend,
    clients: int,
    seconds: float,
    workload: str,
    sink: Sink,
    seed: int = 0,
) -> None:
    """``clients`` closed-loop clients for ``seconds``; calls in flight at the end finish
    and are counted (the caller measures the interval up to then)."""
    weights = WORKLOADS[workload]
    ops, shares = list(weights), list(weights.values())
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        rng = random.Random(seed * 100_003 + i)
        while time.perf_counter() < deadline:
            op = rng.choices(ops, shares)[0]
            t0 = time.perf_counter()
            try:
                await backend.call(i, op, next(_sequence))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                sink.recorder.failed(f"{op} {backend.error_code(exc)}", backend.error_text(exc))
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            sink.recorder.latencies[op].append(time.perf_counter() - t0)

    await asyncio.gather(*(client(i) for i in range(clients)))
