"""Processes the comparison benchmarks start: mem0-stack, the embeddings server, mem0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import REPO
from tests.support.servers import ServerProcess, free_port

MEM0_PYTHON = REPO / ".venv-mem0" / "bin" / "python"


@contextmanager
def mem0stack_server(dsn: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(dsn, free_port(), env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def embed_server() -> Iterator[str]:
    """bench/embed_server.py on a free port; yields its OpenAI base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.embed_server", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("embeddings server did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def embed_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as reply:
        stats: dict[str, Any] = json.loads(reply.read())
    return stats


def check_mem0_venv() -> None:
    if not MEM0_PYTHON.exists():
        raise SystemExit("mem0's environment is missing: run `make bench-setup` first")


def run_mem0(task: str, out: Path, *args: str) -> dict[str, Any]:
    """Run bench/mem0_runner.py in .venv-mem0; returns the JSON it wrote."""
    check_mem0_venv()
    env = {**os.environ, "MEM0_TELEMETRY": "False", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    subprocess.run(
        [str(MEM0_PYTHON), "-m", "bench.mem0_runner", task, "--out", str(out), *args],
        cwd=REPO,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - t0
    return result
