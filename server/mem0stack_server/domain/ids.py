"""Time-ordered memory ids (UUID version 7, RFC 9562).

Ids that grow with time keep B-tree inserts at the right edge of the index and make the
id a natural tie-breaker for memories created in the same instant.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_counter = 0


def new_memory_id() -> uuid.UUID:
    """A new UUIDv7, strictly increasing within this process."""
    global _last_ms, _last_counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Start the 12-bit counter low with random bits so ids stay unguessable but
            # there is room to count up within one millisecond.
            _last_counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            _last_counter += 1
            if _last_counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _last_counter = 0
        ms, counter = _last_ms, _last_counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= rand_b
    return uuid.UUID(int=value)
