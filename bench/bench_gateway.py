"""Gateway benchmark: what REST through Envoy adds to SearchMemories, at 10,000 memories.

Loads 10,000 memories (LoCoMo turns, embedded by the server) into one user, then runs the
same kind of text search three ways, interleaved so that drift hits all three alike:

- gRPC straight to the server (the baseline),
- gRPC through Envoy (the proxy hop alone),
- REST/JSON through Envoy (proxy hop plus JSON transcoding).

Every query text is distinct, so the embedder's cache flatters none of them. GetMemory,
which costs the server little, is measured the same way to show the gateway's fixed cost
without the search's noise. Clients are synchronous and keep their connection open (a gRPC
channel; an HTTP/1.1 keep-alive connection), as a real application would. Prints
p50/p95/p99 per path and what the gateway adds: the difference of the p50s, and the median
of the per-round differences (each round calls every path once, in rotating order).

    .venv/bin/python -m bench.bench_gateway [--memories 10000] [--searches 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from rich.table import Table

from bench.common import wide_console
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.envoy import EnvoyProcess
from tests.support.servers import ServerProcess, free_port

PARENT = "users/bench"
LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"

console = wide_console()


def corpus(directory: Path) -> tuple[list[str], list[str]]:
    """LoCoMo turns as memory texts, LoCoMo questions as queries."""
    texts: list[str] = []
    questions: list[str] = []
    for path in sorted(directory.glob("*.json")):
        raw = json.loads(path.read_text())
        conversation = raw.get("conversation", raw)
        for key, turns in conversation.items():
            if key.startswith("session_") and isinstance(turns, list):
                texts += [f"{turn['speaker']}: {turn['text']}" for turn in turns]
        questions += [qa["question"] for qa in raw.get("qa", [])]
    if not texts or not questions:
        raise SystemExit(f"no LoCoMo conversations in {directory}")
    return texts, questions


def percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 in milliseconds."""
    q = statistics.quantiles(sorted(s * 1000 for s in samples_s), n=100, method="inclusive")
    return q[49], q[94], q[98]


def load(target: str, memories: int, texts: list[str]) -> float:
    """Store ``memories`` memories in batches of 500; returns the seconds it took."""
    start = time.perf_counter()
    with grpc.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for first in range(0, memories, 500):
            count = min(500, memories - first)
            stub.BatchCreateMemories(
                svc.BatchCreateMemoriesRequest(
                    parent=PARENT,
                    requests=[
                        svc.CreateMemoryRequest(
                            memory=memory_pb2.Memory(
                                content=f"{texts[(first + i) % len(texts)]} (#{first + i})"
                            )
                        )
                        for i in range(count)
                    ],
                ),
                timeout=600,
            )
    return time.perf_counter() - start


class RestClient:
    """The REST calls, over one keep-alive HTTP/1.1 connection to Envoy."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
        data = None if body is None else json.dumps(body)
        headers = {} if body is None else {"content-type": "application/json"}
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload: dict[str, object] = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"REST {path} failed: {response.status} {payload}")
        return payload

    def search(self, query: str) -> int:
        reply = self.call("POST", f"/v1/{PARENT}/memories:search", {"query": query, "topK": 10})
        return len(reply["results"])  # type: ignore[arg-type]

    def get(self, name: str) -> int:
        return len(self.call("GET", f"/v1/{name}"))


class GrpcClient:
    """The same calls over a gRPC channel (to the server, or to Envoy)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = memory_service_pb2_grpc.MemoryServiceStub(channel)

    def search(self, query: str) -> int:
        reply = self.stub.SearchMemories(
            svc.SearchMemoriesRequest(parent=PARENT, query=query, top_k=10), timeout=30
        )
        return len(reply.results)

    def get(self, name: str) -> int:
        return len(self.stub.GetMemory(svc.GetMemoryRequest(name=name), timeout=30).content)


def measure(paths: dict[str, Callable[[int], object]], rounds: int) -> dict[str, list[float]]:
    """``rounds`` calls per path, round-robin, the order rotating every round."""
    names = list(paths)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            t0 = time.perf_counter()
            paths[name](i)
            samples[name].append(time.perf_counter() - t0)
    return samples


def paired_median_ms(samples: list[float], base: list[float]) -> float:
    """Median over rounds of (this path - the baseline): robust to the server's own noise."""
    return statistics.median(s - b for s, b in zip(samples, base, strict=True)) * 1000


def cpu_model() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    args = parser.parse_args()
    texts, queries = corpus(args.data)

    import pgserver

    pg = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="mem0stack-bench-")), cleanup_mode="delete"
    )
    server = ServerProcess(database_url=pg.get_uri(), port=free_port())
    server.start()
    envoy = EnvoyProcess(upstream=server.target, health_interval=1.0)
    envoy.start()
    try:
        seconds = load(server.target, args.memories, texts)
        console.print(f"loaded {args.memories:,} memories in {seconds:.0f} s")
        with (
            grpc.insecure_channel(server.target) as direct_channel,
            grpc.insecure_channel(envoy.target) as proxied_channel,
        ):
            clients = {
                "gRPC, direct": GrpcClient(direct_channel),
                "gRPC via Envoy": GrpcClient(proxied_channel),
                "REST via Envoy": RestClient(envoy.port),
            }
            listed = clients["gRPC, direct"].stub.ListMemories(
                svc.ListMemoriesRequest(parent=PARENT, page_size=100)
            )
            names = [m.name for m in listed.memories]

            def searcher(client: GrpcClient | RestClient, tag: int) -> Callable[[int], object]:
                # A distinct text per call (no embedder cache hit), with the same shape on
                # every path, so the keyword part of the search does the same work.
                return lambda i: client.search(f"{queries[i % len(queries)]} {3 * i + tag}")

            def getter(client: GrpcClient | RestClient) -> Callable[[int], object]:
                return lambda i: client.get(names[i % len(names)])

            searches = {n: searcher(c, k) for k, (n, c) in enumerate(clients.items())}
            gets = {n: getter(c) for n, c in clients.items()}
            measure(searches, 30)  # warm-up: model, pools, connections, plans
            measure(gets, 100)
            load_before = os.getloadavg()[0]
            results = {
                "SearchMemories": measure(searches, args.searches),
                "GetMemory": measure(gets, args.searches),
            }
    finally:
        envoy.stop()
        server.stop()
        pg.cleanup()

    console.print(
        f"{args.memories:,} memories, {args.searches:,} calls per path; {cpu_model()}, "
        f"{os.cpu_count()} cores; load average before/after: {load_before:.2f} / "
        f"{os.getloadavg()[0]:.2f}"
    )
    for rpc, samples in results.items():
        base = samples["gRPC, direct"]
        table = Table(title=rpc)
        for column in ("path", "p50 ms", "p95 ms", "p99 ms", "added p50 ms", "added (paired)"):
            table.add_column(column, justify="left" if column == "path" else "right")
        for name, times in samples.items():
            p50, p95, p99 = percentiles(times)
            table.add_row(
                name,
                f"{p50:.2f}",
                f"{p95:.2f}",
                f"{p99:.2f}",
                f"{p50 - percentiles(base)[0]:+.2f}",
                f"{paired_median_ms(times, base):+.2f}",
            )
        console.print(table)


if __name__ == "__main__":
    main()
