"""Opaque page tokens for keyset pagination (AIP-158), signed by the server.

A token holds the sort key of the last item returned and a fingerprint of the query, so a
token replayed against a different query (other user, filter or order) is rejected
instead of returning a wrong page. An HMAC-SHA256 over both, with a secret only the
servers know, makes a token the caller altered or made up INVALID_ARGUMENT too: the key
inside is never trusted unless this deployment wrote it. The secret is kept in the
database (see :mod:`mem0stack_server.store.token_secret`), so tokens stay valid across
restarts and on every replica; the server installs it with :func:`set_signing_key`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from mem0stack_server.domain.errors import Reason, invalid

_MAC_BYTES = 16
_signing_key: bytes | None = None


def set_signing_key(key: bytes) -> None:
    """Sign and check every token from now on with ``key`` (at least 32 bytes)."""
    global _signing_key
    if len(key) < 32:
        raise ValueError("the token signing key must be at least 32 bytes")
    _signing_key = key


def _mac(raw: bytes) -> bytes:
    if _signing_key is None:  # a bug: the server installs the key before it serves
        raise RuntimeError("no token signing key; call set_signing_key first")
    return hmac.new(_signing_key, raw, hashlib.sha256).digest()[:_MAC_BYTES]


def fingerprint(*parts: object) -> str:
    """A short digest of everything that must not change between pages."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode_token(query_fingerprint: str, key: list[Any]) -> str:
    raw = json.dumps({"q": query_fingerprint, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_mac(raw) + raw).decode().rstrip("=")


def decode_token(
    token: str, query_fingerprint: str, key_len: int, field: str = "page_token"
) -> list[Any] | None:
    """The sort key in ``token``; None for an empty token (the first page)."""
    if not token:
        return None
    try:
        signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        raise invalid(Reason.INVALID_PAGE_TOKEN, field, "is malformed") from None
    mac, raw = signed[:_MAC_BYTES], signed[_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(raw)):
        raise invalid(
            Reason.INVALID_PAGE_TOKEN,
            field,
            "was not issued by this service (malformed or altered); pass the token of the "
            "previous response unchanged",
        )
    try:
        payload = json.loads(raw)
        key = payload["k"]
        fp = payload["q"]
    except (ValueError, KeyError, TypeError):
        raise invalid(Reason.INVALID_PAGE_TOKEN, field, "is malformed") from None
    if fp != query_fingerprint:
        raise invalid(
            Reason.INVALID_PAGE_TOKEN,
            field,
            "belongs to a different query; keep parent, filter and order_by unchanged "
            "between pages",
        )
    if not isinstance(key, list) or len(key) != key_len:
        raise invalid(Reason.INVALID_PAGE_TOKEN, field, "is malformed")
    return key
