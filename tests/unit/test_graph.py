"""Graph memory's pure parts: entity resolution, reading LLM answers, filters to Cypher."""

from __future__ import annotations

import pytest

from mem0stack_server.app.graph.extraction import parse_contradicted, parse_extraction
from mem0stack_server.domain.errors import DomainError
from mem0stack_server.domain.graph import resolve
from mem0stack_server.domain.graph.model import USER, ExtractedRelation
from mem0stack_server.llm import OutputShapeError
from mem0stack_server.store import graph_filter as graph_filter

Candidate = resolve.Candidate


def choose(name: str, kind: str, *candidates: Candidate) -> str | None:
    chosen = resolve.choose(name, kind, candidates, threshold=0.92, contain_score=0.7)
    return chosen.name if chosen else None


def test_names_normalise_to_their_words() -> None:
    assert resolve.normalize("  Acme  Inc. ") == "acme inc"
    assert resolve.normalize("O'Brien") == "o brien"
    assert "new york" in resolve.query_phrases("Who lives in New York?")
    assert resolve.mentions_user("Where do I live?") and resolve.mentions_user("my sister")
    assert not resolve.mentions_user("Where does Alice live?")


def test_resolution_merges_what_should_merge() -> None:
    alice_smith = Candidate("1", "Alice Smith", "person", ("alice smith",), 0.82)
    assert choose("Alice", "person", alice_smith) == "Alice Smith"
    alice = Candidate("1", "Alice", "person", ("alice",), 0.82)
    assert choose("Alice Smith", "person", alice) == "Alice"
    nyc = Candidate("2", "New York City", "place", (), 0.95)
    assert choose("New York", "place", nyc) == "New York City"
    assert choose("New York", "thing", nyc) == "New York City"  # generic types agree


def test_resolution_keeps_apart_what_should_not_merge() -> None:
    smith = Candidate("1", "Alice Smith", "person", ("alice smith", "alice"), 0.78)
    jones = Candidate("2", "Alice Jones", "person", ("alice jones",), 0.78)
    assert choose("Alice Jones", "person", smith) is None  # its alias "alice" is no reason
    assert choose("Alice", "person", smith, jones) is None  # ambiguous
    paris = Candidate("3", "Paris", "place", (), 0.95)
    assert choose("Paris", "person", paris) is None  # types disagree
    assert choose("Bob", "person", Candidate("4", "Bobby Tables", "person", (), 0.5)) is None
    user = Candidate("5", "u1", "person", (), 0.99, is_user=True)
    assert choose("u1", "person", user) is None


def test_extraction_answers_are_read_leniently() -> None:
    found = parse_extraction(
        {
            "entities": ["Alice", {"name": "Acme", "type": "Organization"}, {"name": "I"}],
            "relations": [
                {"from": "Alice", "relation": "Works At", "to": "Acme", "memories": ["1"]},
                {"source": "my", "relation": "sister", "target": "Alice"},
                {"source": "Acme", "relation": "based_in", "target": "Berlin", "memories": [7]},
                {"source": "Alice", "relation": "is", "target": "alice"},
            ],
        },
        memory_count=2,
    )
    assert {(e.name, e.type) for e in found.entities} == {
        ("Alice", "thing"),
        ("Acme", "organization"),
        (USER, "person"),
        ("Berlin", "thing"),
    }
    assert found.relations == [
        ExtractedRelation("Alice", "works_at", "Acme", (1,)),
        ExtractedRelation(USER, "sister", "Alice", (0, 1)),  # no memories: all of the job's
        ExtractedRelation("Acme", "based_in", "Berlin", (0, 1)),  # unknown number: all
    ]


def test_unreadable_extraction_answers_are_rejected() -> None:
    with pytest.raises(OutputShapeError):
        parse_extraction(["not", "an", "object"], 1)
    with pytest.raises(OutputShapeError):
        parse_extraction({"entities": [], "relations": [{"source": "a"}]}, 1)


def test_contradictions_ignore_numbers_not_shown() -> None:
    assert parse_contradicted({"contradicted": [2, "0", 9, -1, True]}, 3) == [0, 2]
    with pytest.raises(OutputShapeError):
        parse_contradicted({"contradicted": "0"}, 1)


def test_filters_compile_to_parameterised_cypher() -> None:
    compiled = graph_filter.compile_filter(
        'relation = "Works At" AND NOT state = INVALID AND create_time > 2026-01-01T00:00:00Z',
        graph_filter.RELATION_FIELDS,
        "u1",
    )
    assert "works_at" in compiled.params.values()
    assert "Works" not in compiled.cypher and compiled.fields == {
        "relation",
        "state",
        "create_time",
    }
    prefix = graph_filter.compile_filter('display_name = "Ali*"', graph_filter.ENTITY_FIELDS, "u1")
    assert "STARTS WITH" in prefix.cypher and prefix.params == {"f0": "Ali"}
    other = graph_filter.compile_filter(
        'memory = "users/u2/memories/0190a0a0-0000-7000-8000-000000000000"',
        graph_filter.ENTITY_FIELDS,
        "u1",
    )
    assert other.params == {"f0": ""}  # another user's memory matches nothing


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('colour = "red"', "UNKNOWN_FILTER_FIELD"),
        ("is_user > true", "UNKNOWN_FILTER_FIELD"),
        ("state = MAYBE", "INVALID_FILTER"),
        ('source = "alice"', "INVALID_FILTER"),
        ("create_time > yesterday", "INVALID_FILTER"),
    ],
)
def test_bad_filters_are_errors(text: str, reason: str) -> None:
    fields = {**graph_filter.RELATION_FIELDS, "is_user": graph_filter.ENTITY_FIELDS["is_user"]}
    with pytest.raises(DomainError) as raised:
        graph_filter.compile_filter(text, fields, "u1")
    assert raised.value.reason == reason
