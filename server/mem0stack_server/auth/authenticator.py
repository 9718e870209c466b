"""Turns ``authorization: Bearer <key>`` metadata into a Principal."""

from __future__ import annotations

import time

import grpc

from mem0stack_server.auth import keys
from mem0stack_server.auth.principal import DEV_PRINCIPAL, Principal
from mem0stack_server.errors import ApiError
from mem0stack_server.store.keys import KeyStore


class Authenticator:
    """Verifies API keys, caching each verified key for ``cache_s`` seconds.

    With no active key in the database the server is in development mode and every call
    is the dev admin. Whether keys exist is re-checked at the same interval, so the first
    ``mem0stack keys create`` switches a running server to enforcing keys.
    """

    def __init__(self, key_store: KeyStore, cache_s: float) -> None:
        self.key_store = key_store
        self.cache_s = cache_s
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._dev_mode: tuple[bool, float] | None = None

    async def dev_mode(self) -> bool:
        now = time.monotonic()
        if self._dev_mode is None or self._dev_mode[1] < now:
            self._dev_mode = (not await self.key_store.any_active(), now + self.cache_s)
        return self._dev_mode[0]

    async def authenticate(self, authorization: str | None) -> Principal:
        if await self.dev_mode():
            return DEV_PRINCIPAL
        if not authorization:
            raise _unauthenticated(
                "API_KEY_MISSING", "send an API key as 'authorization: Bearer <key>'"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated(
                "API_KEY_INVALID", "the authorization header must be 'Bearer <key>'"
            )
        token = token.strip()
        now = time.monotonic()
        cached = self._verified.get(token)
        if cached and cached[1] > now:
            return cached[0]
        parsed = keys.parse(token)
        row = await self.key_store.find_active(parsed.key_id) if parsed else None
        if (
            parsed is None
            or row is None
            or not keys.secret_matches(parsed.secret, row["secret_hash"])
        ):
            raise _unauthenticated(
                "API_KEY_INVALID", "the API key is unknown, malformed or revoked"
            )
        principal = Principal(key_id=row["id"], role=row["role"], users=frozenset(row["users"]))
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[token] = (principal, now + self.cache_s)
        return principal


def _unauthenticated(reason: str, message: str) -> ApiError:
    return ApiError(grpc.StatusCode.UNAUTHENTICATED, reason, message)
