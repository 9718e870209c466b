"""Per-call context shared by the interceptors, the servicer and the store.

Context variables follow the call through every await, so the database layer can honour the
caller's deadline and the log lines carry the request id without passing them around.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
# Absolute time.monotonic() by which the call must finish; None without a deadline.
deadline_var: ContextVar[float | None] = ContextVar("deadline", default=None)


def time_left(cap_s: float) -> float:
    """Seconds this call may still spend on one operation: the deadline, at most ``cap_s``."""
    deadline = deadline_var.get()
    if deadline is None:
        return cap_s
    return max(0.001, min(cap_s, deadline - time.monotonic()))
