"""AIP-160 filter expressions: the language, parsed into an AST.

List, search, export and watch requests take a ``filter`` string in the language of
`AIP-160 <https://google.aip.dev/160>`_.  This module parses it into a small AST
(:func:`parse_filter`); :mod:`mem0stack_server.store.filter_sql` compiles that AST into
a boolean SQL expression over the ``memories`` table, and the graph store into Cypher.
The semantics below are the SQL compiler's; user input never reaches the SQL text.

Syntax
------
::

    filter      = [expression]
    expression  = sequence { "AND" sequence }
    sequence    = factor { factor }                 (juxtaposition = implicit AND)
    factor      = term { "OR" term }
    term        = ("NOT" | "-") term | simple
    simple      = "(" expression ")" | restriction
    restriction = member comparator value
    member      = IDENT { "." (KEY | string) }
    comparator  = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"

Precedence follows AIP-160, which differs from SQL and most programming
languages: **OR binds tighter than AND**.  ``a AND b OR c`` means
``a AND (b OR c)``, and ``a b OR c`` means ``a AND (b OR c)``.  ``NOT`` and the
``-`` prefix are unary and bind tightest: ``NOT a OR b`` is ``(NOT a) OR b``.
Use parentheses when in doubt.  ``AND``, ``OR`` and ``NOT`` are keywords only in
upper case.

Values are double- or single-quoted strings (escapes: ``\\"``, ``\\'``,
``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\*``, ``\\uXXXX``), numbers (``5``,
``-2.5``, ``1e3``), ``true``/``false`` (any case), or bare words, which are
strings (``state = ACTIVE``).  A bare word runs until whitespace or a
parenthesis, so unquoted RFC 3339 timestamps work
(``create_time > 2024-05-01T00:00:00Z``).  A value must be followed by
whitespace, ``)`` or the end of the filter.

Fields and semantics
--------------------
Only these fields may be filtered on; anything else is rejected.  Throughout,
``field:*`` tests presence; a value of just ``*`` is accepted with ``:`` only
(write ``-field:*`` for absence).

``agent_id``, ``run_id``, ``actor_id``, ``role`` (text, ``''`` means unset)
    All comparators compare text.  ``field:*`` means "set" (non-empty);
    ``field:"x"`` is the same as ``field = "x"``.  A trailing unescaped ``*`` in
    an ``=``, ``!=`` or ``:`` value is a prefix wildcard (``agent_id = "bot-*"``);
    write ``\\*`` inside quotes for a literal trailing star.  ``<`` etc. treat
    ``*`` literally.  ``!=`` matches rows where the field is unset, since ``''``
    is a value like any other.
``state``, ``memory_type``
    Only ``=`` and ``!=``, with a known enum value (case-insensitive).
``categories`` (text array)
    ``categories:"food"`` and ``categories = "food"`` both mean "contains food"
    (``=`` is accepted as an alias because "the categories equal food" is not a
    useful question for a list).  ``categories:*`` means "has any category";
    ``categories:"fo*"`` means "has a category starting with fo".  Other
    comparators are rejected; write ``-categories:"food"`` for "does not contain".
``create_time``, ``update_time``, ``expire_time``, ``event_time``, ``valid_time``,
``invalid_time``
    All comparators, with an RFC 3339 timestamp that includes a UTC offset
    (``Z`` or ``+02:00``).  ``:`` is equality, ``expire_time:*`` means "is set".
``metadata.<key>[.<key>...]``
    A path into the JSON ``metadata`` object.  Keys are identifiers
    (``[A-Za-z_][A-Za-z0-9_-]*``) or quoted strings (``metadata."a.b"``).  The
    literal decides how the value is compared:

    * a string compares the value's text form (``metadata #>> path``), so
      ``metadata.n = "5"`` matches both ``"5"`` and ``5``;
    * a number matches JSON numbers only, compared numerically, so
      ``metadata.n = 5`` does not match the string ``"5"``;
    * ``true``/``false`` matches JSON booleans only, and only ``=``/``!=``;
    * ``metadata.k:*`` means "key exists" (even if its value is JSON null);
    * ``metadata.k:"x"`` means "k is an array containing "x", or is "x"" (JSON
      containment), so it is the operator for tag lists; ``metadata.k:"x*"``
      likewise matches an array element or a string starting with x;
    * a trailing ``*`` with ``=``/``!=`` is a prefix match on the text form.

Missing values
--------------
A comparison never matches a missing value, **including** ``!=``, as with SQL
NULL: a NULL column (``expire_time``, ``event_time``, ``invalid_time``,
``memory_type``), an absent
metadata key or one holding JSON null all fail every comparison, and so does a
metadata value of another type than a number or boolean literal.  Negation
means "not matched", so ``NOT metadata.x = 1`` and ``-expire_time < "..."`` *do*
match rows lacking the value.  The compiler wraps possibly-NULL operands of NOT in
``COALESCE(..., false)`` to get that; the top-level expression is left
unwrapped so PostgreSQL can still use indexes, which means it may evaluate to
NULL for such rows -- use it in a WHERE clause, where NULL counts as false.

Errors and limits
-----------------
Malformed filters raise :class:`FilterError` (a :class:`ValueError`) with a
message meant for API users and a 1-based character (code point) ``position``.
Unknown fields and comparators a field does not support raise the subclass
:class:`UnknownFilterFieldError`, which also names the ``field``.  Filters longer
than :data:`MAX_FILTER_LENGTH` characters or nested (parentheses and negations)
deeper than :data:`MAX_NESTING_DEPTH` are rejected.  An empty or all-whitespace
filter compiles to ``TRUE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeAlias

from mem0stack_server.domain.errors import Code, DomainError, FieldViolation, Reason

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_NESTING_DEPTH",
    "And",
    "Comparison",
    "FilterError",
    "Node",
    "Not",
    "Or",
    "UnknownFilterFieldError",
    "Value",
    "parse_filter",
    "parse_timestamp",
]

MAX_FILTER_LENGTH: Final = 4096
"""Longest accepted filter, in characters."""

MAX_NESTING_DEPTH: Final = 32
"""Deepest accepted nesting of parentheses and negations combined."""


# --------------------------------------------------------------------------- errors


class FilterError(DomainError, ValueError):
    """A filter that cannot be parsed or compiled: INVALID_ARGUMENT, reason INVALID_FILTER.

    ``str(error)`` is the message about the filter itself (the status message adds the
    field, "filter: ..."); ``position`` is the 1-based character position it refers to,
    or ``None`` when no single position applies.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(
            Code.INVALID_ARGUMENT,
            Reason.INVALID_FILTER,
            f"filter: {message}",
            violations=[FieldViolation("filter", message)],
            position="" if position is None else str(position),
        )
        self.detail = message
        self.position = position

    def __str__(self) -> str:
        return self.detail


class UnknownFilterFieldError(FilterError):
    """A field that cannot be filtered on, or a comparator the field does not support:
    INVALID_ARGUMENT, reason UNKNOWN_FILTER_FIELD, naming the ``field``."""

    def __init__(self, message: str, position: int | None, field: str) -> None:
        DomainError.__init__(
            self,
            Code.INVALID_ARGUMENT,
            Reason.UNKNOWN_FILTER_FIELD,
            f"filter: {message}",
            violations=[FieldViolation("filter", message)],
            field=field,
        )
        self.detail = message
        self.position = position
        self.field = field


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Value:
    """A literal on the right-hand side of a comparison.

    ``text`` has escapes resolved; a wildcard star stays in it.  ``wildcard``
    is true when the text ends in a ``*`` that was not escaped.  The literal's
    type (string, number, boolean) is decided from ``text`` and ``quoted`` by the
    properties below, because bare words double as strings for text fields.
    """

    text: str
    quoted: bool
    wildcard: bool
    position: int

    @property
    def is_number(self) -> bool:
        """Whether this is an unquoted numeric literal such as ``5`` or ``-2.5e3``."""
        return not self.quoted and _NUMBER_RE.fullmatch(self.text) is not None

    @property
    def is_bool(self) -> bool:
        """Whether this is an unquoted ``true`` or ``false`` (any case)."""
        return not self.quoted and self.text.lower() in ("true", "false")

    @property
    def is_star(self) -> bool:
        """Whether this is the bare presence wildcard ``*`` (or ``"*"``)."""
        return self.wildcard and self.text == "*"

    @property
    def prefix(self) -> str:
        """The text before the trailing wildcard (only meaningful when ``wildcard``)."""
        return self.text[:-1] if self.wildcard else self.text


@dataclass(frozen=True)
class Comparison:
    """``field[.path...] op value``; ``path`` is empty except for ``metadata``."""

    field: str
    path: tuple[str, ...]
    op: str
    value: Value
    position: int
    op_position: int


@dataclass(frozen=True)
class Not:
    """Negation, written ``NOT x`` or ``-x``."""

    operand: Node
    position: int


@dataclass(frozen=True)
class And:
    """Conjunction, written ``AND`` or by juxtaposition; at least two operands."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction; at least two operands."""

    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | Not | And | Or


# --------------------------------------------------------------------------- parser

_NUMBER_RE: Final = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Metadata keys may also contain '-', which is safe because '-' only means
# negation at the start of a term, never after a '.'.
_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_WHITESPACE: Final = " \t\r\n"
_KEYWORD_END: Final = frozenset(_WHITESPACE + "()")
# A bare value runs to whitespace or a parenthesis; a quote ends it too so that
# 'a=x"y"' fails loudly instead of matching the odd string x"y".
_BARE_VALUE_END: Final = frozenset(_WHITESPACE + "()'\"")
_COMPARATORS: Final = ("<=", ">=", "!=", "=", "<", ">", ":")
# A bare value may not start with these: it almost always means a typo such as
# "a == b" or "a <> b", and failing there gives a better message than a
# nonsensical comparison against the string "=".
_NOT_VALUE_START: Final = frozenset("=<>!:")
_SIMPLE_ESCAPES: Final = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def _describe(text: str, index: int) -> str:
    """Name the character at ``index`` for an error message."""
    if index >= len(text):
        return "end of filter"
    char = text[index]
    if char in _WHITESPACE:
        return "whitespace"
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    return f"character U+{ord(char):04X}"


class _Parser:
    """Recursive-descent parser over the raw characters.

    It works on characters rather than a token stream because what a character
    means depends on where it is: ``-`` negates at the start of a term but is
    part of ``-5`` or ``bot-*`` in a value, and ``:`` is an operator after a
    field but part of ``12:00:00Z`` in a value.

    Every ``_parse_*`` method starts on a non-whitespace character and stops
    right after its construct, so the loops can look past whitespace and back
    off if what follows is not a continuation.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- helpers

    def _error(self, message: str, index: int) -> FilterError:
        return FilterError(f"{message} at position {index + 1}", index + 1)

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def _at_keyword(self, keyword: str) -> bool:
        """Whether ``keyword`` starts here as a whole word (``NOTE`` is not ``NOT``)."""
        if not self.text.startswith(keyword, self.pos):
            return False
        after = self.pos + len(keyword)
        return after >= len(self.text) or self.text[after] in _KEYWORD_END

    def _at_term_start(self) -> bool:
        """Whether a new term starts here, i.e. juxtaposition continues a sequence."""
        return not (
            self._at_end()
            or self._peek() == ")"
            or self._at_keyword("AND")
            or self._at_keyword("OR")
        )

    def _check_depth(self, depth: int, index: int) -> None:
        if depth > MAX_NESTING_DEPTH:
            raise self._error(
                f"filter is nested too deeply (more than {MAX_NESTING_DEPTH} levels of "
                "parentheses and negations)",
                index,
            )

    # -- grammar

    def parse(self) -> Node | None:
        if len(self.text) > MAX_FILTER_LENGTH:
            raise FilterError(
                f"filter is too long ({len(self.text)} characters; "
                f"the maximum is {MAX_FILTER_LENGTH})",
                MAX_FILTER_LENGTH + 1,
            )
        # PostgreSQL text cannot hold NUL, so reject it up front with a position
        # instead of letting the query fail later.
        nul = self.text.find("\x00")
        if nul >= 0:
            raise self._error("invalid character U+0000 (NUL)", nul)
        self._skip_ws()
        if self._at_end():
            return None
        node = self._parse_expression(0)
        self._skip_ws()
        if not self._at_end():
            if self._peek() == ")":
                raise self._error("unmatched ')'", self.pos)
            raise self._error(f"unexpected {_describe(self.text, self.pos)}", self.pos)
        return node

    def _parse_expression(self, depth: int) -> Node:
        # Implicit and explicit AND are the same operation, so the terms of
        # "a b AND c" go into one node; parenthesised groups stay nested.
        operands = self._parse_sequence(depth)
        while True:
            save = self.pos
            self._skip_ws()
            if not self._at_keyword("AND"):
                self.pos = save
                break
            keyword_at = self.pos
            self.pos += 3
            self._skip_ws()
            if not self._at_term_start():
                raise self._error(
                    f"expected a condition after AND (AND at position {keyword_at + 1}), "
                    f"found {_describe(self.text, self.pos)}",
                    self.pos,
                )
            operands.extend(self._parse_sequence(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _parse_sequence(self, depth: int) -> list[Node]:
        """Parse juxtaposed factors; the caller joins them into its AND."""
        factors = [self._parse_factor(depth)]
        while True:
            save = self.pos
            self._skip_ws()
            if not self._at_term_start():
                self.pos = save
                break
            factors.append(self._parse_factor(depth))
        return factors

    def _parse_factor(self, depth: int) -> Node:
        terms = [self._parse_term(depth)]
        while True:
            save = self.pos
            self._skip_ws()
            if not self._at_keyword("OR"):
                self.pos = save
                break
            keyword_at = self.pos
            self.pos += 2
            self._skip_ws()
            if not self._at_term_start():
                raise self._error(
                    f"expected a condition after OR (OR at position {keyword_at + 1}), "
                    f"found {_describe(self.text, self.pos)}",
                    self.pos,
                )
            terms.append(self._parse_term(depth))
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def _parse_term(self, depth: int) -> Node:
        start = self.pos
        if self._at_keyword("NOT"):
            self.pos += 3
        elif self._peek() == "-":
            self.pos += 1
        else:
            return self._parse_simple(depth)
        self._check_depth(depth + 1, start)
        self._skip_ws()
        return Not(self._parse_term(depth + 1), start + 1)

    def _parse_simple(self, depth: int) -> Node:
        if self._peek() != "(":
            return self._parse_restriction()
        open_at = self.pos
        self._check_depth(depth + 1, open_at)
        self.pos += 1
        self._skip_ws()
        if self._peek() == ")":
            raise self._error("empty parentheses", open_at)
        node = self._parse_expression(depth + 1)
        self._skip_ws()
        if self._peek() != ")":
            raise self._error(
                f"missing ')' for the '(' at position {open_at + 1}, "
                f"found {_describe(self.text, self.pos)}",
                self.pos,
            )
        self.pos += 1
        return node

    def _parse_restriction(self) -> Comparison:
        start = self.pos
        # AND/OR would otherwise be taken for field names ("AND x = 1").
        keyword = self._at_keyword("AND") or self._at_keyword("OR")
        match = None if keyword else _IDENT_RE.match(self.text, self.pos)
        if match is None:
            raise self._error(self._no_field_message(), start)
        field = match.group()
        self.pos = match.end()
        path: list[str] = []
        while self._peek() == ".":
            self.pos += 1
            if self._peek() in ("'", '"'):
                key, _ = self._parse_string()
            else:
                key_match = _KEY_RE.match(self.text, self.pos)
                if key_match is None:
                    raise self._error(
                        f"expected a key name after '.', found {_describe(self.text, self.pos)}",
                        self.pos,
                    )
                key = key_match.group()
                self.pos = key_match.end()
            path.append(key)
        name = ".".join([field, *path])
        if self._peek() == "(":
            raise self._error(f'function calls such as "{name}(...)" are not supported', start)
        self._skip_ws()
        op_at = self.pos
        op = next((c for c in _COMPARATORS if self.text.startswith(c, self.pos)), None)
        if op is None:
            hint = ""
            if name in ("and", "or", "not"):
                hint = " (AND, OR and NOT must be written in upper case)"
            raise self._error(
                f'expected a comparison operator (=, !=, <, <=, >, >=, :) after "{name}"{hint}, '
                f"found {_describe(self.text, self.pos)}",
                self.pos,
            )
        self.pos += len(op)
        self._skip_ws()
        value = self._parse_value(op, op_at)
        if not (self._at_end() or self._peek() in _WHITESPACE or self._peek() == ")"):
            raise self._error(
                "expected whitespace, ')' or the end of the filter after a value, "
                f"found {_describe(self.text, self.pos)}",
                self.pos,
            )
        return Comparison(field, tuple(path), op, value, start + 1, op_at + 1)

    def _no_field_message(self) -> str:
        """Explain what was found where a field name was expected."""
        char = self._peek()
        if char in ("'", '"'):
            return "expected a field name, found a string (free-text search is not supported)"
        if self._at_keyword("AND") or self._at_keyword("OR"):
            keyword = "AND" if self._at_keyword("AND") else "OR"
            return f"unexpected {keyword}; expected a condition"
        if char == ")":
            return "unexpected ')'; expected a condition"
        if self._at_end():
            return "unexpected end of filter; expected a condition"
        return f"expected a field name, found {_describe(self.text, self.pos)}"

    def _parse_value(self, op: str, op_at: int) -> Value:
        start = self.pos
        char = self._peek()
        if char in ("'", '"'):
            text, wildcard = self._parse_string()
            return Value(text, True, wildcard, start + 1)
        if self._at_end() or char in "()" or char in _NOT_VALUE_START:
            raise self._error(
                f"expected a value after '{op}' (at position {op_at + 1}), "
                f"found {_describe(self.text, self.pos)}",
                self.pos,
            )
        while not self._at_end() and self._peek() not in _BARE_VALUE_END:
            self.pos += 1
        text = self.text[start : self.pos]
        return Value(text, False, text.endswith("*"), start + 1)

    def _parse_string(self) -> tuple[str, bool]:
        """Parse a quoted string; return its text and whether it ends in an unescaped ``*``."""
        quote_at = self.pos
        quote = self.text[quote_at]
        self.pos += 1
        chars: list[str] = []
        wildcard = False
        while True:
            if self._at_end():
                raise self._error("unterminated string", quote_at)
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(chars), wildcard
            if char != "\\":
                chars.append(char)
                wildcard = char == "*"
                self.pos += 1
                continue
            escape_at = self.pos
            self.pos += 1
            escaped = self._peek()
            if escaped in _SIMPLE_ESCAPES:
                chars.append(_SIMPLE_ESCAPES[escaped])
                self.pos += 1
            elif escaped == "*":
                # An escaped star is literal, which is the only way to match a
                # value that really ends in '*' with = or :.
                chars.append("*")
                self.pos += 1
            elif escaped == "u":
                chars.append(self._parse_unicode_escape(escape_at))
            elif escaped:
                raise self._error(f"invalid escape sequence '\\{escaped}' in string", escape_at)
            else:
                raise self._error("unterminated string", quote_at)
            wildcard = False

    def _parse_unicode_escape(self, escape_at: int) -> str:
        digits = self.text[self.pos + 1 : self.pos + 5]
        if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self._error("invalid escape sequence: \\u needs four hex digits", escape_at)
        code = int(digits, 16)
        # NUL cannot be stored in PostgreSQL text and a lone surrogate cannot be
        # encoded as UTF-8; both would only fail later, inside the driver.
        if code == 0 or 0xD800 <= code <= 0xDFFF:
            raise self._error(f"invalid character \\u{digits} in string", escape_at)
        self.pos += 5
        return chr(code)


def parse_filter(text: str | None) -> Node | None:
    """Parse an AIP-160 filter into an AST; ``None`` for an empty filter.

    Only syntax is checked here: field names, comparators and value types are
    validated when the AST is compiled (:mod:`mem0stack_server.store.filter_sql`).

    Raises:
        FilterError: on a syntax error or when a limit is exceeded.
    """
    return _Parser(text or "").parse()


# RFC 3339 date-time; fromisoformat alone would also take dates, week dates and
# naive times, which are ambiguous as instants.
_RFC3339_RE: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_timestamp(node: Comparison) -> datetime:
    """The RFC 3339 instant ``node`` compares with; :class:`FilterError` if it is not one."""
    value = node.value
    match = _RFC3339_RE.fullmatch(value.text)
    error = FilterError(
        f'invalid timestamp "{value.text}" for field "{node.field}" at position '
        f"{value.position}; expected RFC 3339 with a UTC offset, "
        'e.g. "2024-05-01T12:00:00Z"',
        value.position,
    )
    if match is None:
        raise error
    date, time, fraction, offset = match.groups()
    # datetime takes at most microseconds; RFC 3339 allows any precision.
    fraction = (fraction or "")[:7]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{time}{fraction}{offset}")
    except ValueError:
        # Well-formed but impossible, e.g. month 13 or hour 24.
        raise error from None
