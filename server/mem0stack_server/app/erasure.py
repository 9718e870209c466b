"""Erasing a user (GDPR's right to erasure): everything they stored, everywhere it is kept.

Unlike deleting their memories, which records a DELETE revision with the content of each
so the history stays readable, an erasure leaves no content behind: memories, revisions,
change-feed events, stored responses of retried calls, background operations and their
requests, graph extraction jobs, webhook deliveries and the user's webhooks go in one
transaction (``store/erasure.py``); the graph worker then removes what graph memory holds
of them, and this server's embedding caches are emptied (other replicas' caches keep texts
until evicted, without any link to the user).
"""

from __future__ import annotations

import logging

import asyncpg

from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.store.erasure import Erased, erase_user

log = logging.getLogger(__name__)


class Erasure:
    def __init__(self, pool: asyncpg.Pool, embeddings: Embeddings) -> None:
        self.pool = pool
        self.embeddings = embeddings

    async def erase(self, user_id: str, *, actor: str) -> Erased:
        """Erase ``user_id``; the log line names the key that asked, never the user."""
        erased = await erase_user(self.pool, user_id)
        self.embeddings.embedder.forget_cached()
        log.warning(
            "user erased",
            extra={"actor": actor, "rows": sum(erased.rows.values()), "memories": erased.memories},
        )
        return erased
