"""The Neo4j side of a backup: every node and relationship of graph memory as JSON records,
and back.

The graph cannot be rebuilt from the memories: it holds what an LLM extracted (entities,
relations, resolved aliases) and decided later (contradicted relations marked invalid,
with their times), and a second extraction would differ. So it is copied as it is, with
every property (embeddings and times included), in one record per line:

- ``{"entity": {...}}``: an ``(:Entity)`` node's properties;
- ``{"alias": {...}, "entities": [id, ...]}``: an ``(:Alias)`` and the entities it names;
- ``{"relation": {...}, "source": id, "target": id}``: a ``[:RELATION]`` between entities.

Entities come first, so a restore meets every relation's ends before the relation. Times
are ``{"$datetime": "<ISO 8601>"}`` (Neo4j's DateTime, to the nanosecond); a property of a
type this module does not know stops the backup rather than being dropped. Import merges by
the keys the schema makes unique (entity and relation ids, an alias's user and name), so an
interrupted import can be run again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import neo4j
from neo4j import AsyncSession
from neo4j.exceptions import DriverError, Neo4jError

from mem0stack_server.store.graph import GraphStore

Record = dict[str, Any]
KINDS = ("entity", "alias", "relation")
_BATCH = 500

_EXPORT = {
    "entity": "MATCH (e:Entity) RETURN properties(e) AS props",
    "alias": """MATCH (a:Alias)
                RETURN properties(a) AS props,
                       [(a)-[:ALIAS_OF]->(e:Entity) | e.id] AS entities""",
    "relation": """MATCH (s:Entity)-[r:RELATION]->(t:Entity)
                   RETURN properties(r) AS props, s.id AS source, t.id AS target""",
}
_IMPORT = {
    "entity": """UNWIND $rows AS row
                 MERGE (e:Entity {id: row.props.id}) SET e = row.props""",
    "alias": """UNWIND $rows AS row
                MERGE (a:Alias {user_id: row.props.user_id, norm: row.props.norm})
                SET a = row.props
                WITH a, row UNWIND row.entities AS entity
                MATCH (e:Entity {id: entity})
                MERGE (a)-[:ALIAS_OF]->(e)""",
    "relation": """UNWIND $rows AS row
                   MATCH (s:Entity {id: row.source}), (t:Entity {id: row.target})
                   MERGE (s)-[r:RELATION {id: row.props.id}]->(t) SET r = row.props""",
}
_COUNT = {
    "entity": "MATCH (e:Entity) RETURN count(e) AS n",
    "alias": "MATCH (a:Alias) RETURN count(a) AS n",
    "relation": "MATCH (:Entity)-[r:RELATION]->(:Entity) RETURN count(r) AS n",
}


class GraphBackupError(RuntimeError):
    """Neo4j failed, or holds something a backup cannot carry; the message says what."""


@asynccontextmanager
async def _session(store: GraphStore) -> AsyncIterator[AsyncSession]:
    try:
        async with store.driver.session(database=store.config.database) as session:
            yield session
    except (DriverError, Neo4jError, OSError) as exc:
        raise GraphBackupError(f"Neo4j at {store.config.uri}: {exc}") from exc


def to_json(value: Any, where: str) -> Any:
    """A property value as JSON (``where`` names it in the error for an unknown type)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, neo4j.time.DateTime):
        return {"$datetime": value.iso_format()}
    if isinstance(value, list):
        return [to_json(item, where) for item in value]
    raise GraphBackupError(f"{where}: a value of type {type(value).__name__} cannot be backed up")


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`."""
    if isinstance(value, dict) and set(value) == {"$datetime"}:
        return neo4j.time.DateTime.from_iso_format(value["$datetime"])
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def _props(props: dict[str, Any], where: str) -> dict[str, Any]:
    return {key: to_json(value, f"{where}.{key}") for key, value in props.items()}


async def export_graph(store: GraphStore, write: Callable[[Record], None]) -> dict[str, int]:
    """Pass every record of the graph to ``write``, entities first; returns the counts.

    One read transaction, streamed (a graph larger than memory is fine); not retried, so a
    failure half-way raises instead of writing records twice.
    """
    counts = dict.fromkeys(KINDS, 0)
    async with _session(store) as session, await session.begin_transaction() as tx:
        for kind in KINDS:
            result = await tx.run(_EXPORT[kind])
            async for row in result:
                props = row["props"]
                record: Record = {kind: _props(props, f"{kind} {props.get('id', '')}".strip())}
                if kind == "alias":
                    record["entities"] = list(row["entities"])
                elif kind == "relation":
                    record["source"], record["target"] = row["source"], row["target"]
                write(record)
                counts[kind] += 1
    return counts


async def graph_counts(store: GraphStore) -> dict[str, int]:
    """How many entities, aliases and relations the graph holds."""
    found: dict[str, int] = {}
    async with _session(store) as session:
        for kind in KINDS:
            result = await session.run(_COUNT[kind])
            record = await result.single()
            found[kind] = int(record["n"]) if record else 0
    return found


async def import_graph(store: GraphStore, records: Iterable[Record]) -> None:
    """Write ``records`` (in the order :func:`export_graph` made them) in batches."""
    batch: list[Record] = []
    kind = ""
    async with _session(store) as session:

        async def flush() -> None:
            if batch:
                query, rows = _IMPORT[kind], list(batch)
                await session.execute_write(lambda tx: _write(tx, query, rows))
                batch.clear()

        for record in records:
            this = next(k for k in KINDS if k in record)
            if this != kind or len(batch) >= _BATCH:
                await flush()
                kind = this
            row: Record = {"props": {k: from_json(v) for k, v in record[this].items()}}
            if this == "alias":
                row["entities"] = record["entities"]
            elif this == "relation":
                row["source"], row["target"] = record["source"], record["target"]
            batch.append(row)
        await flush()


async def _write(tx: neo4j.AsyncManagedTransaction, query: str, rows: list[Record]) -> None:
    result = await tx.run(query, rows=rows)
    await result.consume()
