"""Neo4j: the schema, and every Cypher statement graph memory runs.

The graph of a user is made of ``(:Entity)`` nodes joined by ``[:RELATION]``
relationships, plus ``(:Alias)-[:ALIAS_OF]->(:Entity)`` nodes that map every normalised
name an entity was mentioned by to it (looked up through a composite uniqueness
constraint, for resolution and for finding the entities a search query names). Every
node and relationship carries ``user_id``; every statement is bounded by it.

Entities and relations record the memory ids they came from (``memory_ids``), so that a
deleted memory removes exactly what only it supported, and a superseded one invalidates
the relations that only it supported (``valid`` false, ``invalid_time`` set, kept).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import neo4j
import numpy as np
from neo4j import AsyncGraphDatabase, AsyncManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from mem0stack_server.domain.graph import resolve
from mem0stack_server.domain.graph.model import USER, ApplyResult, GraphWrite, WrittenRelation
from mem0stack_server.obs import tracing

log = logging.getLogger(__name__)

T = TypeVar("T")

VECTOR_INDEX = "entity_embedding"
# Neighbours the vector index is asked for; filtered to the user afterwards.
_VECTOR_K = 25

ENTITY_FIELDS = (
    "e {.id, .name, .type, .is_user, .memory_ids, .create_time, .update_time, "
    "aliases: [(a:Alias)-[:ALIAS_OF]->(e) | a.norm]}"
)
RELATION_FIELDS = (
    "r {.id, .relation, .memory_ids, .valid, .create_time, .update_time, .valid_time, "
    ".invalid_time, source: s.id, source_name: s.name, target: t.id, target_name: t.name}"
)


class GraphUnavailableError(Exception):
    """Neo4j could not be reached (or was failing) for a graph read or write."""


class DimensionMismatchError(RuntimeError):
    """The Neo4j vector index was made for embeddings of another dimension."""


@dataclass(frozen=True)
class Neo4jConfig:
    uri: str
    user: str
    password: str | None
    database: str
    timeout_s: float


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (ServiceUnavailable, SessionExpired, OSError)):
        return True
    return isinstance(exc, Neo4jError) and exc.is_retryable()


class GraphStore:
    """The async driver and the statements; one per server."""

    def __init__(self, config: Neo4jConfig, dimension: int) -> None:
        self.config = config
        self.dimension = dimension
        auth = (config.user, config.password) if config.password else None
        self.driver = AsyncGraphDatabase.driver(
            config.uri,
            auth=auth,
            connection_timeout=config.timeout_s,
            connection_acquisition_timeout=config.timeout_s,
            max_transaction_retry_time=config.timeout_s,
            liveness_check_timeout=30.0,
            # Schema notifications ("label does not exist yet") are noise on a new graph.
            notifications_min_severity="OFF",
        )
        self._schema_ready = False

    async def close(self) -> None:
        await self.driver.close()

    async def _write(self, work: Callable[[AsyncManagedTransaction], Awaitable[T]]) -> T:
        try:
            with _span("write", work):
                async with self.driver.session(database=self.config.database) as session:
                    return await session.execute_write(work)
        except (DriverError, Neo4jError, OSError) as exc:
            if _is_unavailable(exc):
                raise GraphUnavailableError(str(exc) or type(exc).__name__) from exc
            raise

    async def _read(self, work: Callable[[AsyncManagedTransaction], Awaitable[T]]) -> T:
        try:
            with _span("read", work):
                async with self.driver.session(database=self.config.database) as session:
                    return await session.execute_read(work)
        except (DriverError, Neo4jError, OSError) as exc:
            if _is_unavailable(exc):
                raise GraphUnavailableError(str(exc) or type(exc).__name__) from exc
            raise

    async def _run(self, query: str, **params: Any) -> None:
        """An auto-commit statement (needed for CALL { } IN TRANSACTIONS and schema)."""
        try:
            with _span("run", None):
                async with self.driver.session(database=self.config.database) as session:
                    result = await session.run(query, params)
                    await result.consume()
        except (DriverError, Neo4jError, OSError) as exc:
            if _is_unavailable(exc):
                raise GraphUnavailableError(str(exc) or type(exc).__name__) from exc
            raise

    # Schema

    async def ensure_schema(self) -> None:
        """Create the constraints and indexes (idempotent), once per process."""
        if self._schema_ready:
            return
        statements = [
            "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE",
            "CREATE CONSTRAINT alias_key IF NOT EXISTS "
            "FOR (a:Alias) REQUIRE (a.user_id, a.norm) IS UNIQUE",
            "CREATE CONSTRAINT relation_id IF NOT EXISTS "
            "FOR ()-[r:RELATION]-() REQUIRE r.id IS UNIQUE",
            "CREATE INDEX entity_user IF NOT EXISTS FOR (e:Entity) ON (e.user_id, e.norm)",
            "CREATE INDEX relation_user IF NOT EXISTS FOR ()-[r:RELATION]-() ON (r.user_id)",
            # Lists newest first straight from the index, not by sorting every relation.
            "CREATE INDEX relation_user_time IF NOT EXISTS "
            "FOR ()-[r:RELATION]-() ON (r.user_id, r.create_time)",
            # The dimension is an int from the embedder, never user input.
            f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (e:Entity) ON e.embedding "
            f"OPTIONS {{indexConfig: {{`vector.dimensions`: {int(self.dimension)}, "
            "`vector.similarity_function`: 'cosine'}}",
        ]
        for statement in statements:
            await self._run(statement)
        await self._run("CALL db.awaitIndexes(300)")
        await self._check_dimension()
        self._schema_ready = True
        log.info("graph schema ready", extra={"uri": self.config.uri})

    async def _check_dimension(self) -> None:
        async def read(tx: AsyncManagedTransaction) -> Any:
            result = await tx.run(
                "SHOW VECTOR INDEXES YIELD name, options WHERE name = $name RETURN options",
                name=VECTOR_INDEX,
            )
            record = await result.single()
            return record["options"] if record else None

        options = await self._read(read)
        found = ((options or {}).get("indexConfig") or {}).get("vector.dimensions")
        if found is not None and int(found) != self.dimension:
            raise DimensionMismatchError(
                f"the Neo4j vector index {VECTOR_INDEX!r} holds {found}-dimensional entity "
                f"embeddings, but the configured embedder makes {self.dimension}-dimensional "
                "ones; use the original embedder or a new Neo4j database"
            )

    # Writing

    async def apply(
        self, write: GraphWrite, *, threshold: float, contain_score: float
    ) -> ApplyResult:
        """Resolve the extraction's entities and write its relations, in one transaction.

        Idempotent: applying the same write again (a retry after a failure) finds the
        entities by their aliases and the relations by their ends, and changes nothing.
        """
        now = datetime.now(UTC)

        async def work(tx: AsyncManagedTransaction) -> ApplyResult:
            return await _Applier(tx, write, now, threshold, contain_score).run()

        return await self._write(work)

    async def contradiction_candidates(
        self, user_id: str, written: Sequence[WrittenRelation]
    ) -> list[tuple[WrittenRelation, list[WrittenRelation]]]:
        """For each written relation, the valid ones with its source and type but another
        target (what it may contradict)."""
        if not written:
            return []

        async def read(tx: AsyncManagedTransaction) -> list[Any]:
            result = await tx.run(
                """UNWIND $rows AS row
                   MATCH (s:Entity {id: row.source})-[r:RELATION]->(t:Entity)
                   WHERE r.relation = row.relation AND r.valid AND t.id <> row.target
                     AND NOT r.id IN $written
                   RETURN row.index AS index, r.id AS id, s.name AS source_name,
                          t.id AS target, t.name AS target_name
                   ORDER BY index, r.create_time""",
                rows=[
                    {
                        "index": i,
                        "source": w.source_id,
                        "relation": w.relation,
                        "target": w.target_id,
                    }
                    for i, w in enumerate(written)
                ],
                written=[w.id for w in written],
            )
            return [r async for r in result]

        rows = await self._read(read)
        found: dict[int, list[WrittenRelation]] = {}
        for row in rows:
            w = written[row["index"]]
            found.setdefault(row["index"], []).append(
                WrittenRelation(
                    row["id"],
                    w.source_id,
                    row["source_name"],
                    w.relation,
                    row["target"],
                    row["target_name"],
                )
            )
        return [(written[i], found[i]) for i in sorted(found)]

    async def invalidate(self, user_id: str, relation_ids: Sequence[str], when: datetime) -> int:
        """Mark relations INVALID at ``when`` (kept as history)."""

        async def work(tx: AsyncManagedTransaction) -> int:
            result = await tx.run(
                """MATCH ()-[r:RELATION]->() WHERE r.id IN $ids AND r.user_id = $user
                     AND r.valid
                   SET r.valid = false, r.invalid_time = $when, r.update_time = $now
                   RETURN count(r) AS n""",
                ids=list(relation_ids),
                user=user_id,
                when=when,
                now=datetime.now(UTC),
            )
            record = await result.single()
            return int(record["n"]) if record else 0

        return await self._write(work)

    async def forget(self, user_id: str, memory_ids: Sequence[str]) -> tuple[int, int]:
        """Remove deleted memories from the graph: their ids leave every relation and
        entity; relations and entities left with no memory are deleted. Returns the
        relations and entities deleted."""

        async def work(tx: AsyncManagedTransaction) -> tuple[int, int]:
            result = await tx.run(
                """MATCH ()-[r:RELATION]->() WHERE r.user_id = $user
                     AND any(m IN r.memory_ids WHERE m IN $ids)
                   SET r.memory_ids = [m IN r.memory_ids WHERE NOT m IN $ids],
                       r.superseded_ids = [m IN coalesce(r.superseded_ids, [])
                                           WHERE NOT m IN $ids]
                   WITH r WHERE size(r.memory_ids) = 0
                   DELETE r
                   RETURN count(*) AS n""",
                user=user_id,
                ids=list(memory_ids),
            )
            record = await result.single()
            relations = int(record["n"]) if record else 0
            result = await tx.run(
                """MATCH (e:Entity {user_id: $user})
                   WHERE any(m IN e.memory_ids WHERE m IN $ids)
                   SET e.memory_ids = [m IN e.memory_ids WHERE NOT m IN $ids]
                   WITH e WHERE size(e.memory_ids) = 0 AND NOT (e)-[:RELATION]-()
                   OPTIONAL MATCH (a:Alias)-[:ALIAS_OF]->(e)
                   WITH e, collect(a) AS aliases
                   FOREACH (a IN aliases | DETACH DELETE a)
                   DETACH DELETE e
                   RETURN count(*) AS n""",
                user=user_id,
                ids=list(memory_ids),
            )
            record = await result.single()
            return relations, int(record["n"]) if record else 0

        return await self._write(work)

    async def supersede(self, user_id: str, memories: Sequence[tuple[str, datetime]]) -> int:
        """Superseded memories: a relation all of whose memories are superseded becomes
        INVALID at the time of the last one. Returns the relations invalidated."""

        async def work(tx: AsyncManagedTransaction) -> int:
            result = await tx.run(
                """UNWIND $memories AS m
                   MATCH ()-[r:RELATION]->() WHERE r.user_id = $user AND r.valid
                     AND m.id IN r.memory_ids
                   WITH r, collect(m) AS gone
                   SET r.superseded_ids = coalesce(r.superseded_ids, [])
                       + [g IN gone WHERE NOT g.id IN coalesce(r.superseded_ids, []) | g.id]
                   WITH r, gone WHERE all(id IN r.memory_ids WHERE id IN r.superseded_ids)
                   SET r.valid = false,
                       r.invalid_time = reduce(t = head(gone).time, g IN gone |
                                               CASE WHEN g.time > t THEN g.time ELSE t END),
                       r.update_time = $now
                   RETURN count(r) AS n""",
                user=user_id,
                memories=[{"id": m, "time": t} for m, t in memories],
                now=datetime.now(UTC),
            )
            record = await result.single()
            return int(record["n"]) if record else 0

        return await self._write(work)

    async def purge_user(self, user_id: str) -> None:
        """Delete every node and relation of a user, in batches (any size of graph)."""
        await self._run(
            """MATCH (n) WHERE (n:Entity OR n:Alias) AND n.user_id = $user
               CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS""",
            user=user_id,
        )

    async def delete_entity(self, user_id: str, entity_id: str) -> bool:
        async def work(tx: AsyncManagedTransaction) -> bool:
            result = await tx.run(
                """MATCH (e:Entity {id: $id}) WHERE e.user_id = $user
                   OPTIONAL MATCH (a:Alias)-[:ALIAS_OF]->(e)
                   WITH e, collect(a) AS aliases
                   FOREACH (a IN aliases | DETACH DELETE a)
                   DETACH DELETE e
                   RETURN count(*) AS n""",
                id=entity_id,
                user=user_id,
            )
            record = await result.single()
            return bool(record and record["n"])

        return await self._write(work)

    # Reading

    async def list_entities(
        self,
        user_id: str,
        where: str,
        params: dict[str, Any],
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        conditions = ["e.user_id = $user", where]
        if after is not None:
            conditions.append(
                "(e.norm > $after_norm OR (e.norm = $after_norm AND e.id > $after_id))"
            )

        async def read(tx: AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(
                f"""MATCH (e:Entity) WHERE {" AND ".join(conditions)}
                    RETURN {ENTITY_FIELDS} AS entity, e.norm AS norm
                    ORDER BY e.norm, e.id LIMIT $limit""",
                user=user_id,
                limit=limit,
                after_norm=after[0] if after else None,
                after_id=after[1] if after else None,
                **params,
            )
            return [{**r["entity"], "norm": r["norm"]} async for r in result]

        return await self._read(read)

    async def list_relations(
        self,
        user_id: str,
        where: str,
        params: dict[str, Any],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        conditions = ["r.user_id = $user", "r.create_time IS NOT NULL", where]
        if after is not None:
            conditions.append(
                "(r.create_time < $after_time OR "
                "(r.create_time = $after_time AND r.id < $after_id))"
            )

        async def read(tx: AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(
                f"""MATCH (s:Entity)-[r:RELATION]->(t:Entity) WHERE {" AND ".join(conditions)}
                    RETURN {RELATION_FIELDS} AS relation
                    ORDER BY r.create_time DESC, r.id DESC LIMIT $limit""",
                user=user_id,
                limit=limit,
                after_time=after[0] if after else None,
                after_id=after[1] if after else None,
                **params,
            )
            return [dict(r["relation"]) async for r in result]

        return await self._read(read)

    async def get_entity(
        self, user_id: str, entity_id: str, hops: int, limit: int, show_invalid: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
        """The entity, the relations of its neighbourhood (newest first) and the
        neighbours."""

        async def read(
            tx: AsyncManagedTransaction,
        ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
            result = await tx.run(
                f"MATCH (e:Entity {{id: $id}}) WHERE e.user_id = $user RETURN {ENTITY_FIELDS} AS e",
                id=entity_id,
                user=user_id,
            )
            record = await result.single()
            if record is None:
                return None, [], []
            if hops >= 2:
                reach = """MATCH path = (c)-[:RELATION*1..2]-(:Entity)
                    WHERE $invalid OR all(x IN relationships(path) WHERE x.valid)
                    UNWIND relationships(path) AS r
                    WITH DISTINCT r"""
            else:
                reach = """MATCH (c)-[r:RELATION]-(:Entity) WHERE $invalid OR r.valid
                    WITH r"""
            result = await tx.run(
                f"""MATCH (c:Entity {{id: $id}})
                    {reach}
                    ORDER BY r.create_time DESC, r.id DESC LIMIT $limit
                    MATCH (s:Entity)-[r]->(t:Entity)
                    RETURN {RELATION_FIELDS} AS relation
                    ORDER BY r.create_time DESC, r.id DESC""",
                id=entity_id,
                invalid=show_invalid,
                limit=limit,
            )
            relations = [dict(r["relation"]) async for r in result]
            others = sorted(
                {x for rel in relations for x in (rel["source"], rel["target"])} - {entity_id}
            )
            result = await tx.run(
                f"MATCH (e:Entity) WHERE e.id IN $ids RETURN {ENTITY_FIELDS} AS e "
                "ORDER BY e.norm, e.id",
                ids=others,
            )
            neighbours = [dict(r["e"]) async for r in result]
            return dict(record["e"]), relations, neighbours

        return await self._read(read)

    async def search(
        self,
        user_id: str,
        phrases: Sequence[str],
        include_user: bool,
        query_vector: np.ndarray,
        min_entity_score: float,
        limit: int,
    ) -> list[tuple[dict[str, Any], float, int]]:
        """Relations relevant to a query: (relation, score, hops), best first.

        Seeds are the user's entities the query names (an alias equal to a phrase of it
        scores 1, and so does the user for "I"/"my"); when it names none, the entities whose
        name embedding is close to the query, scoring their similarity. Each valid relation
        of a seed scores the seed's score times the relation's similarity to the query;
        relations of the best neighbours, two hops out, half that.
        """
        vector = [float(x) for x in query_vector]

        async def read(tx: AsyncManagedTransaction) -> list[tuple[dict[str, Any], float, int]]:
            result = await tx.run(
                """CALL () {
                     UNWIND $phrases AS phrase
                     MATCH (:Alias {user_id: $user, norm: phrase})-[:ALIAS_OF]->(e:Entity)
                     RETURN e
                   UNION
                     // The user's own entity is the only one with an empty norm.
                     UNWIND CASE WHEN $include_user THEN [''] ELSE [] END AS norm
                     MATCH (e:Entity {user_id: $user, norm: norm})
                     RETURN e
                   }
                   RETURN DISTINCT e.id AS id, 1.0 AS score""",
                user=user_id,
                phrases=list(phrases),
                include_user=include_user,
            )
            seeds = [dict(r) async for r in result]
            if not seeds:
                # Nothing named word for word: entities whose names are close to the query.
                # (Only then: the index search costs more than everything else here.)
                result = await tx.run(
                    """CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score
                       WITH node AS e, 2 * score - 1 AS score
                       WHERE e.user_id = $user AND score >= $min_score
                       RETURN e.id AS id, score""",
                    user=user_id,
                    index=VECTOR_INDEX,
                    k=_VECTOR_K,
                    vector=vector,
                    min_score=min_entity_score,
                )
                seeds = [dict(r) async for r in result]
            if not seeds:
                return []
            result = await tx.run(
                """UNWIND $seeds AS seed
                   MATCH (e:Entity {id: seed.id})-[r:RELATION]-(n:Entity)
                   WHERE r.valid
                   WITH e, r, n,
                        seed.score * (2 * vector.similarity.cosine(r.embedding, $vector) - 1)
                          AS score
                   RETURN e.id AS seed_id, r.id AS id, n.id AS next, n.is_user AS next_is_user,
                          score
                   ORDER BY score DESC LIMIT $fanout""",
                seeds=seeds,
                vector=vector,
                fanout=max(limit * 5, 50),
            )
            first = [r async for r in result]
            scores: dict[str, tuple[float, int]] = {}
            for row in first:
                if row["id"] not in scores or scores[row["id"]][0] < row["score"]:
                    scores[row["id"]] = (float(row["score"]), 1)
            seed_ids = {row["seed_id"] for row in first}
            hubs: dict[str, float] = {}
            for row in first:
                if row["next"] not in seed_ids and not row["next_is_user"]:
                    hubs[row["next"]] = max(hubs.get(row["next"], 0.0), float(row["score"]))
            best_hubs = sorted(hubs.items(), key=lambda kv: -kv[1])[:limit]
            if best_hubs:
                result = await tx.run(
                    """UNWIND $hubs AS hub
                       MATCH (e:Entity {id: hub.id})-[r:RELATION]-(:Entity)
                       WHERE r.valid
                       RETURN r.id AS id,
                              0.5 * hub.score
                                * (2 * vector.similarity.cosine(r.embedding, $vector) - 1)
                                AS score
                       ORDER BY score DESC LIMIT $fanout""",
                    hubs=[{"id": h, "score": max(s, 0.0)} for h, s in best_hubs],
                    vector=vector,
                    fanout=max(limit * 5, 50),
                )
                async for row in result:
                    if row["id"] not in scores:
                        scores[row["id"]] = (float(row["score"]), 2)
            ranked = sorted(scores.items(), key=lambda kv: -kv[1][0])[:limit]
            if not ranked:
                return []
            result = await tx.run(
                f"""MATCH (s:Entity)-[r:RELATION]->(t:Entity) WHERE r.id IN $ids
                    RETURN {RELATION_FIELDS} AS relation""",
                ids=[rid for rid, _ in ranked],
            )
            rows = {r["relation"]["id"]: dict(r["relation"]) async for r in result}
            return [
                (rows[rid], max(0.0, min(1.0, score)), hops)
                for rid, (score, hops) in ranked
                if rid in rows
            ]

        return await self._read(read)


class _Applier:
    """One EXTRACT write inside one transaction (see ``GraphStore.apply``)."""

    def __init__(
        self,
        tx: AsyncManagedTransaction,
        write: GraphWrite,
        now: datetime,
        threshold: float,
        contain_score: float,
    ) -> None:
        self.tx = tx
        self.w = write
        self.now = now
        self.threshold = threshold
        self.contain_score = contain_score
        # Entities resolved or created by this write: (id, name, type, vector).
        self.local: list[tuple[str, str, str, np.ndarray]] = []

    async def run(self) -> ApplyResult:
        w = self.w
        memory_ids = [str(m.id) for m in w.memories]
        # Which memories mention each entity: those of its relations; an entity in no
        # relation is attributed to every memory of the job.
        mentions: dict[str, set[str]] = {}
        for rel in w.extraction.relations:
            cited = {memory_ids[i] for i in rel.memories}
            for end in (rel.source, rel.target):
                mentions.setdefault(end.casefold(), set()).update(cited)
        order = sorted(
            range(len(w.extraction.entities)),
            # The user first, then the most complete names, so "Alice" finds "Alice Smith"
            # written by this same job.
            key=lambda i: (
                w.extraction.entities[i].name != USER,
                -len(resolve.words(w.extraction.entities[i].name)),
            ),
        )
        ids: dict[str, tuple[str, str]] = {}
        for i in order:
            entity = w.extraction.entities[i]
            key = entity.name.casefold()
            ids[key] = await self._entity(
                entity.name,
                entity.type,
                np.asarray(w.entity_vectors[i], dtype=np.float32),
                sorted(mentions.get(key, set(memory_ids))),
            )
        written: list[WrittenRelation] = []
        for rel, triple in zip(w.extraction.relations, w.relation_vectors, strict=True):
            source_id, source_name = ids[rel.source.casefold()]
            target_id, target_name = ids[rel.target.casefold()]
            if source_id == target_id:
                continue  # two names that resolved to one entity
            relation_id = await self._relation(
                source_id, rel.relation, target_id, [memory_ids[i] for i in rel.memories], triple
            )
            written.append(
                WrittenRelation(
                    relation_id, source_id, source_name, rel.relation, target_id, target_name
                )
            )
        return ApplyResult(written)

    async def _entity(
        self, name: str, kind: str, vector: np.ndarray, cited: list[str]
    ) -> tuple[str, str]:
        """The id and display name of the entity ``name`` resolves to, made if new."""
        user_id = self.w.user_id
        if name == USER:
            result = await self.tx.run(
                """MERGE (e:Entity {user_id: $user, norm: ''})
                   ON CREATE SET e.id = $id, e.name = $user, e.is_user = true,
                                 e.type = 'person', e.create_time = $now, e.memory_ids = [],
                                 e.embedding = $vector
                   SET e.update_time = $now,
                       e.memory_ids = e.memory_ids
                         + [m IN $memories WHERE NOT m IN e.memory_ids]
                   RETURN e.id AS id, e.name AS name""",
                user=user_id,
                id=str(uuid.uuid4()),
                now=self.now,
                memories=cited,
                vector=[float(x) for x in vector],
            )
            record = await result.single()
            assert record is not None
            return record["id"], record["name"]
        norm = resolve.normalize(name) or name.casefold()
        result = await self.tx.run(
            """MATCH (:Alias {user_id: $user, norm: $norm})-[:ALIAS_OF]->(e:Entity)
               RETURN e.id AS id, e.name AS name""",
            user=user_id,
            norm=norm,
        )
        record = await result.single()
        if record is not None:
            return await self._merge_into(record["id"], record["name"], name, norm, cited, None)
        candidates = await self._candidates(vector)
        chosen = resolve.choose(
            name, kind, candidates, threshold=self.threshold, contain_score=self.contain_score
        )
        if chosen is not None:
            return await self._merge_into(chosen.id, chosen.name, name, norm, cited, vector)
        entity_id = str(uuid.uuid4())
        await self.tx.run(
            """CREATE (e:Entity {id: $id, user_id: $user, name: $name, norm: $norm,
                                 type: $type, is_user: false, memory_ids: $memories,
                                 create_time: $now, update_time: $now, embedding: $vector})
               CREATE (:Alias {user_id: $user, norm: $norm})-[:ALIAS_OF]->(e)""",
            id=entity_id,
            user=user_id,
            name=name,
            norm=norm,
            type=kind or "thing",
            memories=cited,
            now=self.now,
            vector=[float(x) for x in vector],
        )
        self.local.append((entity_id, name, kind, vector))
        return entity_id, name

    async def _candidates(self, vector: np.ndarray) -> list[resolve.Candidate]:
        result = await self.tx.run(
            """CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score
               WITH node AS e, 2 * score - 1 AS score WHERE e.user_id = $user
               RETURN e.id AS id, e.name AS name, e.type AS type, e.is_user AS is_user,
                      [(a:Alias)-[:ALIAS_OF]->(e) | a.norm] AS aliases, score""",
            index=VECTOR_INDEX,
            k=_VECTOR_K,
            vector=[float(x) for x in vector],
            user=self.w.user_id,
        )
        found = {
            r["id"]: resolve.Candidate(
                r["id"],
                r["name"],
                r["type"],
                tuple(r["aliases"]),
                float(r["score"]),
                bool(r["is_user"]),
            )
            async for r in result
        }
        # Entities this transaction made are not in the index yet.
        for entity_id, name, kind, other in self.local:
            if entity_id not in found:
                score = float(np.dot(vector, other))
                found[entity_id] = resolve.Candidate(
                    entity_id, name, kind, (resolve.normalize(name),), score
                )
        return list(found.values())

    async def _merge_into(
        self,
        entity_id: str,
        current: str,
        offered: str,
        norm: str,
        cited: list[str],
        vector: np.ndarray | None,
    ) -> tuple[str, str]:
        """Record another mention of an entity: its memories, the alias, a better name."""
        name = resolve.better_name(current, offered)
        renamed = name != current
        result = await self.tx.run(
            """MATCH (e:Entity {id: $id})
               SET e.update_time = $now,
                   e.memory_ids = e.memory_ids + [m IN $memories WHERE NOT m IN e.memory_ids]
               FOREACH (_ IN CASE WHEN $renamed THEN [1] ELSE [] END |
                 SET e.name = $name, e.norm = $norm, e.embedding = $vector)
               MERGE (a:Alias {user_id: e.user_id, norm: $norm})
               MERGE (a)-[:ALIAS_OF]->(e)
               RETURN e.name AS name""",
            id=entity_id,
            now=self.now,
            memories=cited,
            renamed=renamed and vector is not None,
            name=name,
            norm=norm,
            vector=[float(x) for x in vector] if vector is not None else None,
        )
        record = await result.single()
        assert record is not None
        return entity_id, record["name"]

    async def _relation(
        self,
        source_id: str,
        relation: str,
        target_id: str,
        cited: list[str],
        vector: list[float],
    ) -> str:
        """The valid relation source-relation->target, with ``cited`` added, made if new."""
        result = await self.tx.run(
            """MATCH (s:Entity {id: $source})-[r:RELATION]->(t:Entity {id: $target})
               WHERE r.relation = $relation AND r.valid
               SET r.memory_ids = r.memory_ids + [m IN $memories WHERE NOT m IN r.memory_ids],
                   r.update_time = $now
               RETURN r.id AS id LIMIT 1""",
            source=source_id,
            target=target_id,
            relation=relation,
            memories=cited,
            now=self.now,
        )
        record = await result.single()
        if record is not None:
            return str(record["id"])
        relation_id = str(uuid.uuid4())
        await self.tx.run(
            """MATCH (s:Entity {id: $source}), (t:Entity {id: $target})
               CREATE (s)-[:RELATION {id: $id, user_id: $user, relation: $relation,
                                      memory_ids: $memories, superseded_ids: [],
                                      valid: true, create_time: $now, update_time: $now,
                                      valid_time: $valid_time, embedding: $vector}]->(t)""",
            source=source_id,
            target=target_id,
            id=relation_id,
            user=self.w.user_id,
            relation=relation,
            memories=cited,
            now=self.now,
            valid_time=self.w.valid_time,
            vector=vector,
        )
        return relation_id


def native_time(value: Any) -> datetime | None:
    """A Neo4j DateTime (or None) as a Python datetime in UTC."""
    if value is None:
        return None
    if isinstance(value, neo4j.time.DateTime):
        value = value.to_native()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise TypeError(f"not a time: {value!r}")


def _span(kind: str, work: Callable[..., Any] | None) -> Any:
    """A trace span around one Neo4j transaction, named by the method that runs it."""
    parts = work.__qualname__.split(".") if work is not None else []
    operation = parts[-3] if len(parts) >= 3 and parts[-2] == "<locals>" else kind
    return tracing.span(f"neo4j {operation}", **{"db.system": "neo4j", "db.operation": kind})
