"""mem0's JSON filter grammar, translated into our AIP-160 filter string.

mem0 sends ``filters`` as JSON: keys joined by AND, the logical keys ``AND`` / ``OR`` (lists)
and ``NOT`` (a list or an object), and per field either a plain value or an object of
operators: ``eq``, ``ne``, ``in``, ``nin``, ``gt``, ``gte``, ``lt``, ``lte``, ``contains``,
``icontains``; ``"*"`` means "any value". The translation is a string in the language of
:mod:`mem0stack_server.domain.filter`, which the application parses and checks as it does
every other filter, so both paths select the same memories.

Fields: ``user_id`` (only as one plain value at the top, or inside a top-level ``AND``: it
names the owner, see :mod:`.scope`), ``agent_id``, ``run_id``, ``app_id``, ``created_at``,
``updated_at``, ``expiration_date`` and our ``valid_time`` and ``invalid_time`` (dates
``YYYY-MM-DD``, ISO 8601 times or Unix seconds), ``categories`` and
``metadata`` (an object of keys). Anything else is a 400 naming it, never ignored. Not
supported, and said so: ``icontains`` on metadata and ids (we have no case-insensitive
comparison), ``contains`` on ids, a wildcard or an operator on ``user_id``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mem0stack_server.transport.platform.errors import bad_request
from mem0stack_server.transport.platform.scope import APP_ID_KEY, ENTITY_KEYS, Scope

_OPS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "icontains")
_COMPARE = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TIME_FIELDS = {
    "created_at": "create_time",
    "updated_at": "update_time",
    "expiration_date": "expire_time",
    # Ours: when the fact was true (docs/time.md).
    "valid_time": "valid_time",
    "invalid_time": "invalid_time",
}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def quote(value: str) -> str:
    """``value`` as an exact AIP-160 string literal (a ``*`` is literal, not a wildcard)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("*", "\\*")
    )
    return f'"{escaped}"'


def scope_of(filters: Any) -> Scope:
    """The entity ids ``filters`` gives as plain values at its top (or top-level AND)."""
    if not isinstance(filters, dict):
        return Scope()
    found: dict[str, str] = {}
    items = [filters] + [i for i in _as_list(filters.get("AND"), "AND") if isinstance(i, dict)]
    for item in items:
        for key in ENTITY_KEYS:
            value = item.get(key)
            if isinstance(value, str) and value and value != "*":
                if found.get(key, value) != value:
                    raise bad_request(f"filters: {key} is given twice with different values")
                found[key] = value
    return Scope(**found)


def translate(filters: Any) -> str:
    """The AIP-160 filter for mem0 ``filters`` (without the owner's user_id); '' for none."""
    if filters is None:
        return ""
    if not isinstance(filters, dict):
        raise bad_request("filters must be a JSON object")
    return _object(filters, "filters", top=True) or ""


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"filters: {where} takes a list of conditions")
    return value


def _join(parts: list[str], word: str) -> str | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return f" {word} ".join(f"({p})" for p in parts)


def _object(obj: Any, where: str, *, top: bool) -> str | None:
    """An object of conditions, ANDed; None when it puts no condition (only the owner)."""
    if not isinstance(obj, dict):
        raise bad_request(f"{where}: each condition must be a JSON object")
    if not obj:
        raise bad_request(f"{where}: an empty condition object")
    parts = [_condition(key, value, f"{where}.{key}", top=top) for key, value in obj.items()]
    return _join([p for p in parts if p], "AND")


def _condition(key: str, value: Any, path: str, *, top: bool) -> str | None:
    """One key of a condition object; None when it puts no condition (the owner's id)."""
    if key == "AND":
        items = _as_list(value, path)
        return _join(
            [p for i, item in enumerate(items) if (p := _object(item, f"{path}[{i}]", top=top))],
            "AND",
        )
    elif key == "OR":
        items = _as_list(value, path)
        if not items:
            raise bad_request(f"{path}: an empty OR")
        subs = [_object(item, f"{path}[{i}]", top=False) for i, item in enumerate(items)]
        return _join([s for s in subs if s is not None], "OR")
    elif key == "NOT":
        items = [value] if isinstance(value, dict) else _as_list(value, path)
        inner = _join(
            [p for i, item in enumerate(items) if (p := _object(item, f"{path}[{i}]", top=False))],
            "AND",
        )
        return f"NOT ({inner})" if inner else None
    elif key == "user_id":
        if not (top and isinstance(value, str) and value and value != "*"):
            raise bad_request(
                f"{path}: user_id selects whose memories these are: give it as one plain "
                "value at the top of filters (or in its top-level AND); wildcards, "
                "operators and OR across users are not supported"
            )
        return None
    elif key in ("agent_id", "run_id"):
        return _field(value, path, lambda op, v: _text(key, op, v, path))
    elif key == "app_id":
        field = f"metadata.{APP_ID_KEY}"
        return _field(value, path, lambda op, v: _text(field, op, v, path))
    elif key in _TIME_FIELDS:
        column = _TIME_FIELDS[key]
        return _field(value, path, lambda op, v: _time(column, op, v, path))
    elif key == "categories":
        return _field(value, path, lambda op, v: _category(op, v, path))
    elif key == "metadata":
        return _metadata(value, path)
    else:
        raise bad_request(
            f"{path}: unknown filter field {key!r}; known are AND, OR, NOT, user_id, "
            "agent_id, app_id, run_id, created_at, updated_at, expiration_date, valid_time, "
            "invalid_time, categories and metadata"
        )


def _field(value: Any, path: str, compare: Callable[[str, Any], str]) -> str | None:
    """A field's plain value (``eq``; ``*`` is "any"), list (``in``) or operator object."""
    if value == "*":
        return compare("any", None)
    if isinstance(value, dict):
        if not value:
            raise bad_request(f"{path}: an empty operator object")
        parts = []
        for op, operand in value.items():
            if op not in _OPS:
                raise bad_request(f"{path}: unknown operator {op!r}; known are {', '.join(_OPS)}")
            parts.append(compare(op, operand))
        return _join(parts, "AND")
    if isinstance(value, list):
        return compare("in", value)
    return compare("eq", value)


def _any_of(op: str, values: Any, path: str, one: Callable[[Any], str]) -> str:
    if not isinstance(values, list) or not values:
        raise bad_request(f"{path}: {op} takes a non-empty list")
    joined = _join([one(v) for v in values], "OR")
    assert joined is not None
    return f"NOT ({joined})" if op == "nin" else joined


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{path}: expected a string, got {type(value).__name__}")
    return value


def _text(field: str, op: str, value: Any, path: str) -> str:
    if op == "any":
        return f"{field}:*"
    if op in ("in", "nin"):
        return _any_of(op, value, path, lambda v: f"{field} = {quote(_string(v, path))}")
    if op in ("contains", "icontains"):
        raise bad_request(f"{path}: {op} is not supported on ids; use eq, ne, in or nin")
    return f"{field} {_COMPARE[op]} {quote(_string(value, path))}"


def _instant(value: Any, path: str) -> tuple[datetime, bool]:
    """A time and whether it was a bare date (which then means the whole day)."""
    if isinstance(value, bool):
        raise bad_request(f"{path}: expected a date, a time or Unix seconds")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, UTC), False
        except (OverflowError, OSError, ValueError):
            raise bad_request(f"{path}: {value} is not a valid Unix time") from None
    text = _string(value, path)
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(
            f"{path}: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


def _time(column: str, op: str, value: Any, path: str) -> str:
    if op == "any":
        return f"{column}:*"
    if op in ("in", "nin"):
        return _any_of(op, value, path, lambda v: _time(column, "eq", v, path))
    if op in ("contains", "icontains"):
        raise bad_request(f"{path}: {op} is not supported on times")
    moment, whole_day = _instant(value, path)
    start = quote(moment.isoformat())
    if not whole_day:
        return f"{column} {_COMPARE[op]} {start}"
    end = quote((moment + timedelta(days=1)).isoformat())
    # A bare date is the whole day: "on", "after" and "before" it as a person means them.
    return {
        "eq": f"{column} >= {start} AND {column} < {end}",
        "ne": f"NOT ({column} >= {start} AND {column} < {end})",
        "gt": f"{column} >= {end}",
        "gte": f"{column} >= {start}",
        "lt": f"{column} < {start}",
        "lte": f"{column} < {end}",
    }[op]


def _category(op: str, value: Any, path: str) -> str:
    if op == "any":
        return "categories:*"
    if op in ("in", "nin"):
        return _any_of(op, value, path, lambda v: f"categories:{quote(_string(v, path))}")
    if op in ("eq", "contains", "icontains"):
        return f"categories:{quote(_string(value, path))}"
    if op == "ne":
        return f"NOT categories:{quote(_string(value, path))}"
    raise bad_request(f"{path}: {op} is not supported on categories")


def _literal(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    raise bad_request(f"{path}: expected a string, number or boolean")


def _metadata(value: Any, path: str) -> str | None:
    if not isinstance(value, dict) or not value:
        raise bad_request(f"{path}: expected an object of metadata keys")
    parts = []
    for key, condition in value.items():
        if not isinstance(key, str) or not key:
            raise bad_request(f"{path}: metadata keys must be non-empty strings")
        if key == APP_ID_KEY:
            raise bad_request(f"{path}.{key}: reserved for app_id; filter on app_id")
        field = f"metadata.{key}" if _KEY.fullmatch(key) else f"metadata.{quote(key)}"
        where = f"{path}.{key}"

        def compare(op: str, operand: Any, field: str = field, where: str = where) -> str:
            if op == "any":
                return f"{field}:*"
            if op in ("in", "nin"):
                return _any_of(op, operand, where, lambda v: f"{field} = {_literal(v, where)}")
            if op == "contains":
                return f"{field}:{_literal(operand, where)}"
            if op == "icontains":
                raise bad_request(
                    f"{where}: icontains is not supported on metadata; contains matches a "
                    "list element or the whole value, case-sensitively"
                )
            return f"{field} {_COMPARE[op]} {_literal(operand, where)}"

        if isinstance(condition, dict) and not all(k in _OPS for k in condition):
            raise bad_request(
                f"{where}: nested objects are not filterable; compare a leaf value, or use "
                f"operators ({', '.join(_OPS)})"
            )
        part = _field(condition, where, compare)
        if part:
            parts.append(part)
    return _join(parts, "AND")
