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
- VECTOR candidates come from the HNSW index, or from an exact scan of the scope when the
  index comes up short (pgvector applies other WHERE conditions after the index scan, so
  a small or filtered scope can leave it short).
- HYBRID relevance is ``(1 - w) * cosine + w * keyword`` with ``w = keyword_weight``,
  over the union of both legs' candidates. Weighted scores beat reciprocal-rank fusion:
  RRF throws away how far apart the scores are, and lets a weak leg's top ranks displace
  a strong leg's.
- Neighbouring context (``context_weight`` > 0): memories stored one after another in the
  same run (same agent_id and a non-empty run_id, adjacent in create_time then id order)
  usually belong together: a question and its answer, an event and its follow-up. For the
  best candidates, up to ``context_window`` neighbours on each side are found by numbering
  the memories of their runs; each memory then gains ``context_weight`` times the best
  relevance among its neighbours, which also brings in neighbours that matched nothing
  themselves. A memory right after a question (content ending in a question mark: ASCII,
  full-width or Arabic) is most likely its answer, so it gains a further
  ``REPLY_FACTOR * context_weight`` of that question's relevance.
- Name boost (``name_weight`` > 0): proper names in the query (capitalised words that do
  not start a sentence) usually name whom or what the answer is about. A memory whose
  first word is one of them (its subject: "Alice moved to Berlin", "Alice: I moved")
  gains ``name_weight``. A name merely mentioned elsewhere in a memory gains nothing: in
  a conversation the other party's name is mentioned all the time.

Every result carries the cosine similarity as its score, whatever the ranking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mem0stack_server.store.memories import MEMORY_COLUMNS

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

# Share of context_weight by which a question's relevance raises the memory right after it
# (on top of the ordinary neighbour context). 0.3-0.4 of relevance did best on the LoCoMo
# development split, and the gain holds on each of its conversations.
REPLY_FACTOR = 0.6
# Largest context_window a request may ask for.
MAX_CONTEXT_WINDOW = 10
# Query names used at most.
MAX_NAMES = 8
NO_MIN_SCORE = -2.0  # below any cosine similarity

# Keyword statement parameters: $1 user id, $2 query text, $3 rows; the filter's follow.
KEYWORD_FIRST_FILTER_PARAM = 4
# Ranking statement parameters: $1 user id, $2 query embedding, $3 minimum cosine
# similarity, $4 limit, $5 keyword ids (uuid[]), $6 their keyword relevance (float8[]),
# $7 keyword weight, $8 context weight, $9 context window, $10 query names (text[]),
# $11 name weight; the filter's parameters follow.
FIRST_FILTER_PARAM = 12

_COLUMNS = [c.strip() for c in MEMORY_COLUMNS.split(",")]
_WORD = re.compile(r"[^\W\d_]\w*")  # "Alice's" gives "Alice", then "s"
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


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


def keyword_sql(where_sql: str) -> str:
    """BM25 of the memories in scope that hold a query word: rows (id, relevance), relevance
    divided by the best, best first, at most $3."""
    scoped = f"memories WHERE user_id = $1 AND {where_sql}"
    return f"""
        WITH words AS MATERIALIZED (
            SELECT lexeme, to_tsquery('simple', quote_literal(lexeme)) AS word FROM (
                SELECT lexeme FROM unnest(to_tsvector('english', $2))
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
        FROM bm25 ORDER BY raw DESC, id LIMIT $3"""


def _vector_ctes(where_sql: str, n_candidates: str) -> list[str]:
    # pgvector applies the other conditions after the index scan, so a small or heavily
    # filtered scope can leave the index leg short; the exact scan of the scope then runs
    # instead, in the same statement (its one-time filter skips it otherwise). An HNSW scan
    # yields at most hnsw.ef_search rows, so the index leg asks for no more than that (or
    # top_k): asking for more would send every large top_k to the exact scan.
    from_index = f"least({n_candidates}, greatest(current_setting('hnsw.ef_search')::int, $4))"
    return [
        f"""index_leg AS MATERIALIZED (
            SELECT id FROM memories WHERE user_id = $1 AND {where_sql}
            ORDER BY embedding <=> $2 LIMIT {from_index})""",
        "index_found AS MATERIALIZED (SELECT count(*) AS n FROM index_leg)",
        f"""exact_leg AS MATERIALIZED (
            SELECT id FROM (
                SELECT id, embedding <=> $2 AS distance FROM memories
                WHERE user_id = $1 AND {where_sql} OFFSET 0) AS scoped
            WHERE (SELECT n FROM index_found) < {from_index}
            ORDER BY distance LIMIT {n_candidates})""",
        f"""vector_leg AS (
            SELECT id FROM index_leg WHERE (SELECT n FROM index_found) >= {from_index}
            UNION ALL SELECT id FROM exact_leg)""",
    ]


def search_sql(p: Plan, where_sql: str) -> str:
    """The ranking statement of a plan: rows of the memory columns plus ``score``, the
    cosine similarity, best first."""
    n_candidates = f"greatest($4 * {CANDIDATE_FACTOR}, {MIN_CANDIDATES})"
    # Every parameter is always sent; the casts give the unused ones a type.
    ctes = [
        """params AS (SELECT $5::uuid[], $6::float8[], $7::float8, $8::float8, $9::int,
                             $10::text[], $11::float8)""",
        """keyword AS MATERIALIZED (
            SELECT id, relevance, rank FROM unnest($5::uuid[], $6::float8[])
                WITH ORDINALITY AS k(id, relevance, rank))""",
    ]
    # Each leg yields (id, kw, leg): kw the keyword relevance, leg 1 for a candidate;
    # grouping by id then joins them without the row estimates a join would need.
    legs: list[str] = []
    if p.vector:
        ctes += _vector_ctes(where_sql, n_candidates)
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
    cosine = "(1 - (m.embedding <=> $2))"
    if p.vector and p.keyword:
        relevance = f"(1 - $7::float8) * {cosine} + $7::float8 * c.kw"
    else:
        relevance = cosine if p.vector else "c.kw"
    # The memory's first word, for the name boost.
    subject = r"lower(substring(m.content FROM '^\W*(\w+)'))"
    columns = ", ".join(f"m.{c}" for c in _COLUMNS)
    selected = f"{columns}, {cosine} AS score, {relevance} AS relevance, {subject} AS subject"
    # Keyword-only candidates pass the filter in the keyword statement; the user check
    # keeps this statement safe on its own.
    ctes.append(
        f"""candidates AS MATERIALIZED (
            SELECT {selected}
            FROM candidate_ids AS c JOIN memories AS m USING (id) WHERE m.user_id = $1)"""
    )
    name_boost = "$11 * (pool.subject = ANY ($10))::int" if p.names else "0"
    plain = ", ".join(f"pool.{c}" for c in _COLUMNS)
    if not p.context:
        ctes_sql = ",\n".join(ctes)
        return f"""
            WITH {ctes_sql}
            SELECT {plain}, pool.score FROM candidates AS pool
            WHERE pool.score >= $3
            ORDER BY pool.relevance + {name_boost} DESC, pool.score DESC LIMIT $4"""

    seeds = f"greatest($4 * {SEED_FACTOR}, {MIN_SEEDS})"
    ctes.append(
        f"seeds AS (SELECT * FROM candidates ORDER BY relevance DESC, score DESC LIMIT {seeds})"
    )
    # Positions within the seeds' runs, numbered in one pass: no per-seed lookups whose
    # plans depend on fresh table statistics.
    ctes.append(
        "runs AS MATERIALIZED (SELECT DISTINCT agent_id, run_id FROM seeds WHERE run_id <> '')"
    )
    ctes.append(
        f"""timeline AS MATERIALIZED (
            SELECT m.id, m.agent_id, m.run_id, row_number() OVER (
                       PARTITION BY m.agent_id, m.run_id ORDER BY m.create_time, m.id) AS pos
            FROM (SELECT id, agent_id, run_id, create_time FROM memories
                  WHERE user_id = $1 AND {where_sql}) AS m
            JOIN runs ON runs.agent_id = m.agent_id AND runs.run_id = m.run_id)"""
    )
    # Links from each seed to its neighbours; `step` is the neighbour's position
    # relative to the seed.
    ctes.append(
        """links AS MATERIALIZED (
            SELECT t1.id AS a, t2.id AS b, t2.pos - t1.pos AS step
            FROM seeds AS s JOIN timeline AS t1 ON t1.id = s.id
            JOIN timeline AS t2 ON t2.agent_id = t1.agent_id AND t2.run_id = t1.run_id
             AND t2.pos BETWEEN t1.pos - $9 AND t1.pos + $9 AND t2.id <> t1.id)"""
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
        f"""pool AS MATERIALIZED (
            SELECT * FROM candidates
            UNION ALL
            SELECT {selected}
            FROM neighbour_ids AS c JOIN memories AS m USING (id) WHERE m.user_id = $1)"""
    )
    # Each memory's best neighbour relevance, and the relevance of the question right
    # before it, if it follows one.
    ctes.append(
        r"""context AS (
            SELECT e.a AS id, max(pool.relevance) AS relevance,
                   max(pool.relevance) FILTER (
                       WHERE e.step = -1 AND pool.content ~ '[?\uFF1F\u061F]\s*$') AS asked
            FROM (SELECT a, b, step FROM links
                  UNION ALL SELECT b, a, -step FROM links) AS e
            JOIN pool ON pool.id = e.b GROUP BY e.a)"""
    )
    ctes_sql = ",\n".join(ctes)
    return f"""
        WITH {ctes_sql}
        SELECT {plain}, pool.score
        FROM pool LEFT JOIN context USING (id)
        WHERE pool.score >= $3
        ORDER BY pool.relevance + {name_boost}
                 + $8 * coalesce(context.relevance, 0)
                 + {REPLY_FACTOR} * $8 * coalesce(context.asked, 0) DESC,
                 pool.score DESC
        LIMIT $4"""
