"""AIP-160 filters compiled to parameterised PostgreSQL over the ``memories`` table.

:func:`compile_filter` turns the AST of :mod:`mem0stack_server.domain.filter` (whose doc
describes the language and its semantics) into a boolean SQL expression. Every value,
including JSON key paths, becomes a bind parameter of the statement's :class:`Params`,
which numbers the placeholders, so the filter can sit anywhere in a statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Final

from mem0stack_server.domain.filter import (
    And,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    UnknownFilterFieldError,
    parse_filter,
    parse_timestamp,
)
from mem0stack_server.store.sql import Params

__all__ = ["CompiledFilter", "compile_filter"]


class _Kind(Enum):
    TEXT = "text"
    ENUM = "enum"
    ARRAY = "array"
    TIME = "time"
    JSON = "json"


@dataclass(frozen=True)
class _FieldSpec:
    kind: _Kind
    # Whether the column can be NULL; decides whether NOT needs COALESCE.
    nullable: bool
    enum_values: tuple[str, ...] = ()


_STATE_VALUES: Final = ("ACTIVE", "SUPERSEDED")
_MEMORY_TYPE_VALUES: Final = ("SEMANTIC", "EPISODIC", "PROCEDURAL")

# Columns not declared NOT NULL in the schema are treated as nullable so that a
# schema change cannot silently make negations drop rows.
_FIELDS: Final[dict[str, _FieldSpec]] = {
    "agent_id": _FieldSpec(_Kind.TEXT, nullable=False),
    "run_id": _FieldSpec(_Kind.TEXT, nullable=False),
    "actor_id": _FieldSpec(_Kind.TEXT, nullable=False),
    "role": _FieldSpec(_Kind.TEXT, nullable=False),
    "state": _FieldSpec(_Kind.ENUM, nullable=False, enum_values=_STATE_VALUES),
    "memory_type": _FieldSpec(_Kind.ENUM, nullable=True, enum_values=_MEMORY_TYPE_VALUES),
    "categories": _FieldSpec(_Kind.ARRAY, nullable=False),
    "create_time": _FieldSpec(_Kind.TIME, nullable=True),
    "update_time": _FieldSpec(_Kind.TIME, nullable=True),
    "expire_time": _FieldSpec(_Kind.TIME, nullable=True),
    "event_time": _FieldSpec(_Kind.TIME, nullable=True),
    "valid_time": _FieldSpec(_Kind.TIME, nullable=True),
    "invalid_time": _FieldSpec(_Kind.TIME, nullable=True),
    "metadata": _FieldSpec(_Kind.JSON, nullable=False),
}
_ALLOWED_FIELDS_TEXT: Final = ", ".join(
    f"{name}.<key>" if spec.kind is _Kind.JSON else name for name, spec in _FIELDS.items()
)

_SQL_OPS: Final = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERING_OPS: Final = frozenset(("<", "<=", ">", ">="))

_COLUMN_PREFIX_RE: Final = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*\.)?")


@dataclass(frozen=True)
class CompiledFilter:
    """A filter compiled to SQL.

    ``sql`` is a parenthesised boolean expression (``"TRUE"`` for an empty filter) whose
    values were added to the statement's :class:`Params`. ``fields`` names the top-level
    fields referenced (``"metadata"`` for any metadata path), e.g. so a caller can apply a
    default ``state`` restriction only when the user did not filter on ``state``.
    """

    sql: str
    fields: frozenset[str]


def _group(node: Node, sql: str) -> str:
    """Parenthesise ``sql`` unless ``node`` compiled to a group already."""
    return sql if isinstance(node, And | Or) else f"({sql})"


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with ``prefix`` literally.

    Relies on LIKE's default escape character, backslash; the pattern is a bind
    parameter, so ``standard_conforming_strings`` does not affect it.
    """
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class _Compiler:
    """Turns an AST into SQL, collecting parameters in placeholder order."""

    def __init__(self, params: Params, column_prefix: str) -> None:
        self._param = params.add
        self.column_prefix = column_prefix
        self.fields: set[str] = set()

    def compile(self, node: Node) -> tuple[str, bool]:
        """Return the SQL for ``node`` and whether it can evaluate to NULL."""
        if isinstance(node, Comparison):
            return self._comparison(node)
        if isinstance(node, Not):
            sql, nullable = self.compile(node.operand)
            # NOT NULL is NULL, which would make "-x" drop rows where x is
            # missing; map NULL to false first so negation means "not matched".
            if nullable:
                return f"NOT COALESCE({sql}, false)", False
            return f"NOT {_group(node.operand, sql)}", False
        joiner = " AND " if isinstance(node, And) else " OR "
        parts = [self.compile(operand) for operand in node.operands]
        return "(" + joiner.join(sql for sql, _ in parts) + ")", any(n for _, n in parts)

    def _comparison(self, node: Comparison) -> tuple[str, bool]:
        spec = _FIELDS.get(node.field)
        name = ".".join([node.field, *node.path])
        if spec is None or (spec.kind is not _Kind.JSON and node.path):
            raise UnknownFilterFieldError(
                f'unknown field "{name}" at position {node.position}; '
                f"allowed: {_ALLOWED_FIELDS_TEXT}",
                node.position,
                name,
            )
        self.fields.add(node.field)
        if node.value.is_star and node.op != ":":
            raise FilterError(
                f'"*" on its own is only allowed with ":" (at position {node.value.position}); '
                f"write {name}:* to require a value, or -{name}:* to require none",
                node.value.position,
            )
        column = self.column_prefix + node.field
        if spec.kind is _Kind.TEXT:
            return self._text(node, column), False
        if spec.kind is _Kind.ENUM:
            return self._enum(node, column, spec), spec.nullable
        if spec.kind is _Kind.ARRAY:
            return self._array(node, column), False
        if spec.kind is _Kind.TIME:
            return self._time(node, column), spec.nullable
        return self._json(node, column)

    def _unsupported(self, node: Comparison, supported: str) -> UnknownFilterFieldError:
        name = ".".join([node.field, *node.path])
        return UnknownFilterFieldError(
            f'operator "{node.op}" is not supported for field "{name}" at position '
            f"{node.op_position}; use {supported}",
            node.op_position,
            name,
        )

    def _text(self, node: Comparison, column: str) -> str:
        value = node.value
        if node.op == ":" and value.is_star:
            return f"{column} <> ''"
        if node.op in ("=", "!=", ":") and value.wildcard:
            negation = "NOT " if node.op == "!=" else ""
            return f"{column} {negation}LIKE {self._param(_like_prefix(value.prefix))}"
        # ':' on a scalar string is equality; numbers and booleans are compared
        # as the text the user typed, since these columns are text.
        sql_op = "=" if node.op == ":" else _SQL_OPS[node.op]
        return f"{column} {sql_op} {self._param(value.text)}"

    def _enum(self, node: Comparison, column: str, spec: _FieldSpec) -> str:
        if node.op not in ("=", "!="):
            raise self._unsupported(node, "= or !=")
        normalised = node.value.text.upper()
        if normalised not in spec.enum_values:
            raise FilterError(
                f'unknown value "{node.value.text}" for field "{node.field}" at position '
                f"{node.value.position}; allowed: {', '.join(spec.enum_values)}",
                node.value.position,
            )
        return f"{column} {_SQL_OPS[node.op]} {self._param(normalised)}"

    def _array(self, node: Comparison, column: str) -> str:
        if node.op not in (":", "="):
            raise self._unsupported(
                node, f': (contains), e.g. {node.field}:"x", or -{node.field}:"x" to exclude'
            )
        value = node.value
        if value.is_star:
            return f"cardinality({column}) > 0"
        if value.wildcard:
            pattern = self._param(_like_prefix(value.prefix))
            return f"EXISTS (SELECT 1 FROM unnest({column}) AS _fc(v) WHERE _fc.v LIKE {pattern})"
        # @> rather than = ANY(...) so a GIN index on the array can serve it.
        return f"{column} @> ARRAY[{self._param(value.text)}::text]"

    def _time(self, node: Comparison, column: str) -> str:
        if node.op == ":" and node.value.is_star:
            return f"{column} IS NOT NULL"
        sql_op = "=" if node.op == ":" else _SQL_OPS[node.op]
        return f"{column} {sql_op} {self._param(parse_timestamp(node))}"

    def _json(self, node: Comparison, column: str) -> tuple[str, bool]:
        if not node.path:
            raise UnknownFilterFieldError(
                f'field "metadata" needs a key at position {node.position}, '
                'e.g. metadata.topic = "travel" or metadata.topic:*',
                node.position,
                node.field,
            )
        value = node.value
        # The path is a bind parameter (text[]), never spliced into the SQL.
        path = self._param(list(node.path))
        json_value = f"({column} #> {path}::text[])"
        text_value = f"({column} #>> {path}::text[])"
        if node.op == ":" and value.is_star:
            return f"{json_value} IS NOT NULL", False
        if value.is_bool:
            return self._json_bool(node, json_value), False
        if value.is_number:
            number = Decimal(value.text)
            if node.op == ":":
                return f"{json_value} @> to_jsonb({self._param(number)}::numeric)", True
            # CASE, not AND: PostgreSQL does not promise to evaluate AND operands
            # in order, and the cast fails on non-numbers.
            return (
                f"CASE WHEN jsonb_typeof({json_value}) = 'number' "
                f"THEN {json_value}::numeric {_SQL_OPS[node.op]} {self._param(number)}::numeric "
                "ELSE false END"
            ), False
        if node.op == ":":
            if value.wildcard:
                pattern = self._param(_like_prefix(value.prefix))
                return (
                    f"CASE jsonb_typeof({json_value}) "
                    f"WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements_text("
                    f"{json_value}) AS _fe(v) WHERE _fe.v LIKE {pattern}) "
                    f"WHEN 'string' THEN {text_value} LIKE {pattern} "
                    "ELSE false END"
                ), False
            # jsonb containment: an array contains a scalar element, and a
            # scalar contains itself, so this covers tag lists and plain strings.
            return f"{json_value} @> to_jsonb({self._param(value.text)}::text)", True
        if node.op in ("=", "!=") and value.wildcard:
            negation = "NOT " if node.op == "!=" else ""
            return f"{text_value} {negation}LIKE {self._param(_like_prefix(value.prefix))}", True
        return f"{text_value} {_SQL_OPS[node.op]} {self._param(value.text)}::text", True

    def _json_bool(self, node: Comparison, json_value: str) -> str:
        if node.op in _ORDERING_OPS:
            raise self._unsupported(node, "=, != or : with true/false")
        flag = self._param(node.value.text.lower() == "true")
        if node.op == ":":
            return f"COALESCE({json_value} @> to_jsonb({flag}::boolean), false)"
        # Typed like numbers: only JSON booleans take part, so "!= true" does not
        # match strings or missing keys.
        return (
            f"CASE WHEN jsonb_typeof({json_value}) = 'boolean' "
            f"THEN {json_value}::boolean {_SQL_OPS[node.op]} {flag}::boolean ELSE false END"
        )


def compile_filter(
    text: str | Node | None, params: Params, *, column_prefix: str = ""
) -> CompiledFilter:
    """Compile an AIP-160 filter (its text, or its AST) into SQL over ``memories``.

    Args:
        text: the user's filter (empty or whitespace means "no condition"), or the AST
            :func:`~mem0stack_server.domain.filter.parse_filter` made of it.
        params: the statement's parameters; the filter's values are added to them.
        column_prefix: prepended to every column name, e.g. ``"m."`` in a join. Must be
            empty or an identifier followed by a dot, as it is written into the SQL.

    Raises:
        FilterError: the filter is malformed or a value has the wrong type.
        UnknownFilterFieldError: an unknown field, or an operator the field does not
            support.
        ValueError: ``column_prefix`` is invalid (a bug in the caller, not the filter).
    """
    if _COLUMN_PREFIX_RE.fullmatch(column_prefix) is None:
        raise ValueError(f"column_prefix must be empty or like 'm.', got {column_prefix!r}")
    node = parse_filter(text) if isinstance(text, str) or text is None else text
    if node is None:
        return CompiledFilter("TRUE", frozenset())
    compiler = _Compiler(params, column_prefix)
    sql, _ = compiler.compile(node)
    # Parenthesised so the caller can splice it next to AND/OR/NOT as is.
    return CompiledFilter(_group(node, sql), frozenset(compiler.fields))
