"""`mem0stack backup` and `mem0stack restore`, as an operator runs them, end to end.

A deployment with graph memory (real PostgreSQL, a real Neo4j 5.26 from tests/support/neo4j.py
and the scripted OpenAI-compatible LLM) is backed up while its server runs; then the
database is a new, empty one and Neo4j is wiped, the archive is restored, and a server on
the restored deployment must hold every memory, revision, entity and relation as before,
row for row. A second test restores into a new embedded data directory and backs that up
live. Restores refuse to write over data, and graph updates wait while a backup reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from neo4j import GraphDatabase

from mem0stack import AsyncClient
from mem0stack.v1 import graph_pb2, graph_service_pb2, memory_service_pb2
from mem0stack_server.store.graph_outbox import pause_graph_writes
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts
from tests.support.neo4j import Neo4jProcess
from tests.support.servers import REPO, ServerProcess, free_port

# Every table of the schema, compared row for row (as text) before and after.
TABLES = (
    "store_meta",
    "schema_migrations",
    "memories",
    "memory_revisions",
    "memory_events",
    "api_keys",
    "auth_state",
    "idempotency",
    "operations",
    "graph_outbox",
    "graph_sources",
)


@pytest.fixture(scope="module")
def neo4j() -> Iterator[Neo4jProcess]:
    process = Neo4jProcess()
    process.start()
    yield process
    process.stop()


def _transcript_has(request: Recorded, text: str) -> bool:
    return text in request.user


def _respond(request: Recorded) -> Reply:
    """The model: facts, reconciliation (add everything), graph and contradictions, by the
    conversation they are asked about."""
    kind = request.schema_name
    if kind == "extract_facts":
        if _transcript_has(request, "My sister Alice works at Acme"):
            return facts("Has a sister named Alice", "Alice works at Acme")
        return facts("Alice works at Globex now")
    if kind == "reconcile_memories":
        return Reply(
            json={
                "decisions": [
                    {"fact": f["index"], "event": "ADD", "memory": None, "text": f["text"]}
                    for f in request.payload()["facts"]
                ]
            }
        )
    if kind == "extract_graph":
        if _transcript_has(request, "My sister Alice works at Acme"):
            return _graph(
                [("USER", "person"), ("Alice", "person"), ("Acme", "organization")],
                [("Alice", "sister_of", "USER", [0]), ("Alice", "works_at", "Acme", [1])],
            )
        return _graph(
            [("Alice", "person"), ("Globex", "organization")],
            [("Alice", "works_at", "Globex", [0])],
        )
    if kind == "contradict_relations":
        # Working at Globex now contradicts working at Acme.
        stored = request.payload()["stored"]
        return Reply(json={"contradicted": [s["id"] for s in stored if s["target"] == "Acme"]})
    return Reply(status=500, error=f"no scripted answer for {kind}")


def _graph(
    entities: list[tuple[str, str]], relations: list[tuple[str, str, str, list[int]]]
) -> Reply:
    return Reply(
        json={
            "entities": [{"name": n, "type": t} for n, t in entities],
            "relations": [
                {"source": s, "relation": r, "target": t, "memories": m} for s, r, t, m in relations
            ],
        }
    )


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    server.responder = _respond
    server.start()
    yield server
    server.stop()


def _graph_env(fake: FakeLLM, neo4j_uri: str) -> dict[str, str]:
    return {
        **fake.server_env(),
        "MEM0STACK_LLM_MAX_RETRIES": "0",
        "MEM0STACK_NEO4J_URI": neo4j_uri,
        "MEM0STACK_GRAPH_OUTBOX_POLL_S": "0.2",
        "MEM0STACK_GRAPH_RETRY_MAX_S": "0.5",
    }


@asynccontextmanager
async def running(process: ServerProcess) -> AsyncIterator[AsyncClient]:
    process.start()
    try:
        async with AsyncClient(process.target) as client:
            yield client
    finally:
        process.stop()


def mem0stack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an operator runs it (nothing inherited that could point elsewhere)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEM0STACK_")}
    return subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """What the command wrote to stderr, on one line (rich wraps what it prints)."""
    return " ".join(result.stderr.split())


async def table_rows(dsn: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: [r[0] for r in await conn.fetch(f"SELECT t::text FROM {table} t ORDER BY 1")]
            for table in TABLES
        }
    finally:
        await conn.close()


async def settled(client: AsyncClient, user: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (status := await client.graph_status(user)).pending_jobs:
        assert time.monotonic() < deadline, f"graph still pending: {status}"
        await asyncio.sleep(0.1)


async def what_a_user_sees(client: AsyncClient, user: str) -> dict[str, Any]:
    """Every memory (live and superseded), every revision, entity and relation (invalid
    ones included), as the API returns them."""
    memories = [m async for m in client.iter_memories(user, filter='state = "ACTIVE"')]
    memories += [m async for m in client.iter_memories(user, filter='state = "SUPERSEDED"')]
    revisions = {m.name: [r async for r in client.iter_revisions(m.name)] for m in memories}
    entities = [e async for e in client.iter_entities(user)]
    relations = await client.list_relations(
        graph_service_pb2.ListRelationsRequest(parent=f"users/{user}", show_invalid=True)
    )
    return {
        "memories": sorted(m.SerializeToString(deterministic=True) for m in memories),
        "revisions": {
            name: [r.SerializeToString(deterministic=True) for r in found]
            for name, found in revisions.items()
        },
        "entities": sorted(e.SerializeToString(deterministic=True) for e in entities),
        "relations": sorted(r.SerializeToString(deterministic=True) for r in relations.relations),
    }


def graph_counts(neo4j: Neo4jProcess) -> dict[str, int]:
    """Entities, aliases and relations, counted in Neo4j itself."""
    queries = {
        "entity": "MATCH (e:Entity) RETURN count(e) AS n",
        "alias": "MATCH (a:Alias) RETURN count(a) AS n",
        "relation": "MATCH ()-[r:RELATION]->() RETURN count(r) AS n",
    }
    with GraphDatabase.driver(neo4j.uri) as driver, driver.session() as session:
        return {kind: session.run(q).single(strict=True)["n"] for kind, q in queries.items()}


def wipe(neo4j: Neo4jProcess) -> None:
    """A fresh Neo4j: no node, no relationship, no constraint, no index."""
    with GraphDatabase.driver(neo4j.uri) as driver, driver.session() as session:
        session.run("MATCH (n) DETACH DELETE n").consume()
        for record in list(session.run("SHOW CONSTRAINTS YIELD name")):
            session.run(f"DROP CONSTRAINT `{record['name']}`").consume()
        for record in list(session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'")):
            session.run(f"DROP INDEX `{record['name']}`").consume()


async def test_a_backup_restores_into_a_fresh_deployment_with_its_graph(
    make_database,  # type: ignore[no-untyped-def]
    neo4j: Neo4jProcess,
    fake_llm: FakeLLM,
    tmp_path: Path,
) -> None:
    source = make_database("backup_src")
    env = _graph_env(fake_llm, neo4j.uri)
    alice, bob = "alice-backup", "bob-backup"
    archive = tmp_path / "mem0stack.tar"
    async with running(ServerProcess(source, free_port(), env=env)) as client:
        first = await client.add(alice, "My sister Alice works at Acme.")
        await settled(client, alice)
        await client.add(alice, "Alice works at Globex now.")
        await settled(client, alice)
        sister = next(e.memory for e in first.events if "sister" in e.memory.content)
        await client.update(sister.name, content="Has an older sister named Alice")
        tea = await client.create(alice, "Likes green tea", metadata={"cups": 3})
        await client.delete(tea.name)
        await client.add(bob, "I play the cello.", infer=False)
        await settled(client, alice)
        before = {user: await what_a_user_sees(client, user) for user in (alice, bob)}
        relations = await client.list_relations(
            graph_service_pb2.ListRelationsRequest(parent=f"users/{alice}", show_invalid=True)
        )
        # What the restore must bring back: valid and contradicted relations, with times.
        states = {(r.relation, r.target_display_name): r.state for r in relations.relations}
        assert states == {
            ("sister_of", alice): graph_pb2.Relation.VALID,
            ("works_at", "Acme"): graph_pb2.Relation.INVALID,
            ("works_at", "Globex"): graph_pb2.Relation.VALID,
        }
        rows = await table_rows(source)
        graph = graph_counts(neo4j)

        # Taken while the server runs, as in production.
        made = mem0stack("backup", "-o", str(archive), "--database-url", source,
                         "--neo4j-uri", neo4j.uri)  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert f"backed up {len(rows['memories'])} memories" in said(made)
        assert f"{graph['relation']} relations" in said(made)

    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["manifest.json", "postgres.dump", "graph.jsonl.gz"]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["postgres"]["counts"]["memories"] == len(rows["memories"])
    assert manifest["graph"]["counts"] == graph == {"entity": 4, "alias": 3, "relation": 3}

    # A fresh deployment: a new, empty database and an empty Neo4j.
    wipe(neo4j)
    target = make_database("backup_dst")
    restored = mem0stack("restore", str(archive), "--database-url", target,
                         "--neo4j-uri", neo4j.uri)  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert await table_rows(target) == rows

    async with running(ServerProcess(target, free_port(), env=env)) as client:
        after = {user: await what_a_user_sees(client, user) for user in (alice, bob)}
        assert after == before
        # The indexes came back too: search finds by meaning and through the graph.
        found = await client.search_memories(
            memory_service_pb2.SearchMemoriesRequest(
                parent=f"users/{alice}", query="Where does Alice work?", include_relations=True
            )
        )
        assert "Alice works at Globex now" in [r.memory.content for r in found.results]
        assert ("works_at", "Globex") in [
            (r.relation.relation, r.relation.target_display_name) for r in found.relations
        ]

        # A restore never writes over data: not into this database, nor this graph.
        again = mem0stack("restore", str(archive), "--database-url", target,
                          "--neo4j-uri", neo4j.uri)  # fmt: skip
        assert again.returncode == 1 and "the database is not empty" in said(again)
        # Finishing a restore whose graph step failed: the import runs again over what is
        # there (it merges), and the graph ends up as the backup's, nothing doubled.
        finished = mem0stack("restore", str(archive), "--graph-only", "--database-url", target,
                             "--neo4j-uri", neo4j.uri)  # fmt: skip
        assert finished.returncode == 0, finished.stderr
        assert graph_counts(neo4j) == graph
        assert await what_a_user_sees(client, alice) == before[alice]
        fresh = make_database("backup_dst2")
        over_graph = mem0stack("restore", str(archive), "--database-url", fresh,
                               "--neo4j-uri", neo4j.uri)  # fmt: skip
        assert over_graph.returncode == 1 and "already holds graph memory" in said(over_graph)
        conn = await asyncpg.connect(fresh)
        try:  # refused before anything was written
            assert (
                await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                == 0
            )
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def graph_server(make_database, fake_llm: FakeLLM, neo4j: Neo4jProcess) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """A server with graph memory on a database of its own, for the tests below."""
    process = ServerProcess(
        make_database("backup_graph"), free_port(), env=_graph_env(fake_llm, neo4j.uri)
    )
    process.start()
    yield process
    process.stop()


async def test_graph_updates_wait_while_a_backup_reads_the_graph(
    graph_server: ServerProcess,
) -> None:
    user = "dave-backup"
    async with AsyncClient(graph_server.target) as client:
        assert graph_server.database_url is not None
        backup = await asyncpg.connect(graph_server.database_url)
        await pause_graph_writes(backup)  # what `mem0stack backup` holds while it reads
        try:
            await client.add(user, "My sister Alice works at Acme.")
            await asyncio.sleep(2.0)  # ten outbox polls
            status = await client.graph_status(user)
            assert status.pending_jobs == 1
            assert [e async for e in client.iter_entities(user)] == []
        finally:
            await backup.close()  # the backup is done
        await settled(client, user)
        assert len([e async for e in client.iter_entities(user)]) == 3


async def test_a_backup_without_neo4j_is_refused_when_the_database_has_a_graph(
    graph_server: ServerProcess, tmp_path: Path
) -> None:
    source = graph_server.database_url
    assert source is not None
    async with AsyncClient(graph_server.target) as client:
        await client.add("carol-backup", "My sister Alice works at Acme.")
        await settled(client, "carol-backup")
    refused = mem0stack("backup", "-o", str(tmp_path / "x.tar"), "--database-url", source)
    assert refused.returncode == 1 and "--skip-graph" in said(refused)
    assert not (tmp_path / "x.tar").exists()
    assert os.listdir(tmp_path) == []  # no scratch files left behind
    skipped = mem0stack(
        "backup", "-o", str(tmp_path / "x.tar"), "--database-url", source, "--skip-graph"
    )
    assert skipped.returncode == 0, skipped.stderr
    with tarfile.open(tmp_path / "x.tar") as tar:
        assert tar.getnames() == ["manifest.json", "postgres.dump"]


async def test_restore_into_a_new_data_directory_and_back_it_up_live(
    make_database,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    source = make_database("backup_embedded")
    user = "erin-backup"
    async with running(ServerProcess(source, free_port())) as client:
        for text in ("Prefers window seats", "Allergic to peanuts", "Lives in Lisbon"):
            await client.add(user, text, infer=False)
        memories = [m async for m in client.iter_memories(user)]
    key = mem0stack("keys", "create", "--admin", "--label", "ops", "--database-url", source)
    assert key.returncode == 0, key.stderr
    rows = await table_rows(source)
    archive = tmp_path / "backup.tar"
    made = mem0stack("backup", "-o", str(archive), "--database-url", source)
    assert made.returncode == 0, made.stderr
    assert "no graph" in said(made)

    data_dir = tmp_path / "new-data"
    restored = mem0stack("restore", str(archive), "--data-dir", str(data_dir))
    assert restored.returncode == 0, restored.stderr
    listed = mem0stack("keys", "list", "--json", "--data-dir", str(data_dir))
    assert [k["label"] for k in json.loads(listed.stdout)] == ["ops"]

    # Serve the restored directory (it holds a key now: calls need it).
    server = ServerProcess(None, free_port(), env={"MEM0STACK_DATA_DIR": str(data_dir)})
    server.start()
    try:
        embedded = f"postgresql://postgres:@/postgres?host={data_dir}"
        assert await table_rows(embedded) == rows
        secret = key.stdout.strip().splitlines()[-1]
        async with AsyncClient(server.target, secret) as client:
            again = [m async for m in client.iter_memories(user)]
            assert [m.SerializeToString() for m in again] == [
                m.SerializeToString() for m in memories
            ]
            found = await client.search(user, "which food is dangerous for me?", top_k=1)
            assert [r.memory.content for r in found] == ["Allergic to peanuts"]
            # The embedded database, backed up while its server runs.
            live = mem0stack(
                "backup", "-o", str(tmp_path / "live.tar"), "--data-dir", str(data_dir)
            )
            assert live.returncode == 0, live.stderr
        with tarfile.open(tmp_path / "live.tar") as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest["postgres"]["counts"]["memories"] == 3
        assert manifest["postgres"]["counts"]["api_keys"] == 1
    finally:
        server.stop()

    # A directory that holds no database is a wrong path, not a database to back up.
    missing = mem0stack(
        "backup", "-o", str(tmp_path / "y.tar"), "--data-dir", str(tmp_path / "nope")
    )
    assert missing.returncode == 1 and "no server database" in said(missing)


def test_something_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    with tarfile.open(bogus, "w") as tar:
        tar.add(__file__, "manifest.json")
    refused = mem0stack("restore", str(bogus), "--data-dir", str(tmp_path / "d"))
    assert refused.returncode == 1 and "is not a mem0-stack backup" in said(refused)
    assert not (tmp_path / "d").exists()
