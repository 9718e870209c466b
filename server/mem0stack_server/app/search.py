"""SearchMemories: check the options, embed the query beside the keyword leg, rank.

The statements themselves (BM25 keyword leg, vector leg, fusion, neighbouring context,
boosts) are in :mod:`mem0stack_server.store.search`, whose doc explains the ranking.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import Literal, TypeVar

import asyncpg
import numpy as np

from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.app.graph.service import GraphService, graph_disabled
from mem0stack_server.app.memories import requested_validity
from mem0stack_server.app.usage import UsageMeter
from mem0stack_server.config import Settings
from mem0stack_server.domain.convert import memory_from_row
from mem0stack_server.domain.errors import Reason, invalid
from mem0stack_server.domain.filter import Node, parse_filter
from mem0stack_server.domain.updates import updated_first
from mem0stack_server.domain.validation import Validator
from mem0stack_server.obs import metrics
from mem0stack_server.store import search as statements
from mem0stack_server.store.memories import MemoryStore

_MODES = {
    "hybrid": svc.SearchMemoriesRequest.HYBRID,
    "vector": svc.SearchMemoriesRequest.VECTOR,
    "keyword": svc.SearchMemoriesRequest.KEYWORD,
}


class Search:
    """SearchMemories; with graph memory, also its relations and graph boost."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embeddings: Embeddings,
        graph: GraphService | None,
        *,
        usage: UsageMeter | None = None,
    ) -> None:
        self.settings = settings
        self.usage = usage
        self.store = store
        self.embeddings = embeddings
        self.graph = graph
        self.check = Validator(settings)

    async def search(
        self, user_id: str, req: svc.SearchMemoriesRequest
    ) -> svc.SearchMemoriesResponse:
        """Run one search; its time (failed ones included) goes to the search histograms."""
        mode = req.mode or _MODES[self.settings.default_search_mode]
        if mode not in svc.SearchMemoriesRequest.Mode.values():
            raise invalid(Reason.INVALID_ARGUMENT, "mode", f"unknown search mode {mode}")
        start = time.perf_counter()
        if self.usage is not None:
            self.usage.searched(user_id)
        try:
            return await self._search(user_id, req, mode)
        finally:
            mode_name = svc.SearchMemoriesRequest.Mode.Name(mode).lower()
            metrics.SEARCH_SECONDS.labels(mode_name).observe(time.perf_counter() - start)

    async def _search(
        self,
        user_id: str,
        req: svc.SearchMemoriesRequest,
        mode: svc.SearchMemoriesRequest.Mode.ValueType,
    ) -> svc.SearchMemoriesResponse:
        top_k = self.check.top_k(req.top_k)
        query = self.check.query(req.query)
        vector: np.ndarray | None = None
        if req.query_embedding:
            vector = self.check.embedding(
                req.query_embedding, self.embeddings.dimension, "query_embedding"
            )
        elif not query.strip():
            raise invalid(Reason.INVALID_ARGUMENT, "query", "must not be empty")
        min_score = _ranged(req, "min_score", statements.NO_MIN_SCORE, -1, 1)
        mode_name = svc.SearchMemoriesRequest.Mode.Name(mode).lower()
        hybrid = mode_name == "hybrid"
        keyword_weight = _ranged(req, "keyword_weight", self.settings.search_keyword_weight, 0, 1)
        # VECTOR and KEYWORD stay pure rankings unless the request asks for more.
        context_weight = _ranged(
            req, "context_weight", self.settings.search_context_weight if hybrid else 0.0, 0, 1
        )
        name_weight = _ranged(
            req, "name_weight", self.settings.search_name_weight if hybrid else 0.0, 0, 1
        )
        context_window = int(
            _ranged(
                req,
                "context_window",
                self.settings.search_context_window,
                0,
                statements.MAX_CONTEXT_WINDOW,
            )
        )
        plan = statements.plan(
            mode_name,
            context_weight=context_weight,
            context_window=context_window,
            name_weight=name_weight,
        )
        node = parse_filter(req.filter)
        validity = requested_validity(req)
        keyword_rows: list[asyncpg.Record] = []
        if plan.keyword and query.strip():
            # The keyword statement needs only the text: it runs while the query embeds.
            keyword_search = _timed(
                "keyword",
                statements.keyword_relevance(
                    self.store,
                    user_id,
                    query,
                    node,
                    show_expired=req.show_expired,
                    validity=validity,
                ),
            )
            if vector is None:
                # gather raises the first failure as is; the other call runs to its end.
                keyword_rows, vector = await asyncio.gather(
                    keyword_search, _timed("embed", self.embeddings.query(query))
                )
            else:
                keyword_rows = await keyword_search
        elif vector is None:
            vector = await _timed("embed", self.embeddings.query(query))
        ranking = statements.Ranking(
            vector=vector,
            min_score=min_score,
            top_k=top_k,
            keyword_rows=keyword_rows,
            keyword_weight=keyword_weight,
            context_weight=context_weight,
            context_window=context_window,
            names=statements.query_names(query) if plan.names else [],
            name_weight=name_weight,
            session_gap_s=self.settings.search_session_gap_s,
            assistant_context=self.settings.search_assistant_context,
        )
        rows = await _timed(
            "ranking",
            statements.ranked(
                self.store,
                plan,
                user_id,
                ranking,
                node,
                show_expired=req.show_expired,
                validity=validity,
            ),
        )
        if rows and self.settings.search_update_window > 0:
            order = updated_first(
                query,
                rows,
                # pgvector's codec reads a vector column as a Vector.
                np.stack([r["embedding"].to_numpy() for r in rows]).astype(np.float32),
                similarity=self.settings.search_update_similarity,
                window=self.settings.search_update_window,
            )
            rows = [rows[i] for i in order]
        response = svc.SearchMemoriesResponse(
            results=[
                memory_pb2.SearchResult(memory=memory_from_row(r), score=float(r["score"]))
                for r in rows
            ]
        )
        if req.include_relations or req.graph_boost:
            response = await _timed(
                "graph", self._graph_step(user_id, req, node, vector, ranking, response)
            )
        return response

    async def _graph_step(
        self,
        user_id: str,
        req: svc.SearchMemoriesRequest,
        node: Node | None,
        vector: np.ndarray,
        ranking: statements.Ranking,
        response: svc.SearchMemoriesResponse,
    ) -> svc.SearchMemoriesResponse:
        """Graph memory's part of search, after the memories are found: the relations of
        the entities the query names and, with graph_boost, the memories they support."""
        if self.graph is None:
            raise graph_disabled()

        async def fetch(ids: list[uuid.UUID]) -> list[asyncpg.Record]:
            return await self.store.scored_by_ids(
                user_id,
                vector,
                ids,
                ranking.min_score,
                node,
                show_expired=req.show_expired,
                validity=requested_validity(req),
            )

        return await self.graph.augment_search(user_id, req, vector, ranking.top_k, response, fetch)


_T = TypeVar("_T")


async def _timed(step: str, work: Awaitable[_T]) -> _T:
    """Await ``work`` and record its time as search step ``step`` (failures included)."""
    start = time.perf_counter()
    try:
        return await work
    finally:
        metrics.SEARCH_STEP_SECONDS.labels(step).observe(time.perf_counter() - start)


def _ranged(
    req: svc.SearchMemoriesRequest,
    field: Literal[
        "min_score", "keyword_weight", "context_weight", "name_weight", "context_window"
    ],
    default: float,
    low: float,
    high: float,
) -> float:
    """An optional numeric field of the request, checked against [low, high], or the default
    when unset."""
    if not req.HasField(field):
        return default
    value = float(getattr(req, field))
    if not low <= value <= high:
        raise invalid(Reason.INVALID_ARGUMENT, field, f"must be between {low:g} and {high:g}")
    return value
