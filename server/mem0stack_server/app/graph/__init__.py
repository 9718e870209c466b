"""Graph memory: the entities and relations a user's memories mention, kept in Neo4j.

``GraphMemory`` bundles what the server needs when ``MEM0STACK_NEO4J_URI`` is set: the
Neo4j store (schema created at start-up, or as soon as Neo4j can be reached), the outbox
worker that applies queued updates, and the service behind GraphService and the graph
step of SearchMemories. See docs/graph.md.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import asyncpg
import numpy as np

from mem0stack.v1 import memory_pb2
from mem0stack_server.app.graph.service import GraphService, graph_disabled
from mem0stack_server.app.graph.worker import GraphWorker
from mem0stack_server.app.inference import prompts as core_prompts
from mem0stack_server.app.inference.extraction import Turn
from mem0stack_server.app.usage import UsageMeter
from mem0stack_server.config import Settings
from mem0stack_server.llm import LLMClient
from mem0stack_server.store.graph import (
    DimensionMismatchError,
    GraphStore,
    GraphUnavailableError,
    Neo4jConfig,
)
from mem0stack_server.store.graph_outbox import OutboxStore, enqueue_extraction

__all__ = ["GraphMemory", "graph_disabled", "graph_store", "queue_extraction"]

log = logging.getLogger(__name__)


def graph_store(settings: Settings, dimension: int) -> GraphStore:
    """The Neo4j store the settings name (``neo4j_uri`` must be set)."""
    assert settings.neo4j_uri
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
    return GraphStore(
        Neo4jConfig(
            settings.neo4j_uri,
            settings.neo4j_user,
            password,
            settings.neo4j_database,
            settings.neo4j_timeout_s,
        ),
        dimension,
    )


class GraphMemory:
    """Everything graph memory runs, for one server process."""

    def __init__(
        self,
        settings: Settings,
        dsn: str,
        pool: asyncpg.Pool,
        dimension: int,
        embed: Callable[[list[str]], Awaitable[np.ndarray]],
        llm: LLMClient | None,
        *,
        usage: UsageMeter | None = None,
    ) -> None:
        self.store = graph_store(settings, dimension)
        owner = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.outbox = OutboxStore(pool, owner)
        self.service = GraphService(settings, self.store, self.outbox)
        self.worker = GraphWorker(settings, dsn, self.outbox, self.store, embed, llm, usage=usage)

    async def start(self) -> None:
        """Create the schema if Neo4j is up (else later, when it is), start the worker."""
        try:
            await self.store.ensure_schema()
        except GraphUnavailableError as exc:
            log.warning(
                "Neo4j cannot be reached; graph updates wait in the outbox until it can: %s",
                exc,
            )
        except DimensionMismatchError:
            await self.store.close()
            raise
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.store.close()


async def queue_extraction(
    conn: asyncpg.Connection,
    user_id: str,
    turns: Sequence[Turn],
    reference_time: datetime,
    events: Sequence[memory_pb2.MemoryEvent],
) -> None:
    """The pipeline's graph hook: queue the extraction in the memory changes' transaction."""
    transcript = core_prompts.transcript(
        [(t.role, t.name, t.content, t.time) for t in turns], reference_time
    )
    await enqueue_extraction(conn, user_id, transcript, reference_time, events)
