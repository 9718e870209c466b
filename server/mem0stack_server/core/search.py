"""SQL for SearchMemories: vector, keyword and hybrid retrieval, plus neighbouring context.

Each statement finds candidates, gives every candidate a *relevance* in about [0, 1], can
raise it by the relevance of the memories next to it, and returns the best ``top_k``.

- VECTOR: relevance is the cosine similarity; candidates come from the HNSW index, or
  from an exact scan of the scope when the index comes up short (pgvector applies other
  WHERE conditions after the index scan, so a small or filtered scope can leave it short).
- KEYWORD: memories matching *any* of the query's words (stemmed, stop words dropped;
  Postgres' ``plainto_tsquery`` would require every word, which natural-language questions
  rarely satisfy), scored by BM25 (k1 = 1.2, b = 0.75) and divided by the best score, so
  the best match has relevance 1. Postgres' ``ts_rank`` has no inverse document frequency:
  a question's common words (a person's name, "like") would outweigh its rare, telling
  ones. Document frequencies are counted over the memories that match any query word
  within the caller's scope and filter: every memory holding a query word is among them,
  so the counts are exact at no extra scan, and the corpus size they are taken against is
  that matched set.
- HYBRID: ``(1 - w) * cosine + w * keyword relevance`` with ``w = keyword_weight``, over
  the union of both legs' candidates. Weighted scores beat reciprocal-rank fusion here:
  RRF throws away how far apart the scores are, and lets a weak leg's top ranks displace
  a strong leg's.
- Neighbouring context (``context_weight`` > 0): memories stored one after another in the
  same run (same agent_id and a non-empty run_id, adjacent in create_time then id order)
  usually belong together: a question and its answer, an event and its follow-up. For the
  best candidates, up to ``context_window`` neighbours on each side are found by numbering
  the memories of their runs; each memory then scores
  ``relevance + context_weight * (best relevance among its neighbours)``, which also brings
  in neighbours that matched nothing themselves.

Every result carries the cosine similarity as its score, whatever the ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

from mem0stack_server.store.memories import MEMORY_COLUMNS

# Candidates each leg contributes, as a multiple of top_k.
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 40
# Candidates whose neighbours are looked up, as a multiple of top_k.
SEED_FACTOR = 2
MIN_SEEDS = 20
# BM25's usual constants.
BM25_K1 = 1.2
BM25_B = 0.75
# Query words the keyword leg uses at most (the first ones of the query), and the slot
# counts statements are built with (the smallest that holds the query's words).
MAX_QUERY_WORDS = 32
WORD_SLOTS = (4, 8, 16, MAX_QUERY_WORDS)
# Largest context_window a request may ask for.
MAX_CONTEXT_WINDOW = 10
NO_MIN_SCORE = -2.0  # below any cosine similarity

# The distinct lexemes of a query ($1), in the order they first appear.
LEXEMES_SQL = f"""
    SELECT coalesce(array_agg(lexeme ORDER BY first), '{{}}') FROM (
        SELECT lexeme, positions[1] AS first FROM unnest(to_tsvector('english', $1))
        ORDER BY positions[1] LIMIT {MAX_QUERY_WORDS}) AS words"""

# Parameters every statement shares: $1 user id, $2 query embedding, $3 minimum cosine
# similarity, $4 limit, $5 the query's lexemes (text[]), $6 keyword weight, $7 context
# weight, $8 context window; the filter's own parameters follow.
FIRST_FILTER_PARAM = 9

_COLUMNS = [c.strip() for c in MEMORY_COLUMNS.split(",")]


@dataclass(frozen=True)
class Plan:
    """How one search ranks: which legs run, over how many query words, with context."""

    vector: bool
    words: int  # word slots of the keyword leg (one of WORD_SLOTS); 0 skips the leg
    context: bool


def plan(mode: str, words: int, context_weight: float, context_window: int) -> Plan:
    """The plan of a mode ("vector", "keyword" or "hybrid"), the query's lexeme count and
    the context options."""
    return Plan(
        vector=mode in ("vector", "hybrid"),
        words=next((n for n in WORD_SLOTS if n >= words), MAX_QUERY_WORDS)
        if words and mode in ("keyword", "hybrid")
        else 0,
        context=context_weight > 0 and context_window > 0,
    )


def candidates(top_k: int) -> int:
    """Candidates each leg contributes (the SQL computes the same from $4)."""
    return max(top_k * CANDIDATE_FACTOR, MIN_CANDIDATES)


def _relevance(p: Plan, cosine: str, keyword: str) -> str:
    if p.vector and p.words:
        return f"(1 - $6::float8) * {cosine} + $6::float8 * {keyword}"
    return cosine if p.vector else keyword


def _keyword_ctes(slots: int, where_sql: str) -> list[str]:
    """BM25 of every memory in scope that holds a query word: ``keyword(id, relevance,
    krank)``, relevance divided by the best, krank its rank.

    Statements have 4, 8, 16 or 32 word slots, not one per query length, so searches share
    a few statement texts and Postgres settles on cached generic plans (planning this
    statement afresh costs more than running it); empty slots are NULL and count 0.
    """
    r = range(1, slots + 1)
    word = "to_tsquery('simple', quote_literal(($5::text[])[{}]))"
    has = ", ".join(f"coalesce((m.tsv @@ query.w{i})::int, 0) AS h{i}" for i in r)
    counts = ", ".join(f"sum(h{i})::float8 AS n{i}" for i in r)
    idf = " + ".join(f"h{i} * ln(1 + (s.n - s.n{i} + 0.5) / (s.n{i} + 0.5))" for i in r)
    return [
        f"""query AS MATERIALIZED (
            SELECT to_tsquery('simple', coalesce(
                       (SELECT string_agg(quote_literal(l), ' | ') FROM unnest($5::text[]) AS l),
                       '')) AS tsq,
                   {", ".join(f"{word.format(i)} AS w{i}" for i in r)})""",
        f"""matched AS MATERIALIZED (
            SELECT m.id, length(m.tsv)::float8 AS len, {has}
            FROM memories AS m, query
            WHERE m.user_id = $1 AND m.tsv @@ query.tsq AND {where_sql})""",
        f"""stats AS (SELECT count(*)::float8 AS n, avg(len) AS avglen, {counts}
            FROM matched)""",
        f"""bm25 AS (
            SELECT id, ({idf}) * {BM25_K1 + 1}
                   / (1 + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * len / s.avglen)) AS raw
            FROM matched, stats AS s)""",
        """keyword AS MATERIALIZED (
            SELECT id, raw / nullif(max(raw) OVER (), 0) AS relevance,
                   row_number() OVER (ORDER BY raw DESC) AS krank
            FROM bm25)""",
    ]


def search_sql(p: Plan, where_sql: str) -> str:
    """The statement of a search plan: rows of the memory columns plus ``score``, the
    cosine similarity, best first."""
    n_candidates = f"greatest($4 * {CANDIDATE_FACTOR}, {MIN_CANDIDATES})"
    # $5 .. $8 are always sent; the casts give the unused ones a type.
    ctes = ["params AS (SELECT $5::text[] AS q, $6::float8 AS kw, $7::float8 AS cw, $8::int)"]
    # Each leg yields (id, kw, leg): kw the keyword relevance, leg 1 for a candidate;
    # grouping by id then joins them without the row estimates a join would need.
    legs: list[str] = []
    if p.vector:
        # pgvector applies the other conditions after the index scan, so a small or
        # heavily filtered scope can leave the index leg short; the exact scan of the
        # scope then runs instead, in the same statement (its one-time filter skips it
        # otherwise).
        ctes.append(
            f"""index_leg AS MATERIALIZED (
                SELECT id FROM memories WHERE user_id = $1 AND {where_sql}
                ORDER BY embedding <=> $2 LIMIT {n_candidates})"""
        )
        ctes.append("index_found AS MATERIALIZED (SELECT count(*) AS n FROM index_leg)")
        ctes.append(
            f"""exact_leg AS MATERIALIZED (
                SELECT id FROM (
                    SELECT id, embedding <=> $2 AS distance FROM memories
                    WHERE user_id = $1 AND {where_sql} OFFSET 0) AS scoped
                WHERE (SELECT n FROM index_found) < {n_candidates}
                ORDER BY distance LIMIT {n_candidates})"""
        )
        ctes.append(
            f"""vector_leg AS (
                SELECT id FROM index_leg WHERE (SELECT n FROM index_found) >= {n_candidates}
                UNION ALL SELECT id FROM exact_leg)"""
        )
        legs.append("SELECT id, 0::float8 AS kw, 1 AS leg FROM vector_leg")
    if p.words:
        ctes += _keyword_ctes(p.words, where_sql)
        legs.append(
            f"SELECT id, relevance AS kw, (krank <= {n_candidates})::int AS leg FROM keyword"
        )
    if not legs:  # a KEYWORD search whose query has no searchable word
        legs.append("SELECT NULL::uuid AS id, 0::float8 AS kw, 0 AS leg WHERE false")
    ctes.append(
        f"""candidate_ids AS (
            SELECT id, max(kw) AS kw FROM ({" UNION ALL ".join(legs)}) AS legs
            GROUP BY id HAVING max(leg) = 1)"""
    )
    columns = ", ".join(f"m.{c}" for c in _COLUMNS)
    relevance = _relevance(p, "(1 - (m.embedding <=> $2))", "c.kw")
    ctes.append(
        f"""candidates AS MATERIALIZED (
            SELECT {columns}, 1 - (m.embedding <=> $2) AS score, {relevance} AS relevance
            FROM candidate_ids AS c JOIN memories AS m USING (id) WHERE m.user_id = $1)"""
    )
    plain = ", ".join(_COLUMNS)
    if not p.context:
        ctes_sql = ",\n".join(ctes)
        return f"""
            WITH {ctes_sql}
            SELECT {plain}, score FROM candidates
            WHERE score >= $3 ORDER BY relevance DESC, score DESC LIMIT $4"""

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
            FROM (SELECT * FROM memories WHERE user_id = $1 AND {where_sql}) AS m
            JOIN runs ON runs.agent_id = m.agent_id AND runs.run_id = m.run_id)"""
    )
    ctes.append(
        """links AS MATERIALIZED (
            SELECT t1.id AS a, t2.id AS b
            FROM seeds AS s JOIN timeline AS t1 ON t1.id = s.id
            JOIN timeline AS t2 ON t2.agent_id = t1.agent_id AND t2.run_id = t1.run_id
             AND t2.pos BETWEEN t1.pos - $8 AND t1.pos + $8 AND t2.id <> t1.id)"""
    )
    # Neighbours that are not candidates, with their keyword relevance (grouped as above).
    new_legs = ["SELECT b AS id, 0::float8 AS kw, 1 AS leg FROM links"]
    if p.words:
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
            SELECT {columns}, 1 - (m.embedding <=> $2) AS score, {relevance} AS relevance
            FROM neighbour_ids AS c JOIN memories AS m USING (id) WHERE m.user_id = $1)"""
    )
    ctes.append(
        """context AS (
            SELECT e.a AS id, max(pool.relevance) AS relevance
            FROM (SELECT a, b FROM links UNION ALL SELECT b, a FROM links) AS e
            JOIN pool ON pool.id = e.b GROUP BY e.a)"""
    )
    pooled = ", ".join(f"pool.{c}" for c in _COLUMNS)
    ctes_sql = ",\n".join(ctes)
    return f"""
        WITH {ctes_sql}
        SELECT {pooled}, pool.score
        FROM pool LEFT JOIN context USING (id)
        WHERE pool.score >= $3
        ORDER BY pool.relevance + $7 * coalesce(context.relevance, 0) DESC, pool.score DESC
        LIMIT $4"""
