"""Server benchmark: load 10,000 memories and run 1,000 searches through the gRPC API.

Prints p50/p95/p99 for CreateMemory, BatchCreateMemories (per memory) and SearchMemories,
plus the server's peak RSS. The server runs as its own process on an embedded PostgreSQL
with the local embedder, exactly as `make run` starts it.

    .venv/bin/python -m bench.bench_server [--memories 10000] [--searches 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import grpc
from rich.progress import Progress
from rich.table import Table

from bench.common import wide_console
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import ServerProcess, free_port

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"

console = wide_console()


def corpus(directory: Path) -> tuple[list[str], list[str]]:
    """LoCoMo turns as memory texts and LoCoMo questions as queries."""
    texts: list[str] = []
    questions: list[str] = []
    for path in sorted(directory.glob("*.json")):
        conversation = json.loads(path.read_text())
        for key, turns in conversation.items():
            if key.startswith("session_") and isinstance(turns, list):
                texts += [f"{t['speaker']}: {t['text']}" for t in turns]
        questions += [q["question"] for q in conversation.get("qa", [])]
    return texts, questions


def percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[94], q[98]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(
    memories: int, searches: int, texts: list[str], queries: list[str], target: str
) -> dict[str, object]:
    parent = "users/bench"
    results: dict[str, object] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with Progress(console=console, transient=True) as progress:
            # Warm-up: model, pool and prepared statements.
            for i in range(20):
                await stub.SearchMemories(
                    svc.SearchMemoriesRequest(parent="users/warmup", query=queries[i])
                )

            batch_size = 500
            batch_times: list[float] = []
            task = progress.add_task("BatchCreateMemories", total=memories)
            loaded = 0
            start_all = time.perf_counter()
            while loaded < memories:
                n = min(batch_size, memories - loaded)
                requests = [
                    svc.CreateMemoryRequest(
                        memory=memory_pb2.Memory(
                            content=f"{texts[(loaded + i) % len(texts)]} (#{loaded + i})"
                        )
                    )
                    for i in range(n)
                ]
                t0 = time.perf_counter()
                await stub.BatchCreateMemories(
                    svc.BatchCreateMemoriesRequest(parent=parent, requests=requests)
                )
                batch_times.append((time.perf_counter() - t0) / n)
                loaded += n
                progress.update(task, completed=loaded)
            results["batch_rate"] = memories / (time.perf_counter() - start_all)
            results["batch_per_memory"] = percentiles(batch_times)

            create_times: list[float] = []
            task = progress.add_task("CreateMemory", total=200)
            for i in range(200):
                t0 = time.perf_counter()
                await stub.CreateMemory(
                    svc.CreateMemoryRequest(
                        parent="users/bench-single", memory=memory_pb2.Memory(content=texts[i])
                    )
                )
                create_times.append(time.perf_counter() - t0)
                progress.update(task, advance=1)
            results["create"] = percentiles(create_times)

            for mode_name, mode in (
                ("hybrid", svc.SearchMemoriesRequest.HYBRID),
                ("vector", svc.SearchMemoriesRequest.VECTOR),
            ):
                search_times: list[float] = []
                task = progress.add_task(f"SearchMemories ({mode_name})", total=searches)
                for i in range(searches):
                    # Distinct query texts: the embedder's query cache must not flatter us.
                    query = f"{queries[i % len(queries)]} ({mode_name} {i})"
                    t0 = time.perf_counter()
                    await stub.SearchMemories(
                        svc.SearchMemoriesRequest(parent=parent, query=query, top_k=10, mode=mode)
                    )
                    search_times.append(time.perf_counter() - t0)
                    progress.update(task, advance=1)
                results[f"search_{mode_name}"] = percentiles(search_times)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument(
        "--data", type=Path, default=LOCOMO, help="LoCoMo directory (texts and queries)"
    )
    args = parser.parse_args()

    texts, queries = corpus(args.data)
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="mem0stack-bench-"))
    pg = pgserver.get_server(data_dir, cleanup_mode="delete")
    server = ServerProcess(database_url=pg.get_uri(), port=free_port())
    server.start()
    try:
        assert server.process is not None
        results = asyncio.run(run(args.memories, args.searches, texts, queries, server.target))
        rss = peak_rss_mb(server.process.pid)
    finally:
        server.stop()
        pg.cleanup()

    table = Table(title=f"mem0-stack server, {args.memories:,} memories, {platform.machine()}")
    table.add_column("operation")
    for col in ("p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for label, key in (
        ("CreateMemory", "create"),
        ("BatchCreateMemories (per memory)", "batch_per_memory"),
        ("SearchMemories hybrid (default)", "search_hybrid"),
        ("SearchMemories vector", "search_vector"),
    ):
        p50, p95, p99 = results[key]  # type: ignore[misc]
        table.add_row(label, f"{p50:.2f}", f"{p95:.2f}", f"{p99:.2f}")
    console.print(table)
    console.print(f"BatchCreateMemories throughput: {results['batch_rate']:.0f} memories/s")
    console.print(f"server peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
