"""Start the systems under load and fill the searched user, for bench/bench_load.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench.common import REPO
from bench.harness import MEM0_PYTHON, check_mem0_venv
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import free_port

BATCH = 500


@dataclass
class Mem0Service:
    port: int
    pids: list[int]  # mem0's HTTP server, then the embeddings server it calls


async def fill_mem0stack(
    target: str, user: str, texts: list[str], vectors: list[list[float]], count: int
) -> None:
    """``count`` numbered texts into ``user`` through BatchCreateMemories with precomputed
    embeddings (mem0 gets the same texts and vectors)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for lo in range(0, count, BATCH):
            hi = min(count, lo + BATCH)
            await stub.BatchCreateMemories(
                svc.BatchCreateMemoriesRequest(
                    parent=user,
                    requests=[
                        svc.CreateMemoryRequest(
                            memory=memory_pb2.Memory(content=f"{texts[i % len(texts)]} (#{i})"),
                            embedding=vectors[i % len(vectors)],
                        )
                        for i in range(lo, hi)
                    ],
                )
            )


def _wait_ready(process: subprocess.Popen[str], what: str) -> None:
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError(f"{what} did not start")


@contextmanager
def mem0_service(
    dsn: str,
    user: str,
    texts: list[str],
    vectors: list[list[float]],
    count: int,
    maxconn: int,
) -> Iterator[Mem0Service]:
    """bench/embed_server.py, then bench/load/mem0_server.py in .venv-mem0 with ``user``
    filled; both are stopped on exit."""
    check_mem0_venv()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (tmp / "texts.json").write_text(json.dumps(texts))
        (tmp / "vectors.json").write_text(json.dumps(vectors))
        embed_port, port = free_port(), free_port()
        embed = subprocess.Popen(
            [sys.executable, "-m", "bench.embed_server", "--port", str(embed_port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(_stop, embed)
        _wait_ready(embed, "the embeddings server")
        mem0 = subprocess.Popen(
            [
                str(MEM0_PYTHON),
                "-m",
                "bench.load.mem0_server",
                "--pg",
                dsn,
                "--embed-url",
                f"http://127.0.0.1:{embed_port}/v1",
                "--port",
                str(port),
                "--texts",
                str(tmp / "texts.json"),
                "--vectors",
                str(tmp / "vectors.json"),
                "--memories",
                str(count),
                "--user",
                user,
                "--maxconn",
                str(maxconn),
            ],
            cwd=REPO,
            env={**os.environ, "MEM0_TELEMETRY": "False", "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(_stop, mem0)
        _wait_ready(mem0, "mem0's HTTP server")
        yield Mem0Service(port=port, pids=[mem0.pid, embed.pid])


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
