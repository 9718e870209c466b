"""Import throughput beside the embedder's raw batch throughput (the gap is our overhead).

Streams N memories (LoCoMo turns, made distinct) through ImportMemories into a server on an
embedded PostgreSQL, then embeds the same texts with the local embedder alone, in batches
of 64, in this process. Both runs happen back to back on the same machine.

    .venv/bin/python -m bench.bench_import [--memories 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from bench.bench_server import LOCOMO, corpus
from bench.common import wide_console
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack_server.embed import create_embedder
from tests.support.servers import ServerProcess, free_port

console = wide_console()


def texts_for(count: int, directory: Path) -> list[str]:
    turns, _ = corpus(directory)
    return [f"{turns[i % len(turns)]} (#{i})" for i in range(count)]


async def import_rate(target: str, texts: list[str]) -> float:
    async def requests() -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
        for i, text in enumerate(texts):
            yield streams_pb2.ImportMemoriesRequest(
                parent="users/bench-import" if i == 0 else "",
                memory=memory_pb2.Memory(content=text),
                source_id=f"bench-{i}",
            )

    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        start = time.perf_counter()
        summary = await stub.ImportMemories(requests())
        elapsed = time.perf_counter() - start
    assert summary.imported == len(texts), summary
    return len(texts) / elapsed


async def embedder_rate(texts: list[str]) -> float:
    embedder = create_embedder("local")
    try:
        start = time.perf_counter()
        for i in range(0, len(texts), 64):
            await embedder.embed(texts[i : i + 64])
        return len(texts) / (time.perf_counter() - start)
    finally:
        await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memories", type=int, default=50_000)
    parser.add_argument("--data", type=Path, default=LOCOMO)
    args = parser.parse_args()
    texts = texts_for(args.memories, args.data)

    import pgserver

    pg = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="mem0stack-bench-")), cleanup_mode="delete"
    )
    server = ServerProcess(database_url=pg.get_uri(), port=free_port())
    server.start()
    try:
        imported = asyncio.run(import_rate(server.target, texts))
    finally:
        server.stop()
        pg.cleanup()
    raw = asyncio.run(embedder_rate(texts))
    console.print(f"ImportMemories: {imported:,.0f} memories/s ({args.memories:,} memories)")
    console.print(f"local embedder alone, batches of 64: {raw:,.0f} texts/s")
    console.print(f"import / embedder: {imported / raw:.0%}")


if __name__ == "__main__":
    main()
