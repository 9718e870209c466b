"""The ranking statement runs on PostgreSQL's generic plan when the search has no filter.

Planning it afresh for every search cost about 1.3 ms of a 10,000-memory user's search
(docs/benchmarks.md); its plan does not depend on the values, so without a caller's filter
it runs on the prepared statement's generic plan. These tests hold that to what it
promises: the same rankings as custom plans give, every unfiltered execution on the generic
plan, filtered ones left to the plan cache, and the connection handed back unchanged.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.store import search
from mem0stack_server.store.database import create_pool, migrate
from mem0stack_server.store.memories import MemoryStore, memory_filter
from mem0stack_server.store.sql import Params

pytestmark = pytest.mark.asyncio

DIM = 384
USER = "plans"
TURNS = [
    "Ana: What did you name the new puppy?",
    "Ben: Biscuit, after my favourite cookie!",
    "Ana: Is he sleeping through the night?",
    "Ben: Mostly, he wakes up at five for a walk.",
    "Ana: Did you take Biscuit to the vet?",
    "Ben: Yes, on Friday, he got his first vaccine.",
    "Ana: I started painting again last week.",
    "Ben: What are you painting?",
    "Ana: A sunset over the lake near my parents' house.",
    "Ben: You should show it at the community fair.",
]
QUERIES = [
    "What is the name of Ben's puppy?",
    "When did Biscuit see the vet?",
    "What did Ana paint?",
    "Where could Ana show her painting?",
    "When does the puppy wake up?",
    "What cookie does Ben like?",
    "Did Ana start a new hobby?",
    "Who is Biscuit?",
]


def _vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
async def store(make_database) -> AsyncIterator[MemoryStore]:  # type: ignore[no-untyped-def]
    """A store on a migrated database holding two runs of turns, with one connection: the
    statements of a test all run on the backend whose prepared statements it reads."""
    pool = await create_pool(make_database("plans"), min_size=1, max_size=1, ef_search=40)
    try:
        await migrate(pool, embedding_model="plans-test", embedding_dim=DIM)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            (
                uuid.uuid4(),
                USER,
                f"run-{i // 5}",
                text,
                hashlib.sha256(text.encode()).hexdigest(),
                _vector(text),
                start + timedelta(minutes=i),
            )
            for i, text in enumerate(TURNS)
        ]
        await pool.executemany(
            "INSERT INTO memories (id, user_id, run_id, content, hash, embedding, create_time, "
            "update_time, valid_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
            rows,
        )
        yield MemoryStore(pool, timeout_s=30)
    finally:
        await pool.close()


async def _search(store: MemoryStore, query: str, node=None) -> list[asyncpg.Record]:  # type: ignore[no-untyped-def]
    """A default HYBRID search with neighbouring context, as app/search.py runs it."""
    keyword_rows = await search.keyword_relevance(store, USER, query, node, show_expired=False)
    ranking = search.Ranking(
        vector=_vector(query),
        min_score=search.NO_MIN_SCORE,
        top_k=5,
        keyword_rows=keyword_rows,
        keyword_weight=0.5,
        context_weight=0.5,
        context_window=2,
        names=search.query_names(query),
        name_weight=0.2,
        session_gap_s=1800.0,
        assistant_context=0.0,
    )
    p = search.plan("hybrid", context_weight=0.5, context_window=2, name_weight=0.2)
    return await search.ranked(store, p, USER, ranking, node, show_expired=False)


async def _ranking_statement(
    store: MemoryStore, query: str, user: str = USER
) -> tuple[str, list[object]]:
    """A default search's ranking statement and its values, as search.ranked builds them."""
    keyword_rows = await search.keyword_relevance(store, user, query, None, show_expired=False)
    params = Params()
    r = search.RankingParams(
        *(
            params.add(v)
            for v in (
                user,
                _vector(query),
                search.NO_MIN_SCORE,
                5,
                [row["id"] for row in keyword_rows],
                [float(row["relevance"]) for row in keyword_rows],
                0.5,
                0.5,
                2,
                search.query_names(query),
                0.2,
                1800.0,
                0.0,
            )
        )
    )
    where = memory_filter(None, params, show_expired=False)
    p = search.plan("hybrid", context_weight=0.5, context_window=2, name_weight=0.2)
    return search.search_sql(p, r, where), params.values


async def _custom_plan_ranking(store: MemoryStore, query: str) -> list[asyncpg.Record]:
    """The same search's ranking statement planned for its values (a custom plan)."""
    sql, values = await _ranking_statement(store, query)
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows: list[asyncpg.Record] = await conn.fetch(sql, *values)
        return rows


async def _plans(store: MemoryStore) -> list[tuple[int, int]]:
    """(generic, custom) plan counts of the ranking statements prepared on the connection."""
    rows = await store.pool.fetch(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE '%candidate_ids%' AND statement NOT LIKE '%pg_prepared%'"
    )
    return [(r["generic_plans"], r["custom_plans"]) for r in rows]


def _ranking(rows: list[asyncpg.Record]) -> list[tuple[object, float, float]]:
    return [(r["id"], r["score"], r["rank_key"]) for r in rows]


async def test_unfiltered_searches_run_on_the_generic_plan_and_rank_the_same(
    store: MemoryStore,
) -> None:
    for query in QUERIES:
        generic = await _search(store, query)
        assert generic, query
        assert _ranking(generic) == _ranking(await _custom_plan_ranking(store, query)), query
    # The generic plan from the first execution on: no search paid for planning it anew.
    # (The custom-plan comparisons are one prepared statement apart: the same text.)
    counts = await _plans(store)
    assert sum(g for g, _ in counts) == len(QUERIES)
    assert sum(c for _, c in counts) == len(QUERIES)


async def test_filtered_searches_are_left_to_the_plan_cache(store: MemoryStore) -> None:
    node = parse_filter('run_id = "run-0"')
    for query in QUERIES[:3]:
        rows = await _search(store, query, node)
        assert all(r["run_id"] == "run-0" for r in rows)
    # The plan cache plans the first five executions for their values.
    assert await _plans(store) == [(0, 3)]


async def test_the_connection_keeps_its_plan_cache_mode(store: MemoryStore) -> None:
    await _search(store, QUERIES[0])
    assert await store.pool.fetchval("SHOW plan_cache_mode") == "auto"


async def test_a_large_users_vector_leg_uses_the_index_before_statistics_exist(
    store: MemoryStore,
) -> None:
    """Right after a bulk load the table has no statistics, and the planner took a large
    user for a small one: the index leg sorted all of the user's memories instead of
    walking the HNSW index (11 ms instead of 1 at 10,000 memories)."""
    big = "big"
    start = datetime(2026, 1, 2, tzinfo=UTC)
    rows = [
        (uuid.uuid4(), big, f"note {i}", str(i), _vector(f"note {i}"), start + timedelta(seconds=i))
        for i in range(search.EXACT_SCAN_MAX + 100)
    ]
    await store.pool.executemany(
        "INSERT INTO memories (id, user_id, content, hash, embedding, create_time, update_time, "
        "valid_time) VALUES ($1, $2, $3, $4, $5, $6, $6, $6)",
        rows,
    )
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM pg_statistic WHERE starelid = 'memories'::regclass"
        )
        == 0
    )
    sql, values = await _ranking_statement(store, "what did the note say", big)
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN ANALYZE {sql}", *values))
    leg = plan[plan.index("CTE index_leg") : plan.index("CTE index_found")]
    assert "Index Scan using memories_embedding" in leg, leg
    assert "Sort" not in leg, leg
    assert "rows=40 loops=1" in leg  # it ran, and found its 40 candidates
