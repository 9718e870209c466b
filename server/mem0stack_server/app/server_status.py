"""GetServerStatus: what this server runs and what its database holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from mem0stack.v1 import admin_pb2
from mem0stack_server.auth.authenticator import Authenticator
from mem0stack_server.domain.convert import timestamp
from mem0stack_server.store.graph_outbox import OutboxStore
from mem0stack_server.store.stats import read_stats


@dataclass(frozen=True)
class ServerFacts:
    """What does not change while the server runs."""

    version: str
    embedder_model: str
    embedding_dimension: int
    llm_model: str  # empty without an LLM
    graph_enabled: bool
    start_time: datetime


class ServerStatus:
    def __init__(
        self, facts: ServerFacts, pool: asyncpg.Pool, authenticator: Authenticator
    ) -> None:
        self.facts = facts
        self.pool = pool
        self.authenticator = authenticator

    async def status(self) -> admin_pb2.ServerStatus:
        stats = await read_stats(self.pool)
        pending, lag = 0, 0.0
        if self.facts.graph_enabled:
            pending, lag = await OutboxStore(self.pool, "status").totals()
        f = self.facts
        return admin_pb2.ServerStatus(
            version=f.version,
            embedder_model=f.embedder_model,
            embedding_dimension=f.embedding_dimension,
            llm_configured=bool(f.llm_model),
            llm_model=f.llm_model,
            graph_enabled=f.graph_enabled,
            graph_pending_jobs=pending,
            graph_lag_seconds=lag,
            database_bytes=stats.database_bytes,
            active_memories=stats.memories.get("active", 0),
            users=stats.users,
            development_mode=self.authenticator.development,
            start_time=timestamp(f.start_time),
        )
