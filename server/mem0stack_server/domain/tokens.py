"""Opaque cursors for Watch and Export streams.

Like page tokens (and signed the same way), a cursor carries a fingerprint of the stream it
belongs to (user, and for exports the filter), so a cursor from another user or query is
rejected, not misread, and one the caller altered or made up is rejected too.
"""

from __future__ import annotations

from typing import Any

from mem0stack_server.domain.errors import DomainError, Reason, invalid
from mem0stack_server.domain.pagination import decode_token, encode_token

#: Positions are PostgreSQL bigints.
MAX_POSITION = 2**63 - 1


def encode_cursor(scope: str, *key: Any) -> str:
    return encode_token(scope, list(key))


def decode_cursor(cursor: str, scope: str, field: str) -> int:
    """The single value of a one-part cursor (e.g. a feed sequence number)."""
    (value,) = decode_cursor_parts(cursor, scope, field, 1)
    return position(value, Reason.INVALID_CURSOR, field)


def position(value: Any, reason: Reason, field: str) -> int:
    """``value`` as a position in a bigint sequence, or INVALID_ARGUMENT naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POSITION:
        raise invalid(reason, field, "is malformed")
    return value


def decode_cursor_parts(cursor: str, scope: str, field: str, parts: int) -> list[Any]:
    try:
        key = decode_token(cursor, scope, parts, field)
    except DomainError as exc:
        raise invalid(
            Reason.INVALID_CURSOR,
            field,
            "is malformed, altered or belongs to another stream (other user or filter)",
        ) from exc
    assert key is not None  # decode_token returns None only for an empty cursor
    return key
