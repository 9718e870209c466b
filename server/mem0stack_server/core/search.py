"""SQL for SearchMemories: vector, keyword and hybrid retrieval.

- VECTOR orders by cosine distance through the HNSW index. pgvector applies other WHERE
  conditions after the index scan, so a selective filter can leave fewer than ``top_k``
  rows; the engine then reruns the query exactly (``exact=True``) over the filtered rows.
- KEYWORD matches any of the query's words (stemmed, stop words dropped): Postgres'
  ``plainto_tsquery`` would require every word, which natural-language questions rarely
  satisfy.
- HYBRID fuses both rankings by reciprocal rank (RRF), which needs no score calibration
  between the two.

Every result carries the cosine similarity as its score, whatever the ranking.
"""

from __future__ import annotations

from mem0stack_server.store.memories import MEMORY_COLUMNS

# RRF's usual constant: damps the weight of the very first ranks.
RRF_K = 60
# Candidates each leg contributes to the fusion, as a multiple of top_k.
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 40

# The query's lexemes OR-ed together; lexemes are quoted so punctuation in them cannot
# change the tsquery's syntax.
_OR_QUERY = (
    "(SELECT to_tsquery('simple', coalesce(string_agg(quote_literal(lexeme), ' | '), ''))"
    " AS tsq FROM unnest(tsvector_to_array(to_tsvector('english', $5))) AS lexeme)"
)


# Parameters every search statement shares: $1 user id, $2 query embedding, $3 minimum
# cosine similarity, $4 limit; statements that match words also take $5, the query text.
# The filter's own parameters follow.
FIRST_FILTER_PARAM = {"vector": 5, "keyword": 6, "hybrid": 6}
NO_MIN_SCORE = -2.0  # below any cosine similarity


def vector_sql(where_sql: str, *, exact: bool) -> str:
    """Nearest memories by cosine distance; ``exact`` scans every row in scope."""
    if exact:
        # MATERIALIZED keeps the planner from pushing the ORDER BY into the HNSW index.
        return f"""
            WITH scoped AS MATERIALIZED (
                SELECT {MEMORY_COLUMNS}, 1 - (embedding <=> $2) AS score
                FROM memories WHERE user_id = $1 AND {where_sql})
            SELECT * FROM scoped WHERE score >= $3 ORDER BY score DESC LIMIT $4"""
    return f"""
        SELECT {MEMORY_COLUMNS}, 1 - (embedding <=> $2) AS score
        FROM memories
        WHERE user_id = $1 AND {where_sql} AND 1 - (embedding <=> $2) >= $3
        ORDER BY embedding <=> $2 LIMIT $4"""


def keyword_sql(where_sql: str) -> str:
    """Memories matching any query word, best full-text rank first."""
    return f"""
        SELECT {MEMORY_COLUMNS}, 1 - (embedding <=> $2) AS score
        FROM memories, {_OR_QUERY} AS query
        WHERE user_id = $1 AND tsv @@ query.tsq AND {where_sql}
          AND 1 - (embedding <=> $2) >= $3
        ORDER BY ts_rank_cd(tsv, query.tsq) DESC, create_time DESC LIMIT $4"""


def hybrid_sql(where_sql: str, *, exact: bool) -> str:
    """Both legs in one round trip, fused by reciprocal rank."""
    candidates = f"greatest($4 * {CANDIDATE_FACTOR}, {MIN_CANDIDATES})"
    if exact:
        nearest = f"""
            scoped AS MATERIALIZED (
                SELECT id, embedding <=> $2 AS distance FROM memories
                WHERE user_id = $1 AND {where_sql}),
            nearest AS (SELECT id, distance FROM scoped ORDER BY distance LIMIT {candidates})"""
    else:
        nearest = f"""
            nearest AS (
                SELECT id, embedding <=> $2 AS distance FROM memories
                WHERE user_id = $1 AND {where_sql}
                ORDER BY embedding <=> $2 LIMIT {candidates})"""
    columns = ", ".join("m." + c.strip() for c in MEMORY_COLUMNS.split(","))
    return f"""
        WITH {nearest},
        vector_leg AS (
            SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM nearest),
        keyword_leg AS (
            SELECT id, row_number() OVER (ORDER BY rank DESC, create_time DESC) AS rank FROM (
                SELECT id, create_time, ts_rank_cd(tsv, query.tsq) AS rank
                FROM memories, {_OR_QUERY} AS query
                WHERE user_id = $1 AND tsv @@ query.tsq AND {where_sql}
                ORDER BY rank DESC, create_time DESC LIMIT {candidates}) AS matched),
        fused AS (
            SELECT id, coalesce(1.0 / ({RRF_K} + v.rank), 0)
                     + coalesce(1.0 / ({RRF_K} + k.rank), 0) AS rrf
            FROM vector_leg AS v FULL JOIN keyword_leg AS k USING (id)),
        ranked AS (
            SELECT {columns}, 1 - (m.embedding <=> $2) AS score, fused.rrf
            FROM fused JOIN memories AS m USING (id))
        SELECT * FROM ranked WHERE score >= $3
        ORDER BY rrf DESC, score DESC LIMIT $4"""
