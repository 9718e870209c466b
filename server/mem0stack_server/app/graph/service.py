"""Graph memory as the API sees it: GraphService's methods and the graph step of search.

The servicer has checked that the caller may reach the user; everything here works inside
one user id.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np
from google.protobuf import empty_pb2, timestamp_pb2

from mem0stack.v1 import graph_pb2, memory_pb2
from mem0stack.v1 import graph_service_pb2 as gsvc
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.config import Settings
from mem0stack_server.domain.convert import memory_from_row
from mem0stack_server.domain.errors import Code, DomainError, Reason, invalid, unavailable
from mem0stack_server.domain.graph import resolve
from mem0stack_server.domain.graph.names import entity_name, relation_name, status_name
from mem0stack_server.domain.names import memory_name
from mem0stack_server.domain.pagination import decode_token, encode_token, fingerprint
from mem0stack_server.domain.validation import Validator
from mem0stack_server.store import graph_filter as graph_filter
from mem0stack_server.store.graph import GraphStore, GraphUnavailableError, native_time
from mem0stack_server.store.graph_outbox import OutboxStore

# Reads the memories a graph boost brings in: (ids) -> rows with a "score" similarity.
FetchMemories = Callable[[list[uuid.UUID]], Awaitable[list[asyncpg.Record]]]

MAX_RELATION_LIMIT = 1000


def entity_not_found(name: str) -> DomainError:
    return DomainError(
        Code.NOT_FOUND, Reason.ENTITY_NOT_FOUND, f"entity {name!r} not found", name=name
    )


def graph_disabled() -> DomainError:
    return DomainError(
        Code.FAILED_PRECONDITION,
        Reason.GRAPH_DISABLED,
        "graph memory is not configured on this server (set MEM0STACK_NEO4J_URI)",
    )


class GraphService:
    """Business logic of GraphService and of SearchMemories' graph step."""

    def __init__(self, settings: Settings, store: GraphStore, outbox: OutboxStore) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.check = Validator(settings)

    async def _guard(self, call: Awaitable[Any]) -> Any:
        try:
            await self.store.ensure_schema()
            return await call
        except GraphUnavailableError as exc:
            raise unavailable(
                Reason.GRAPH_UNAVAILABLE,
                f"the graph database (Neo4j) cannot be reached: {exc}",
                5.0,
            ) from exc

    # GraphService

    async def list_entities(
        self, user_id: str, req: gsvc.ListEntitiesRequest
    ) -> gsvc.ListEntitiesResponse:
        page_size = self.check.page_size(req.page_size)
        where = graph_filter.compile_filter(req.filter, graph_filter.ENTITY_FIELDS, user_id)
        query_fp = fingerprint(user_id, "entities", req.filter)
        after = decode_token(req.page_token, query_fp, 2)
        if after is not None and not all(isinstance(x, str) for x in after):
            raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed")
        rows = await self._guard(
            self.store.list_entities(
                user_id,
                where.cypher,
                where.params,
                (after[0], after[1]) if after else None,
                page_size + 1,
            )
        )
        next_token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            next_token = encode_token(query_fp, [rows[-1]["norm"], rows[-1]["id"]])
        return gsvc.ListEntitiesResponse(
            entities=[entity_message(user_id, r) for r in rows], next_page_token=next_token
        )

    async def list_relations(
        self, user_id: str, req: gsvc.ListRelationsRequest
    ) -> gsvc.ListRelationsResponse:
        page_size = self.check.page_size(req.page_size)
        where = graph_filter.compile_filter(req.filter, graph_filter.RELATION_FIELDS, user_id)
        cypher = where.cypher
        if not req.show_invalid and "state" not in where.fields:
            cypher = f"{cypher} AND r.valid"
        query_fp = fingerprint(user_id, "relations", req.filter, req.show_invalid)
        after = decode_token(req.page_token, query_fp, 2)
        key: tuple[datetime, str] | None = None
        if after is not None:
            try:
                key = (datetime.fromisoformat(after[0]), str(uuid.UUID(after[1])))
            except (TypeError, ValueError):
                raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed") from None
        rows = await self._guard(
            self.store.list_relations(user_id, cypher, where.params, key, page_size + 1)
        )
        next_token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            created = native_time(last["create_time"])
            assert created is not None
            next_token = encode_token(query_fp, [created.isoformat(), last["id"]])
        return gsvc.ListRelationsResponse(
            relations=[relation_message(user_id, r) for r in rows], next_page_token=next_token
        )

    async def get_entity(
        self, user_id: str, entity_id: str, req: gsvc.GetEntityRequest
    ) -> gsvc.GetEntityResponse:
        if req.hops < 0 or req.hops > 2:
            raise invalid(Reason.INVALID_ARGUMENT, "hops", "must be 0, 1 or 2")
        if req.relation_limit < 0 or req.relation_limit > MAX_RELATION_LIMIT:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                "relation_limit",
                f"must be between 0 and {MAX_RELATION_LIMIT}",
            )
        entity, relations, neighbours = await self._guard(
            self.store.get_entity(
                user_id, entity_id, req.hops or 1, req.relation_limit or 100, req.show_invalid
            )
        )
        if entity is None:
            raise entity_not_found(req.name)
        return gsvc.GetEntityResponse(
            entity=entity_message(user_id, entity),
            relations=[relation_message(user_id, r) for r in relations],
            neighbours=[entity_message(user_id, n) for n in neighbours],
        )

    async def delete_entity(self, user_id: str, entity_id: str, name: str) -> empty_pb2.Empty:
        async with self.outbox.graph_writes():  # waits while a backup reads the graph
            deleted = await self._guard(self.store.delete_entity(user_id, entity_id))
        if not deleted:
            raise entity_not_found(name)
        return empty_pb2.Empty()

    async def status(self, user_id: str) -> graph_pb2.GraphStatus:
        found = await self.outbox.status(user_id)
        status = graph_pb2.GraphStatus(
            name=status_name(user_id),
            pending_jobs=found.pending,
            last_error=found.last_error,
            failed_jobs=found.failed,
        )
        if found.oldest is not None:
            status.oldest_pending_time.FromDatetime(found.oldest)
        return status

    # SearchMemories

    async def augment_search(
        self,
        user_id: str,
        req: svc.SearchMemoriesRequest,
        query_vector: np.ndarray,
        top_k: int,
        response: svc.SearchMemoriesResponse,
        fetch_memories: FetchMemories,
    ) -> svc.SearchMemoriesResponse:
        """Add the graph's relations to a search response and, with ``graph_boost``,
        re-rank the memories by the relations they support."""
        boost = req.graph_boost
        if not 0.0 <= boost <= 1.0:
            raise invalid(Reason.INVALID_ARGUMENT, "graph_boost", "must be between 0 and 1")
        found = await self._guard(
            self.store.search(
                user_id,
                resolve.query_phrases(req.query),
                resolve.mentions_user(req.query),
                query_vector,
                self.settings.graph_query_entity_score,
                top_k,
            )
        )
        relations = [
            graph_pb2.RelationResult(
                relation=relation_message(user_id, row), score=score, hops=hops
            )
            for row, score, hops in found
        ]
        results = list(response.results)
        if boost > 0 and found:
            results = await self._boost(found, boost, top_k, results, fetch_memories)
        return svc.SearchMemoriesResponse(results=results, relations=relations)

    async def _boost(
        self,
        found: Sequence[tuple[dict[str, Any], float, int]],
        boost: float,
        top_k: int,
        results: list[memory_pb2.SearchResult],
        fetch_memories: FetchMemories,
    ) -> list[memory_pb2.SearchResult]:
        support: dict[str, float] = {}
        for row, score, _ in found:
            for memory_id in row["memory_ids"]:
                support[memory_id] = max(support.get(memory_id, 0.0), score)
        scored: dict[str, memory_pb2.SearchResult] = {r.memory.uid: r for r in results}
        missing = [uuid.UUID(m) for m in support if m not in scored]
        if missing:
            for row in await fetch_memories(missing):
                memory = memory_from_row(row)
                scored[memory.uid] = memory_pb2.SearchResult(memory=memory, score=row["score"])
        boosted = [
            memory_pb2.SearchResult(memory=r.memory, score=r.score + boost * support.get(uid, 0.0))
            for uid, r in scored.items()
        ]
        boosted.sort(key=lambda r: -r.score)
        return boosted[:top_k]


def _time(value: Any) -> timestamp_pb2.Timestamp | None:
    moment = native_time(value)
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def entity_message(user_id: str, row: dict[str, Any]) -> graph_pb2.Entity:
    entity = graph_pb2.Entity(
        name=entity_name(user_id, row["id"]),
        uid=row["id"],
        display_name=row["name"],
        entity_type=row.get("type") or "",
        aliases=sorted(a for a in row.get("aliases") or [] if a),
        is_user=bool(row.get("is_user")),
        memories=[memory_name(user_id, uuid.UUID(m)) for m in row.get("memory_ids") or []],
    )
    for field in ("create_time", "update_time"):
        stamp = _time(row.get(field))
        if stamp is not None:
            getattr(entity, field).CopyFrom(stamp)
    return entity


def relation_message(user_id: str, row: dict[str, Any]) -> graph_pb2.Relation:
    relation = graph_pb2.Relation(
        name=relation_name(user_id, row["id"]),
        uid=row["id"],
        source=entity_name(user_id, row["source"]),
        source_display_name=row["source_name"],
        relation=row["relation"],
        target=entity_name(user_id, row["target"]),
        target_display_name=row["target_name"],
        state=graph_pb2.Relation.VALID if row["valid"] else graph_pb2.Relation.INVALID,
        memories=[memory_name(user_id, uuid.UUID(m)) for m in row.get("memory_ids") or []],
    )
    for field in ("create_time", "update_time", "valid_time", "invalid_time"):
        stamp = _time(row.get(field))
        if stamp is not None:
            getattr(relation, field).CopyFrom(stamp)
    return relation
