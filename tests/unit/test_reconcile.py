"""Reconciliation answers: id mapping both ways, and the rules held against the model."""

from __future__ import annotations

import uuid

import pytest

from mem0stack_server.app.inference.extraction import Fact, parse_facts
from mem0stack_server.app.inference.reconcile import IdMap, parse_decisions
from mem0stack_server.llm import OutputShapeError

PARIS, COFFEE, SUSHI = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
IDS = IdMap([PARIS, COFFEE, SUSHI])  # shown to the LLM as 0, 1, 2


def parse(decisions: list[dict[str, object]], facts: list[Fact]):  # type: ignore[no-untyped-def]
    return parse_decisions({"decisions": decisions}, facts, IDS, 1000)


def test_id_map_round_trips_and_knows_nothing_else() -> None:
    assert [IDS.key_of(i) for i in (PARIS, COFFEE, SUSHI)] == [0, 1, 2]
    assert [IDS.id_of(k) for k in (0, 1, 2)] == [PARIS, COFFEE, SUSHI]
    assert IDS.id_of(3) is None
    assert IDS.id_of(-1) is None
    assert len(IdMap([PARIS, PARIS, COFFEE])) == 2


def test_decisions_map_back_to_real_ids() -> None:
    facts = [Fact("Lives in Berlin"), Fact("Likes flat whites"), Fact("Has a dog")]
    decisions, warnings = parse(
        [
            {"fact": 0, "event": "SUPERSEDE", "memory": 0, "text": "Lives in Berlin"},
            {"fact": 1, "event": "update", "memory": "1", "text": "Likes coffee, flat whites"},
            {"fact": 2, "event": "ADD", "memory": None, "text": "Has a dog"},
        ],
        facts,
    )
    assert warnings == []
    assert [(d.event, d.target, d.text) for d in decisions] == [
        ("SUPERSEDE", PARIS, "Lives in Berlin"),
        ("UPDATE", COFFEE, "Likes coffee, flat whites"),
        ("ADD", None, "Has a dog"),
    ]


def test_an_invented_id_is_ignored_reported_and_the_fact_kept() -> None:
    facts = [Fact("Lives in Berlin"), Fact("Likes sushi", forget=True)]
    decisions, warnings = parse(
        [
            {"fact": 0, "event": "UPDATE", "memory": 17, "text": "x"},
            {"fact": 1, "event": "DELETE", "memory": str(uuid.uuid4()), "text": "Likes sushi"},
        ],
        facts,
    )
    assert [(d.event, d.target) for d in decisions] == [("ADD", None), ("NOOP", None)]
    assert len(warnings) == 2
    assert "17" in warnings[0] and "not among the memories shown" in warnings[0]


def test_a_fact_without_a_decision_is_added_not_dropped() -> None:
    decisions, warnings = parse([], [Fact("Plays the cello")])
    assert [(d.event, d.text) for d in decisions] == [("ADD", "Plays the cello")]
    assert "no decision" in warnings[0]


def test_delete_without_a_request_to_forget_becomes_supersede() -> None:
    decisions, warnings = parse(
        [{"fact": 0, "event": "DELETE", "memory": 0, "text": "Lives in Berlin"}],
        [Fact("Lives in Berlin")],
    )
    assert [(d.event, d.target) for d in decisions] == [("SUPERSEDE", PARIS)]
    assert warnings


def test_a_request_to_forget_is_never_stored() -> None:
    decisions, warnings = parse(
        [{"fact": 0, "event": "ADD", "memory": None, "text": "Likes sushi"}],
        [Fact("Likes sushi", forget=True)],
    )
    assert [d.event for d in decisions] == ["NOOP"]
    assert warnings


def test_one_memory_is_changed_at_most_once() -> None:
    decisions, warnings = parse(
        [
            {"fact": 0, "event": "SUPERSEDE", "memory": 0, "text": "Lives in Berlin"},
            {"fact": 1, "event": "SUPERSEDE", "memory": 0, "text": "Lives in Munich"},
        ],
        [Fact("Lives in Berlin"), Fact("Lives in Munich")],
    )
    assert [(d.event, d.target) for d in decisions] == [("SUPERSEDE", PARIS), ("ADD", None)]
    assert warnings


def test_an_update_without_merged_text_adds_the_fact() -> None:
    decisions, _ = parse(
        [{"fact": 0, "event": "UPDATE", "memory": 1, "text": " "}], [Fact("Likes lattes")]
    )
    assert [(d.event, d.text) for d in decisions] == [("ADD", "Likes lattes")]


def test_an_unknown_event_fails_the_answer() -> None:
    with pytest.raises(OutputShapeError):
        parse([{"fact": 0, "event": "MERGE", "memory": 0, "text": "x"}], [Fact("x")])


def test_not_a_decision_list_fails_the_answer() -> None:
    with pytest.raises(OutputShapeError):
        parse_decisions({"result": "ok"}, [Fact("x")], IDS, 1000)


def test_extraction_accepts_mem0_style_string_facts_and_drops_unknown_categories() -> None:
    found = parse_facts(
        {"facts": ["Is vegetarian", {"text": "Lives in Lisbon", "categories": ["travel", "x"]}]},
        turns=1,
        categories=["travel", "food"],
        max_chars=100,
    )
    assert found == [
        Fact("Is vegetarian"),
        Fact("Lives in Lisbon", categories=("travel",)),
    ]


def test_extraction_refuses_facts_it_cannot_read() -> None:
    with pytest.raises(OutputShapeError):
        parse_facts({"facts": [{"txt": "Is vegetarian"}]}, turns=1, categories=[], max_chars=100)
    with pytest.raises(OutputShapeError):
        parse_facts({"memories": []}, turns=1, categories=[], max_chars=100)
