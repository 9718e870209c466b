"""The AIP-160 filter language on its own: parsing into the AST, positions, syntax errors
and limits (mem0stack_server.domain.filter). Compiling it to SQL is test_filter_sql.py."""

from __future__ import annotations

import pytest

from mem0stack_server.domain.errors import Code, Reason
from mem0stack_server.domain.filter import (
    MAX_FILTER_LENGTH,
    MAX_NESTING_DEPTH,
    And,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    UnknownFilterFieldError,
    Value,
    parse_filter,
)


def cmp(text: str) -> Comparison:
    """Parse a filter that must be a single comparison."""
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    return node


def shape(node: Node | None) -> object:
    """A position-free rendering of an AST, to compare structure compactly."""
    if node is None:
        return None
    if isinstance(node, Comparison):
        return ".".join([node.field, *node.path]) + node.op + node.value.text
    if isinstance(node, Not):
        return ("NOT", shape(node.operand))
    kind = "AND" if isinstance(node, And) else "OR"
    return (kind, *[shape(operand) for operand in node.operands])


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text", ["", " ", " \t\r\n "])
def test_empty_filter_means_no_condition(text: str) -> None:
    assert parse_filter(text) is None


def test_comparison_records_positions() -> None:
    node = cmp('  agent_id >= "x"')
    assert node == Comparison(
        field="agent_id",
        path=(),
        op=">=",
        value=Value(text="x", quoted=True, wildcard=False, position=15),
        position=3,
        op_position=12,
    )


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">=", ":"])
@pytest.mark.parametrize("template", ["role{op}x", "role {op} x", "role{op} x", "role  {op}\tx"])
def test_every_comparator_with_and_without_spaces(op: str, template: str) -> None:
    node = cmp(template.format(op=op))
    assert (node.field, node.op, node.value.text) == ("role", op, "x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # OR binds tighter than AND -- the AIP-160 rule, unlike SQL.
        ("a=1 AND b=2 OR c=3", ("AND", "a=1", ("OR", "b=2", "c=3"))),
        ("a=1 OR b=2 AND c=3", ("AND", ("OR", "a=1", "b=2"), "c=3")),
        ("a=1 OR b=2 OR c=3", ("OR", "a=1", "b=2", "c=3")),
        # Juxtaposition is AND, also binding looser than OR.
        ("a=1 b=2", ("AND", "a=1", "b=2")),
        ("a=1 b=2 OR c=3", ("AND", "a=1", ("OR", "b=2", "c=3"))),
        # Implicit and explicit AND end up in one node.
        ("a=1 b=2 AND c=3 d=4", ("AND", "a=1", "b=2", "c=3", "d=4")),
        # Parentheses override precedence and stay as nested nodes.
        ("(a=1 AND b=2) OR c=3", ("OR", ("AND", "a=1", "b=2"), "c=3")),
        ("(a=1 AND b=2) AND c=3", ("AND", ("AND", "a=1", "b=2"), "c=3")),
        ("((a=1))", "a=1"),
        ("( a=1 )", "a=1"),
        ("(a=1)(b=2)", ("AND", "a=1", "b=2")),
        # NOT and '-' are unary and bind tightest.
        ("NOT a=1 OR b=2", ("OR", ("NOT", "a=1"), "b=2")),
        ("-a=1 b=2", ("AND", ("NOT", "a=1"), "b=2")),
        ("NOT (a=1 OR b=2)", ("NOT", ("OR", "a=1", "b=2"))),
        ("NOT(a=1)", ("NOT", "a=1")),
        ("-(a=1)", ("NOT", "a=1")),
        ("- a=1", ("NOT", "a=1")),
        ("NOT NOT a=1", ("NOT", ("NOT", "a=1"))),
        ("--a=1", ("NOT", ("NOT", "a=1"))),
        ("a=1 AND NOT b=2", ("AND", "a=1", ("NOT", "b=2"))),
        ("a=1 OR -b=2", ("OR", "a=1", ("NOT", "b=2"))),
        # Keywords must be whole upper-case words.
        ("NOTE=1", "NOTE=1"),
        ("ORDER=1 ANDY=2", ("AND", "ORDER=1", "ANDY=2")),
        # Whitespace of any kind separates.
        ("a=1\tAND\nb=2", ("AND", "a=1", "b=2")),
        ("a=1 AND(b=2)", ("AND", "a=1", "b=2")),
    ],
)
def test_precedence_and_grouping(text: str, expected: object) -> None:
    assert shape(parse_filter(text)) == expected


def test_negation_positions() -> None:
    node = parse_filter("a=1 -b=2")
    assert isinstance(node, And)
    negation = node.operands[1]
    assert isinstance(negation, Not)
    assert negation.position == 5


@pytest.mark.parametrize(
    ("text", "value", "quoted", "wildcard"),
    [
        ('a = "hello world"', "hello world", True, False),
        ("a = 'hello world'", "hello world", True, False),
        (r'a = "say \"hi\""', 'say "hi"', True, False),
        (r"a = 'it\'s'", "it's", True, False),
        ("a = 'say \"hi\"'", 'say "hi"', True, False),
        ('a = "it\'s"', "it's", True, False),
        (r'a = "back\\slash"', "back\\slash", True, False),
        (r'a = "tab\tnl\ncr\r"', "tab\tnl\ncr\r", True, False),
        (r'a = "caf\u00e9"', "café", True, False),
        ('a = ""', "", True, False),
        ('a = "(x) AND y"', "(x) AND y", True, False),
        ('a = "bot-*"', "bot-*", True, True),
        (r'a = "bot-\*"', "bot-*", True, False),
        (r'a = "bot-\\*"', "bot-\\*", True, True),
        ('a = "a*b"', "a*b", True, False),
        ('a = "*"', "*", True, True),
        ("a = bot-*", "bot-*", False, True),
        ("a = *", "*", False, True),
        ("a = ACTIVE", "ACTIVE", False, False),
        ("a = -5", "-5", False, False),
        ("a = 2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", False, False),
        ("a = über", "über", False, False),
    ],
)
def test_values(text: str, value: str, quoted: bool, wildcard: bool) -> None:
    parsed = cmp(text).value
    assert (parsed.text, parsed.quoted, parsed.wildcard) == (value, quoted, wildcard)


@pytest.mark.parametrize(
    ("literal", "is_number", "is_bool"),
    [
        ("5", True, False),
        ("-5", True, False),
        ("2.5", True, False),
        ("-0.25", True, False),
        (".5", True, False),
        ("1e3", True, False),
        ("1.5E-3", True, False),
        ('"5"', False, False),
        ("5a", False, False),
        ("1-2", False, False),
        ("true", False, True),
        ("FALSE", False, True),
        ("'true'", False, False),
        ("truthy", False, False),
    ],
)
def test_literal_types(literal: str, is_number: bool, is_bool: bool) -> None:
    value = cmp(f"metadata.k = {literal}").value
    assert (value.is_number, value.is_bool) == (is_number, is_bool)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("metadata.topic = x", ("topic",)),
        ("metadata.a.b.c = x", ("a", "b", "c")),
        ("metadata.foo-bar = x", ("foo-bar",)),
        ("metadata._x9 = x", ("_x9",)),
        ('metadata."a.b".c = x', ("a.b", "c")),
        ("metadata.'weird key' = x", ("weird key",)),
        (r'metadata."q\"uote" = x', ('q"uote',)),
        ('metadata."" = x', ("",)),
    ],
)
def test_member_paths(text: str, path: tuple[str, ...]) -> None:
    node = cmp(text)
    assert (node.field, node.path) == ("metadata", path)


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("agent_id", 9, 'expected a comparison operator (=, !=, <, <=, >, >=, :) after "agent_id"'),
        ("hello world", 7, "after \"hello\", found 'w'"),
        ("agent_id =", 11, "expected a value after '=' (at position 10), found end of filter"),
        ("agent_id = )", 12, "expected a value after '='"),
        ("agent_id == x", 11, "expected a value after '=' (at position 10), found '='"),
        ("agent_id <> x", 11, "expected a value after '<'"),
        ("agent_id ! x", 10, "expected a comparison operator"),
        ('agent_id = "abc', 12, "unterminated string"),
        ("agent_id = 'abc\\", 12, "unterminated string"),
        (r'agent_id = "a\qb"', 14, r"invalid escape sequence '\q'"),
        (r'agent_id = "\u12"', 13, r"\u needs four hex digits"),
        (r'agent_id = "\u0000"', 13, r"invalid character \u0000"),
        (r'agent_id = "\ud800"', 13, r"invalid character \ud800"),
        ('agent_id = "a"b', 15, "expected whitespace, ')' or the end of the filter after a value"),
        ('agent_id = x"y"', 13, "expected whitespace"),
        ("(agent_id = x", 14, "missing ')' for the '(' at position 1, found end of filter"),
        ("agent_id = x)", 13, "unmatched ')'"),
        ("()", 1, "empty parentheses"),
        ("AND agent_id = x", 1, "unexpected AND; expected a condition"),
        ("agent_id = x AND", 17, "expected a condition after AND (AND at position 14)"),
        ("agent_id = x OR", 16, "expected a condition after OR (OR at position 14)"),
        ("agent_id = x AND OR b = 1", 18, "expected a condition after AND"),
        ("agent_id = x OR )", 17, "expected a condition after OR"),
        ("NOT", 4, "unexpected end of filter; expected a condition"),
        ("-", 2, "unexpected end of filter"),
        ('"free text"', 1, "found a string (free-text search is not supported)"),
        ("= x", 1, "expected a field name, found '='"),
        ("5 = x", 1, "expected a field name, found '5'"),
        ("agent_id = x and run_id = y", 18, "AND, OR and NOT must be written in upper case"),
        ("metadata. = x", 10, "expected a key name after '.', found whitespace"),
        ("metadata.9 = x", 10, "expected a key name after '.', found '9'"),
        ("has(agent_id)", 1, 'function calls such as "has(...)" are not supported'),
        ("agent_id = x\x00", 13, "invalid character U+0000"),
    ],
)
def test_syntax_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(text)
    assert raised.value.position == position
    assert message in str(raised.value)
    assert str(raised.value).count(f"at position {position}") >= 1
    assert not isinstance(raised.value, UnknownFilterFieldError)


def test_filter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unterminated string"):
        parse_filter('role = "x')


def test_length_limit() -> None:
    # A long but legal filter: many OR'ed conditions padded to the exact limit.
    clause = "role = abcdefgh"
    text = " OR ".join([clause] * 300)[:MAX_FILTER_LENGTH]
    text = text[: text.rindex(" OR ")]
    text += " " * (MAX_FILTER_LENGTH - len(text))
    assert len(text) == MAX_FILTER_LENGTH
    assert isinstance(parse_filter(text), Or)
    with pytest.raises(FilterError, match="filter is too long") as raised:
        parse_filter(text + " ")
    assert raised.value.position == MAX_FILTER_LENGTH + 1


@pytest.mark.parametrize(
    ("opening", "closing", "levels_each"),
    [("(", ")", 1), ("NOT ", "", 1), ("-", "", 1), ("NOT (", ")", 2), ("(-", ")", 2)],
)
def test_nesting_limit(opening: str, closing: str, levels_each: int) -> None:
    def nested(levels: int) -> str:
        reps = levels // levels_each
        return opening * reps + "role = x" + closing * reps

    assert parse_filter(nested(MAX_NESTING_DEPTH)) is not None
    with pytest.raises(FilterError, match="nested too deeply") as raised:
        parse_filter(nested(MAX_NESTING_DEPTH + 2))
    assert raised.value.position is not None


def test_nesting_limit_counts_depth_not_total() -> None:
    # Many sibling groups are fine; only depth is limited.
    text = " ".join(["(role = x)"] * (MAX_NESTING_DEPTH * 3))
    node = parse_filter(text)
    assert isinstance(node, And)
    assert len(node.operands) == MAX_NESTING_DEPTH * 3


def test_deep_nesting_error_position() -> None:
    text = "(" * (MAX_NESTING_DEPTH + 1) + "role = x" + ")" * (MAX_NESTING_DEPTH + 1)
    with pytest.raises(FilterError) as raised:
        parse_filter(text)
    assert raised.value.position == MAX_NESTING_DEPTH + 1


def test_filter_errors_are_invalid_argument_for_the_filter_field() -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter("agent_id =")
    error = raised.value
    assert (error.code, error.reason) == (Code.INVALID_ARGUMENT, Reason.INVALID_FILTER)
    assert error.message == f"filter: {error}"
    assert error.metadata == {"position": "11"}
    assert [(v.field, v.description) for v in error.violations] == [("filter", str(error))]
    unknown = UnknownFilterFieldError("unknown field", 3, "colour")
    assert (unknown.reason, unknown.metadata) == (Reason.UNKNOWN_FILTER_FIELD, {"field": "colour"})
