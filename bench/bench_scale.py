"""Scale of mem0-stack alone: SearchMemories at 1,000,000 memories in one user.

Loads N memories straight into the server's schema (COPY, feed triggers off, vectors
synthetic so no embedding time), builds the HNSW index and times it, then starts the
server on that database and measures SearchMemories p50/p95/p99 for each
``hnsw.ef_search`` asked for: VECTOR mode (the query given as ``query_embedding``), with
HNSW recall@10 against an exact scan, and the default HYBRID mode (the question's text
for the keyword leg and neighbouring context, its embedding given). For the keyword leg
each synthetic memory's content is the text of its heaviest base, numbered.

How hard an approximate index finds a data set depends on its local intrinsic
dimensionality: how many directions a query's neighbourhood really spreads in. Sentence
embeddings lie near a low-dimensional, clustered surface (a held-out LoCoMo question's 20
nearest LoCoMo texts give a maximum-likelihood local dimensionality of about 13), while a
Gaussian with their mean and covariance fills all of its ~70 effective dimensions (about
48 by the same estimate): its neighbours are all nearly equally far (top-1 cosine ~0.5
against ~0.8 for real text), so an HNSW index looks far worse on it than on any real
corpus. The synthetic memories are therefore built from real embeddings instead:

- bases: MiniLM (int8 ONNX, the server's bundled model) embeddings of ~15k real LoCoMo
  texts: every turn, every sentence of a turn or session summary that has several, the
  hand-written observations and events, the summaries, and the questions not held out;
- each memory = normalise(w1 b1 + w2 b2 [+ w3 b3] + noise): two or three random bases,
  weights from a Dirichlet(0.5) (often one base dominates, as a memory restating one
  fact), plus Gaussian noise shaped like the bases' covariance with ``NOISE`` times their
  total spread, so memories sharing a base do not pile up as near-duplicates;
- queries are held-out LoCoMo questions, never used as bases.

``NOISE`` was chosen so that, with as many synthetic memories as there are bases, the
nearest-neighbour statistics match the real texts': the held-out questions' top-1 and
10th-best cosine, their relative contrast and local dimensionality, and each memory's
nearest other memory. The script prints them (real vs synthetic at that size, and
synthetic at N) so a reader can judge; the mixture comes out slightly harder than real
text (a little higher local dimensionality), so recall here is, if anything, low. That
holds up to a few hundred thousand memories (local dimensionality 16-18, where real
LoCoMo text gives 13-14 at every size from 1,500 to 15,000); at 1,000,000 a question's
20 nearest memories lie closer together than the noise spreads them, the estimate rises
to ~36, and recall there is probably pessimistic (no real corpus of that size was at
hand to check).
``--corpus real`` loads the real embeddings alone, to compare recall at the same size.

Recall@10 counts, as ann-benchmarks does, every result whose similarity is within 1e-3
of the exact 10th best. Embeddings of the texts are cached under build/bench/.

    .venv/bin/python -m bench.bench_scale [--memories 1000000] [--ef-search 40,100,200]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import numpy as np
from pgvector.asyncpg import register_vector
from rich.table import Table

from bench.common import (
    LOCOMO,
    REPO,
    embedded_postgres,
    load_locomo,
    machine,
    percentiles,
    wide_console,
    write_json,
)
from bench.model import encode
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1 import memory_service_pb2_grpc
from mem0stack_server.embed.local import LOCAL_MODEL_ID
from mem0stack_server.store.database import create_pool, migrate
from tests.support.servers import ServerProcess, free_port

console = wide_console()
USER = "scale"
CHUNK = 20_000
MIN_FRAGMENT_WORDS = 4
#: Noise of a synthetic memory, as a fraction of the bases' total standard deviation.
NOISE = 0.25
DIRICHLET_ALPHA = 0.5
CACHE = REPO / "build" / "bench"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if len(p.split()) >= MIN_FRAGMENT_WORDS]


def locomo_texts(directory: Path) -> tuple[list[str], list[str]]:
    """(memory-like texts, questions) of every LoCoMo conversation, each text once.

    Memory-like texts are the turns as the LoCoMo benchmark stores them, the hand-written
    observations and events, the session summaries, and the sentences of every turn and
    summary that has more than one (a memory is often one fact, not a whole turn).
    """
    texts: list[str] = []
    for conv in load_locomo(directory):
        texts += [t.text for t in conv.turns]
        for turn in conv.turns:
            sentences = _sentences(turn.text)
            texts += sentences if len(sentences) > 1 else []
    questions: list[str] = []
    for path in sorted(directory.glob("*.json")):
        raw = json.loads(path.read_text())
        raw = raw.get("conversation", raw) | raw
        for key, value in raw.items():
            if re.fullmatch(r"session_\d+_observation", key):
                texts += [f"{who}: {fact[0]}" for who, facts in value.items() for fact in facts]
            elif re.fullmatch(r"events_session_\d+", key):
                texts += [str(e) for who, events in value.items() if who != "date" for e in events]
            elif re.fullmatch(r"session_\d+_summary", key):
                texts.append(value)
                texts += _sentences(value)
        questions += [q["question"] for q in raw.get("qa", [])]
    return list(dict.fromkeys(texts)), list(dict.fromkeys(questions))


def cached_encode(texts: list[str]) -> np.ndarray:
    """``encode(texts)``, kept in build/bench/ under a digest of the texts and model."""
    digest = hashlib.sha256("\n".join([LOCAL_MODEL_ID, *texts]).encode()).hexdigest()[:16]
    path = CACHE / f"scale-embeddings-{digest}.npy"
    if path.exists():
        return np.load(path)
    console.print(f"embedding {len(texts):,} LoCoMo texts (cached for later runs) ...")
    vectors = encode(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def normalise(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def synthetic(
    bases: np.ndarray,
    n: int,
    seed: int,
    noise: float = NOISE,
    heaviest: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` unit vectors, each a Dirichlet-weighted mix of 2 or 3 random ``bases`` plus
    Gaussian noise with the bases' covariance scaled to ``noise`` of their total spread.
    ``heaviest``, when given (``n`` integers), receives each vector's heaviest base."""
    rng = np.random.default_rng(seed)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(bases.T))
    eigenvalues = np.clip(eigenvalues, 0, None)
    shape = (eigenvectors * np.sqrt(eigenvalues)).T.astype(np.float32)
    shape *= noise / np.sqrt(eigenvalues.sum())
    dim = bases.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(n, start + 100_000) - start
        ks = rng.choice([2, 3], size)
        rows = rng.standard_normal((size, dim)).astype(np.float32) @ shape
        for k in (2, 3):
            mask = ks == k
            weights = rng.dirichlet([DIRICHLET_ALPHA] * k, int(mask.sum())).astype(np.float32)
            picks = rng.integers(0, len(bases), (int(mask.sum()), k))
            rows[mask] += np.einsum("nk,nkd->nd", weights, bases[picks])
            if heaviest is not None:
                chosen = picks[np.arange(len(picks)), weights.argmax(axis=1)]
                heaviest[start : start + size][mask] = chosen
        out[start : start + size] = normalise(rows)
    return out


def top_similarities(vectors: np.ndarray, queries: np.ndarray, k: int = 20) -> np.ndarray:
    """The ``k`` best cosine similarities of each query (rows), best first, by exact scan."""
    best = np.full((len(queries), k), -2.0, dtype=np.float32)
    for start in range(0, len(vectors), 50_000):
        scores = queries @ vectors[start : start + 50_000].T
        scores = np.concatenate([best, scores], axis=1)
        best = -np.partition(-scores, k - 1, axis=1)[:, :k]
    return -np.sort(-best, axis=1)


def neighbour_stats(vectors: np.ndarray, queries: np.ndarray, seed: int = 0) -> dict[str, float]:
    """What makes a data set easy or hard for an ANN index, for the held-out queries:
    median top-1 and 10th-best cosine, median relative contrast (mean cosine distance over
    the 10th-best distance), median local intrinsic dimensionality (Levina-Bickel maximum
    likelihood over the 20 nearest), and each memory's nearest other memory (median,
    10th and 90th percentile of its cosine, over 1,000 sampled memories)."""
    top = top_similarities(vectors, queries)
    # The mean similarity settles long before 200,000 memories.
    mean = np.concatenate(
        [queries @ vectors[s : s + 50_000].T for s in range(0, min(len(vectors), 200_000), 50_000)],
        axis=1,
    ).mean(axis=1)
    distance = np.sqrt(np.clip(2 - 2 * top, 1e-12, None))
    lid = -1 / np.mean(np.log(distance[:, :-1] / distance[:, -1:]), axis=1)
    sample = np.random.default_rng(seed).choice(len(vectors), min(1000, len(vectors)), False)
    own = top_similarities(vectors, vectors[sample], k=2)[:, 1]  # [:, 0] is the memory itself
    return {
        "query_top1": float(np.median(top[:, 0])),
        "query_top10": float(np.median(top[:, 9])),
        "relative_contrast": float(np.median((1 - mean) / (1 - top[:, 9]))),
        "local_dim": float(np.median(lid)),
        "memory_nn_p10": float(np.percentile(own, 10)),
        "memory_nn_p50": float(np.median(own)),
        "memory_nn_p90": float(np.percentile(own, 90)),
    }


async def load(
    dsn: str,
    vectors: np.ndarray,
    contents: list[str],
    build_workers: int,
    work_mem: str,
    index_with: str,
) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=1, max_size=2, ef_search=40)
    await migrate(pool, embedding_model=LOCAL_MODEL_ID, embedding_dim=vectors.shape[1])
    await pool.close()
    conn = await asyncpg.connect(dsn)
    await register_vector(conn)
    results: dict[str, Any] = {
        "pgvector": await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        )
    }
    try:
        await conn.execute("DROP INDEX memories_embedding")
        # A benchmark database only: the change feed would copy every row once more.
        await conn.execute("ALTER TABLE memories DISABLE TRIGGER USER")
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        for start in range(0, len(vectors), CHUNK):
            records = [
                (uuid.uuid4(), USER, contents[i], f"h{i}", vectors[i], now, now, now)
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
                    "valid_time",
                ],
            )
            console.print(f"  loaded {start + len(records):,}", end="\r")
        results["load_s"] = time.perf_counter() - t0
        await conn.execute("ALTER TABLE memories ENABLE TRIGGER USER")
        await conn.execute(f"SET maintenance_work_mem = '{work_mem}'")
        await conn.execute(f"SET max_parallel_maintenance_workers = {build_workers}")
        console.print(f"\nbuilding the HNSW index {index_with or '(pgvector defaults)'} ...")
        results["load_average_before_build"] = os.getloadavg()
        t0 = time.perf_counter()
        # Without --hnsw-m / --hnsw-ef-construction, the migration's index (pgvector's
        # defaults, m=16, ef_construction=64).
        await conn.execute(
            "CREATE INDEX memories_embedding ON memories USING hnsw "
            f"(embedding vector_cosine_ops) {index_with}",
            timeout=None,
        )
        results["index_build_s"] = time.perf_counter() - t0
        results["load_average_after_build"] = os.getloadavg()
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
    target: str,
    queries: np.ndarray,
    texts: list[str],
    tenth: list[float],
    warmup: int,
    mode: str,
) -> dict[str, Any]:
    """Latency, and in VECTOR mode recall@10; as in ann-benchmarks, a result counts when
    its similarity is within 1e-3 of the exact 10th best (ties are not misses). HYBRID
    searches send the question's text too, and their recall is not counted (their
    ranking is not meant to be the nearest vectors)."""
    times: list[float] = []
    recalls: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for i, q in enumerate(queries):
            request = svc.SearchMemoriesRequest(
                parent=f"users/{USER}",
                query=texts[i] if mode == "hybrid" else "",
                query_embedding=q.tolist(),
                top_k=10,
                mode=(
                    svc.SearchMemoriesRequest.VECTOR
                    if mode == "vector"
                    else svc.SearchMemoriesRequest.HYBRID
                ),
            )
            t0 = time.perf_counter()
            reply = await stub.SearchMemories(request)
            elapsed = time.perf_counter() - t0
            if i < warmup:
                continue
            times.append(elapsed)
            recalls.append(sum(r.score >= tenth[i] - 1e-3 for r in reply.results) / 10)
    return {
        **percentiles(times),
        "recall_at_10": float(np.mean(recalls)) if mode == "vector" else None,
        "n": len(times),
        "load_average": os.getloadavg(),
    }


def stats_table(stats: dict[str, dict[str, float]]) -> Table:
    table = Table(title="nearest-neighbour statistics of the held-out questions")
    columns = {
        "query_top1": "q top-1 cos",
        "query_top10": "q 10th cos",
        "relative_contrast": "rel. contrast",
        "local_dim": "local dim",
        "memory_nn_p10": "memory NN p10",
        "memory_nn_p50": "p50",
        "memory_nn_p90": "p90",
    }
    table.add_column("corpus")
    for title in columns.values():
        table.add_column(title, justify="right")
    for name, row in stats.items():
        table.add_row(name, *(f"{row[key]:.3f}" for key in columns))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=1_000_000)
    parser.add_argument(
        "--corpus",
        choices=("synthetic", "real"),
        default="synthetic",
        help="real: the ~15k real base embeddings alone (--memories is ignored)",
    )
    parser.add_argument(
        "--noise", type=float, default=NOISE, help=f"synthetic noise (default {NOISE})"
    )
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--ef-search", default="40,100,200,400", help="comma-separated values")
    parser.add_argument(
        "--modes", default="vector,hybrid", help="search modes to measure: vector, hybrid"
    )
    parser.add_argument("--hnsw-m", type=int, help="index m (default: pgvector's, 16)")
    parser.add_argument(
        "--hnsw-ef-construction", type=int, help="index ef_construction (default: pgvector's, 64)"
    )
    parser.add_argument("--build-workers", type=int, default=1, help="parallel build workers")
    parser.add_argument("--maintenance-work-mem", default="6GB")
    parser.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    texts, questions = locomo_texts(args.data)
    embedded = cached_encode(texts + questions)
    # Held-out questions are the queries (20 of them warm up); the others join the bases.
    order = np.random.default_rng(11).permutation(len(questions))
    held_out = order[: args.queries + 20]
    queries = embedded[len(texts) + held_out]
    query_texts = [questions[i] for i in held_out]
    bases = np.vstack([embedded[: len(texts)], embedded[len(texts) + order[len(held_out) :]]])
    base_texts = texts + [questions[i] for i in order[len(held_out) :]]
    console.print(f"{len(bases):,} real bases, {len(queries):,} held-out questions")
    if args.corpus == "real":
        vectors, contents = bases, base_texts
    else:
        heaviest = np.zeros(args.memories, dtype=np.int64)
        vectors = synthetic(bases, args.memories, 7, args.noise, heaviest)
        contents = [f"{base_texts[b]} (#{i})" for i, b in enumerate(heaviest)]
    n = len(vectors)

    stats = {"real texts": neighbour_stats(bases, queries)}
    if args.corpus == "synthetic":
        stats[f"synthetic, {len(bases):,}"] = neighbour_stats(
            synthetic(bases, len(bases), 8, args.noise), queries
        )
        if n != len(bases):
            stats[f"synthetic, {n:,}"] = neighbour_stats(vectors, queries)
    console.print(stats_table(stats))
    truth = [float(row[9]) for row in top_similarities(vectors, queries)]

    index_options = {"m": args.hnsw_m, "ef_construction": args.hnsw_ef_construction}
    index_with = ", ".join(f"{k} = {v}" for k, v in index_options.items() if v is not None)
    results: dict[str, Any] = {
        "machine": machine(),
        "memories": n,
        "corpus": args.corpus,
        "generator": {
            "bases": len(bases),
            "mix": "2 or 3 bases, Dirichlet weights",
            "dirichlet_alpha": DIRICHLET_ALPHA,
            "noise": args.noise,
        },
        "neighbour_stats": stats,
        "hnsw": {k: v for k, v in index_options.items() if v is not None} or "pgvector defaults",
    }
    with embedded_postgres("mem0stack-scale-") as dsn:
        results |= asyncio.run(
            load(
                dsn,
                vectors,
                contents,
                args.build_workers,
                args.maintenance_work_mem,
                f"WITH ({index_with})" if index_with else "",
            )
        )
        del vectors, contents
        modes = args.modes.split(",")
        results["search"] = {m: {} for m in modes}
        for ef in [int(x) for x in args.ef_search.split(",")]:
            server = ServerProcess(dsn, free_port(), env={"MEM0STACK_HNSW_EF_SEARCH": str(ef)})
            server.start()
            try:
                for mode in modes:
                    r = asyncio.run(search(server.target, queries, query_texts, truth, 20, mode))
                    results["search"][mode][ef] = r
                    recall = (
                        "" if r["recall_at_10"] is None else f", recall@10 {r['recall_at_10']:.3f}"
                    )
                    console.print(
                        f"  ef_search {ef}, {mode}: p50 {r['p50']:.2f} ms, "
                        f"p99 {r['p99']:.2f} ms{recall}"
                    )
            finally:
                server.stop()

    console.print(stats_table(stats))
    table = Table(title=f"mem0-stack at {n:,} {args.corpus} memories (one user)")
    for col in (
        "mode",
        "hnsw.ef_search",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "recall@10 vs exact",
        "load",
    ):
        table.add_column(col, justify="right")
    for mode, ef, r in (
        (m, ef, r) for m, by_ef in results["search"].items() for ef, r in by_ef.items()
    ):
        table.add_row(
            mode,
            str(ef),
            f"{r['p50']:.2f}",
            f"{r['p95']:.2f}",
            f"{r['p99']:.2f}",
            "-" if r["recall_at_10"] is None else f"{r['recall_at_10']:.3f}",
            " ".join(f"{x:.2f}" for x in r["load_average"]),
        )
    console.print(table)
    console.print(
        f"pgvector {results['pgvector']}, index {results['hnsw']}; load (COPY) "
        f"{results['load_s']:.0f} s, HNSW build {results['index_build_s']:.0f} s "
        f"({args.build_workers} parallel worker(s), maintenance_work_mem "
        f"{args.maintenance_work_mem}, load average after {results['load_average_after_build']}), "
        f"HNSW index {results['index_bytes'] / 2**30:.2f} GiB, "
        f"table {results['table_bytes'] / 2**30:.2f} GiB, all indexes "
        f"{results['all_indexes_bytes'] / 2**30:.2f} GiB"
    )
    write_json(args.json, results)


if __name__ == "__main__":
    main()
