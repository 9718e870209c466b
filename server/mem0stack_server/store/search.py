"""SQL for SearchMemories: keyword scoring, vector retrieval, fusion and neighbouring context.

A search runs two statements. The keyword statement needs only the query text, so it runs
while the query is being embedded; the ranking statement then takes its results as arrays.

- KEYWORD relevance (``keyword_sql``): memories matching *any* of the query's words
  (stemmed, stop words dropped; ``plainto_tsquery`` would require every word, which
  natural-language questions rarely satisfy), scored by BM25 (k1 = 1.2, b = 0.75) and
  divided by the best score, so the best match has relevance 1. Postgres' ``ts_rank`` has
  no inverse document frequency: a question's common words (a person's name, "like")
  would outweigh its rare, telling ones. Document frequencies are counted over the
  memories that match any query word within the caller's scope and filter: every memory
  holding a query word is among them, so the counts are exact at no extra scan, and the
  corpus size they are taken against is that matched set. The best ``KEYWORD_ROWS`` come
  back; lower ones count as no keyword match.
- VECTOR candidates come from an exact scan when the user has fewer than
  ``EXACT_SCAN_MAX`` memories (faster than the HNSW index there, and exact), otherwise
  from the index, or from the exact scan after all when the index comes up short
  (pgvector applies other WHERE conditions after the index scan, so a filtered scope
  can leave it short). The index leg orders the whole table and filters what the index
  yields, so that no estimate of the user's size can make the planner sort instead.
- HYBRID relevance is ``(1 - w) * cosine + w * keyword`` with ``w = keyword_weight``,
  over the union of both legs' candidates. Weighted scores beat reciprocal-rank fusion:
  RRF throws away how far apart the scores are, and lets a weak leg's top ranks displace
  a strong leg's.
- Neighbouring context (``context_weight`` > 0): memories stored one after another in the
  same run (same agent_id and run_id, adjacent in create_time then id order) usually
  belong together: a question and its answer, an event and its follow-up. Memories stored
  without a run_id form sessions by time instead: neighbours are the adjacent ones of the
  same agent stored within ``session_gap`` seconds (0 turns context off for them). For the
  best candidates, up to ``context_window`` neighbours on each side are found by walking
  the run's (user, agent, run, create_time, id) index a few steps each way; each memory
  then gains ``context_weight`` times the best relevance among its neighbours, which also
  brings in neighbours that matched nothing themselves. A memory right after a question
  (content ending in a question mark: ASCII, full-width or Arabic) is most likely its
  answer, so it gains a further ``REPLY_FACTOR * context_weight`` of that question's
  relevance.
- Name boost (``name_weight`` > 0): proper names in the query (capitalised words that do
  not start a sentence) usually name whom or what the answer is about. A memory whose
  first word is one of them (its subject: "Alice moved to Berlin", "Alice: I moved")
  gains ``name_weight``. A name merely mentioned elsewhere in a memory gains nothing: in
  a conversation the other party's name is mentioned all the time.

Ranking handles narrow rows (ids, scores and the few facts the boosts need); only the
``top_k`` winners are read in full. Every result carries the cosine similarity as its
score, whatever the ranking.

Plans: asyncpg prepares each statement once per connection, and PostgreSQL's plan cache
then chooses between planning it afresh for every execution's values (a custom plan) and
one generic plan. The ranking statement's plan does not depend on its values or on the
user's size: every choice that does (exact scan or index, which legs run) is made while
it runs, by one-time filters on the ``scope`` and ``index_found`` CTEs. The cache cannot
see that: with its limits unknown, the generic plan's estimated cost exceeds the custom
plans', so it kept planning the statement for every search (about 1.3 ms of a
10,000-memory user's search, docs/benchmarks.md). Without a caller's filter it therefore
runs on the generic plan (``MemoryStore.fetch(generic_plan=True)``). The keyword statement
needs no help: the cache moves it to its generic plan after five executions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from mem0stack_server.domain.filter import Node
from mem0stack_server.store.memories import (
    CURRENT,
    MEMORY_COLUMNS,
    MemoryStore,
    Validity,
    memory_filter,
)
from mem0stack_server.store.sql import Params

# Candidates each leg contributes, as a multiple of top_k.
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 40
# Keyword rows handed to the ranking statement: candidates plus the keyword relevance of
# vector candidates and neighbours. Lower-ranked matches barely move a fused score.
KEYWORD_ROWS = 200
# Candidates whose neighbours are looked up, as a multiple of top_k.
SEED_FACTOR = 2
MIN_SEEDS = 20
# BM25's usual constants.
BM25_K1 = 1.2
BM25_B = 0.75
# Query words the keyword leg uses at most (the first ones of the query).
MAX_QUERY_WORDS = 32
# A query word held by this many memories in scope is common: its document frequency is
# not counted further, and memories holding only common words are not all scored (when
# the query has a rare word, they are skipped; otherwise this many are). Bounds the
# keyword leg's work for large users; below it BM25 is exact.
COMMON_WORD_DF = 1000

# Scopes (all of a user's memories) smaller than this are searched by an exact scan
# instead of the HNSW index.
EXACT_SCAN_MAX = 2000

# Share of context_weight by which a question's relevance raises the memory right after it
# (on top of the ordinary neighbour context). 0.3-0.4 of relevance did best on the LoCoMo
# development split, and the gain holds on each of its conversations.
REPLY_FACTOR = 0.6
# Largest context_window a request may ask for.
MAX_CONTEXT_WINDOW = 10
# Query names used at most.
MAX_NAMES = 8
NO_MIN_SCORE = -2.0  # below any cosine similarity


_COLUMNS = [c.strip() for c in MEMORY_COLUMNS.split(",")]
_WORD = re.compile(r"[^\W\d_]\w*")  # "Alice's" gives "Alice", then "s"
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


@dataclass(frozen=True)
class KeywordParams:
    """Placeholders of the keyword statement's values."""

    user: str
    query: str
    rows: str


@dataclass(frozen=True)
class RankingParams:
    """Placeholders of the ranking statement's values: the user, the query embedding, the
    minimum cosine similarity, the limit, the keyword leg's ids and relevance (arrays),
    the keyword and context weights, the context window, the query's names (text[]), the
    name weight and the session gap (seconds). Every one is always sent; the statement
    casts the unused ones."""

    user: str
    vector: str
    min_score: str
    top_k: str
    kw_ids: str
    kw_relevance: str
    kw_weight: str
    ctx_weight: str
    ctx_window: str
    names: str
    name_weight: str
    session_gap: str
    assistant_context: str


@dataclass(frozen=True)
class Plan:
    """How one search ranks: which legs run, and which boosts apply."""

    vector: bool
    keyword: bool
    context: bool
    names: bool


def plan(mode: str, *, context_weight: float, context_window: int, name_weight: float) -> Plan:
    """The plan of a mode ("vector", "keyword" or "hybrid") and the ranking options."""
    return Plan(
        vector=mode in ("vector", "hybrid"),
        keyword=mode in ("keyword", "hybrid"),
        context=context_weight > 0 and context_window > 0,
        names=name_weight > 0,
    )


def query_names(query: str) -> list[str]:
    """Proper names in a query, lower-cased: its capitalised words, except those that start
    a sentence (where every word is capitalised) and "I"."""
    names: list[str] = []
    for match in _WORD.finditer(query):
        word = match.group()
        starts_sentence = not query[: match.start()].strip() or bool(
            _SENTENCE_END.search(query[: match.start()])
        )
        name = word.lower()
        if word[0].isupper() and not starts_sentence and word != "I" and name not in names:
            names.append(name)
    return names[:MAX_NAMES]


def keyword_sql(k: KeywordParams, where_sql: str) -> str:
    """BM25 of the memories in scope that hold a query word: rows (id, relevance), relevance
    divided by the best, best first, at most ``k.rows``."""
    scoped = f"memories WHERE user_id = {k.user} AND {where_sql}"
    return f"""
        WITH words AS MATERIALIZED (
            SELECT lexeme, to_tsquery('simple', quote_literal(lexeme)) AS word FROM (
                SELECT lexeme FROM unnest(to_tsvector('english', {k.query}))
                ORDER BY positions[1] LIMIT {MAX_QUERY_WORDS}) AS w),
        -- Document frequencies, counted up to COMMON_WORD_DF: past that a word is common,
        -- and counting further would cost more than the word tells.
        counted AS MATERIALIZED (
            SELECT lexeme, word, (SELECT count(*) FROM (
                       SELECT 1 FROM {scoped} AND tsv @@ words.word
                       LIMIT {COMMON_WORD_DF}) AS c)::float8 AS df
            FROM words),
        rare AS MATERIALIZED (
            SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS tsq
            FROM counted WHERE df < {COMMON_WORD_DF}),
        common AS MATERIALIZED (
            SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS tsq
            FROM counted),
        -- Memories holding a rare word; when every word is common, some that hold any.
        matched AS MATERIALIZED (
            SELECT id, tsv, length(tsv)::float8 AS len FROM {scoped}
              AND tsv @@ (SELECT tsq FROM rare)
            UNION ALL
            (SELECT id, tsv, length(tsv)::float8 FROM {scoped}
               AND (SELECT tsq FROM rare) IS NULL AND tsv @@ (SELECT tsq FROM common)
             LIMIT {COMMON_WORD_DF})),
        -- The corpus BM25 counts against: the matched memories (all of them when no word
        -- is common).
        corpus AS MATERIALIZED (
            SELECT greatest(count(*), (SELECT max(df) FROM counted))::float8 AS n,
                   avg(len) AS avglen
            FROM matched),
        -- Scalar subqueries rather than joins: CTE row estimates are poor, and a misjudged
        -- join here costs more than the whole search.
        bm25 AS MATERIALIZED (
            SELECT m.id, (
                       SELECT sum(ln(1 + (corpus.n - c.df + 0.5) / (c.df + 0.5)))
                       FROM counted AS c WHERE m.tsv @@ c.word)
                   * {BM25_K1 + 1} / (1 + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * m.len
                                      / corpus.avglen)) AS raw
            FROM matched AS m, corpus)
        SELECT id, raw / nullif(max(raw) OVER (), 0) AS relevance
        FROM bm25 ORDER BY raw DESC, id LIMIT {k.rows}"""


def _vector_ctes(r: RankingParams, where_sql: str, n_candidates: str) -> list[str]:
    # A scope of fewer than EXACT_SCAN_MAX memories is scanned exactly: that is faster
    # than walking the HNSW graph (which visits ef_search nodes of every user) and has
    # perfect recall. Larger scopes use the index; pgvector applies the other conditions
    # after the index scan, so a heavily filtered scope can leave it short, and the exact
    # scan then runs instead, in the same statement (one-time filters skip whichever leg
    # is not needed). An HNSW scan yields at most hnsw.ef_search rows, so the index leg
    # asks for no more than that (or top_k): asking for more would send every large
    # top_k to the exact scan.
    #
    # The index leg orders the whole table, not the user's scope, and filters what comes
    # out: ordering the scope would leave the planner to choose between the index and
    # sorting the user's memories by its estimate of their number, and that estimate is
    # wrong right after a bulk load (no statistics yet: the user's 10,000 memories were
    # taken for ~200 and sorted in full, 11 ms instead of 1). Without the user in the
    # ordered query only the index can serve it. Its LIMIT (ef_search) cuts nothing: the
    # scan yields no more rows than that, in the order the filter then reads them.
    from_index = (
        f"least({n_candidates}, greatest(current_setting('hnsw.ef_search')::int, {r.top_k}))"
    )
    return [
        f"""scope AS MATERIALIZED (
            SELECT count(*) >= {EXACT_SCAN_MAX} AS large FROM (
                SELECT 1 FROM memories WHERE user_id = {r.user} LIMIT {EXACT_SCAN_MAX}) AS s)""",
        f"""index_leg AS MATERIALIZED (
            SELECT id FROM (
                SELECT * FROM memories ORDER BY embedding <=> {r.vector}
                LIMIT current_setting('hnsw.ef_search')::int) AS memories
            WHERE user_id = {r.user} AND {where_sql} AND (SELECT large FROM scope)
            LIMIT {from_index})""",
        "index_found AS MATERIALIZED (SELECT count(*) AS n FROM index_leg)",
        f"""exact_leg AS MATERIALIZED (
            SELECT id FROM (
                SELECT id, embedding <=> {r.vector} AS distance FROM memories
                WHERE user_id = {r.user} AND {where_sql} OFFSET 0) AS scoped
            WHERE (SELECT n FROM index_found) < {from_index}
            ORDER BY distance LIMIT {n_candidates})""",
        f"""vector_leg AS (
            SELECT id FROM index_leg WHERE (SELECT n FROM index_found) >= {from_index}
            UNION ALL SELECT id FROM exact_leg)""",
    ]


def search_sql(p: Plan, r: RankingParams, where_sql: str) -> str:
    """The ranking statement of a plan: rows of the memory columns plus ``score``, the
    cosine similarity, best first.

    Ranking works on narrow rows (id, scores, the few facts the boosts need); only the
    ``top_k`` winners are read in full, at the end.
    """
    n_candidates = f"greatest({r.top_k} * {CANDIDATE_FACTOR}, {MIN_CANDIDATES})"
    # Every parameter is always sent; the casts give the unused ones a type.
    ctes = [
        f"""params AS (SELECT {r.kw_ids}::uuid[], {r.kw_relevance}::float8[],
                             {r.kw_weight}::float8, {r.ctx_weight}::float8, {r.ctx_window}::int,
                             {r.names}::text[], {r.name_weight}::float8,
                             {r.session_gap}::float8, {r.assistant_context}::float8)""",
        f"""keyword AS MATERIALIZED (
            SELECT id, relevance, rank FROM unnest({r.kw_ids}::uuid[], {r.kw_relevance}::float8[])
                WITH ORDINALITY AS k(id, relevance, rank))""",
    ]
    # Each leg yields (id, kw, leg): kw the keyword relevance, leg 1 for a candidate;
    # grouping by id then joins them without the row estimates a join would need.
    legs: list[str] = []
    if p.vector:
        ctes += _vector_ctes(r, where_sql, n_candidates)
        legs.append("SELECT id, 0::float8 AS kw, 1 AS leg FROM vector_leg")
    if p.keyword:
        legs.append(
            f"SELECT id, relevance AS kw, (rank <= {n_candidates})::int AS leg FROM keyword"
        )
    ctes.append(
        f"""candidate_ids AS (
            SELECT id, max(kw) AS kw FROM ({" UNION ALL ".join(legs)}) AS legs
            GROUP BY id HAVING max(leg) = 1)"""
    )
    cosine = f"(1 - (m.embedding <=> {r.vector}))"
    if p.vector and p.keyword:
        relevance = f"(1 - {r.kw_weight}::float8) * {cosine} + {r.kw_weight}::float8 * c.kw"
    else:
        relevance = cosine if p.vector else "c.kw"
    # What ranking needs of a memory: its scores, its place in its run (for neighbouring
    # context), whether it asks a question (the reply boost) and its first word (the
    # name boost).
    narrow = (
        f"m.id, m.agent_id, m.run_id, m.create_time, {cosine} AS score, "
        f"{relevance} AS relevance, "
        r"m.content ~ '[?\uFF1F\u061F]\s*$' AS question, "
        r"lower(substring(m.content FROM '^\W*(\w+)')) AS subject, "
        "m.role = 'assistant' AS assistant"
    )
    # Keyword-only candidates pass the filter in the keyword statement; the user check
    # keeps this statement safe on its own.
    ctes.append(
        f"""candidates AS MATERIALIZED (
            SELECT {narrow}
            FROM candidate_ids AS c JOIN memories AS m USING (id) WHERE m.user_id = {r.user})"""
    )
    name_boost = f"{r.name_weight} * (subject = ANY ({r.names}))::int" if p.names else "0"
    if not p.context:
        ctes.append(
            f"""top AS MATERIALIZED (
            SELECT id, score, relevance + {name_boost} AS rank_key FROM candidates
            WHERE score >= {r.min_score} ORDER BY rank_key DESC, score DESC, id LIMIT {r.top_k})"""
        )
        return _read_top(r, ctes)

    seeds = f"greatest({r.top_k} * {SEED_FACTOR}, {MIN_SEEDS})"
    ctes.append(
        f"""seeds AS MATERIALIZED (
            SELECT id, agent_id, run_id, create_time FROM candidates
            ORDER BY relevance DESC, score DESC, id LIMIT {seeds})"""
    )
    # Each seed's neighbours: up to ctx_window memories on each side in its run, walked along
    # the (user, agent, run, create_time, id) index; `step` is the neighbour's position
    # relative to the seed (-1: right before it).
    walk = """
                SELECT id, create_time FROM memories
                WHERE user_id = {r.user} AND agent_id = s.agent_id AND run_id = s.run_id
                  AND (create_time, id) {cmp} (s.create_time, s.id) AND {where_sql}
                  AND (s.run_id <> '' OR create_time {within}
                       s.create_time {sign} {r.session_gap} * interval '1 s')
                ORDER BY create_time {order}, id {order} LIMIT {r.ctx_window}"""
    before = walk.format(cmp="<", within=">=", sign="-", order="DESC", where_sql=where_sql, r=r)
    after = walk.format(cmp=">", within="<=", sign="+", order="ASC", where_sql=where_sql, r=r)
    ctes.append(
        f"""links AS MATERIALIZED (
            SELECT s.id AS a, n.id AS b, n.step FROM seeds AS s CROSS JOIN LATERAL (
                SELECT id, -row_number() OVER (ORDER BY create_time DESC, id DESC) AS step
                FROM ({before}) AS earlier
                UNION ALL
                SELECT id, row_number() OVER (ORDER BY create_time, id)
                FROM ({after}) AS later) AS n
            WHERE s.run_id <> '' OR {r.session_gap} > 0)"""
    )
    # Neighbours that are not candidates, with their keyword relevance (grouped as above).
    new_legs = ["SELECT b AS id, 0::float8 AS kw, 1 AS leg FROM links"]
    if p.keyword:
        new_legs.append("SELECT id, relevance, 0 FROM keyword")
    new_legs.append("SELECT id, 0, -1 FROM candidates")
    ctes.append(
        f"""neighbour_ids AS (
            SELECT id, max(kw) AS kw FROM ({" UNION ALL ".join(new_legs)}) AS legs
            GROUP BY id HAVING max(leg) = 1 AND min(leg) >= 0)"""
    )
    ctes.append(
        f"""pool AS (
            SELECT id, score, relevance, question, subject, assistant FROM candidates
            UNION ALL
            SELECT id, score, relevance, question, subject, assistant FROM (
                SELECT {narrow}
                FROM neighbour_ids AS c JOIN memories AS m USING (id)
                WHERE m.user_id = {r.user}) AS neighbours)"""
    )
    # Every memory of the pool, and beside it one row per neighbour, keyed by that
    # neighbour: a window over the key hands each row its neighbour's relevance, and
    # grouping by memory then gathers the best neighbour and the question right before
    # it. Windows and grouping sort; a join here would be planned on row estimates that
    # CTEs do not have.
    ctes.append(
        """tagged AS (
            SELECT id AS key, id AS memory, true AS own, 0::bigint AS step,
                   score, relevance, question, subject, assistant FROM pool
            UNION ALL
            SELECT b, a, false, step, NULL, NULL, NULL, NULL, NULL FROM links
            UNION ALL
            SELECT a, b, false, -step, NULL, NULL, NULL, NULL, NULL FROM links)"""
    )
    ctes.append(
        """spread AS (
            SELECT memory, own, step, score, subject, assistant,
                   max(relevance) OVER (PARTITION BY key) AS relevance,
                   bool_or(question) OVER (PARTITION BY key) AS question
            FROM tagged)"""
    )
    ctes.append(
        """ranked AS (
            SELECT memory AS id,
                   max(score) FILTER (WHERE own) AS score,
                   max(relevance) FILTER (WHERE own) AS relevance,
                   max(subject) FILTER (WHERE own) AS subject,
                   bool_or(assistant) FILTER (WHERE own) AS assistant,
                   coalesce(max(relevance) FILTER (WHERE NOT own), 0) AS context,
                   coalesce(max(relevance) FILTER (WHERE step = -1 AND question), 0) AS asked
            FROM spread GROUP BY memory)"""
    )
    ctes.append(
        f"""top AS MATERIALIZED (
            SELECT id, score,
                   relevance + {name_boost}
                       + {r.ctx_weight} * (context + {REPLY_FACTOR} * asked)
                         * CASE WHEN assistant THEN {r.assistant_context} ELSE 1 END
                       AS rank_key
            FROM ranked WHERE score >= {r.min_score}
            ORDER BY rank_key DESC, score DESC, id LIMIT {r.top_k})"""
    )
    return _read_top(r, ctes)


def _read_top(r: RankingParams, ctes: list[str]) -> str:
    """The statement that reads the winners (CTE ``top``: id, score, rank_key) in full,
    with their ranking key and embedding (for the updated-first tie-break)."""
    columns = ", ".join(f"m.{c}" for c in _COLUMNS)
    ctes_sql = ",\n".join(ctes)
    return f"""
        WITH {ctes_sql}
        SELECT {columns}, top.score, top.rank_key, m.embedding
        FROM top JOIN memories AS m USING (id) WHERE m.user_id = {r.user}
        ORDER BY top.rank_key DESC, top.score DESC, top.id"""


# Running the statements


async def keyword_relevance(
    store: MemoryStore,
    user_id: str,
    query: str,
    node: Node | None,
    *,
    show_expired: bool,
    validity: Validity = CURRENT,
) -> list[asyncpg.Record]:
    """The keyword leg: (id, relevance) of the best ``KEYWORD_ROWS`` matches, best first."""
    params = Params()
    k = KeywordParams(params.add(user_id), params.add(query), params.add(KEYWORD_ROWS))
    where = memory_filter(node, params, show_expired=show_expired, validity=validity)
    return await store.fetch(keyword_sql(k, where), params.values)


@dataclass(frozen=True)
class Ranking:
    """What the ranking statement takes besides the user, the filter and the plan."""

    vector: np.ndarray
    min_score: float
    top_k: int
    keyword_rows: Sequence[asyncpg.Record]
    keyword_weight: float
    context_weight: float
    context_window: int
    names: list[str]
    name_weight: float
    session_gap_s: float
    assistant_context: float


async def ranked(
    store: MemoryStore,
    p: Plan,
    user_id: str,
    ranking: Ranking,
    node: Node | None,
    *,
    show_expired: bool,
    validity: Validity = CURRENT,
) -> list[asyncpg.Record]:
    """The ranking statement: the winners in full, with ``score`` (cosine), best first."""
    params = Params()
    r = RankingParams(
        user=params.add(user_id),
        vector=params.add(ranking.vector),
        min_score=params.add(ranking.min_score),
        top_k=params.add(ranking.top_k),
        kw_ids=params.add([row["id"] for row in ranking.keyword_rows]),
        kw_relevance=params.add([float(row["relevance"]) for row in ranking.keyword_rows]),
        kw_weight=params.add(ranking.keyword_weight),
        ctx_weight=params.add(ranking.context_weight),
        ctx_window=params.add(ranking.context_window),
        names=params.add(ranking.names),
        name_weight=params.add(ranking.name_weight),
        session_gap=params.add(ranking.session_gap_s),
        assistant_context=params.add(ranking.assistant_context),
    )
    where = memory_filter(node, params, show_expired=show_expired, validity=validity)
    # Without a caller's filter the plan cannot depend on the values (see the module's
    # doc), so the prepared statement runs on its generic plan. A caller's filter keeps
    # custom plans: a selective filter value may be best served by its own index.
    return await store.fetch(search_sql(p, r, where), params.values, generic_plan=node is None)
