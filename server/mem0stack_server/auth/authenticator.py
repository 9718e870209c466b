"""Turns ``authorization: Bearer <key>`` metadata into a Principal, and admits it (or not)
under its key's request rate."""

from __future__ import annotations

import logging
import math
import time

from mem0stack_server.auth import keys
from mem0stack_server.auth.principal import DEV_PRINCIPAL, Principal
from mem0stack_server.auth.ratelimit import RateLimiter
from mem0stack_server.config import Settings
from mem0stack_server.domain.errors import Code, DomainError, Reason
from mem0stack_server.obs import metrics
from mem0stack_server.store.keys import KeyStore

log = logging.getLogger(__name__)


class Authenticator:
    """Verifies API keys, caching each verified key for ``cache_s`` seconds.

    Development mode (every call is the dev admin, no key needed) is decided once, by
    :meth:`create` at start-up, and only ever ends: while it lasts, whether a key has
    been created is re-checked every ``cache_s`` seconds, so the first ``mem0stack keys
    create`` makes a running server enforce keys; nothing at run time turns it back on.
    Revoking the last key therefore leaves a server that refuses every call.
    """

    def __init__(
        self,
        key_store: KeyStore,
        cache_s: float,
        *,
        development: bool,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.key_store = key_store
        self.cache_s = cache_s
        self.limiter = limiter
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._development = development
        self._next_check = time.monotonic() + cache_s

    @classmethod
    async def create(cls, key_store: KeyStore, settings: Settings) -> Authenticator:
        """The authenticator for ``settings.auth``: development mode only for ``auto`` on a
        database that has never held an API key."""
        development = settings.auth == "auto" and not await key_store.ever_held()
        limiter = None
        if settings.rate_limit_rps > 0:
            burst = settings.rate_limit_burst or max(1, math.ceil(2 * settings.rate_limit_rps))
            limiter = RateLimiter(settings.rate_limit_rps, burst)
        return cls(key_store, settings.auth_cache_s, development=development, limiter=limiter)

    @property
    def development(self) -> bool:
        """Whether calls without a key are still let through as admin (see the class doc)."""
        return self._development

    async def _still_development(self) -> bool:
        if not self._development:
            return False
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.cache_s
            if await self.key_store.ever_held():
                self._development = False
                log.warning(
                    "development mode ended: an API key was created, every call now needs one"
                )
        return self._development

    async def admit(self, authorization: str | None) -> Principal:
        """The caller, once authenticated and within its key's request rate; a caller over
        it gets RESOURCE_EXHAUSTED (RATE_LIMITED) with the wait in RetryInfo."""
        principal = await self.authenticate(authorization)
        if self.limiter is not None:
            wait = self.limiter.try_acquire(principal.key_id)
            if wait is not None:
                metrics.RATE_LIMITED.inc()
                raise DomainError(
                    Code.RESOURCE_EXHAUSTED,
                    Reason.RATE_LIMITED,
                    f"this API key may send {self.limiter.rate:g} requests per second "
                    f"(bursts of {self.limiter.burst:g}); retry after {wait:.3f} s",
                    retry_after_s=wait,
                    limit_rps=f"{self.limiter.rate:g}",
                )
        return principal

    async def authenticate(self, authorization: str | None) -> Principal:
        if await self._still_development():
            return DEV_PRINCIPAL
        if not authorization:
            raise _unauthenticated(
                Reason.API_KEY_MISSING, "send an API key as 'authorization: Bearer <key>'"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated(
                Reason.API_KEY_INVALID, "the authorization header must be 'Bearer <key>'"
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
                Reason.API_KEY_INVALID, "the API key is unknown, malformed or revoked"
            )
        principal = Principal(key_id=row["id"], role=row["role"], users=frozenset(row["users"]))
        await self.key_store.touch(row["id"])  # once per cache window: last_use_time
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[token] = (principal, now + self.cache_s)
        return principal


def _unauthenticated(reason: Reason, message: str) -> DomainError:
    return DomainError(Code.UNAUTHENTICATED, reason, message)
