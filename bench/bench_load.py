"""Load benchmarks: throughput at saturation (issue #22) and a soak (issue #21).

Both drive the servers with closed-loop clients (each sends its next call as soon as the
previous one returns) that are coroutines of one asyncio process (grpc.aio for mem0-stack),
so on a 2-core machine the generator takes about one core at most (one event loop, plus
gRPC's own I/O thread); its CPU is printed beside the server's and PostgreSQL's, and so is
the whole machine's, so a reader sees what bounds each figure (a figure taken while the
generator sits near 1.0 core, or while the machine is busy with more than ours, measures
the generator or the neighbours, not the server).

The searched user holds ``--memories`` (10,000) LoCoMo turns, numbered to stay distinct,
loaded with precomputed embeddings (the same texts and vectors for both systems), then the
database is vacuumed and analyzed, as autovacuum leaves it a minute after a load
(``--no-analyze`` measures the minute before, when the planner has no statistics). Calls:

- search: top 10 of the loaded user with a distinct LoCoMo question (numbered, so no cache
  answers it); mem0-stack SearchMemories with the server's default mode (HYBRID with
  neighbouring context; ``--mode vector`` for VECTOR), mem0 ``Memory.search``;
- add: one message without inference into a user of the client's own (the searched user
  keeps its size): AddMemories ``infer=false`` (``--add-rpc create``: CreateMemory), mem0
  ``add(infer=False)``;
- list: the loaded user's first 50 memories: ListMemories, mem0 ``get_all``.

throughput
    For each system, the ``search`` workload (100% search) and then the ``mixed`` one (70%
    search, 20% add, 10% list), each at ``--clients`` (1, 8, 32, 128) for ``--seconds``
    (30) per point after one warm-up of ``--warmup`` seconds per system. Systems:
    mem0-stack with 1 server process, then with 2 on the same PostgreSQL (clients spread
    round-robin over the two ports; ``--servers``), then mem0 (mem0ai 2.2.1).

    mem0 is measured behind a minimal HTTP server (bench/load/mem0_server.py: the standard
    library's ThreadingHTTPServer, one thread per keep-alive connection, sharing one
    ``Memory`` whose PostgreSQL pool has mem0-stack's size, 10) rather than called from a
    thread pool inside the generator: that is the fairer of the two, because both systems
    then pay a socket hop, are loaded by the same generator, and have their CPU measured in
    processes of their own; a thread pool in the generator's process would put mem0 and the
    generator under one GIL and hide mem0's CPU in the generator's. mem0 embeds through
    bench/embed_server.py (the same ONNX model mem0-stack runs in-process); its CPU and RSS
    are counted with mem0's.

soak
    mem0-stack alone, one server process, ``--clients`` (32) clients of the mixed workload
    for ``--minutes`` (10) without pause, a report every ``--report-seconds`` (60). At the
    end, the verdict on memory: the least-squares slope of the server's RSS over the
    reports that end after ``--warmup-minutes`` (1; so minutes 2..N), in MiB per minute;
    flat means a slope below ``--flat-mib-per-min`` (1.0 MiB/min, i.e. under 10 MiB over
    a 10-minute run). The exit status is 1 when it is not flat.

Commands (``make bench-setup`` first, for mem0's environment):

    make bench-throughput        # the full matrix: 3 systems x 2 workloads x 1,8,32,128
                                 # clients x 30 s, about 15 minutes with the loading
    make bench-throughput LOAD_SECONDS=60 LOAD_CLIENTS=8,32     # other points
    make bench-soak              # 10 minutes, a report a minute
    make bench-soak SOAK_MINUTES=60                             # longer
    # what the targets run (results also in build/bench/{throughput,soak}.json):
    .venv/bin/python -m bench.bench_load throughput --data ../shared/data/locomo \
        --seconds 30 --clients 1,8,32,128 --json build/bench/throughput.json
    .venv/bin/python -m bench.bench_load soak --data ../shared/data/locomo \
        --minutes 10 --report-seconds 60 --json build/bench/soak.json
    # quick looks, to check the set-up rather than to take figures:
    .venv/bin/python -m bench.bench_load throughput --seconds 5 --clients 1,8 --warmup 2
    .venv/bin/python -m bench.bench_load soak --minutes 1 --report-seconds 10 \
        --warmup-minutes 0.25

The servers' logs are /tmp/mem0stack-test-<port>.log (tests/support/servers.py); the first
failure of each kind is also printed under its point and kept in the JSON
(``error_examples``).

Columns of the throughput table (one row per system, workload and client count):

    req/s          calls that succeeded per second over the point (all call types)
    search/s       searches that succeeded per second
    search p50/p99 latency of the successful searches, ms, as the client saw it
    add p50/p99, list p50/p99   the same for adds and lists (mixed workload)
    errors         failed calls by call type and code (gRPC status, or HTTP_<status>_<error>
                   / TIMEOUT for mem0); a failed call pauses its client 10 ms
    server cores   CPU of the server process(es) over the point (utime+stime from
                   /proc/<pid>/stat) per second of wall time: 1.00 is one core busy
    pg cores       the same for PostgreSQL (postmaster and all its backends)
    gen cores      the same for this load generator (near 1.0: the generator bounds it)
    machine cores  the whole machine's busy CPU (/proc/stat); above the sum of the three
                   before it, other processes took CPU during the point
    RSS MiB        the server process(es)' resident memory at the end of the point (for
                   mem0, its process and the embeddings server's, as with CPU)

and the ratio table: req/s of mem0-stack (1 and 2 processes) over mem0's at each workload
and client count, with the headline "searches/s at 32 clients, mem0-stack / mem0".

Columns of the soak reports: minute (the end of the report's window; the last window also
holds the drain of the calls in flight at the end), req/s, p50/p99 of each call type in ms,
the server's RSS (MiB) at the window's end, server, generator and whole-machine cores as in
the throughput table, and errors by call type and code.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.common import LOCOMO, load_locomo, machine, vacuum_analyze, wide_console, write_json
from bench.harness import mem0stack_server
from bench.load.backends import GrpcBackend, Mem0HttpBackend
from bench.load.procs import Meter, Usage, postgres
from bench.load.services import fill_mem0stack, mem0_service
from bench.load.workload import OPS, Backend, Sink, run_clients
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import ServerProcess

console = wide_console()
USER = "users/load"  # mem0-stack's resource name; mem0's user_id is "load"
MEM0_USER = "load"


class Corpus:
    """LoCoMo turns (the memory texts, one embedding each) and questions (the queries)."""

    def __init__(self, data: Path, memories: int) -> None:
        conversations = load_locomo(data)
        turns = [t.text for c in conversations for t in c.turns]
        # Memories past the number of turns repeat them, numbered: only the distinct texts
        # need embedding.
        self.texts = turns[: min(len(turns), memories)]
        self.queries = [q.question for c in conversations for q in c.questions]
        self.memories = memories
        from bench.model import encode  # the server's model; loaded only when needed

        console.print(f"embedding {len(self.texts):,} texts once for both systems ...")
        self.vectors: list[list[float]] = encode(self.texts).tolist()


def mode_of(name: str) -> int:
    # 0 leaves the mode to the server: its default is HYBRID with neighbouring context.
    return svc.SearchMemoriesRequest.VECTOR if name == "vector" else 0


def grpc_backend(targets: list[str], corpus: Corpus, args: argparse.Namespace) -> GrpcBackend:
    return GrpcBackend(
        targets,
        USER,
        corpus.queries,
        corpus.texts,
        mode=mode_of(args.mode),
        add_rpc=args.add_rpc,
        timeout_s=args.call_timeout,
    )


# -- throughput ---------------------------------------------------------------------------


async def measure_point(
    backend: Backend, meter: Meter, clients: int, seconds: float, workload: str, seed: int
) -> dict[str, Any]:
    sink = Sink()
    start = meter.sample()
    await run_clients(backend, clients, seconds, workload, sink, seed)
    usage = meter.usage(start)
    return sink.recorder.summary(usage.seconds) | {
        "clients": clients,
        "workload": workload,
        "usage": asdict(usage),
    }


async def run_system(
    system: str, backend: GrpcBackend | Mem0HttpBackend, meter: Meter, args: argparse.Namespace
) -> list[dict[str, Any]]:
    clients = [int(n) for n in args.clients.split(",")]
    await backend.open(max(clients))
    try:
        if args.warmup > 0:
            await run_clients(backend, min(8, max(clients)), args.warmup, "mixed", Sink(), 99)
        points: list[dict[str, Any]] = []
        for workload in args.workloads.split(","):
            for n in clients:
                point = await measure_point(backend, meter, n, args.seconds, workload, n)
                point["system"] = system
                points.append(point)
                console.print(point_line(point))
                for key, text in point["error_examples"].items():
                    console.print(f"    first {key}: {text}")
        return points
    finally:
        await backend.close()


def errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}:{n}" for k, n in sorted(errors.items())) or "0"


def point_line(p: dict[str, Any]) -> str:
    u = p["usage"]
    search = p["ops"].get("search", {})
    return (
        f"  {p['system']:<14} {p['workload']:<6} {p['clients']:>4} clients: "
        f"{p['per_s']:8.1f} req/s, search p50 {search.get('p50', float('nan')):.1f} "
        f"p99 {search.get('p99', float('nan')):.1f} ms, errors {errors_text(p['errors'])}, "
        f"server {u['server_cores']:.2f} pg {u['postgres_cores']:.2f} "
        f"gen {u['generator_cores']:.2f} machine {u['machine_cores']:.2f} cores, "
        f"RSS {u['server_rss_mib']:.0f} MiB"
    )


async def throughput_mem0stack(
    dsn: str, pg_pid: int | None, corpus: Corpus, args: argparse.Namespace
) -> list[dict[str, Any]]:
    counts = sorted(int(n) for n in args.servers.split(","))
    points: list[dict[str, Any]] = []
    with ExitStack() as stack:
        # Servers are added as the configurations need them, so the one-process figures
        # are taken without a second, idle process beside it.
        servers: list[ServerProcess] = []
        for count in counts:
            while len(servers) < count:
                servers.append(stack.enter_context(mem0stack_server(dsn)))
                if len(servers) == 1:
                    console.print(f"mem0-stack: loading {corpus.memories:,} memories ...")
                    await fill_mem0stack(
                        servers[0].target, USER, corpus.texts, corpus.vectors, corpus.memories
                    )
                    if args.analyze:
                        await vacuum_analyze(dsn)
            pids = [s.process.pid for s in servers if s.process is not None]
            label = f"mem0-stack x{count}"
            console.print(f"{label} ({', '.join(s.target for s in servers)}) ...")
            backend = grpc_backend([s.target for s in servers], corpus, args)
            points += await run_system(label, backend, Meter(pids, pg_pid), args)
    return points


async def throughput_mem0(
    dsn: str, pg_pid: int | None, corpus: Corpus, args: argparse.Namespace
) -> list[dict[str, Any]]:
    console.print(f"mem0: loading {corpus.memories:,} memories ...")
    with mem0_service(
        dsn, MEM0_USER, corpus.texts, corpus.vectors, corpus.memories, args.mem0_maxconn
    ) as service:
        if args.analyze:
            await vacuum_analyze(dsn)
        console.print("mem0 (HTTP server, a thread per connection) ...")
        backend = Mem0HttpBackend(
            service.port, MEM0_USER, corpus.queries, corpus.texts, timeout_s=args.call_timeout
        )
        return await run_system("mem0", backend, Meter(service.pids, pg_pid), args)


def ms(op: dict[str, Any] | None, key: str) -> str:
    return f"{op[key]:.1f}" if op and key in op else "-"


def print_throughput(points: list[dict[str, Any]]) -> None:
    table = Table(title="Throughput at saturation (closed-loop clients, one asyncio generator)")
    columns = ["system", "workload", "clients", "req/s", "search/s"]
    columns += [f"{op} {p}" for op in OPS for p in ("p50", "p99")]
    columns += ["errors", "server cores", "pg cores", "gen cores", "machine cores", "RSS MiB"]
    for col in columns:
        table.add_column(
            col, justify="left" if col in ("system", "workload", "errors") else "right"
        )
    for p in points:
        u = p["usage"]
        search = p["ops"].get("search")
        table.add_row(
            p["system"],
            p["workload"],
            str(p["clients"]),
            f"{p['per_s']:.1f}",
            f"{search['per_s']:.1f}" if search else "-",
            *(ms(p["ops"].get(op), q) for op in OPS for q in ("p50", "p99")),
            errors_text(p["errors"]),
            f"{u['server_cores']:.2f}",
            f"{u['postgres_cores']:.2f}",
            f"{u['generator_cores']:.2f}",
            f"{u['machine_cores']:.2f}",
            f"{u['server_rss_mib']:.0f}",
        )
    console.print(table)


def ratios(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """req/s of each mem0-stack configuration over mem0's, point by point."""
    peer = {(p["workload"], p["clients"]): p for p in points if p["system"] == "mem0"}
    out: list[dict[str, Any]] = []
    for p in points:
        q = peer.get((p["workload"], p["clients"]))
        if p["system"] == "mem0" or q is None:
            continue
        searches = p["ops"].get("search", {}).get("per_s", 0.0)
        peer_searches = q["ops"].get("search", {}).get("per_s", 0.0)
        out.append(
            {
                "system": p["system"],
                "workload": p["workload"],
                "clients": p["clients"],
                "req_per_s": p["per_s"],
                "mem0_req_per_s": q["per_s"],
                "ratio": p["per_s"] / q["per_s"] if q["per_s"] else float("inf"),
                "searches_ratio": searches / peer_searches if peer_searches else float("inf"),
            }
        )
    return out


def print_ratios(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title="mem0-stack / mem0, same run (req/s)")
    for col in ("system", "workload", "clients", "mem0-stack req/s", "mem0 req/s", "ratio"):
        table.add_column(col, justify="left" if col in ("system", "workload") else "right")
    for r in rows:
        table.add_row(
            r["system"],
            r["workload"],
            str(r["clients"]),
            f"{r['req_per_s']:.1f}",
            f"{r['mem0_req_per_s']:.1f}",
            f"{r['ratio']:.1f}x",
        )
    console.print(table)
    search_rows = [r for r in rows if r["workload"] == "search"]
    if search_rows:
        at = 32 if any(r["clients"] == 32 for r in search_rows) else search_rows[-1]["clients"]
        for r in search_rows:
            if r["clients"] == at:
                console.print(
                    f"searches/s at {at} clients, {r['system']} / mem0: {r['searches_ratio']:.1f}x"
                    + ("" if at == 32 else " (32 clients not measured in this run)")
                )


async def throughput(args: argparse.Namespace) -> dict[str, Any]:
    corpus = Corpus(args.data, args.memories)
    results: dict[str, Any] = {
        "machine": machine(),
        "memories": args.memories,
        "seconds_per_point": args.seconds,
        "mode": args.mode,
        "add_rpc": args.add_rpc,
        "mem0_harness": "HTTP server (ThreadingHTTPServer, a thread per connection)",
    }
    with postgres("mem0stack-load-") as (dsn, pg_pid):
        points = await throughput_mem0stack(dsn, pg_pid, corpus, args)
        if not args.no_mem0:
            points += await throughput_mem0(dsn, pg_pid, corpus, args)
    results["points"] = points
    results["ratios"] = ratios(points)
    print_throughput(points)
    print_ratios(results["ratios"])
    return results


# -- soak ---------------------------------------------------------------------------------


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def soak_line(r: dict[str, Any]) -> str:
    cells = [f"{r['minute']:6.2f}", f"{r['per_s']:8.1f}"]
    for op in OPS:
        o = r["ops"].get(op)
        cells.append(f"{ms(o, 'p50'):>7} {ms(o, 'p99'):>7}")
    u = r["usage"]
    cells += [
        f"{u['server_rss_mib']:8.1f}",
        f"{u['server_cores']:6.2f}",
        f"{u['generator_cores']:6.2f}",
        f"{u['machine_cores']:7.2f}",
        errors_text(r["errors"]),
    ]
    return "  ".join(cells)


SOAK_HEADER = "  ".join(
    ["minute", "   req/s"]
    + [f"{op + ' p50':>7} {'p99':>7}" for op in OPS]
    + ["RSS MiB ", "server", "   gen", "machine", "errors"]
)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    corpus = Corpus(args.data, args.memories)
    results: dict[str, Any] = {
        "machine": machine(),
        "memories": args.memories,
        "clients": args.clients,
        "minutes": args.minutes,
        "report_seconds": args.report_seconds,
        "mode": args.mode,
        "add_rpc": args.add_rpc,
    }
    reports: list[dict[str, Any]] = []
    with postgres("mem0stack-soak-") as (dsn, pg_pid), mem0stack_server(dsn) as server:
        assert server.process is not None
        console.print(f"mem0-stack: loading {corpus.memories:,} memories ...")
        await fill_mem0stack(server.target, USER, corpus.texts, corpus.vectors, corpus.memories)
        if args.analyze:
            await vacuum_analyze(dsn)
        meter = Meter([server.process.pid], pg_pid)
        backend = grpc_backend([server.target], corpus, args)
        await backend.open(args.clients)
        results["rss_at_start_mib"] = meter.usage(meter.sample()).server_rss_mib
        console.print(
            f"soak: {args.clients} clients, mixed workload, {args.minutes:g} min, "
            f"server RSS at start {results['rss_at_start_mib']:.1f} MiB"
        )
        console.print(SOAK_HEADER)
        sink = Sink()
        began = meter.sample()
        window = began
        task = asyncio.create_task(
            run_clients(backend, args.clients, args.minutes * 60, "mixed", sink, args.seed)
        )
        try:
            planned = max(1, math.ceil(args.minutes * 60 / args.report_seconds - 1e-9))
            while not task.done():
                next_at = began.at + (len(reports) + 1) * args.report_seconds
                # The last report waits for the calls still in flight at the end, so their
                # drain is part of it rather than a short window of its own.
                last = len(reports) + 1 >= planned
                timeout = None if last else max(0.0, next_at - time.perf_counter())
                await asyncio.wait([task], timeout=timeout)
                recorder = sink.swap()
                end = meter.sample()
                usage: Usage = meter.usage(window, end)
                window = end
                report = recorder.summary(usage.seconds) | {
                    "minute": (end.at - began.at) / 60,
                    "usage": asdict(usage),
                }
                reports.append(report)
                console.print(soak_line(report))
            task.result()
        finally:
            task.cancel()
            await backend.close()
        results["server_peak_rss_mib"] = meter.usage(meter.sample()).server_peak_rss_mib
    results["reports"] = reports
    results["verdict"] = verdict(reports, args)
    v = results["verdict"]
    console.print(v["text"])
    return results


def verdict(reports: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    kept = [r for r in reports if r["minute"] > args.warmup_minutes + 1e-9]
    out: dict[str, Any] = {
        "warmup_minutes": args.warmup_minutes,
        "threshold_mib_per_min": args.flat_mib_per_min,
        "reports_used": len(kept),
        "errors": sum(sum(r["errors"].values()) for r in reports),
    }
    if len(kept) < 2:
        out |= {
            "flat": None,
            "text": f"RSS trend: not enough reports after the {args.warmup_minutes:g}-minute "
            f"warm-up ({len(kept)}; need 2) to fit a slope",
        }
        return out
    xs = [r["minute"] for r in kept]
    ys = [r["usage"]["server_rss_mib"] for r in kept]
    rate = slope(xs, ys)
    flat = rate < args.flat_mib_per_min
    out |= {
        "slope_mib_per_min": rate,
        "rss_first_mib": ys[0],
        "rss_last_mib": ys[-1],
        "flat": flat,
        "text": (
            f"RSS trend after the {args.warmup_minutes:g}-minute warm-up "
            f"(minutes {xs[0]:.2f}..{xs[-1]:.2f}, {len(kept)} reports): "
            f"{rate:+.2f} MiB/min ({ys[0]:.1f} -> {ys[-1]:.1f} MiB): "
            + (
                f"FLAT (below {args.flat_mib_per_min:g} MiB/min)"
                if flat
                else f"GROWING (at or above {args.flat_mib_per_min:g} MiB/min)"
            )
            + f"; {out['errors']} errors in all"
        ),
    }
    return out


# -- command line -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    common.add_argument("--memories", type=int, default=10_000, help="in the searched user")
    common.add_argument("--mode", choices=("hybrid", "vector"), default="hybrid")
    common.add_argument("--add-rpc", choices=("add", "create"), default="add")
    common.add_argument("--call-timeout", type=float, default=30.0, help="seconds per call")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument(
        "--analyze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="VACUUM ANALYZE after loading, as autovacuum leaves the tables within a minute "
        "(default); --no-analyze measures the first minute after a bulk load",
    )
    common.add_argument("--json", type=Path, help="also write the results here")

    t = sub.add_parser("throughput", parents=[common], help="requests/s at 1..128 clients")
    t.add_argument("--clients", default="1,8,32,128")
    t.add_argument("--seconds", type=float, default=30.0, help="per point")
    t.add_argument("--warmup", type=float, default=5.0, help="seconds per system, not counted")
    t.add_argument("--workloads", default="search,mixed")
    t.add_argument("--servers", default="1,2", help="mem0-stack server processes to try")
    t.add_argument("--mem0-maxconn", type=int, default=10, help="mem0's PostgreSQL pool")
    t.add_argument("--no-mem0", action="store_true", help="measure mem0-stack only")

    s = sub.add_parser("soak", parents=[common], help="mixed load for minutes; RSS trend")
    s.add_argument("--clients", type=int, default=32)
    s.add_argument("--minutes", type=float, default=10.0)
    s.add_argument("--report-seconds", type=float, default=60.0)
    s.add_argument("--warmup-minutes", type=float, default=1.0, help="left out of the slope")
    s.add_argument("--flat-mib-per-min", type=float, default=1.0, help="flat: slope below")

    args = parser.parse_args()
    m = machine()
    console.print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"features: {', '.join(m['cpu_features']) or 'no AVX2/AVX-512/VNNI'}, "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    results = asyncio.run(throughput(args) if args.command == "throughput" else soak(args))
    write_json(args.json, results)
    if args.command == "soak" and results["verdict"]["flat"] is False:
        sys.exit(1)


if __name__ == "__main__":
    main()
