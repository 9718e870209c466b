"""Scale of mem0-stack alone: SearchMemories at 1,000,000 memories in one user.

Loads N memories straight into the server's schema (COPY, feed triggers off, vectors
synthetic so no embedding time), builds the HNSW index and times it, then starts the
server on that database and measures SearchMemories (VECTOR mode, the query given as
``query_embedding``) p50/p99 and HNSW recall@10 against an exact scan, for each
``hnsw.ef_search`` asked for.

The synthetic vectors are drawn from a Gaussian with the mean and covariance of real
LoCoMo turn embeddings (int8 ONNX MiniLM), renormalised; queries are LoCoMo question
embeddings. Recall@10 counts, as ann-benchmarks does, every result whose similarity is
within 1e-3 of the exact 10th best.

    .venv/bin/python -m tests.bench.bench_scale [--memories 1000000] [--ef-search 40,100,200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import numpy as np
from pgvector.asyncpg import register_vector
from rich.console import Console
from rich.table import Table

from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1 import memory_service_pb2_grpc
from mem0stack_server.embed._onnx_model import (
    OnnxSentenceModel,
    bundled_model_file,
    bundled_tokenizer_file,
)
from mem0stack_server.embed.local import LOCAL_MODEL_ID
from mem0stack_server.store.database import create_pool, migrate
from tests.bench.common import (
    LOCOMO,
    embedded_postgres,
    load_locomo,
    machine,
    percentiles,
    write_json,
)
from tests.support.servers import ServerProcess, free_port

console = Console()
USER = "scale"
CHUNK = 20_000


def encode(texts: list[str]) -> np.ndarray:
    path, _, _ = bundled_model_file()
    model = OnnxSentenceModel(path, bundled_tokenizer_file())
    return np.vstack([model.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)])


def synthetic(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors drawn from a Gaussian with the mean and covariance of ``base``.

    They spread like real embeddings (the same spectrum, effective rank ~58 for MiniLM on
    LoCoMo) without the crowds of near-duplicates that blending or jittering a few
    thousand real vectors makes: in such a crowd all points sit at nearly the same
    distance from a query, which no real data set looks like and no ANN index can rank.
    """
    rng = np.random.default_rng(seed)
    mean = base.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(base.T))
    scale = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))).T.astype(np.float32)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        rows = mean + rng.standard_normal((stop - start, base.shape[1])).astype(np.float32) @ scale
        out[start:stop] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> list[float]:
    """The 10th best cosine similarity of each query, by exact scan."""
    tenth: list[float] = []
    for q in queries:
        scores = vectors @ q
        tenth.append(float(np.partition(-scores, 9)[9] * -1))
    return tenth


async def load(dsn: str, vectors: np.ndarray, build_workers: int, work_mem: str) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=1, max_size=2, ef_search=40)
    await migrate(pool, embedding_model=LOCAL_MODEL_ID, embedding_dim=vectors.shape[1])
    await pool.close()
    conn = await asyncpg.connect(dsn)
    await register_vector(conn)
    results: dict[str, Any] = {}
    try:
        await conn.execute("DROP INDEX memories_embedding")
        # A benchmark database only: the change feed would copy every row once more.
        await conn.execute("ALTER TABLE memories DISABLE TRIGGER USER")
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        for start in range(0, len(vectors), CHUNK):
            records = [
                (uuid.uuid4(), USER, f"synthetic memory {i}", f"h{i}", vectors[i], now, now)
                for i in range(start, min(len(vectors), start + CHUNK))
            ]
            await conn.copy_records_to_table(
                "memories",
                records=records,
                columns=[
                    "id",
                    "user_id",
                    "content",
                    "hash",
                    "embedding",
                    "create_time",
                    "update_time",
                ],
            )
            console.print(f"  loaded {start + len(records):,}", end="\r")
        results["load_s"] = time.perf_counter() - t0
        await conn.execute("ALTER TABLE memories ENABLE TRIGGER USER")
        await conn.execute(f"SET maintenance_work_mem = '{work_mem}'")
        await conn.execute(f"SET max_parallel_maintenance_workers = {build_workers}")
        console.print("\nbuilding the HNSW index ...")
        t0 = time.perf_counter()
        # The same index as the migration (pgvector's defaults, m=16, ef_construction=64).
        await conn.execute(
            "CREATE INDEX memories_embedding ON memories USING hnsw (embedding vector_cosine_ops)",
            timeout=None,
        )
        results["index_build_s"] = time.perf_counter() - t0
        await conn.execute("VACUUM ANALYZE memories", timeout=None)
        results["index_bytes"] = await conn.fetchval(
            "SELECT pg_relation_size('memories_embedding')"
        )
        results["table_bytes"] = await conn.fetchval(
            "SELECT pg_total_relation_size('memories') - pg_indexes_size('memories')"
        )
        results["all_indexes_bytes"] = await conn.fetchval("SELECT pg_indexes_size('memories')")
    finally:
        await conn.close()
    return results


async def search(
    target: str, queries: np.ndarray, tenth: list[float], warmup: int
) -> dict[str, Any]:
    """Latency and recall@10; as in ann-benchmarks, a result counts when its similarity
    is within 1e-3 of the exact 10th best (ties are not misses)."""
    times: list[float] = []
    recalls: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for i, q in enumerate(queries):
            request = svc.SearchMemoriesRequest(
                parent=f"users/{USER}",
                query="",
                query_embedding=q.tolist(),
                top_k=10,
                mode=svc.SearchMemoriesRequest.VECTOR,
            )
            t0 = time.perf_counter()
            reply = await stub.SearchMemories(request)
            elapsed = time.perf_counter() - t0
            if i < warmup:
                continue
            times.append(elapsed)
            recalls.append(sum(r.score >= tenth[i] - 1e-3 for r in reply.results) / 10)
    return {**percentiles(times), "recall_at_10": float(np.mean(recalls)), "n": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--ef-search", default="40,100,200,400", help="comma-separated values")
    parser.add_argument("--build-workers", type=int, default=1, help="parallel build workers")
    parser.add_argument("--maintenance-work-mem", default="6GB")
    parser.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    conversations = load_locomo(args.data)
    console.print("embedding LoCoMo turns and questions (the seeds of the synthetic data) ...")
    base = encode([t.text for c in conversations for t in c.turns])
    questions = [q.question for c in conversations for q in c.questions]
    queries = encode(questions[: args.queries + 20])
    vectors = synthetic(base, args.memories, seed=7)
    truth = exact_top10(vectors, queries)

    results: dict[str, Any] = {"machine": machine(), "memories": args.memories}
    with embedded_postgres("mem0stack-scale-") as dsn:
        results |= asyncio.run(load(dsn, vectors, args.build_workers, args.maintenance_work_mem))
        del vectors
        results["search"] = {}
        for ef in [int(x) for x in args.ef_search.split(",")]:
            server = ServerProcess(dsn, free_port(), env={"MEM0STACK_HNSW_EF_SEARCH": str(ef)})
            server.start()
            try:
                results["search"][ef] = asyncio.run(search(server.target, queries, truth, 20))
            finally:
                server.stop()

    table = Table(title=f"mem0-stack at {args.memories:,} memories (one user, VECTOR mode)")
    for col in ("hnsw.ef_search", "p50 ms", "p95 ms", "p99 ms", "recall@10 vs exact"):
        table.add_column(col, justify="right")
    for ef, r in results["search"].items():
        table.add_row(
            str(ef),
            f"{r['p50']:.2f}",
            f"{r['p95']:.2f}",
            f"{r['p99']:.2f}",
            f"{r['recall_at_10']:.3f}",
        )
    console.print(table)
    console.print(
        f"load (COPY) {results['load_s']:.0f} s, HNSW build {results['index_build_s']:.0f} s "
        f"({args.build_workers} parallel worker(s), maintenance_work_mem "
        f"{args.maintenance_work_mem}), HNSW index {results['index_bytes'] / 2**30:.2f} GiB, "
        f"table {results['table_bytes'] / 2**30:.2f} GiB, all indexes "
        f"{results['all_indexes_bytes'] / 2**30:.2f} GiB"
    )
    write_json(args.json, results)


if __name__ == "__main__":
    main()
