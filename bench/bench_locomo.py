"""Retrieval quality on LoCoMo: mem0-stack's search modes and mem0, on the same machine.

Every turn of a conversation is stored as one memory (``"{speaker}: {text}"`` plus
``" [image: {caption}]"``) with its dia_id and speaker in metadata, its session as the
run (``run_id = session_N``) and the session's date as event_time, in one user per
conversation, in the order spoken. Every question of categories 1-4 is searched in its
conversation's user; recall@k counts questions with any (or all) of their evidence
turns in the top k. mem0 (``infer=False``) gets the same texts, metadata and scopes
through its own API, with the same embeddings (see embed_server.py).

    .venv/bin/python -m bench.bench_locomo [--data DIR] [--no-mem0]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2, timestamp_pb2
from rich.table import Table

from bench.common import (
    CATEGORIES,
    CATEGORY_NAMES,
    LOCOMO,
    Conversation,
    embedded_postgres,
    load_locomo,
    machine,
    percentiles,
    wide_console,
    write_json,
)
from bench.harness import embed_server, mem0stack_server, run_mem0
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc

console = wide_console()
KS = (1, 5, 10)
Mode = svc.SearchMemoriesRequest.Mode

#: mem0-stack configurations measured: name -> SearchMemoriesRequest fields.
VARIANTS: dict[str, dict[str, Any]] = {
    "mem0-stack (defaults)": {},
    "mem0-stack hybrid, no name boost": {"name_weight": 0.0},
    "mem0-stack hybrid, no context": {"context_weight": 0.0},
    "mem0-stack keyword (BM25)": {"mode": Mode.KEYWORD, "context_weight": 0.0},
    "mem0-stack vector": {"mode": Mode.VECTOR, "context_weight": 0.0},
}


def recall(
    conversations: Sequence[Conversation], found: dict[str, list[list[str]]]
) -> dict[str, Any]:
    """recall_any@k / recall_all@k overall and per category, from each question's top ids."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for conv in conversations:
        for q, top in zip(conv.questions, found[conv.name], strict=True):
            for k in KS:
                ids = set(top[:k])
                for scope in ("all", f"cat{q.category}"):
                    hits[f"{scope}/any@{k}"].append(bool(ids & q.evidence))
                    hits[f"{scope}/all@{k}"].append(q.evidence <= ids)
    return {key: sum(v) / len(v) for key, v in hits.items()} | {"questions": len(hits["all/any@1"])}


async def mem0stack_run(
    target: str, conversations: Sequence[Conversation], variants: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        t0 = time.perf_counter()
        for conv in conversations:
            requests = []
            for turn in conv.turns:
                metadata = struct_pb2.Struct()
                metadata.update({"dia_id": turn.dia_id, "speaker": turn.speaker})
                memory = memory_pb2.Memory(
                    content=turn.text, run_id=f"session_{turn.session}", metadata=metadata
                )
                if turn.event_time is not None:
                    memory.event_time.CopyFrom(timestamp_pb2.Timestamp())
                    memory.event_time.FromDatetime(turn.event_time)
                requests.append(svc.CreateMemoryRequest(memory=memory))
            for i in range(0, len(requests), 250):
                await stub.BatchCreateMemories(
                    svc.BatchCreateMemoriesRequest(
                        parent=f"users/locomo-{conv.name}", requests=requests[i : i + 250]
                    )
                )
        out["ingest_s"] = time.perf_counter() - t0
        # Warm-up (pool, cached plans, model) before anything is timed.
        for conv in conversations:
            for q in conv.questions[:5]:
                for fields in variants.values():
                    await stub.SearchMemories(
                        svc.SearchMemoriesRequest(
                            parent=f"users/locomo-{conv.name}", query=q.question, **fields
                        )
                    )
        # Variants take turns question by question, so that background work after the
        # ingest (autovacuum, the embedder warming up) weighs on none of them alone; every
        # search embeds its query (none is answered from the embedding cache).
        found: dict[str, dict[str, list[list[str]]]] = {name: {} for name in variants}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for conv in conversations:
            for name in variants:
                found[name][conv.name] = []
            for q in conv.questions:
                for n, (name, fields) in enumerate(variants.items()):
                    # Trailing spaces change no word and no token, but keep the server's
                    # query-embedding cache from answering every variant after the first.
                    request = svc.SearchMemoriesRequest(
                        parent=f"users/locomo-{conv.name}",
                        query=q.question + " " * n,
                        top_k=10,
                        **fields,
                    )
                    t0 = time.perf_counter()
                    reply = await stub.SearchMemories(request)
                    times[name].append(time.perf_counter() - t0)
                    found[name][conv.name].append(
                        [r.memory.metadata.fields["dia_id"].string_value for r in reply.results]
                    )
        for name in variants:
            out[name] = {
                "recall": recall(conversations, found[name]),
                "latency": percentiles(times[name]),
            }
    return out


def print_results(results: dict[str, Any]) -> None:
    table = Table(title=f"LoCoMo retrieval, {results['questions']} questions (categories 1-4)")
    table.add_column("system")
    for k in KS:
        table.add_column(f"any@{k}", justify="right")
    table.add_column("all@10", justify="right")
    for cat in CATEGORIES:
        table.add_column(f"{CATEGORY_NAMES[cat]} @1/@10", justify="right")
    table.add_column("search p50 ms", justify="right")
    for name, r in results["systems"].items():
        rec = r["recall"]
        table.add_row(
            name,
            *(f"{rec[f'all/any@{k}']:.3f}" for k in KS),
            f"{rec['all/all@10']:.3f}",
            *(f"{rec[f'cat{c}/any@1']:.2f}/{rec[f'cat{c}/any@10']:.2f}" for c in CATEGORIES),
            f"{r['latency']['p50']:.1f}",
        )
    console.print(table)
    if "mem0" in results["systems"]:
        ours = results["systems"]["mem0-stack (defaults)"]
        peer = results["systems"]["mem0"]
        console.print(
            "mem0-stack / mem0: recall_any@10 "
            f"{ours['recall']['all/any@10'] / peer['recall']['all/any@10']:.2f}x, "
            f"recall_any@1 {ours['recall']['all/any@1'] / peer['recall']['all/any@1']:.2f}x, "
            f"search p50 {peer['latency']['p50'] / ours['latency']['p50']:.1f}x faster"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    parser.add_argument("--no-mem0", action="store_true", help="measure mem0-stack only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    conversations = load_locomo(args.data)
    results: dict[str, Any] = {
        "machine": machine(),
        "data": str(args.data),
        "conversations": [c.name for c in conversations],
        "questions": sum(len(c.questions) for c in conversations),
        "systems": {},
    }
    with embedded_postgres("mem0stack-locomo-") as dsn:
        with mem0stack_server(dsn) as server:
            console.print("mem0-stack: ingesting and searching ...")
            ours = asyncio.run(mem0stack_run(server.target, conversations, VARIANTS))
        results["mem0stack_ingest_s"] = ours.pop("ingest_s")
        results["systems"] |= ours
        if not args.no_mem0:
            console.print("mem0: ingesting and searching (one add() per turn) ...")
            with embed_server() as url, tempfile.TemporaryDirectory() as tmp:
                peer = run_mem0(
                    "locomo",
                    Path(tmp) / "mem0.json",
                    "--pg",
                    dsn,
                    "--embed-url",
                    url,
                    "--data",
                    str(args.data),
                )
            results["systems"]["mem0"] = {
                "recall": recall(conversations, peer["conversations"]),
                "latency": percentiles(peer["search_s"]),
            }
            results["mem0_ingest_s"] = sum(peer["add_s"])
    print_results(results)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
