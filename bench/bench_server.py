"""Server benchmark: load 10,000 memories and run 1,000 searches through the gRPC API.

Prints p50/p95/p99 for CreateMemory, BatchCreateMemories (per memory) and SearchMemories,
the PostgreSQL CPU time per search (all of PostgreSQL's processes, from /proc), plus the
server's peak RSS. The server runs as its own process on an embedded PostgreSQL with the
local embedder, exactly as `make run` starts it.

With ``--baseline REV`` a second server runs the server package as it was at that git
revision, on the same database, and the searches alternate between the two servers in
blocks of the same queries (which server goes first swaps every block), so that both meet
the same load on a shared machine: each one's figures and their ratio come from one run.

    .venv/bin/python -m bench.bench_server [--memories 10000] [--searches 1000]
        [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from rich.progress import Progress
from rich.table import Table

from bench.common import REPO, machine, vacuum_analyze, wide_console
from bench.load.procs import tree_cpu_seconds
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import ServerProcess, free_port

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"
# Searches in a row on one server before the other takes its turn (with --baseline).
BLOCK = 50

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


@dataclass
class Searches:
    """One server's searches of one mode: their times and the PostgreSQL CPU they took."""

    times_s: list[float] = field(default_factory=list)
    postgres_cpu_s: float = 0.0

    def postgres_ms_per_search(self) -> float:
        return self.postgres_cpu_s / len(self.times_s) * 1000


@dataclass(frozen=True)
class Target:
    label: str
    address: str


async def search_block(
    stub: memory_service_pb2_grpc.MemoryServiceStub,
    parent: str,
    queries: list[str],
    mode: svc.SearchMemoriesRequest.Mode.ValueType,
    postgres_pid: int,
    into: Searches,
) -> None:
    cpu_before = tree_cpu_seconds(postgres_pid)
    for query in queries:
        t0 = time.perf_counter()
        await stub.SearchMemories(
            svc.SearchMemoriesRequest(parent=parent, query=query, top_k=10, mode=mode)
        )
        into.times_s.append(time.perf_counter() - t0)
    into.postgres_cpu_s += tree_cpu_seconds(postgres_pid) - cpu_before


async def run(
    memories: int,
    searches: int,
    texts: list[str],
    queries: list[str],
    targets: list[Target],
    dsn: str,
    postgres_pid: int,
) -> dict[str, object]:
    parent = "users/bench"
    results: dict[str, object] = {}
    channels = [grpc.aio.insecure_channel(t.address) for t in targets]
    stubs = [memory_service_pb2_grpc.MemoryServiceStub(c) for c in channels]
    stub = stubs[0]
    try:
        with Progress(console=console, transient=True) as progress:
            # Warm-up: model, pool and prepared statements, on every server.
            for s in stubs:
                for i in range(20):
                    await s.SearchMemories(
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

            # The searches meet the table as autovacuum leaves it a minute after a load:
            # vacuumed and analyzed. Before that the planner has no statistics, and plans
            # (and costs) differ: bench_load.py --no-analyze and profile_search.py
            # --no-statistics measure that state.
            await vacuum_analyze(dsn, "memories")

            for mode_name, mode in (
                ("hybrid", svc.SearchMemoriesRequest.HYBRID),
                ("vector", svc.SearchMemoriesRequest.VECTOR),
            ):
                done = {t.label: Searches() for t in targets}
                task = progress.add_task(f"SearchMemories ({mode_name})", total=searches)
                for block, start in enumerate(range(0, searches, BLOCK)):
                    # Distinct query texts: the embedder's query cache must not flatter us.
                    # Each server embeds each text once, in its own process.
                    block_queries = [
                        f"{queries[i % len(queries)]} ({mode_name} {i})"
                        for i in range(start, min(searches, start + BLOCK))
                    ]
                    order = list(zip(targets, stubs, strict=True))
                    if block % 2:
                        order.reverse()
                    for target, s in order:
                        await search_block(
                            s, parent, block_queries, mode, postgres_pid, done[target.label]
                        )
                    progress.update(task, advance=len(block_queries))
                results[f"search_{mode_name}"] = done
    finally:
        for c in channels:
            await c.close()
    return results


def export_server(revision: str) -> Path:
    """The server package as it was at ``revision``, in a directory for PYTHONPATH (the
    package is installed editable, from a path PYTHONPATH comes before)."""
    directory = Path(tempfile.mkdtemp(prefix="mem0stack-baseline-"))
    archive = subprocess.run(
        ["git", "archive", revision, "server"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory / "server"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument(
        "--data", type=Path, default=LOCOMO, help="LoCoMo directory (texts and queries)"
    )
    parser.add_argument("--baseline", help="git revision whose server to search beside this one")
    args = parser.parse_args()

    texts, queries = corpus(args.data)
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="mem0stack-bench-"))
    pg = pgserver.get_server(data_dir, cleanup_mode="delete")
    postgres_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    servers = [("this tree", ServerProcess(database_url=pg.get_uri(), port=free_port()))]
    if args.baseline:
        path = export_server(args.baseline)
        env = {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))
        }
        servers.append(
            (args.baseline, ServerProcess(database_url=pg.get_uri(), port=free_port(), env=env))
        )
    with ExitStack() as stack:
        stack.callback(pg.cleanup)
        for _, server in servers:
            server.start()
            stack.callback(server.stop)
        targets = [Target(label, server.target) for label, server in servers]
        results = asyncio.run(
            run(args.memories, args.searches, texts, queries, targets, pg.get_uri(), postgres_pid)
        )
        assert servers[0][1].process is not None
        rss = peak_rss_mb(servers[0][1].process.pid)

    m = machine()
    table = Table(
        title=f"mem0-stack server, {args.memories:,} memories, {platform.machine()}, "
        f"{m['cpu']} {m['cpu_features']}, load average {os.getloadavg()[0]:.1f}"
    )
    table.add_column("operation")
    for col in ("p50 ms", "p95 ms", "p99 ms", "PostgreSQL CPU ms"):
        table.add_column(col, justify="right")
    for label, key in (
        ("CreateMemory", "create"),
        ("BatchCreateMemories (per memory)", "batch_per_memory"),
    ):
        figures: tuple[float, float, float] = results[key]  # type: ignore[assignment]
        table.add_row(label, *(f"{f:.2f}" for f in figures), "")
    for label, key in (
        ("SearchMemories hybrid (default)", "search_hybrid"),
        ("SearchMemories vector", "search_vector"),
    ):
        done: dict[str, Searches] = results[key]  # type: ignore[assignment]
        for target in targets:
            s = done[target.label]
            s50, s95, s99 = percentiles(s.times_s)
            name = label if len(targets) == 1 else f"{label}, {target.label}"
            table.add_row(
                name, f"{s50:.2f}", f"{s95:.2f}", f"{s99:.2f}", f"{s.postgres_ms_per_search():.2f}"
            )
        if len(targets) == 2:
            ours, theirs = (done[t.label] for t in targets)
            table.add_row(
                f"{label}, this tree / {targets[1].label}",
                f"{percentiles(ours.times_s)[0] / percentiles(theirs.times_s)[0]:.2f}",
                "",
                f"{percentiles(ours.times_s)[2] / percentiles(theirs.times_s)[2]:.2f}",
                f"{ours.postgres_ms_per_search() / theirs.postgres_ms_per_search():.2f}",
            )
    console.print(table)
    console.print(f"BatchCreateMemories throughput: {results['batch_rate']:.0f} memories/s")
    console.print(f"server peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
