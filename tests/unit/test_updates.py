"""The updated-first tie-break (domain/updates.py) on hand-made rankings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from mem0stack_server.domain.updates import updated_first

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def row(key: float, days: int, *, role: str = "user", agent: str = "") -> dict[str, Any]:
    when = T0 + timedelta(days=days)
    return {
        "rank_key": key,
        "valid_time": when,
        "create_time": when,
        "agent_id": agent,
        "role": role,
        "actor_id": "",
    }


def vectors(*angles: float) -> np.ndarray:
    """Unit vectors in a plane: the cosine of two is the cosine of their angle difference."""
    return np.array([[np.cos(a), np.sin(a)] for a in angles], dtype=np.float32)


def test_a_newer_near_duplicate_close_behind_moves_above_the_older() -> None:
    rows = [row(0.9, 0), row(0.8, 5), row(0.85, 10)]
    # 0 and 2 are near-duplicates (cos 0.995); 1 is unrelated (cos 0).
    order = updated_first(rows, vectors(0.0, np.pi / 2, 0.1), similarity=0.6, margin=0.1)
    assert order == [2, 0, 1]


def test_older_ones_far_behind_or_dissimilar_or_off_stay() -> None:
    rows = [row(0.9, 0), row(0.7, 10)]
    near = vectors(0.0, 0.1)
    # Too far behind in relevance.
    assert updated_first(rows, near, similarity=0.6, margin=0.1) == [0, 1]
    # Close, but not the same fact.
    rows = [row(0.9, 0), row(0.85, 10)]
    assert updated_first(rows, vectors(0.0, 1.2), similarity=0.6, margin=0.1) == [0, 1]
    # Off.
    assert updated_first(rows, near, similarity=0.6, margin=0.0) == [0, 1]
    # Already newest first.
    rows = [row(0.9, 10), row(0.85, 0)]
    assert updated_first(rows, near, similarity=0.6, margin=0.1) == [0, 1]


def test_only_versions_in_one_scope_and_role_count() -> None:
    near = vectors(0.0, 0.1)
    assistant = [row(0.9, 0), row(0.85, 10, role="assistant")]
    assert updated_first(assistant, near, similarity=0.6, margin=0.1) == [0, 1]
    other_agent = [row(0.9, 0), row(0.85, 10, agent="bot")]
    assert updated_first(other_agent, near, similarity=0.6, margin=0.1) == [0, 1]


def test_the_newest_of_several_versions_comes_first() -> None:
    rows = [row(0.9, 0), row(0.88, 5), row(0.86, 10)]
    order = updated_first(rows, vectors(0.0, 0.05, 0.1), similarity=0.6, margin=0.1)
    assert order == [2, 1, 0]
