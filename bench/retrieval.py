"""What the retrieval benchmarks (bench_locomo.py, bench_beam.py) share: the systems, the
metrics, reciprocal-rank fusion, server-setting variants and the tables.

A data set is measured in one or more *forms*: scopes (one user each) holding memories in
the order they are stored, and questions with the ids of their evidence. Each form gets a
database of its own; its memories are ingested once, then every system searches every
question of it:

- mem0-stack's defaults, and its modes and ablations (request fields);
- the plain baselines: dense (VECTOR), BM25 (KEYWORD), and their reciprocal-rank fusion
  computed here (k = 60 over each one's top 50). Both modes are asked for 50 results, for
  the fusion, which their own rankings do not depend on; the fusion's search time is the
  two searches' together;
- variants (``--variant``): the defaults again, on a server restarted with extra
  ``MEM0STACK_*`` settings on the same database, so that server-side ranking settings
  compare in one run without ingesting again;
- mem0 2.2.1 (``infer=False``), where the form allows it.

A memory stands for one or more evidence ids. A ranking's ids are de-duplicated, then cut
at 10: recall_any@k counts the questions with any evidence id among the first k,
recall_all@10 those with all of them among the first 10, and MRR@10 averages the
reciprocal rank of the first evidence id within 10 (0 without one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from rich.table import Table

from bench.common import embedded_postgres, percentiles, wide_console
from bench.harness import embed_server, mem0stack_server, run_mem0
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.config import Settings

console = wide_console()
Mode = svc.SearchMemoriesRequest.Mode

KS = (1, 5, 10)
CUT = 10  # rankings are scored on their first 10 distinct evidence ids
RRF_K = 60
RRF_DEPTH = 50
INGEST_BATCH = 50  # memories per BatchCreateMemories (BEAM's reach 16,000 characters)

DEFAULTS = "mem0-stack defaults"
BM25 = "mem0-stack KEYWORD (BM25)"
DENSE = "mem0-stack VECTOR (dense)"
RRF = "dense + BM25 (RRF)"
MEM0 = "mem0 2.2.1 (infer=False)"
#: The plain baselines; the best of them per metric is what the defaults are held against.
BASELINES = (DENSE, BM25, RRF)
#: Systems searched through the server: name -> SearchMemoriesRequest fields (top_k is the
#: form's depth unless given).
SERVER_SYSTEMS: dict[str, dict[str, Any]] = {
    DEFAULTS: {},
    "mem0-stack hybrid, no name boost": {"name_weight": 0.0},
    "mem0-stack hybrid, no context": {"context_weight": 0.0},
    BM25: {"mode": Mode.KEYWORD, "context_weight": 0.0, "top_k": RRF_DEPTH},
    DENSE: {"mode": Mode.VECTOR, "context_weight": 0.0, "top_k": RRF_DEPTH},
}


@dataclass(frozen=True)
class Doc:
    """One memory as stored, and the evidence ids it stands for."""

    content: str
    ids: tuple[str, ...]
    metadata: dict[str, Any]
    run_id: str = ""
    role: str = ""
    event_time: datetime | None = None


@dataclass(frozen=True)
class Query:
    """One question; ``parts`` names groups of its evidence where the data set does
    (BEAM's ``original_info`` / ``updated_info``)."""

    text: str
    category: str
    evidence: frozenset[str]
    parts: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Scope:
    """One user: the memories in the order they are stored, and the questions asked."""

    user: str
    docs: list[Doc]
    queries: list[Query]

    @property
    def parent(self) -> str:
        return f"users/{self.user}"


#: Per scope, per question: the indices (into the scope's docs) of the results, best first.
Ranking = list[list[list[int]]]


@dataclass
class Run:
    """One system's results on a form, and the time of each search."""

    ranking: Ranking
    times: list[float]


@dataclass
class Form:
    """One way of storing a data set as memories: one database, one pair of tables."""

    name: str
    scopes: list[Scope]
    categories: dict[str, str]  # category -> column label, in table order
    depth: int = CUT  # results the ranking systems ask for (more where memories share ids)
    mem0: bool = False
    #: Further figures of a ranking (higher is not always better: no baseline row for them).
    extras: Callable[[Form, Ranking], dict[str, float]] | None = None
    extra_columns: dict[str, str] = field(default_factory=dict)  # figure -> column label

    @property
    def questions(self) -> int:
        return sum(len(s.queries) for s in self.scopes)

    @property
    def memories(self) -> int:
        return sum(len(s.docs) for s in self.scopes)


@dataclass(frozen=True)
class Variant:
    """The defaults on a server started with these extra environment settings."""

    name: str
    env: dict[str, str]


def variant(text: str) -> Variant:
    """``--variant NAME:KEY=VALUE[,KEY=VALUE...]``: KEY is a server setting (config.py),
    with or without its ``MEM0STACK_`` prefix; keys and values are checked here, before
    anything is ingested."""
    name, _, settings = text.partition(":")
    pairs = [item.partition("=") for item in settings.split(",") if item.strip()]
    if not name.strip() or not pairs or any(not eq for _, eq, _ in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...]")
    fields = {k.strip().lower().removeprefix("mem0stack_"): v.strip() for k, _, v in pairs}
    unknown = sorted(set(fields) - set(Settings.model_fields))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown server settings: {', '.join(unknown)}")
    try:
        Settings(**fields)
    except ValueError as e:  # pydantic's ValidationError
        raise argparse.ArgumentTypeError(f"--variant {name}: {e}") from e
    return Variant(name.strip(), {f"MEM0STACK_{k.upper()}": v for k, v in fields.items()})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both scripts share."""
    parser.add_argument(
        "--variant",
        type=variant,
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,...]",
        help="also run the defaults on the same database with these server settings, "
        "e.g. no-context:SEARCH_CONTEXT_WEIGHT=0 (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[int]:
    """Reciprocal-rank fusion: an item scores the sum of 1 / (k + rank) over the rankings
    (rank from 1); ties keep the order in which items first appear."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] += 1 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


def fuse(dense: Run, bm25: Run) -> Run:
    """The client-side fusion of the two modes' top RRF_DEPTH, as an application would do
    it: its search time is both searches'."""
    ranking = [
        [rrf([d[:RRF_DEPTH], b[:RRF_DEPTH]]) for d, b in zip(ds, bs, strict=True)]
        for ds, bs in zip(dense.ranking, bm25.ranking, strict=True)
    ]
    return Run(ranking, [a + b for a, b in zip(dense.times, bm25.times, strict=True)])


def top_ids(scope: Scope, docs: Sequence[int], k: int = CUT) -> list[str]:
    """The first k distinct evidence ids of a ranking of the scope's memories."""
    ids: dict[str, None] = {}
    for d in docs:
        ids |= dict.fromkeys(scope.docs[d].ids)
        if len(ids) >= k:
            break
    return list(ids)[:k]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def score(form: Form, ranking: Ranking) -> dict[str, float]:
    """recall_any@1/5/10, recall_all@10 and MRR@10, overall and per category
    ("{category}/any@1"), plus the form's extras."""
    values: dict[str, list[float]] = defaultdict(list)
    for scope, found in zip(form.scopes, ranking, strict=True):
        for q, docs in zip(scope.queries, found, strict=True):
            ids = top_ids(scope, docs)
            first = next((r for r, i in enumerate(ids, 1) if i in q.evidence), CUT + 1)
            row = {f"any@{k}": float(first <= k) for k in KS}
            row["all@10"] = float(q.evidence <= set(ids))
            row["mrr@10"] = 1 / first if first <= CUT else 0.0
            for key, value in row.items():
                values[key].append(value)
                values[f"{q.category}/{key}"].append(value)
    metrics = {key: mean(v) for key, v in values.items()}
    return metrics | (form.extras(form, ranking) if form.extras else {})


def _memory(doc: Doc) -> memory_pb2.Memory:
    metadata = struct_pb2.Struct()
    metadata.update(doc.metadata)
    memory = memory_pb2.Memory(
        content=doc.content, run_id=doc.run_id, role=doc.role, metadata=metadata
    )
    if doc.event_time is not None:
        memory.event_time.FromDatetime(doc.event_time)
    return memory


async def _ingest(target: str, form: Form) -> tuple[list[dict[str, int]], float]:
    """Store every scope's memories in order; returns each scope's memory names -> doc
    index, and the seconds it took."""
    names: list[dict[str, int]] = []
    t0 = time.perf_counter()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for scope in form.scopes:
            index: dict[str, int] = {}
            for start in range(0, len(scope.docs), INGEST_BATCH):
                requests = [
                    svc.CreateMemoryRequest(memory=_memory(d))
                    for d in scope.docs[start : start + INGEST_BATCH]
                ]
                reply = await stub.BatchCreateMemories(
                    svc.BatchCreateMemoriesRequest(parent=scope.parent, requests=requests)
                )
                index |= {m.name: start + i for i, m in enumerate(reply.memories)}
            names.append(index)
    return names, time.perf_counter() - t0


async def _search(
    target: str, form: Form, names: list[dict[str, int]], systems: dict[str, dict[str, Any]]
) -> dict[str, Run]:
    runs = {name: Run([], []) for name in systems}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)

        async def ask(n: int, query: str, fields: dict[str, Any]) -> tuple[list[int], float]:
            request = svc.SearchMemoriesRequest(
                parent=form.scopes[n].parent, query=query, **({"top_k": form.depth} | fields)
            )
            t0 = time.perf_counter()
            reply = await stub.SearchMemories(request)
            elapsed = time.perf_counter() - t0
            return [names[n][r.memory.name] for r in reply.results], elapsed

        # Warm-up (pool, cached plans, model) before anything is timed, on queries that
        # are none of the timed ones.
        for n, scope in enumerate(form.scopes):
            for q in scope.queries[:3]:
                for fields in systems.values():
                    await ask(n, f"{q.text} (warm-up)", fields)
        # Systems take turns question by question, so that background work after the
        # ingest (autovacuum, the embedder warming up) weighs on none of them alone. Trailing
        # spaces change no word and no token but keep the server's query-embedding cache
        # from answering every system after the first.
        for n, scope in enumerate(form.scopes):
            for run in runs.values():
                run.ranking.append([])
            for q in scope.queries:
                for spaces, (name, fields) in enumerate(systems.items()):
                    docs, elapsed = await ask(n, q.text + " " * spaces, fields)
                    runs[name].ranking[-1].append(docs)
                    runs[name].times.append(elapsed)
    return runs


def _mem0(form: Form, dsn: str) -> tuple[Run, float]:
    """mem0 on the form's memories (one add() each) in .venv-mem0; its run and ingest s."""
    with embed_server() as url, tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "input.json"
        scopes = [
            {
                "user": s.user,
                "memories": [
                    {
                        "content": d.content,
                        "role": d.role or "user",
                        "run_id": d.run_id,
                        "metadata": d.metadata,
                    }
                    for d in s.docs
                ],
                "queries": [q.text for q in s.queries],
            }
            for s in form.scopes
        ]
        spec.write_text(json.dumps({"top_k": form.depth, "scopes": scopes}))
        out = run_mem0(
            "retrieval",
            Path(tmp) / "mem0.json",
            "--pg",
            dsn,
            "--embed-url",
            url,
            "--input",
            str(spec),
        )
    return Run(out["found"], out["search_s"]), sum(out["add_s"])


def measure(form: Form, variants: Sequence[Variant]) -> dict[str, Any]:
    """Ingest the form once into a database of its own, run every system (and variant) on
    it, and score them; returns every figure."""
    console.print(
        f"[bold]{form.name}[/]: {form.memories} memories, {form.questions} questions "
        f"in {len(form.scopes)} scopes"
    )
    result: dict[str, Any] = {"memories": form.memories, "questions": form.questions}
    runs: dict[str, Run] = {}
    with embedded_postgres("mem0stack-retrieval-") as dsn:
        with mem0stack_server(dsn) as server:
            console.print("  mem0-stack: ingesting ...")
            names, result["ingest_s"] = asyncio.run(_ingest(server.target, form))
            console.print(f"  mem0-stack: {len(SERVER_SYSTEMS)} systems searching ...")
            runs |= asyncio.run(_search(server.target, form, names, SERVER_SYSTEMS))
        for v in variants:
            console.print(f"  variant {v.name} ({' '.join(f'{k}={x}' for k, x in v.env.items())})")
            with mem0stack_server(dsn, env=v.env) as server:
                runs |= asyncio.run(_search(server.target, form, names, {v.name: {}}))
        if form.mem0:
            console.print("  mem0: ingesting (one add() per memory) and searching ...")
            runs[MEM0], result["mem0_ingest_s"] = _mem0(form, dsn)
    runs[RRF] = fuse(runs[DENSE], runs[BM25])

    order = [DEFAULTS, *(v.name for v in variants), *SERVER_SYSTEMS, RRF, MEM0]
    systems = {
        name: {"metrics": score(form, runs[name].ranking), "latency": percentiles(runs[name].times)}
        for name in dict.fromkeys(order)
        if name in runs
    }
    plain = [key for key in systems[DEFAULTS]["metrics"] if key not in form.extra_columns]
    best = {key: max(systems[b]["metrics"][key] for b in BASELINES) for key in plain}
    result |= {
        "depth": form.depth,
        "variants": {v.name: v.env for v in variants},
        "systems": systems,
        "best_baseline": best,
        "defaults_minus_best_baseline": {
            key: systems[DEFAULTS]["metrics"][key] - best[key] for key in plain
        },
    }
    return result


def machine_line(m: dict[str, Any]) -> str:
    features = ", ".join(m["cpu_features"]) or "no AVX2"
    return (
        f"machine: {m['cpu']} ({features}), {m['cores']} cores, {m['memory_gib']} GiB, "
        f"{m['os']}, Python {m['python']}"
    )


def print_form(title: str, form: Form, result: dict[str, Any]) -> None:
    """Two tables: the overall figures with search times, and per category @1/@10; each
    ends with the best plain baseline per figure and the defaults' difference to it."""
    best, diff = result["best_baseline"], result["defaults_minus_best_baseline"]
    overall = ("any@1", "any@5", "any@10", "all@10", "mrr@10")

    table = Table(title=f"{title}: {result['questions']} questions, {result['memories']} memories")
    table.add_column("system")
    for key in overall:
        table.add_column(key.replace("mrr", "MRR"), justify="right")
    for label in form.extra_columns.values():
        table.add_column(label, justify="right")
    table.add_column("search p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for name, r in result["systems"].items():
        m, lat = r["metrics"], r["latency"]
        table.add_row(
            name,
            *(f"{m[key]:.3f}" for key in overall),
            *(f"{m[key]:.3f}" for key in form.extra_columns),
            f"{lat['p50']:.1f}",
            f"{lat['p95']:.1f}",
        )
    table.add_section()
    blank = [""] * (len(form.extra_columns) + 2)
    table.add_row("best plain baseline", *(f"{best[key]:.3f}" for key in overall), *blank)
    table.add_row("defaults - best baseline", *(f"{diff[key]:+.3f}" for key in overall), *blank)
    console.print(table)

    table = Table(title=f"{title}: recall_any@1/@10 per category")
    table.add_column("system")
    for cat, label in form.categories.items():
        n = sum(q.category == cat for s in form.scopes for q in s.queries)
        table.add_column(f"{label} ({n})", justify="right")

    def cells(figures: dict[str, float], fmt: str) -> list[str]:
        return [
            f"{figures[f'{cat}/any@1']:{fmt}}/{figures[f'{cat}/any@10']:{fmt}}"
            if f"{cat}/any@1" in figures
            else "-"
            for cat in form.categories
        ]

    for name, r in result["systems"].items():
        table.add_row(name, *cells(r["metrics"], ".2f"))
    table.add_section()
    table.add_row("best plain baseline", *cells(best, ".2f"))
    table.add_row("defaults - best baseline", *cells(diff, "+.2f"))
    console.print(table)
