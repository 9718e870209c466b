"""The outbox worker: applies queued graph updates to Neo4j, in order per user.

It wakes on the outbox's NOTIFY (sent when a job is queued) and polls as a fallback, so
every replica can run one. A job whose Neo4j write fails stays queued and is retried with
exponential backoff (capped) until it succeeds: memories written while Neo4j is down
reach the graph once it is back. An EXTRACT job keeps the LLM's answer after the first
attempt, so retries cost no LLM call; one whose LLM output cannot be used is given up
after ``graph_max_attempts`` (FAILED, visible in GetGraphStatus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from mem0stack_server.app.graph import extraction as graph_llm
from mem0stack_server.app.usage import UsageMeter
from mem0stack_server.config import Settings
from mem0stack_server.domain.graph.model import (
    USER,
    ExtractedEntity,
    ExtractedRelation,
    Extraction,
    GraphWrite,
    SourceMemory,
)
from mem0stack_server.llm import LLMClient, LLMOutputError, LLMUnavailableError, Usage
from mem0stack_server.obs import metrics
from mem0stack_server.store.database import DATABASE_ERRORS
from mem0stack_server.store.graph import GraphStore, GraphUnavailableError
from mem0stack_server.store.graph_outbox import CHANNEL, Job, OutboxStore

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], Awaitable[np.ndarray]]
_LEASE_S = 300.0
# A LISTEN connection attempt while the database is away gives up after this.
_CONNECT_TIMEOUT_S = 5.0


class GraphWorker:
    """Claims and applies outbox jobs until stopped."""

    def __init__(
        self,
        settings: Settings,
        dsn: str,
        outbox: OutboxStore,
        graph: GraphStore,
        embed: Embed,
        llm: LLMClient | None,
        *,
        usage: UsageMeter | None = None,
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.usage = usage
        self.outbox = outbox
        self.graph = graph
        self.embed = embed
        self.llm = llm
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="graph-outbox")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_listener()
        try:
            await self.outbox.release_all()
        except DATABASE_ERRORS as exc:
            log.warning("could not release graph jobs (their leases will expire): %s", exc)

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.dsn, timeout=_CONNECT_TIMEOUT_S)
            await self._listener.add_listener(CHANNEL, lambda *_: self._wake.set())
        except DATABASE_ERRORS as exc:
            log.warning("graph outbox cannot listen for notifications: %s", exc)
            self._listener = None

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def _run(self) -> None:
        workers = max(1, self.settings.graph_outbox_workers)
        while not self._stopping:
            await self._listen()
            try:
                jobs = await self.outbox.claim(workers, _LEASE_S)
                await self._report()
            except DATABASE_ERRORS as exc:
                log.warning("graph outbox cannot be read: %s", exc)
                jobs = []
            if jobs:
                await asyncio.gather(*(self._process(job) for job in jobs))
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.graph_outbox_poll_s)

    async def _report(self) -> None:
        pending, lag = await self.outbox.totals()
        metrics.GRAPH_OUTBOX_PENDING.set(pending)
        metrics.GRAPH_OUTBOX_LAG.set(lag)

    async def _process(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            await self.graph.ensure_schema()
            if job.kind == "EXTRACT":
                await self._extract(job)
            elif job.kind == "FORGET":
                await self._forget(job)
            elif job.kind == "SUPERSEDE":
                await self._supersede(job)
            await self.outbox.done(job)
        except asyncio.CancelledError:
            raise
        except GraphUnavailableError as exc:
            await self._retry(job, f"Neo4j unavailable: {exc}")
        except LLMUnavailableError as exc:
            await self._retry(job, f"LLM unavailable: {exc}")
        except LLMOutputError as exc:
            if job.attempts >= self.settings.graph_max_attempts:
                metrics.GRAPH_JOBS.labels(job.kind, "failed").inc()
                log.error("graph extraction given up", extra={"job": job.id, "error": str(exc)})
                await self.outbox.fail(job, str(exc))
            else:
                await self._retry(job, str(exc))
        except Exception as exc:  # a bug or an unexpected Neo4j error: keep the job
            log.exception("graph update failed", extra={"job": job.id, "kind": job.kind})
            await self._retry(job, f"{type(exc).__name__}: {exc}")
        else:
            metrics.GRAPH_JOBS.labels(job.kind, "ok").inc()
            metrics.GRAPH_APPLY_SECONDS.labels(job.kind).observe(time.perf_counter() - started)

    async def _retry(self, job: Job, error: str) -> None:
        metrics.GRAPH_JOBS.labels(job.kind, "retry").inc()
        delay = min(self.settings.graph_retry_max_s, 0.5 * 2.0 ** min(job.attempts - 1, 16))
        log.warning(
            "graph update failed; will retry",
            extra={
                "job": job.id,
                "kind": job.kind,
                "attempt": job.attempts,
                "delay_s": delay,
                "error": error,
            },
        )
        try:
            await self.outbox.retry(job, error, delay)
        except DATABASE_ERRORS as exc:
            log.warning("could not release graph job %s: %s (its lease will expire)", job.id, exc)

    async def _extract(self, job: Job) -> None:
        payload = dict(job.payload)
        memories = [SourceMemory(uuid.UUID(m["id"]), m["content"]) for m in payload["memories"]]
        if "extraction" in payload:
            found = _extraction_from_json(payload["extraction"])
        else:
            if self.llm is None:
                raise LLMUnavailableError("no LLM is configured on this server", retry_after_s=60)
            usage = Usage()
            try:
                found = await graph_llm.extract_graph(
                    self.llm, usage, payload["transcript"], [m.content for m in memories]
                )
            finally:
                if self.usage is not None:
                    self.usage.used_llm(job.user_id, usage)
            payload["extraction"] = _extraction_to_json(found)
            await self.outbox.save_payload(job, payload)
        if not found.relations and not found.entities:
            return
        names = [e.name if e.name != USER else job.user_id for e in found.entities]

        def label(name: str) -> str:
            return "the user" if name == USER else name

        triples = [
            f"{label(r.source)} {r.relation.replace('_', ' ')} {label(r.target)}"
            for r in found.relations
        ]
        vectors = await self.embed([*names, *triples])
        write = GraphWrite(
            user_id=job.user_id,
            memories=memories,
            extraction=found,
            valid_time=datetime.fromisoformat(payload["reference_time"]),
            entity_vectors=[list(map(float, v)) for v in vectors[: len(names)]],
            relation_vectors=[list(map(float, v)) for v in vectors[len(names) :]],
        )
        s = self.settings
        async with self.outbox.graph_writes():
            applied = await self.graph.apply(
                write,
                threshold=s.graph_entity_threshold,
                contain_score=s.graph_entity_candidate_score,
            )
        await self._contradictions(job, applied.relations, write.valid_time)

    async def _contradictions(self, job: Job, written: Any, when: datetime) -> None:
        """Invalidate stored relations the new ones contradict (asks the LLM only when a
        new relation has a same-type sibling with another target)."""
        groups = await self.graph.contradiction_candidates(job.user_id, written)
        if not groups or self.llm is None:
            return
        stored = {old.id: old for _, olds in groups for old in olds}
        listed = list(stored.values())
        new = [(w.source_name, w.relation, w.target_name) for w, _ in groups]
        chosen = await graph_llm.find_contradicted(
            self.llm,
            Usage(),
            [(o.source_name, o.relation, o.target_name) for o in listed],
            new,
        )
        if chosen:
            async with self.outbox.graph_writes():
                count = await self.graph.invalidate(
                    job.user_id, [listed[i].id for i in chosen], when
                )
            metrics.GRAPH_RELATIONS_INVALIDATED.inc(count)

    async def _forget(self, job: Job) -> None:
        ids = [str(m) for m in job.payload["memory_ids"]]
        async with self.outbox.graph_writes():
            relations, entities = await self.graph.forget(job.user_id, ids)
        log.info(
            "graph: forgot deleted memories",
            extra={"memories": len(ids), "relations": relations, "entities": entities},
        )
        if not await self.outbox.user_has_memories(job.user_id):
            # Every memory of the user is gone: nothing of theirs may stay in the graph.
            async with self.outbox.graph_writes():
                await self.graph.purge_user(job.user_id)

    async def _supersede(self, job: Job) -> None:
        memories = [
            (str(m["id"]), datetime.fromisoformat(m["time"]).astimezone(UTC))
            for m in job.payload["memories"]
        ]
        async with self.outbox.graph_writes():
            count = await self.graph.supersede(job.user_id, memories)
        metrics.GRAPH_RELATIONS_INVALIDATED.inc(count)


def _extraction_to_json(found: Extraction) -> dict[str, Any]:
    return {
        "entities": [{"name": e.name, "type": e.type} for e in found.entities],
        "relations": [
            {
                "source": r.source,
                "relation": r.relation,
                "target": r.target,
                "memories": list(r.memories),
            }
            for r in found.relations
        ],
    }


def _extraction_from_json(data: dict[str, Any]) -> Extraction:
    return Extraction(
        [ExtractedEntity(e["name"], e["type"]) for e in data["entities"]],
        [
            ExtractedRelation(r["source"], r["relation"], r["target"], tuple(r["memories"]))
            for r in data["relations"]
        ],
    )
