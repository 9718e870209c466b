"""Opaque page tokens for keyset pagination (AIP-158).

A token holds the sort key of the last item returned and a fingerprint of the query, so a
token replayed against a different query (other user, filter or order) is rejected
instead of returning a wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from mem0stack_server.domain.errors import Reason, invalid


def fingerprint(*parts: object) -> str:
    """A short digest of everything that must not change between pages."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode_token(query_fingerprint: str, key: list[Any]) -> str:
    raw = json.dumps({"q": query_fingerprint, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query_fingerprint: str, key_len: int) -> list[Any] | None:
    """The sort key in ``token``; None for an empty token (the first page)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        key = payload["k"]
        fp = payload["q"]
    except (ValueError, KeyError, TypeError):
        raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed") from None
    if fp != query_fingerprint:
        raise invalid(
            Reason.INVALID_PAGE_TOKEN,
            "page_token",
            "belongs to a different query; keep parent, filter and order_by unchanged "
            "between pages",
        )
    if not isinstance(key, list) or len(key) != key_len:
        raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed")
    return key
