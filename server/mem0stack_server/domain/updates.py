"""Updated first: of two versions of one fact in the search results, the newer one first.

When a user states a fact and later corrects it ("the deadline is March 15", then "the
deadline was moved to April 1") and both are stored verbatim, both match a question about
it, and the older one often matches the question's words better. Three things together
mark a later result as a newer version of an earlier one:

- **it says that something changed**: its text has a change word ("moved", "rescheduled",
  "increased", "no longer", ...; ``CHANGE``) and the earlier one has none. A correction
  announces itself; two messages that merely share a topic do not, and reordering those
  would rank a later session above the one a question asks about (measured on LoCoMo);
- **it is about the same thing**: one scope and role, embeddings at least ``similarity``
  alike, and it ranks at most ``window`` places below the earlier one (further down, it
  matched the question much worse, and moving it up costs more questions than it helps:
  measured on BEAM);
- **the question asks about the present**: a question that points to the past or to an
  order ("did", "was", "first", "before", "originally", "between"; ``PAST``) wants the
  older version as much as the newer, so it is left alone.

Then the newer one (``valid_time``, then ``create_time``, then the time-ordered id) moves
up to just above the older; every other result keeps its place. This is a tie-break
between versions, not a recency weight: a recency weight on every result would rank the
last session above the one a question asks about, and conversations ask about earlier
sessions as often as later ones (docs/benchmarks.md, LoCoMo). The words are English, as
the embedding model is; in another language no change word matches and the rule changes
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Row = Mapping[str, Any]

# Words that state a change of a fact: its value moved, or it stopped being true.
CHANGE = re.compile(
    r"\b(?:updated?|changed?|rescheduled?|postponed|moved|increased?|decreased?|raised|"
    r"lowered|reduced|extended|shortened|switched|replaced|revised|adjusted|upgraded|"
    r"downgraded|no longer)\b",
    re.IGNORECASE,
)
# Words by which a question points to the past or to an order of events.
PAST = re.compile(
    r"\b(?:did|was|were|had|first|originally|initially|previously|before|earlier|"
    r"used to|ago|between|last)\b",
    re.IGNORECASE,
)


def asks_about_past(query: str) -> bool:
    """Whether a question points to the past or to an order, so no version is preferred."""
    return PAST.search(query) is not None


def states_change(content: str) -> bool:
    """Whether a memory's text says that something changed."""
    return CHANGE.search(content) is not None


def _scope(row: Row) -> tuple[str, str, str]:
    # A user's and an assistant's words are not versions of each other, nor are two agents'.
    return row["agent_id"], row["role"], row["actor_id"]


def _age(row: Row) -> tuple[Any, Any, Any]:
    # Ids are time-ordered (UUIDv7): they order the memories of one batch, which share
    # their create_time, in the order they were given.
    return row["valid_time"], row["create_time"], row["id"]


def updated_first(
    query: str, rows: Sequence[Row], vectors: np.ndarray, *, similarity: float, window: int
) -> list[int]:
    """The order (indexes into ``rows``, best first) after the tie-break.

    ``rows`` are ranked best first and carry ``content``; ``vectors`` holds their
    embeddings, one row each. ``window`` 0 turns the rule off.
    """
    order = list(range(len(rows)))
    if window <= 0 or len(rows) < 2 or asks_about_past(query):
        return order
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    cosine = unit @ unit.T
    changes = [states_change(row["content"]) for row in rows]
    for i in range(len(order)):
        a = order[i]
        if changes[a]:
            continue  # a correction itself is no older version of anything
        newer = [
            j
            for j in range(i + 1, min(len(order), i + 1 + window))
            if changes[order[j]]
            and _scope(rows[order[j]]) == _scope(rows[a])
            and _age(rows[order[j]]) > _age(rows[a])
            and cosine[a, order[j]] >= similarity
        ]
        if newer:
            # The newest version takes the place of the older one, the rest shift down.
            j = max(newer, key=lambda k: _age(rows[order[k]]))
            order.insert(i, order.pop(j))
    return order
