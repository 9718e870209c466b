"""Graph memory benchmark: AddMemories with graph memory on versus off, and graph queries
over a Neo4j holding 100,000 relations.

Everything runs here, for real: embedded PostgreSQL, the embedded Neo4j 5.26 launcher, two
server processes (graph on and off) and the scripted OpenAI-compatible LLM server, which
answers at once. Its time is still measured (the server's own LLM request histogram) and
reported apart, since a hosted LLM would dominate every figure.

1. AddMemories latency, graph off vs on (the graph update is applied from the outbox after
   the call returns, so the call itself only pays for queueing it), and the time until the
   graph shows the update (extraction request + resolution + Neo4j write).
2. 100,000 relations loaded straight into Neo4j (one heavy user with half of them, the
   rest spread over 50 users; random 384-d embeddings), then SearchMemories with
   include_relations, GetEntity of a hub, and ListRelations pages, through the gRPC API.

    .venv/bin/python -m bench.bench_graph [--adds 40] [--relations 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import numpy as np
from neo4j import AsyncGraphDatabase
from rich.console import Console
from rich.table import Table

from mem0stack.v1 import graph_service_pb2 as gsvc
from mem0stack.v1 import graph_service_pb2_grpc, memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.fake_llm import FakeLLM, Recorded, Reply
from tests.support.neo4j import Neo4jProcess
from tests.support.servers import ServerProcess, free_port

console = Console(width=150)
DIM = 384


def percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples_s)
    if len(ms) < 2:
        return (ms[0], ms[0], ms[0]) if ms else (float("nan"),) * 3
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[94], q[98]


def answer(request: Recorded) -> Reply:
    """The scripted LLM: one fact per message, and its graph."""
    if request.schema_name == "extract_facts":
        turn = request.user.rsplit(": ", 1)[-1]
        return Reply(
            json={
                "facts": [
                    {
                        "text": turn,
                        "subject": "user",
                        "forget": False,
                        "categories": [],
                        "message": 0,
                    }
                ]
            }
        )
    if request.schema_name == "reconcile_memories":
        facts = request.payload()["facts"]
        return Reply(
            json={
                "decisions": [
                    {"fact": f["index"], "event": "ADD", "memory": None, "text": f["text"]}
                    for f in facts
                ]
            }
        )
    if request.schema_name == "extract_graph":
        text = request.user.rsplit("[0] ", 1)[-1]
        friend, place = text.split(" lives in ")
        return Reply(
            json={
                "entities": [
                    {"name": "USER", "type": "person"},
                    {"name": friend, "type": "person"},
                    {"name": place, "type": "place"},
                ],
                "relations": [
                    {"source": "USER", "relation": "friend_of", "target": friend, "memories": [0]},
                    {"source": friend, "relation": "lives_in", "target": place, "memories": [0]},
                ],
            }
        )
    return Reply(json={"contradicted": []})


def llm_seconds(metrics_port: int) -> dict[str, tuple[float, int]]:
    """(total seconds, requests) of LLM requests by purpose, from the server's metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("mem0stack_llm_request_seconds_sum{"):
            purpose = line.split('purpose="')[1].split('"')[0]
            sums[purpose] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("mem0stack_llm_request_seconds_count{"):
            purpose = line.split('purpose="')[1].split('"')[0]
            counts[purpose] = int(float(line.rsplit(" ", 1)[1]))
    return {p: (sums[p], counts.get(p, 0)) for p in sums}


async def add_latency(
    targets: dict[str, str], adds: int
) -> tuple[dict[str, list[float]], list[float]]:
    """AddMemories latency per server, the calls alternating between them so that load
    from elsewhere on the machine hits both alike; and, graph on, the time until the
    graph has the update."""
    calls: dict[str, list[float]] = {mode: [] for mode in targets}
    applied: list[float] = []
    channels = {mode: grpc.aio.insecure_channel(target) for mode, target in targets.items()}
    try:
        for i in range(adds + 5):
            for mode, channel in channels.items():
                memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
                graph = graph_service_pb2_grpc.GraphServiceStub(channel)
                user = f"bench-add-{uuid.uuid4().hex[:8]}"
                request = svc.AddMemoriesRequest(
                    parent=f"users/{user}",
                    messages=[
                        memory_pb2.Message(role="user", content=f"Friend{i} lives in City{i}")
                    ],
                )
                start = time.perf_counter()
                await memories.AddMemories(request)
                took = time.perf_counter() - start
                if mode == "on":
                    while True:
                        status = await graph.GetGraphStatus(
                            gsvc.GetGraphStatusRequest(name=f"users/{user}/graphStatus")
                        )
                        if status.pending_jobs == 0:
                            break
                        await asyncio.sleep(0.005)
                    done = time.perf_counter() - start
                if i >= 5:  # warm-up
                    calls[mode].append(took)
                    if mode == "on":
                        applied.append(done)
    finally:
        for channel in channels.values():
            await channel.close()
    return calls, applied


async def load_relations(uri: str, total: int) -> tuple[str, int]:
    """Write ``total`` relations straight into Neo4j; returns the heavy user and its count."""
    rng = np.random.default_rng(7)
    heavy = "bench-heavy"
    plan = [(heavy, total // 2)]
    light = 50
    plan += [(f"bench-light-{i}", (total - total // 2) // light) for i in range(light)]
    driver = AsyncGraphDatabase.driver(uri, notifications_min_severity="OFF")
    now = datetime.now(UTC)

    # Random vectors are made inside Neo4j: shipping 384 floats per row through the
    # pure-Python Bolt packer would make the load, not the queries, the slow part.
    vector = f"[x IN range(1, {DIM}) | rand() - 0.5]"
    try:
        for user, relations in plan:
            entities = max(10, relations // 5)
            memory = str(uuid.uuid4())
            ids = [str(uuid.uuid4()) for _ in range(entities)]
            await driver.execute_query(
                f"""UNWIND range(0, $count - 1) AS k
                    CREATE (e:Entity {{id: $ids[k], user_id: $user,
                                      name: 'Entity ' + toString(k),
                                      norm: CASE k WHEN 0 THEN '' ELSE 'entity ' + toString(k) END,
                                      type: 'thing', is_user: k = 0, memory_ids: [$memory],
                                      create_time: $now, update_time: $now, embedding: {vector}}})
                    CREATE (:Alias {{user_id: $user, norm: 'entity ' + toString(k)}})
                           -[:ALIAS_OF]->(e)""",
                count=entities,
                ids=ids,
                user=user,
                memory=memory,
                now=now,
            )
            for start in range(0, relations, 5000):
                n = min(5000, relations - start)
                # Entity 0 is the user: a hub with a tenth of the relations.
                pairs = [
                    (
                        0 if rng.random() < 0.1 else int(rng.integers(1, entities)),
                        int(rng.integers(1, entities)),
                    )
                    for _ in range(n)
                ]
                await driver.execute_query(
                    f"""UNWIND $rows AS row
                        MATCH (s:Entity {{id: $ids[row[0]]}}), (t:Entity {{id: $ids[row[1]]}})
                        CREATE (s)-[:RELATION {{id: randomUUID(), user_id: $user,
                                               relation: 'rel_' + toString(row[2]),
                                               memory_ids: [$memory], superseded_ids: [],
                                               valid: true, create_time: $now,
                                               update_time: $now, valid_time: $now,
                                               embedding: {vector}}}]->(t)""",
                    rows=[[a, b, (start + k) % 40] for k, (a, b) in enumerate(pairs)],
                    ids=ids,
                    user=user,
                    memory=memory,
                    now=now,
                )
    finally:
        await driver.close()
    return heavy, total // 2


async def query_latency(target: str, heavy: str, queries: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    rng = random.Random(3)
    async with grpc.aio.insecure_channel(target) as channel:
        memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
        graph = graph_service_pb2_grpc.GraphServiceStub(channel)
        hub = (
            await graph.ListEntities(
                gsvc.ListEntitiesRequest(parent=f"users/{heavy}", filter="is_user = true")
            )
        ).entities[0]
        cases: dict[str, Callable[[int], Awaitable[Any]]] = {
            "search, heavy user, entity named (2 hops)": lambda i: memories.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=f"users/{heavy}",
                    query=f"What about entity {rng.randrange(1, 9000)}?",
                    include_relations=True,
                )
            ),
            "search, heavy user, 'my' (user hub)": lambda i: memories.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=f"users/{heavy}", query="Who are my friends?", include_relations=True
                )
            ),
            "search, light user (1,000 relations)": lambda i: memories.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=f"users/bench-light-{i % 50}",
                    query=f"Where is entity {rng.randrange(1, 190)}?",
                    include_relations=True,
                )
            ),
            "search, no graph (baseline)": lambda i: memories.SearchMemories(
                svc.SearchMemoriesRequest(
                    parent=f"users/{heavy}", query=f"What about entity {rng.randrange(1, 9000)}?"
                )
            ),
            "GetEntity, hub (1 hop, 100 relations)": lambda i: graph.GetEntity(
                gsvc.GetEntityRequest(name=hub.name)
            ),
            "ListRelations, heavy user, page of 50": lambda i: graph.ListRelations(
                gsvc.ListRelationsRequest(parent=f"users/{heavy}", page_size=50)
            ),
        }
        for name, call in cases.items():
            for i in range(10):  # warm-up: plans and caches
                await call(i)
            samples = []
            for i in range(queries):
                start = time.perf_counter()
                await call(i)
                samples.append(time.perf_counter() - start)
            found[name] = samples
    return found


async def create_databases(root_dsn: str, names: list[str]) -> list[str]:
    conn = await asyncpg.connect(root_dsn)
    try:
        for name in names:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(root_dsn)
    return [urlunsplit(parts._replace(path=f"/{name}")) for name in names]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adds", type=int, default=40)
    parser.add_argument("--relations", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    import pgserver

    pg = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="bench-graph-pg-")), cleanup_mode="delete"
    )
    off_dsn, on_dsn = asyncio.run(create_databases(pg.get_uri(), ["graph_off", "graph_on"]))
    fake = FakeLLM()
    fake.responder = answer
    fake.start()
    neo4j = Neo4jProcess()
    console.print("starting Neo4j (embedded launcher)...")
    started = time.perf_counter()
    neo4j.start()
    console.print(f"Neo4j ready in {time.perf_counter() - started:.1f} s")
    base_env = {
        "MEM0STACK_LLM_MODEL": "fake-model",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-bench",
        "MEM0STACK_GRAPH_OUTBOX_POLL_S": "1",
    }
    ports = {"off": free_port(), "on": free_port()}
    servers = {
        "off": ServerProcess(
            off_dsn,
            free_port(),
            env={**base_env, "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{ports['off']}"},
        ),
        "on": ServerProcess(
            on_dsn,
            free_port(),
            env={
                **base_env,
                "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{ports['on']}",
                "MEM0STACK_NEO4J_URI": neo4j.uri,
            },
        ),
    }
    try:
        for server in servers.values():
            server.start()
        table = Table(title=f"AddMemories, {args.adds} calls each (1 fact, 2 relations)")
        for column in (
            "graph memory",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "LLM ms/call (in the call)",
            "until in graph p50 / p95 ms",
            "graph LLM ms/update",
        ):
            table.add_column(column, justify="right")
        calls, applied = asyncio.run(
            add_latency({mode: server.target for mode, server in servers.items()}, args.adds)
        )
        for mode in ("off", "on"):
            llm = llm_seconds(ports[mode])
            in_call = sum(llm.get(p, (0.0, 0))[0] for p in ("extract_facts", "reconcile_memories"))
            per_call = in_call / (args.adds + 5) * 1000
            graph_llm = llm.get("extract_graph", (0.0, 0))
            p50, p95, p99 = percentiles(calls[mode])
            graph_cols = ("-", "-")
            if mode == "on":
                a50, a95, _ = percentiles(applied)
                graph_cols = (
                    f"{a50:.1f} / {a95:.1f}",
                    f"{graph_llm[0] / max(graph_llm[1], 1) * 1000:.1f}",
                )
            table.add_row(
                mode, f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}", f"{per_call:.1f}", *graph_cols
            )
        console.print(table)

        started = time.perf_counter()
        heavy, heavy_count = asyncio.run(load_relations(neo4j.uri, args.relations))
        console.print(
            f"loaded {args.relations:,} relations ({heavy_count:,} for one user) in "
            f"{time.perf_counter() - started:.0f} s"
        )
        found = asyncio.run(query_latency(servers["on"].target, heavy, args.queries))
        table = Table(title=f"Graph queries over {args.relations:,} relations, {args.queries} each")
        for column in ("query", "p50 ms", "p95 ms", "p99 ms"):
            table.add_column(column, justify="right")
        for name, samples in found.items():
            p50, p95, p99 = percentiles(samples)
            table.add_row(name, f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}")
        console.print(table)
    finally:
        for server in servers.values():
            server.stop()
        neo4j.stop()
        fake.stop()
        pg.cleanup()


if __name__ == "__main__":
    main()
