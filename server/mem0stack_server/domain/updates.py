"""Updated first: among search results that say nearly the same thing, the newer one first.

When a user states a fact and later corrects it ("the deadline is March 15", then "the
deadline moved to April 1") and both are stored verbatim, both match a question about it,
and nothing in their text says which is current: the older one often matches the question's
words better. Two memories of one scope that are near-duplicates of each other (cosine at
least ``similarity``) and rank close together (relevance within ``margin``) are most likely
two versions of one fact, and the one that became true later (``valid_time``, then
``create_time``) is the current one. So within such pairs the newer memory moves up to just
above the older one; every other result keeps its place.

This is a tie-break between versions, not a recency weight: a recency weight on every
result would rank the last session above the one a question asks about, and conversations
ask about earlier sessions as often as later ones (docs/benchmarks.md, LoCoMo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Row = Mapping[str, Any]


def _scope(row: Row) -> tuple[str, str, str]:
    # A user's and an assistant's words are not versions of each other, nor are two agents'.
    return row["agent_id"], row["role"], row["actor_id"]


def _age(row: Row) -> tuple[Any, Any]:
    return row["valid_time"], row["create_time"]


def updated_first(
    rows: Sequence[Row], vectors: np.ndarray, *, similarity: float, margin: float
) -> list[int]:
    """The order (indexes into ``rows``, best first) after the tie-break.

    ``rows`` are ranked best first and carry ``rank_key``; ``vectors`` holds their
    embeddings, one row each. ``margin`` 0 turns the rule off.
    """
    order = list(range(len(rows)))
    if margin <= 0 or len(rows) < 2:
        return order
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    cosine = unit @ unit.T
    i = 0
    # Each move puts a strictly newer memory at position i, so this ends.
    while i < len(order):
        a = rows[order[i]]
        newer = [
            j
            for j in range(i + 1, len(order))
            if _scope(rows[order[j]]) == _scope(a)
            and _age(rows[order[j]]) > _age(a)
            and float(a["rank_key"]) - float(rows[order[j]]["rank_key"]) <= margin
            and cosine[order[i], order[j]] >= similarity
        ]
        if not newer:
            i += 1
            continue
        # The newest version takes the place of the older one, the rest shift down by one.
        j = max(newer, key=lambda k: _age(rows[order[k]]))
        order.insert(i, order.pop(j))
    return order
