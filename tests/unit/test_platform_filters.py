"""mem0's filter grammar to AIP-160: every form mem0 documents translates into a filter our
parser accepts, and every form we do not support is a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest

from mem0stack_server.domain.errors import Code, DomainError
from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.transport.platform.filters import quote, scope_of, translate
from mem0stack_server.transport.platform.scope import Scope, reserved_owner


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"user_id": "alice"}, ""),
        ({"AND": [{"user_id": "alice"}, {"agent_id": "bot"}]}, 'agent_id = "bot"'),
        ({"user_id": "alice", "agent_id": "*"}, "agent_id:*"),
        ({"user_id": "a", "run_id": ["r1", "r2"]}, '(run_id = "r1") OR (run_id = "r2")'),
        ({"user_id": "a", "run_id": {"nin": ["r1"]}}, 'NOT (run_id = "r1")'),
        ({"user_id": "a", "agent_id": {"ne": "b*"}}, 'agent_id != "b\\*"'),
        ({"user_id": "a", "app_id": "desk"}, 'metadata.mem0_app_id = "desk"'),
        (
            {"user_id": "a", "created_at": {"gte": "2024-07-01"}},
            'create_time >= "2024-07-01T00:00:00+00:00"',
        ),
        (
            {"user_id": "a", "updated_at": {"lte": "2024-07-01"}},
            'update_time < "2024-07-02T00:00:00+00:00"',
        ),
        (
            {"user_id": "a", "created_at": {"lt": "2024-07-01T10:00:00Z"}},
            'create_time < "2024-07-01T10:00:00+00:00"',
        ),
        ({"user_id": "a", "categories": {"contains": "food"}}, 'categories:"food"'),
        (
            {"user_id": "a", "categories": {"in": ["a", "b"]}},
            '(categories:"a") OR (categories:"b")',
        ),
        ({"user_id": "a", "metadata": {"n": {"gte": 2}}}, "metadata.n >= 2"),
        ({"user_id": "a", "metadata": {"ok": True}}, "metadata.ok = true"),
        ({"user_id": "a", "metadata": {"tags": {"contains": "x"}}}, 'metadata.tags:"x"'),
        ({"user_id": "a", "metadata": {"a b": "x"}}, 'metadata."a b" = "x"'),
        ({"user_id": "a", "metadata": {"k": "*"}}, "metadata.k:*"),
        (
            {"user_id": "a", "OR": [{"agent_id": "x"}, {"NOT": {"run_id": "y"}}]},
            '(agent_id = "x") OR (NOT (run_id = "y"))',
        ),
    ],
)
def test_translations_parse(filters: dict[str, Any], expected: str) -> None:
    text = translate(filters)
    assert text == expected
    parse_filter(text)


@pytest.mark.parametrize(
    "filters",
    [
        {"user_id": "a", "keywords": "x"},
        {"user_id": "a", "agent_id": {"regex": "x"}},
        {"user_id": "a", "agent_id": {"contains": "x"}},
        {"user_id": "a", "metadata": {"k": {"icontains": "x"}}},
        {"user_id": "a", "metadata": {"k": {"x": {"y": 1}}}},
        {"user_id": "a", "metadata": {"mem0_app_id": "x"}},
        {"user_id": "a", "metadata": {"k": None}},
        {"user_id": "a", "created_at": {"gte": True}},
        {"user_id": "a", "created_at": {"gte": 1e20}},
        {"user_id": {"in": ["a", "b"]}},
        {"OR": [{"user_id": "a"}]},
        {"NOT": {"user_id": "a"}},
        {"user_id": "a", "OR": []},
        {"user_id": "a", "AND": {}},
        {"user_id": "a", "AND": [1]},
        {"user_id": "a", "agent_id": {}},
    ],
)
def test_unsupported_forms_are_invalid_argument(filters: dict[str, Any]) -> None:
    with pytest.raises(DomainError) as caught:
        translate(filters)
    assert caught.value.code == Code.INVALID_ARGUMENT


def test_quote_makes_every_character_literal() -> None:
    nasty = 'a"b\\c*\n\t'
    parse_filter(f"agent_id = {quote(nasty)}")
    assert quote("x*") == '"x\\*"'


def test_scope_and_owner() -> None:
    assert scope_of({"AND": [{"user_id": "u"}, {"agent_id": "b"}], "run_id": "r"}) == Scope(
        user_id="u", agent_id="b", run_id="r"
    )
    assert scope_of({"agent_id": {"in": ["x"]}}) == Scope()
    assert Scope(user_id="u", agent_id="b").owner() == "u"
    assert Scope(agent_id="b", app_id="a").owner() == "~agent:b"
    assert Scope(app_id="a", run_id="r").owner() == "~app:a"
    assert Scope(run_id="r").owner() == "~run:r"
    assert reserved_owner("agent", "my bot").startswith("~agent=")
    for bad in (Scope(), Scope(user_id="~agent:b"), Scope(user_id="a/b")):
        with pytest.raises(DomainError):
            bad.owner()
    with pytest.raises(DomainError):
        Scope(user_id="a").merged(Scope(user_id="b"))
