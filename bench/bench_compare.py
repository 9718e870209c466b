"""mem0-stack against mem0 (OSS, ``infer=False``): add latency, ingest throughput, search
latency at growing sizes; one run, same machine, same PostgreSQL, same embeddings.

- single add: mem0-stack AddMemories (``infer=false``, one message) against mem0's
  ``add([message], infer=False)``, each into a user of its own;
- bulk ingest: BatchCreateMemories (500 per call) against ``add()`` with 100 messages per
  call, the bulk path mem0 documents; memories per second over the first ``--bulk``;
- search: SearchMemories (server defaults: HYBRID with neighbouring context) against
  ``Memory.search``, top 10, one user holding 1,000, 10,000 then 100,000 memories
  (LoCoMo turns, numbered to stay distinct), distinct query texts so no cache answers.
  Past the timed bulk both stores are filled through their batch paths (mem0's own
  vector store ``insert``) with the same precomputed embeddings (each LoCoMo turn's own,
  computed once), which changes nothing of what a search sees and saves embedding
  90,000 texts twice.

mem0 embeds through bench/embed_server.py (HTTP, the same ONNX model); the model
time it spent there is printed, so the cost of the hop is visible.

    .venv/bin/python -m bench.bench_compare [--sizes 1000,10000,100000] [--no-mem0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from rich.table import Table

from bench.common import (
    LOCOMO,
    embedded_postgres,
    load_locomo,
    machine,
    percentiles,
    wide_console,
    write_json,
)
from bench.harness import embed_server, embed_stats, mem0stack_server, run_mem0
from bench.model import encode
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc

console = wide_console()
USER = "users/bench"


def numbered(texts: list[str], i: int) -> str:
    return f"{texts[i % len(texts)]} (#{i})"


async def mem0stack_run(
    target: str, texts: list[str], vectors: list[list[float]], queries: list[str], args: Any
) -> dict[str, Any]:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    out: dict[str, Any] = {"search": {}, "search_vector": {}}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for i in range(args.warmup):
            await stub.SearchMemories(
                svc.SearchMemoriesRequest(parent="users/warmup", query=queries[i])
            )

        add_s: list[float] = []
        for i in range(args.single_adds):
            t0 = time.perf_counter()
            await stub.AddMemories(
                svc.AddMemoriesRequest(
                    parent="users/bench-single",
                    messages=[memory_pb2.Message(role="user", content=texts[i])],
                    infer=False,
                )
            )
            add_s.append(time.perf_counter() - t0)
        out["add_s"] = add_s

        async def load(start: int, stop: int, *, embedded: bool) -> None:
            for lo in range(start, stop, 500):
                hi = min(stop, lo + 500)
                await stub.BatchCreateMemories(
                    svc.BatchCreateMemoriesRequest(
                        parent=USER,
                        requests=[
                            svc.CreateMemoryRequest(
                                memory=memory_pb2.Memory(content=numbered(texts, i)),
                                embedding=vectors[i % len(vectors)] if embedded else [],
                            )
                            for i in range(lo, hi)
                        ],
                    )
                )

        bulk = min(args.bulk, sizes[-1])
        t0 = time.perf_counter()
        await load(0, bulk, embedded=False)
        out["bulk"] = {"memories": bulk, "seconds": time.perf_counter() - t0}
        loaded = bulk
        for size in sizes:
            if loaded < size:
                await load(loaded, size, embedded=True)
                loaded = size
            for key, mode in (("search", 0), ("search_vector", svc.SearchMemoriesRequest.VECTOR)):
                times: list[float] = []
                for i in range(args.warmup + args.searches):
                    request = svc.SearchMemoriesRequest(
                        parent=USER,
                        query=f"{queries[i % len(queries)]} ({size} {i})",
                        top_k=10,
                        mode=mode,
                    )
                    t0 = time.perf_counter()
                    await stub.SearchMemories(request)
                    if i >= args.warmup:
                        times.append(time.perf_counter() - t0)
                out[key][str(size)] = times
    return out


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "add": percentiles(raw["add_s"]),
        "bulk_per_s": raw["bulk"]["memories"] / raw["bulk"]["seconds"],
        "search": {size: percentiles(t) for size, t in raw["search"].items()},
    } | (
        {"search_vector": {size: percentiles(t) for size, t in raw["search_vector"].items()}}
        if "search_vector" in raw
        else {}
    )


def print_results(results: dict[str, Any]) -> None:
    ours = results["mem0stack"]
    peer = results.get("mem0")
    table = Table(title="mem0-stack vs mem0 (same machine, same Postgres, same embeddings)")
    for col in ("measure", "mem0-stack", "mem0", "mem0-stack advantage"):
        table.add_column(col, justify="right" if col != "measure" else "left")

    def row(label: str, a: float, b: float | None, unit: str, higher_better: bool) -> None:
        if b is None:
            table.add_row(label, f"{a:.2f} {unit}", "-", "-")
            return
        ratio = a / b if higher_better else b / a
        table.add_row(label, f"{a:.2f} {unit}", f"{b:.2f} {unit}", f"{ratio:.1f}x")

    for p in ("p50", "p95"):
        row(f"single add {p}", ours["add"][p], peer and peer["add"][p], "ms", False)
    row("bulk ingest", ours["bulk_per_s"], peer and peer["bulk_per_s"], "mem/s", True)
    for size in ours["search"]:
        for p in ("p50", "p95", "p99"):
            row(
                f"search {int(size):,} {p}",
                ours["search"][size][p],
                peer and peer["search"][size][p],
                "ms",
                False,
            )
    console.print(table)
    for size, r in ours["search_vector"].items():
        console.print(
            f"mem0-stack VECTOR mode at {int(size):,}: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms"
        )
    if peer:
        e = results["mem0_embedding"]
        console.print(
            f"mem0's embeddings server: {e['requests']} requests, model time "
            f"{1000 * e['model_s'] / max(e['requests'], 1):.2f} ms per request on average"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument(
        "--bulk", type=int, default=10_000, help="memories in the timed bulk ingest"
    )
    parser.add_argument("--single-adds", type=int, default=200)
    parser.add_argument("--searches", type=int, default=300, help="timed searches per size")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--data", type=Path, default=LOCOMO, help="LoCoMo directory (texts, queries)"
    )
    parser.add_argument("--no-mem0", action="store_true", help="measure mem0-stack only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    conversations = load_locomo(args.data)
    texts = [t.text for c in conversations for t in c.turns]
    queries = [q.question for c in conversations for q in c.questions]
    console.print("embedding the texts once for the fills past the timed bulk ...")
    vectors = encode(texts).tolist()
    results: dict[str, Any] = {"machine": machine(), "sizes": args.sizes}
    with embedded_postgres("mem0stack-compare-") as dsn:
        console.print("mem0-stack ...")
        with mem0stack_server(dsn) as server:
            results["mem0stack"] = summarise(
                asyncio.run(mem0stack_run(server.target, texts, vectors, queries, args))
            )
        if not args.no_mem0:
            console.print("mem0 ...")
            with embed_server() as url, tempfile.TemporaryDirectory() as tmp:
                Path(tmp, "texts.json").write_text(json.dumps(texts))
                Path(tmp, "queries.json").write_text(json.dumps(queries))
                Path(tmp, "vectors.json").write_text(json.dumps(vectors))
                raw = run_mem0(
                    "compare",
                    Path(tmp) / "mem0.json",
                    "--pg",
                    dsn,
                    "--embed-url",
                    url,
                    "--texts",
                    str(Path(tmp, "texts.json")),
                    "--queries",
                    str(Path(tmp, "queries.json")),
                    "--vectors",
                    str(Path(tmp, "vectors.json")),
                    "--sizes",
                    args.sizes,
                    "--bulk",
                    str(args.bulk),
                    "--single-adds",
                    str(args.single_adds),
                    "--searches",
                    str(args.searches),
                    "--warmup",
                    str(args.warmup),
                )
                results["mem0_embedding"] = embed_stats(url)
            results["mem0"] = summarise(raw)
    print_results(results)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
