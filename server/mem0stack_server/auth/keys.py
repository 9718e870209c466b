"""API keys: ``m0s_<id>_<secret>``.

The id is public (it names the key in logs and revisions); only a SHA-256 of the secret is
stored. The secret has 256 bits of entropy, so a fast hash is enough: there is nothing to
brute-force as there would be with a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "m0s_"
_ID_CHARS = 12


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


def generate() -> tuple[str, str, bytes]:
    """A new key: (the full key to show once, its id, the hash to store)."""
    key_id = secrets.token_hex(_ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}{key_id}_{secret}", key_id, hash_secret(secret)


def parse(key: str) -> ParsedKey | None:
    """The parts of a well-formed key, or None."""
    if not key.startswith(PREFIX):
        return None
    rest = key[len(PREFIX) :]
    key_id, sep, secret = rest[:_ID_CHARS], rest[_ID_CHARS : _ID_CHARS + 1], rest[_ID_CHARS + 1 :]
    if sep != "_" or len(key_id) != _ID_CHARS or not secret:
        return None
    return ParsedKey(key_id, secret)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
