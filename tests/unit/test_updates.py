"""The updated-first tie-break (domain/updates.py) on hand-made rankings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from mem0stack_server.domain.updates import asks_about_past, states_change, updated_first

T0 = datetime(2025, 1, 1, tzinfo=UTC)
QUERY = "When is the sprint deadline?"
STATED = "The sprint deadline is March 15."
CHANGED = "The sprint deadline was moved to April 1."


def row(
    key: float, days: int, content: str = STATED, *, role: str = "user", agent: str = ""
) -> dict[str, Any]:
    when = T0 + timedelta(days=days)
    return {
        "id": days,
        "rank_key": key,
        "valid_time": when,
        "create_time": when,
        "agent_id": agent,
        "role": role,
        "actor_id": "",
        "content": content,
    }


def vectors(*angles: float) -> np.ndarray:
    """Unit vectors in a plane: the cosine of two is the cosine of their angle difference."""
    return np.array([[np.cos(a), np.sin(a)] for a in angles], dtype=np.float32)


def rank(
    rows: list[dict[str, Any]], vecs: np.ndarray, query: str = QUERY, **kw: float
) -> list[int]:
    return updated_first(query, rows, vecs, **({"similarity": 0.4, "window": 3} | kw))


def test_a_newer_version_that_states_a_change_moves_above_the_older() -> None:
    rows = [row(0.9, 0), row(0.8, 5, "Likes hiking."), row(0.85, 10, CHANGED)]
    # 0 and 2 are alike (cos 0.995); 1 is unrelated (cos 0).
    assert rank(rows, vectors(0.0, np.pi / 2, 0.1)) == [2, 0, 1]


def test_a_newer_memory_that_states_no_change_stays_below() -> None:
    # Two memories on one topic, neither a correction: a later session does not outrank
    # the one a question may be about.
    rows = [row(0.9, 0), row(0.85, 10, "The sprint deadline worries me.")]
    assert rank(rows, vectors(0.0, 0.1)) == [0, 1]


def test_an_older_memory_that_states_a_change_itself_stays_first() -> None:
    rows = [row(0.9, 0, "The deadline was moved to March 15."), row(0.85, 10, CHANGED)]
    assert rank(rows, vectors(0.0, 0.1)) == [0, 1]


def test_a_question_about_the_past_keeps_the_order() -> None:
    rows = [row(0.9, 0), row(0.85, 10, CHANGED)]
    near = vectors(0.0, 0.1)
    assert rank(rows, near, "When was the sprint deadline first set?") == [0, 1]
    assert rank(rows, near) == [1, 0]


def test_far_behind_unlike_or_off_stays() -> None:
    near = vectors(0.0, 0.1)
    far = [row(0.9, 0), *(row(0.8, 1, f"Note {n}.") for n in range(3)), row(0.7, 10, CHANGED)]
    assert rank(far, vectors(0.0, 2, 2, 2, 0.1)) == [0, 1, 2, 3, 4]  # too far below
    assert rank(far, vectors(0.0, 2, 2, 2, 0.1), window=4) == [4, 0, 1, 2, 3]
    rows = [row(0.9, 0), row(0.85, 10, CHANGED)]
    assert rank(rows, vectors(0.0, 1.4)) == [0, 1]  # not the same thing (cos 0.17)
    assert rank(rows, near, window=0) == [0, 1]  # off
    assert rank([row(0.9, 10, CHANGED), row(0.85, 0)], near) == [0, 1]  # already newest first


def test_only_versions_in_one_scope_and_role_count() -> None:
    near = vectors(0.0, 0.1)
    assert rank([row(0.9, 0), row(0.85, 10, CHANGED, role="assistant")], near) == [0, 1]
    assert rank([row(0.9, 0), row(0.85, 10, CHANGED, agent="bot")], near) == [0, 1]


def test_of_one_batch_the_later_given_is_newer() -> None:
    # Memories stored in one request share their times; their ids keep the order given.
    older, newer = row(0.9, 0), row(0.85, 0, CHANGED)
    newer["id"] = 1
    assert rank([older, newer], vectors(0.0, 0.1)) == [1, 0]


def test_the_newest_of_several_corrections_comes_first() -> None:
    rows = [row(0.9, 0), row(0.88, 5, CHANGED), row(0.86, 10, "It was moved again, to May 2.")]
    assert rank(rows, vectors(0.0, 0.05, 0.1)) == [2, 1, 0]


@pytest.mark.parametrize(
    ("text", "changed"),
    [
        ("My meeting got rescheduled to 4:30 PM", True),
        ("I've increased my budget to $650", True),
        ("I no longer eat meat", True),
        ("I switched to Go", True),
        ("I moved to Berlin last year", True),
        ("My budget is $600", False),
        ("The movie was moving", False),  # a word, not a stem
    ],
)
def test_change_words(text: str, changed: bool) -> None:
    assert states_change(text) is changed


@pytest.mark.parametrize(
    ("query", "past"),
    [
        ("What is my monthly budget?", False),
        ("How many sources are in my Zotero library?", False),
        ("When did I first set the budget?", True),
        ("What was my budget before the increase?", True),
        ("How many days between the two meetings?", True),
    ],
)
def test_questions_about_the_past(query: str, past: bool) -> None:
    assert asks_about_past(query) is past
