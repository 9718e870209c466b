"""Opaque cursors for Watch and Export streams.

Like page tokens, a cursor carries a fingerprint of the stream it belongs to (user, and for
exports the filter), so a cursor from another user or query is rejected, not misread.
"""

from __future__ import annotations

from typing import Any

from mem0stack_server.domain.errors import DomainError, Reason, invalid
from mem0stack_server.domain.pagination import decode_token, encode_token


def encode_cursor(scope: str, *key: Any) -> str:
    return encode_token(scope, list(key))


def decode_cursor(cursor: str, scope: str, field: str) -> Any:
    """The single value of a one-part cursor (e.g. a feed sequence number)."""
    (value,) = decode_cursor_parts(cursor, scope, field, 1)
    if not isinstance(value, int) or value < 0:
        raise invalid(Reason.INVALID_CURSOR, field, "is malformed")
    return value


def decode_cursor_parts(cursor: str, scope: str, field: str, parts: int) -> list[Any]:
    try:
        key = decode_token(cursor, scope, parts)
    except DomainError as exc:
        raise invalid(
            Reason.INVALID_CURSOR,
            field,
            "is malformed or belongs to another stream (other user or filter)",
        ) from exc
    assert key is not None  # decode_token returns None only for an empty cursor
    return key
