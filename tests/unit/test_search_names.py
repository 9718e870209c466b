"""The query names the name boost looks for (core/search.py query_names)."""

from __future__ import annotations

import pytest

from mem0stack_server.store.search import MAX_NAMES, query_names


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("What has Melanie painted?", ["melanie"]),
        ("When did I meet John at the Louvre?", ["john", "louvre"]),
        # A sentence's first word is capitalised anyway.
        ("Alice went out. Where did Bob go?", ["bob"]),
        ("Which book did Caroline recommend to Melanie?", ["caroline", "melanie"]),
        ("What is Caroline's job?", ["caroline"]),
        ("where does Zoë live", ["zoë"]),
        ("what did they eat", []),
        ("", []),
        ("Did Anna and anna meet Anna?", ["anna"]),
    ],
)
def test_query_names(query: str, names: list[str]) -> None:
    assert query_names(query) == names


def test_query_names_are_capped() -> None:
    query = "Did " + " ".join(f"Name{i}" for i in range(20)) + " meet?"
    assert len(query_names(query)) == MAX_NAMES
