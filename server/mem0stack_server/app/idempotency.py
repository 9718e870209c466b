"""request_id idempotency (AIP-155): a retried call gets the first call's response."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from google.protobuf.message import Message as ProtoMessage

from mem0stack_server.domain.errors import Reason, invalid
from mem0stack_server.store.memories import MemoryStore

R = TypeVar("R", bound=ProtoMessage)


class Idempotency:
    """Stores each response of a call made with a request_id and replays it on retries."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def run(
        self,
        user_id: str,
        method: str,
        req: Any,
        run: Callable[[], Awaitable[R]],
        response_type: type[R],
    ) -> R:
        """Run ``run`` once per request id: a retry gets the stored first response.

        The response is stored after the work commits; two concurrent calls with one id may
        both run, and the second's store fails with a unique violation, so it answers with
        the first one's response. (Memory writes themselves are not rolled back in that
        race; the window is one round trip.)
        """
        request_id: str = req.request_id
        if not request_id:
            return await run()
        request_hash = hashlib.sha256(req.SerializeToString(deterministic=True)).digest()
        stored = await self.store.stored_response(user_id, method, request_id)
        if stored is not None:
            return _replay(stored, request_hash, response_type)
        response = await run()
        try:
            async with self.store.transaction() as conn:
                await self.store.store_response(
                    conn,
                    user_id,
                    method,
                    request_id,
                    request_hash,
                    response.SerializeToString(),
                )
        except asyncpg.UniqueViolationError:
            stored = await self.store.stored_response(user_id, method, request_id)
            if stored is not None:
                return _replay(stored, request_hash, response_type)
        return response


def _replay(stored: asyncpg.Record, request_hash: bytes, response_type: type[R]) -> R:
    if bytes(stored["request_hash"]) != request_hash:
        raise invalid(
            Reason.REQUEST_ID_REUSED,
            "request_id",
            "was already used for a different request; use a new request_id",
        )
    return response_type.FromString(bytes(stored["response"]))
