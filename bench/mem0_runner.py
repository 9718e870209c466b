"""The mem0 side of the benchmarks; runs in mem0's own virtual environment (.venv-mem0).

mem0ai 2.2.1 needs protobuf < 7 and so cannot share mem0-stack's environment. The
orchestrating scripts (bench_compare.py, and bench_locomo.py and bench_beam.py through
retrieval.py) start this file with
``.venv-mem0/bin/python -m bench.mem0_runner`` and read the JSON it writes.

mem0 runs fully offline: telemetry off, its pgvector store on the same PostgreSQL as
mem0-stack (HNSW on), its ``openai`` embedder pointed at ``bench/embed_server.py``
(the same int8 ONNX all-MiniLM-L6-v2 vectors mem0-stack computes), a dummy API key for
the LLM it never calls (``infer=False``), and its history database in a temporary folder.
Only the standard library and mem0 are imported here.
"""

from __future__ import annotations

import os

os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("OPENAI_API_KEY", "sk-offline-benchmark")

import argparse
import hashlib
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mem0 import Memory


def memory(pg_uri: str, embed_url: str, collection: str, maxconn: int | None = None) -> Memory:
    """mem0 on the benchmark's PostgreSQL; ``maxconn`` sizes its connection pool (mem0's
    default is 5), for callers that use it from several threads."""
    history = Path(tempfile.mkdtemp(prefix="mem0-history-")) / "history.db"
    return Memory.from_config(
        {
            "vector_store": {
                "provider": "pgvector",
                "config": {
                    "connection_string": pg_uri,
                    "collection_name": collection,
                    "embedding_model_dims": 384,
                    "hnsw": True,
                    "diskann": False,
                }
                | ({"maxconn": maxconn} if maxconn else {}),
            },
            "embedder": {
                "provider": "openai",
                "config": {
                    "model": "all-MiniLM-L6-v2",
                    "openai_base_url": embed_url,
                    "api_key": "sk-offline-benchmark",
                },
            },
            "llm": {
                "provider": "openai",
                "config": {"api_key": "sk-offline-benchmark", "openai_base_url": embed_url},
            },
            "history_db_path": str(history),
        }
    )


def run_retrieval(args: argparse.Namespace) -> dict[str, Any]:
    """The retrieval benchmarks' side (retrieval.py): every scope's memories added one by
    one (``infer=False``), in order, then its queries searched in the user's scope; each
    query's results come back as indices into the scope's memories."""
    spec = json.loads(Path(args.input).read_text())
    m = memory(args.pg, args.embed_url, "mem0_retrieval")
    out: dict[str, Any] = {"found": [], "add_s": [], "search_s": []}
    for scope in spec["scopes"]:
        index: dict[str, int] = {}
        for i, item in enumerate(scope["memories"]):
            t0 = time.perf_counter()
            reply = m.add(
                [{"role": item["role"], "content": item["content"]}],
                user_id=scope["user"],
                run_id=item["run_id"] or None,
                metadata=item["metadata"],
                infer=False,
            )
            out["add_s"].append(time.perf_counter() - t0)
            index |= {r["id"]: i for r in reply["results"]}
        found: list[list[int]] = []
        for query in scope["queries"]:
            t0 = time.perf_counter()
            reply = m.search(
                query, top_k=spec["top_k"], filters={"user_id": scope["user"]}, threshold=0.0
            )
            out["search_s"].append(time.perf_counter() - t0)
            found.append([index[r["id"]] for r in reply["results"]])
        out["found"].append(found)
    return out


def _payload(text: str, user: str) -> dict[str, Any]:
    """What mem0's _create_memory stores for an infer=False message (minus lemmas,
    which need spaCy and only feed its keyword search)."""
    return {
        "data": text,
        "hash": hashlib.md5(text.encode()).hexdigest(),
        "created_at": datetime.now(UTC).isoformat(),
        "user_id": user,
        "role": "user",
        "text_lemmatized": text.lower(),
    }


def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    texts: list[str] = json.loads(Path(args.texts).read_text())
    base: list[list[float]] = json.loads(Path(args.vectors).read_text())
    queries: list[str] = json.loads(Path(args.queries).read_text())
    sizes = sorted(int(s) for s in args.sizes.split(","))
    m = memory(args.pg, args.embed_url, "mem0_compare")
    user = "bench"
    out: dict[str, Any] = {"search": {}}

    # Single adds, into a user of their own.
    add_s: list[float] = []
    for i in range(args.single_adds):
        t0 = time.perf_counter()
        m.add([{"role": "user", "content": texts[i]}], user_id="bench-single", infer=False)
        add_s.append(time.perf_counter() - t0)
    out["add_s"] = add_s

    # Bulk ingest the documented way: one add() with many messages (mem0 embeds and
    # inserts them one by one).
    loaded = 0
    bulk = min(args.bulk, sizes[-1])
    t0 = time.perf_counter()
    while loaded < bulk:
        n = min(100, bulk - loaded)
        m.add(
            [
                {"role": "user", "content": f"{texts[(loaded + i) % len(texts)]} (#{loaded + i})"}
                for i in range(n)
            ],
            user_id=user,
            infer=False,
        )
        loaded += n
    out["bulk"] = {"memories": bulk, "seconds": time.perf_counter() - t0}

    for size in sizes:
        # Beyond the timed bulk, fill through mem0's own vector store in batches with the
        # precomputed embeddings mem0-stack gets too (the search figures only need the
        # rows there).
        while loaded < size:
            n = min(500, size - loaded)
            chunk = [f"{texts[(loaded + i) % len(texts)]} (#{loaded + i})" for i in range(n)]
            vectors = [base[(loaded + i) % len(base)] for i in range(n)]
            m.vector_store.insert(
                vectors=vectors,
                payloads=[_payload(t, user) for t in chunk],
                ids=[str(uuid.uuid4()) for _ in chunk],
            )
            loaded += n
        times: list[float] = []
        for i in range(args.warmup + args.searches):
            query = f"{queries[i % len(queries)]} ({size} {i})"
            t0 = time.perf_counter()
            m.search(query, top_k=10, filters={"user_id": user}, threshold=0.0)
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        out["search"][str(size)] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task", choices=("retrieval", "compare"))
    parser.add_argument("--pg", required=True, help="PostgreSQL URI")
    parser.add_argument("--embed-url", required=True, help="base URL of embed_server.py")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--input", help="JSON of scopes, memories and queries (retrieval)")
    parser.add_argument("--texts", help="JSON list of memory texts (compare)")
    parser.add_argument("--queries", help="JSON list of queries (compare)")
    parser.add_argument("--vectors", help="JSON list of the texts' embeddings (compare)")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--single-adds", type=int, default=200)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    result = run_retrieval(args) if args.task == "retrieval" else run_compare(args)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
