"""Pieces the benchmark scripts share: LoCoMo loading, percentiles, the machine, Postgres.

Benchmarks are scripts, not tests: they print figures (and ratios against a peer measured
in the same run) and never run under pytest.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:  # rich is imported only where a table is printed
    from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
LOCOMO = REPO.parent / "shared" / "data" / "locomo"
#: LoCoMo's answerable categories (5 is adversarial and left out, as in the paper).
CATEGORIES = (1, 2, 3, 4)
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_DIA_ID = re.compile(r"D\d+:\d+")


def wide_console() -> Console:
    """A console for result tables: the terminal's width, or 200 columns when the output
    goes to a file or a pipe (where rich would otherwise wrap every table at 80)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


@dataclass(frozen=True)
class Turn:
    """One LoCoMo turn, as both systems store it."""

    dia_id: str
    session: int
    speaker: str
    text: str  # "{speaker}: {text}" plus " [image: {caption}]"
    event_time: datetime | None


@dataclass(frozen=True)
class Question:
    question: str
    category: int
    evidence: frozenset[str]


@dataclass(frozen=True)
class Fact:
    """One hand-written fact of a session's observations, with the turns it came from
    (usually one; a few facts name several)."""

    dia_ids: tuple[str, ...]
    session: int
    speaker: str
    text: str
    event_time: datetime | None


@dataclass
class Conversation:
    name: str
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


def _session_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _turn_number(dia_ids: tuple[str, ...]) -> int:
    return int(dia_ids[0].split(":")[1]) if dia_ids else 0


def load_locomo(directory: Path) -> list[Conversation]:
    """Every conversation (``*.json``) of a LoCoMo directory, with its sessions' turns and
    observation facts.

    Questions keep only well-formed evidence ids that name a turn of the conversation
    (a few are malformed, such as "D8:6; D9:17"); those left with none are dropped.
    """
    conversations: list[Conversation] = []
    for path in sorted(directory.glob("*.json")):
        raw = json.loads(path.read_text())
        raw = raw.get("conversation", raw) | {"qa": raw.get("qa", [])}
        conv = Conversation(name=path.stem)
        n = 1
        while isinstance(raw.get(f"session_{n}"), list):
            when = _session_time(raw.get(f"session_{n}_date_time"))
            for t in raw[f"session_{n}"]:
                text = f"{t['speaker']}: {t['text']}"
                if t.get("blip_caption"):
                    text += f" [image: {t['blip_caption']}]"
                conv.turns.append(Turn(t["dia_id"], n, t["speaker"], text, when))
            facts = [
                Fact(tuple(_DIA_ID.findall(str(dia_id))), n, speaker, fact, when)
                for speaker, pairs in (raw.get(f"session_{n}_observation") or {}).items()
                for fact, dia_id in pairs
            ]
            # The data lists a session's facts speaker by speaker; stored in the order of
            # the turns they came from, they follow the conversation as the turns do.
            conv.facts += sorted(facts, key=lambda f: _turn_number(f.dia_ids))
            n += 1
        known = {t.dia_id for t in conv.turns}
        for q in raw["qa"]:
            if q.get("category") not in CATEGORIES:
                continue
            evidence = {m for e in q.get("evidence") or [] for m in _DIA_ID.findall(str(e))}
            evidence &= known
            if evidence:
                conv.questions.append(Question(q["question"], q["category"], frozenset(evidence)))
        conversations.append(conv)
    if not conversations:
        raise SystemExit(f"no LoCoMo conversations (*.json) in {directory}")
    return conversations


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    if len(ms) < 2:
        value = ms[0] if ms else float("nan")
        return {"p50": value, "p95": value, "p99": value}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98]}


#: CPU features that change the figures: ONNX Runtime's int8 kernels differ with and without
#: VNNI (see mem0stack_server/embed/_int8_graph.py), and its float kernels with AVX-512.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")


def machine() -> dict[str, Any]:
    """What the figures were measured on, the CPU features that matter included."""
    cpu = "unknown"
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and cpu == "unknown":
            cpu = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpu": cpu,
        "cpu_features": [f for f in CPU_FEATURES if f in flags],
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


@contextmanager
def embedded_postgres_in(prefix: str) -> Iterator[tuple[str, Path]]:
    """A throw-away PostgreSQL 16 + pgvector (pgserver); yields its URI and data
    directory."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    pg = pgserver.get_server(data_dir, cleanup_mode="delete")
    try:
        yield pg.get_uri(), data_dir
    finally:
        pg.cleanup()


@contextmanager
def embedded_postgres(prefix: str) -> Iterator[str]:
    """A throw-away PostgreSQL 16 + pgvector (pgserver); yields its URI."""
    with embedded_postgres_in(prefix) as (uri, _):
        yield uri


async def vacuum_analyze(dsn: str, table: str = "") -> None:
    """VACUUM ANALYZE ``table`` (or the whole database): the state autovacuum leaves a
    table in about a minute after a bulk load. Until then the planner has no statistics
    for it and takes a 10,000-memory user for a small one (docs/benchmarks.md, "where
    PostgreSQL's time goes"), which is not what a running deployment sees."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"VACUUM ANALYZE {table}", timeout=None)
    finally:
        await conn.close()


def write_json(path: Path | None, results: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
