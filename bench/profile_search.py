"""Where PostgreSQL's time goes in a default (HYBRID, neighbouring context) search.

Fills one user with 10,000 memories the way bench/bench_load.py does (LoCoMo turns, repeated
with numbers, each text embedded once), then runs the two search statements exactly as the
server builds them (the keyword statement, then the ranking statement on its rows) for a
sample of LoCoMo questions phrased as the load benchmark phrases them, and prints:

- planning and execution time of each statement (EXPLAIN ANALYZE, timing off);
- each MATERIALIZED CTE's share of execution: the statement is cut after each such CTE
  and made to compute every CTE up to it, and the cuts' execution times are differenced
  (the inlined CTEs between two cuts count towards the later one);
- what the plan cache does with asyncpg's prepared statements (custom or generic plans,
  counted by pg_prepared_statements) and the time of a prepared execution under each
  plan_cache_mode, the modes interleaved query by query;
- with ``--baseline REV``, the statements of store/search.py at that git revision beside
  the working tree's: whether every ranking is identical (ids, order, scores and ranking
  keys) and the time of each, interleaved.

``--no-statistics`` measures the table as it is right after a bulk load, before autovacuum
has analyzed it: the planner then has no statistics (its estimate of the user's memories
is a default fraction of the table). The statistics are taken again (ANALYZE) at the end.

    .venv/bin/python -m bench.profile_search [--queries 200] [--baseline HEAD]
        [--pgdata DIR]  # keep the filled database there and reuse it on the next run
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import numpy as np

from bench.common import LOCOMO, REPO, load_locomo, machine, wide_console
from mem0stack_server.config import Settings
from mem0stack_server.store import search as current_search
from mem0stack_server.store.database import create_pool
from mem0stack_server.store.memories import MemoryStore, memory_filter
from mem0stack_server.store.sql import Params

console = wide_console()
USER = "users/load"  # as bench/bench_load.py names it; stored as user_id "load"
USER_ID = "load"
TOP_K = 10  # what the load benchmark asks for
SEARCH_MODULE = "server/mem0stack_server/store/search.py"


# -- the database -------------------------------------------------------------------------


def start_postgres(pgdata: Path | None) -> Any:
    """An embedded PostgreSQL 16 + pgvector (pgserver); kept in ``pgdata`` when given."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    keep = pgdata is not None
    data_dir = pgdata or Path(tempfile.mkdtemp(prefix="mem0stack-profile-"))
    return pgserver.get_server(data_dir, cleanup_mode=None if keep else "delete")


async def filled(dsn: str, memories: int) -> int:
    """Memories the profiled user holds (0 before the schema exists)."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('memories')") is None:
            return 0
        count: int = await conn.fetchval(
            "SELECT count(*) FROM memories WHERE user_id = $1", USER_ID
        )
        return count
    finally:
        await conn.close()


def fill(dsn: str, memories: int) -> None:
    """Start a server on the database (it migrates it) and load the user through it."""
    from bench.bench_load import Corpus
    from bench.harness import mem0stack_server
    from bench.load.services import fill_mem0stack

    corpus = Corpus(LOCOMO, memories)
    with mem0stack_server(dsn) as server:
        console.print(f"loading {memories:,} memories ...")
        asyncio.run(fill_mem0stack(server.target, USER, corpus.texts, corpus.vectors, memories))


async def forget_statistics(dsn: str) -> None:
    """Leave the memories table as a bulk load leaves it: no column statistics, and no row
    or page count in pg_class (a superuser's statements; the embedded server's user is)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM pg_statistic WHERE starelid = 'memories'::regclass")
        await conn.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = 'memories'::regclass"
        )
    finally:
        await conn.close()


async def analyze(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE memories")
    finally:
        await conn.close()


# -- the statements -----------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray


def queries(count: int) -> list[Query]:
    """``count`` LoCoMo questions spread over every conversation, phrased as the load
    benchmark phrases them, with their embeddings (the server's model, float path)."""
    from bench.load.backends import query_text
    from bench.model import encode

    questions = [q.question for c in load_locomo(LOCOMO) for q in c.questions]
    step = max(1, len(questions) // count)
    texts = [query_text(questions, i * step) for i in range(count)]
    return [Query(t, v) for t, v in zip(texts, encode(texts), strict=True)]


def keyword_statement(module: ModuleType, q: Query) -> tuple[str, list[object]]:
    params = Params()
    k = module.KeywordParams(
        params.add(USER_ID), params.add(q.text), params.add(module.KEYWORD_ROWS)
    )
    where = memory_filter(None, params, show_expired=False)
    return module.keyword_sql(k, where), params.values


def ranking_statement(
    module: ModuleType, q: Query, keyword_rows: Sequence[asyncpg.Record], s: Settings
) -> tuple[str, list[object]]:
    """The ranking statement of a default HYBRID search, as app/search.py builds it."""
    params = Params()
    r = module.RankingParams(
        user=params.add(USER_ID),
        vector=params.add(q.vector),
        min_score=params.add(module.NO_MIN_SCORE),
        top_k=params.add(TOP_K),
        kw_ids=params.add([row["id"] for row in keyword_rows]),
        kw_relevance=params.add([float(row["relevance"]) for row in keyword_rows]),
        kw_weight=params.add(s.search_keyword_weight),
        ctx_weight=params.add(s.search_context_weight),
        ctx_window=params.add(s.search_context_window),
        names=params.add(module.query_names(q.text)),
        name_weight=params.add(s.search_name_weight),
        session_gap=params.add(s.search_session_gap_s),
        assistant_context=params.add(s.search_assistant_context),
    )
    where = memory_filter(None, params, show_expired=False)
    plan = module.plan(
        "hybrid",
        context_weight=s.search_context_weight,
        context_window=s.search_context_window,
        name_weight=s.search_name_weight,
    )
    return module.search_sql(plan, r, where), params.values


def search_module_at(revision: str) -> ModuleType:
    """store/search.py as it was at a git revision, imported under a name of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{SEARCH_MODULE}"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="mem0stack-search-")) / "search_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("search_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_baseline"] = module
    spec.loader.exec_module(module)
    return module


# -- cutting a statement at its CTEs --------------------------------------------------------


_CTE_HEAD = re.compile(r"\s*(\w+)\s+AS\s+(MATERIALIZED\s+)?\(", re.IGNORECASE)


def split_ctes(sql: str) -> tuple[list[tuple[str, bool, str]], str]:
    """A ``WITH`` statement's CTEs as (name, materialized, text) and its final query."""
    # Comments go first: theirs are the only parentheses that need not balance.
    sql = re.sub(r"--[^\n]*", "", sql)
    start = sql.index("WITH") + len("WITH")
    ctes: list[tuple[str, bool, str]] = []
    pos = start
    while True:
        head = _CTE_HEAD.match(sql, pos)
        if head is None:
            return ctes, sql[pos:]
        depth, i = 1, head.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        ctes.append((head.group(1), head.group(2) is not None, sql[pos:i].strip()))
        rest = sql[i:].lstrip()
        if not rest.startswith(","):
            return ctes, rest
        pos = sql.index(",", i) + 1


def cuts(sql: str, types: Sequence[str]) -> list[tuple[str, str]]:
    """(label, statement) pairs: the statement cut after each MATERIALIZED CTE, computing
    every CTE up to there, then the whole statement. Every parameter stays referenced (an
    unreferenced one has no type)."""
    ctes, _ = split_ctes(sql)
    holder = ", ".join(f"${i + 1}::{t}" for i, t in enumerate(types))
    out: list[tuple[str, str]] = []
    for n, (name, materialized, _) in enumerate(ctes):
        if not materialized:
            continue
        kept = ctes[: n + 1]
        counts = ", ".join(f"(SELECT count(*) FROM {c})" for c, m, _ in kept if m)
        body = ",\n".join(text for _, _, text in kept)
        out.append((name, f"WITH {body}\nSELECT {counts} FROM (SELECT {holder}) AS p"))
    out.append(("(final query)", sql))
    return out


# -- measuring ----------------------------------------------------------------------------


async def explain(
    conn: asyncpg.Connection, sql: str, args: Sequence[object], repeat: int
) -> tuple[float, float]:
    """(planning ms, execution ms) of a fresh plan and run without per-node timing, each the
    least of ``repeat`` tries: the machine is shared, and the least is the one least
    disturbed."""
    planning, execution = [], []
    for _ in range(repeat):
        plan = json.loads(
            await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", *args)
        )[0]
        planning.append(plan["Planning Time"])
        execution.append(plan["Execution Time"])
    return min(planning), min(execution)


class BackendCpu:
    """CPU time of one PostgreSQL backend (the connection's), read from the kernel's
    scheduler statistics: nanoseconds, and unaffected by what else the machine runs."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/schedstat")

    def ns(self) -> int:
        return int(self.path.read_text().split()[0])


async def parameter_types(conn: asyncpg.Connection, sql: str) -> list[str]:
    oids = [t.oid for t in (await conn.prepare(sql)).get_parameters()]
    return [
        r[0]
        for r in await conn.fetch(
            "SELECT format_type(o, NULL) FROM unnest($1::oid[]) WITH ORDINALITY AS t(o, n) "
            "ORDER BY n",
            oids,
        )
    ]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: Sequence[float]) -> float:
    if len(values) < 2:
        return median(values)
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[98]


@dataclass
class Timed:
    """Per-search samples of one variant: client wall ms and backend CPU ms, by statement."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]

    @classmethod
    def empty(cls) -> Timed:
        return cls({"keyword": [], "ranking": []}, {"keyword": [], "ranking": []})

    def both(self, kind: str) -> list[float]:
        samples = self.wall if kind == "wall" else self.cpu
        return [a + b for a, b in zip(samples["keyword"], samples["ranking"], strict=True)]


async def search(
    store: MemoryStore,
    cpu: BackendCpu,
    module: ModuleType,
    q: Query,
    s: Settings,
    into: Timed | None = None,
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """One default search's two statements, run by ``module``'s own functions on a store
    whose pool has the one connection ``cpu`` reads; times go ``into``."""
    t0, c0 = time.perf_counter(), cpu.ns()
    rows = await module.keyword_relevance(store, USER_ID, q.text, None, show_expired=False)
    t1, c1 = time.perf_counter(), cpu.ns()
    plan = module.plan(
        "hybrid",
        context_weight=s.search_context_weight,
        context_window=s.search_context_window,
        name_weight=s.search_name_weight,
    )
    ranking = module.Ranking(
        vector=q.vector,
        min_score=module.NO_MIN_SCORE,
        top_k=TOP_K,
        keyword_rows=rows,
        keyword_weight=s.search_keyword_weight,
        context_weight=s.search_context_weight,
        context_window=s.search_context_window,
        names=module.query_names(q.text),
        name_weight=s.search_name_weight,
        session_gap_s=s.search_session_gap_s,
        assistant_context=s.search_assistant_context,
    )
    t2, c2 = time.perf_counter(), cpu.ns()
    ranked = await module.ranked(store, plan, USER_ID, ranking, None, show_expired=False)
    t3, c3 = time.perf_counter(), cpu.ns()
    if into is not None:
        into.wall["keyword"].append((t1 - t0) * 1000)
        into.wall["ranking"].append((t3 - t2) * 1000)
        into.cpu["keyword"].append((c1 - c0) / 1e6)
        into.cpu["ranking"].append((c3 - c2) / 1e6)
    return rows, ranked


async def raw_search(
    conn: asyncpg.Connection, cpu: BackendCpu, q: Query, s: Settings, into: Timed | None = None
) -> None:
    """The working tree's two statements run as plain prepared statements on ``conn``, under
    whatever plan_cache_mode the session has."""
    ksql, kargs = keyword_statement(current_search, q)
    t0, c0 = time.perf_counter(), cpu.ns()
    rows = await conn.fetch(ksql, *kargs)
    t1, c1 = time.perf_counter(), cpu.ns()
    rsql, rargs = ranking_statement(current_search, q, rows, s)
    t2, c2 = time.perf_counter(), cpu.ns()
    await conn.fetch(rsql, *rargs)
    t3, c3 = time.perf_counter(), cpu.ns()
    if into is not None:
        into.wall["keyword"].append((t1 - t0) * 1000)
        into.wall["ranking"].append((t3 - t2) * 1000)
        into.cpu["keyword"].append((c1 - c0) / 1e6)
        into.cpu["ranking"].append((c3 - c2) / 1e6)


def print_timed(label: str, t: Timed) -> None:
    console.print(
        f"  {label:<20} PostgreSQL CPU per search: keyword {median(t.cpu['keyword']):5.2f}, "
        f"ranking {median(t.cpu['ranking']):5.2f}, both {median(t.both('cpu')):5.2f} ms "
        f"(p99 {p99(t.both('cpu')):5.2f}); wall p50 {median(t.both('wall')):5.2f} "
        f"p99 {p99(t.both('wall')):5.2f} ms"
    )


async def profile(conn: asyncpg.Connection, sample: list[Query], s: Settings, repeat: int) -> None:
    """Planning vs execution of both statements, and the CTEs' shares of execution."""
    timings: dict[str, dict[str, list[float]]] = {}
    shares: dict[str, dict[str, list[float]]] = {"keyword": {}, "ranking": {}}
    for q in sample:
        ksql, kargs = keyword_statement(current_search, q)
        rows = await conn.fetch(ksql, *kargs)
        rsql, rargs = ranking_statement(current_search, q, rows, s)
        for label, sql, args in (("keyword", ksql, kargs), ("ranking", rsql, rargs)):
            planning, execution = await explain(conn, sql, args, repeat)
            t = timings.setdefault(label, {"planning": [], "execution": []})
            t["planning"].append(planning)
            t["execution"].append(execution)
            types = await parameter_types(conn, sql)
            before = 0.0
            for name, cut in cuts(sql, types):
                _, ms = await explain(conn, cut, args, repeat)
                shares[label].setdefault(name, []).append(ms - before)
                before = ms
    console.print(
        f"[bold]Statements[/]: EXPLAIN ANALYZE (timing off), least of {repeat} tries per "
        f"query, medians over {len(sample)} queries"
    )
    for label, t in timings.items():
        console.print(
            f"  {label:<8} planning {median(t['planning']):6.2f} ms "
            f"(p99 {p99(t['planning']):.2f}), execution {median(t['execution']):6.2f} ms "
            f"(p99 {p99(t['execution']):.2f})"
        )
    for label, parts in shares.items():
        console.print(
            f"[bold]{label} statement[/]: execution added by each MATERIALIZED CTE "
            "(and the inlined ones before it), median ms"
        )
        for name, values in parts.items():
            console.print(f"  {name:<14} {median(values):6.2f}")


async def plan_cache(
    conn: asyncpg.Connection, cpu: BackendCpu, sample: list[Query], s: Settings
) -> None:
    """What the plan cache does with the prepared statements, and each plan_cache_mode's
    cost, the modes interleaved query by query."""
    modes = ("auto", "force_custom_plan", "force_generic_plan")
    for mode in modes:
        await conn.execute(f"SET plan_cache_mode = {mode}")
        await conn.execute("DEALLOCATE ALL")
        conn._stmt_cache.clear()  # asyncpg's cache of the statements DEALLOCATE dropped
        for q in sample:
            await raw_search(conn, cpu, q, s)
        counts = await conn.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
        for c in counts:
            ctes, _ = split_ctes(c["statement"]) if "WITH" in c["statement"] else ([], "")
            if ctes:
                console.print(
                    f"  {mode:<19} statement WITH {ctes[0][0]} ...: "
                    f"{c['generic_plans']} generic plans, {c['custom_plans']} custom"
                )
    timed = {mode: Timed.empty() for mode in modes}
    for q in sample:
        for mode in modes:
            await conn.execute(f"SET plan_cache_mode = {mode}")
            await raw_search(conn, cpu, q, s, timed[mode])
    await conn.execute("RESET plan_cache_mode")
    console.print("[bold]Prepared executions by plan_cache_mode[/] (medians)")
    for mode in modes:
        print_timed(mode, timed[mode])


async def compare(
    store: MemoryStore,
    cpu: BackendCpu,
    sample: list[Query],
    s: Settings,
    baseline: ModuleType,
    rounds: int,
) -> None:
    """The baseline's statements beside the working tree's: same rankings? how costly?"""
    variants = (("baseline", baseline), ("this tree", current_search))
    different = 0
    for q in sample:
        results = []
        for _, module in variants:
            rows, ranked = await search(store, cpu, module, q, s)
            results.append(
                (
                    [(r["id"], r["relevance"]) for r in rows],
                    [(r["id"], r["score"], r["rank_key"]) for r in ranked],
                )
            )
        if results[0] != results[1]:
            different += 1
            if different <= 3:
                console.print(f"  [red]differs[/]: {q.text!r}")
    console.print(
        f"[bold]Rankings[/]: {len(sample) - different} of {len(sample)} identical "
        "(keyword rows and relevance; ranked ids, scores and ranking keys)"
    )
    timed = {name: Timed.empty() for name, _ in variants}
    for _ in range(rounds):
        for q in sample:
            for name, module in variants:
                await search(store, cpu, module, q, s, timed[name])
    console.print(
        f"[bold]Baseline against this tree[/] ({rounds} x {len(sample)} searches each, interleaved)"
    )
    for name, _ in variants:
        print_timed(name, timed[name])
    for kind in ("cpu", "wall"):
        ratio = median(timed["this tree"].both(kind)) / median(timed["baseline"].both(kind))
        console.print(f"  this tree / baseline, {kind} p50: {ratio:.2f}")


async def run(args: argparse.Namespace, dsn: str) -> None:
    s = Settings()
    sample = queries(args.queries)
    # One connection: every statement runs on the backend whose CPU is read.
    pool = await create_pool(dsn, min_size=1, max_size=1, ef_search=s.hnsw_ef_search)
    store = MemoryStore(pool, timeout_s=60)
    try:
        async with pool.acquire() as conn:
            settings = await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('jit', 'plan_cache_mode', 'hnsw.ef_search', 'work_mem', 'shared_buffers')"
            )
            console.print("session: " + ", ".join(f"{r['name']}={r['setting']}" for r in settings))
            cpu = BackendCpu(await conn.fetchval("SELECT pg_backend_pid()"))
            # Warm the caches (catalog, buffers, regular expressions) before measuring.
            for q in sample[:20]:
                await raw_search(conn, cpu, q, s)
            if not args.skip_profile:
                await profile(conn, sample, s, args.repeat)
                await plan_cache(conn, cpu, sample, s)
        if args.baseline:
            baseline = search_module_at(args.baseline)
            await compare(store, cpu, sample, s, baseline, args.rounds)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200, help="LoCoMo questions sampled")
    parser.add_argument("--repeat", type=int, default=3, help="EXPLAIN tries per query")
    parser.add_argument("--pgdata", type=Path, help="keep the database here (reused if filled)")
    parser.add_argument("--baseline", help="git revision whose store/search.py to compare")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of the comparison")
    parser.add_argument("--skip-profile", action="store_true", help="only the comparison")
    parser.add_argument(
        "--no-statistics", action="store_true", help="as right after a bulk load (see above)"
    )
    args = parser.parse_args()

    m = machine()
    console.print(f"machine: {m['cpu']}, {m['cores']} cores, {m['cpu_features']}")
    pg = start_postgres(args.pgdata)
    try:
        dsn = pg.get_uri()
        if asyncio.run(filled(dsn, args.memories)) < args.memories:
            fill(dsn, args.memories)
        if args.no_statistics:
            asyncio.run(forget_statistics(dsn))
        try:
            asyncio.run(run(args, dsn))
        finally:
            if args.no_statistics:
                asyncio.run(analyze(dsn))
    finally:
        if args.pgdata is None:
            pg.cleanup()


if __name__ == "__main__":
    main()
