"""AIP-160 filters compiled to SQL (mem0stack_server.store.filter_sql): the SQL and its
parameters on their own, then compiled filters run against a real PostgreSQL (started with
``pgserver``) so the SQL, its parameter types and the NULL semantics are checked for real."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import pgserver
import pytest

from mem0stack_server.domain.filter import FilterError, UnknownFilterFieldError
from mem0stack_server.store import filter_sql
from mem0stack_server.store.sql import Params


@dataclass(frozen=True)
class Compiled:
    sql: str
    params: list[object]
    fields: frozenset[str]


def compile_filter(
    text: str, *, before: list[object] | None = None, column_prefix: str = ""
) -> Compiled:
    """Compile into a statement that already has the parameters ``before``; returns the
    filter's SQL and only its own parameters."""
    params = Params()
    for value in before or []:
        params.add(value)
    compiled = filter_sql.compile_filter(text, params, column_prefix=column_prefix)
    return Compiled(compiled.sql, params.values[len(before or []) :], compiled.fields)


# --------------------------------------------------------------------------- compiling


def test_compiled_sql_shape() -> None:
    compiled = compile_filter('agent_id = "a" AND (state = active OR -categories:x)')
    assert compiled.sql == "(agent_id = $1 AND (state = $2 OR NOT (categories @> ARRAY[$3::text])))"
    assert compiled.params == ["a", "ACTIVE", "x"]
    assert compiled.fields == frozenset({"agent_id", "state", "categories"})


def test_single_comparison_is_parenthesised() -> None:
    assert compile_filter("role = x").sql == "(role = $1)"
    assert compile_filter("-role = x").sql == "(NOT (role = $1))"


def test_placeholders_follow_the_statement_and_column_prefix() -> None:
    compiled = compile_filter(
        "role = x metadata.a.b > 2 expire_time:*", before=["u", 1, 2], column_prefix="m."
    )
    assert compiled.sql.startswith("(m.role = $4 AND ")
    assert "(m.metadata #> $5::text[])" in compiled.sql
    assert "$6::numeric" in compiled.sql
    assert "m.expire_time IS NOT NULL" in compiled.sql
    assert compiled.params == ["x", ["a", "b"], Decimal("2")]
    assert compiled.fields == frozenset({"role", "metadata", "expire_time"})


@pytest.mark.parametrize("prefix", ["m", "m. ", "1m.", "m.x.", "m;", "m.--"])
def test_invalid_column_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="column_prefix"):
        compile_filter("role = x", column_prefix=prefix)


def test_empty_filter_is_true_and_adds_nothing() -> None:
    params = Params()
    assert filter_sql.compile_filter("  ", params) == filter_sql.CompiledFilter("TRUE", frozenset())
    assert params.values == []


def test_params_number_their_placeholders() -> None:
    params = Params()
    assert [params.add("a"), params.add(2)] == ["$1", "$2"]
    assert list(params) == ["a", 2] and len(params) == 2


def test_user_input_never_reaches_sql() -> None:
    hostile = "x'); DROP TABLE memories; --"
    compiled = compile_filter(
        f'role = "{hostile}" metadata."{hostile}".b = "{hostile}" categories:"{hostile}"'
    )
    assert "DROP" not in compiled.sql
    assert "'x'" not in compiled.sql
    assert compiled.params == [hostile, [hostile, "b"], hostile, hostile]


def test_like_pattern_escaping() -> None:
    assert compile_filter(r'agent_id = "a%b_c\\d*"').params == [r"a\%b\_c\\d%"]


def test_timestamps_are_parsed() -> None:
    compiled = compile_filter(
        'create_time >= "2024-05-01T10:00:00Z" update_time < 2024-05-01T12:00:00.1234567+02:00'
    )
    assert compiled.params == [
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
    ]
    lower = compile_filter('event_time = "2024-05-01t10:00:00z"')
    assert lower.params == [datetime(2024, 5, 1, 10, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("text", "field", "position"),
    [
        ("foo = 1", "foo", 1),
        ("user_id = u1", "user_id", 1),  # the tenant key is not user-filterable
        ("role = x AND Role = x", "Role", 14),
        ("agent_id.x = 1", "agent_id.x", 1),
        ("metadata = 1", "metadata", 1),
        ("metadata:*", "metadata", 1),
    ],
)
def test_unknown_fields(text: str, field: str, position: int) -> None:
    with pytest.raises(UnknownFilterFieldError) as raised:
        compile_filter(text)
    assert raised.value.field == field
    assert raised.value.position == position
    assert f"at position {position}" in str(raised.value)


def test_unknown_field_message_lists_allowed_fields() -> None:
    with pytest.raises(UnknownFilterFieldError) as raised:
        compile_filter("foo = 1")
    assert str(raised.value) == (
        'unknown field "foo" at position 1; allowed: agent_id, run_id, actor_id, role, state, '
        "memory_type, categories, create_time, update_time, expire_time, event_time, "
        "valid_time, invalid_time, metadata.<key>"
    )


@pytest.mark.parametrize(
    ("text", "field", "position"),
    [
        ("state < ACTIVE", "state", 7),
        ("state:ACTIVE", "state", 6),
        ("state:*", "state", 6),
        ("memory_type >= SEMANTIC", "memory_type", 13),
        ("categories != food", "categories", 12),
        ("categories < food", "categories", 12),
        ("metadata.flag < true", "metadata.flag", 15),
        ("metadata.a.b >= false", "metadata.a.b", 14),
    ],
)
def test_operator_not_supported_for_field(text: str, field: str, position: int) -> None:
    with pytest.raises(UnknownFilterFieldError) as raised:
        compile_filter(text)
    assert raised.value.field == field
    assert raised.value.position == position
    assert "is not supported for field" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("state = deleted", 9, 'unknown value "deleted" for field "state" at position 9; '),
        ("state = ACT*", 9, "allowed: ACTIVE, SUPERSEDED"),
        ("memory_type = 1", 15, "allowed: SEMANTIC, EPISODIC, PROCEDURAL"),
        ("create_time > yesterday", 15, 'invalid timestamp "yesterday" for field "create_time"'),
        ('create_time > "2024-05-01"', 15, "expected RFC 3339 with a UTC offset"),
        ('create_time > "2024-05-01T10:00:00"', 15, "invalid timestamp"),
        ('create_time > "2024-13-01T10:00:00Z"', 15, "invalid timestamp"),
        ('create_time > "2024-05-01T24:00:00Z"', 15, "invalid timestamp"),
        ("expire_time > 5", 15, "invalid timestamp"),
        ("expire_time = true", 15, "invalid timestamp"),
        ("role = *", 8, '"*" on its own is only allowed with ":"'),
        ("expire_time != *", 16, "write expire_time:* to require a value"),
        ('categories = "*"', 14, '"*" on its own'),
        ("metadata.a > *", 14, '"*" on its own'),
    ],
)
def test_bad_values(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter(text)
    assert not isinstance(raised.value, UnknownFilterFieldError)
    assert raised.value.position == position
    assert message in str(raised.value)


def test_enum_values_are_case_insensitive() -> None:
    assert compile_filter("state = superseded").params == ["SUPERSEDED"]
    assert compile_filter("memory_type != 'Procedural'").params == ["PROCEDURAL"]


def test_fields_reports_top_level_names() -> None:
    compiled = compile_filter("metadata.a = 1 OR metadata.b.c:* OR -state = ACTIVE")
    assert compiled.fields == frozenset({"metadata", "state"})


# --------------------------------------------------------------------------- execution

USER = "u1"


def _time(day: str) -> datetime:
    return datetime.fromisoformat(day)


def _row(
    row_id: int,
    agent_id: str,
    run_id: str,
    actor_id: str,
    role: str,
    categories: list[str],
    state: str,
    memory_type: str | None,
    expire_time: str | None,
    event_time: str | None,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": row_id,
        "user_id": USER,
        "agent_id": agent_id,
        "run_id": run_id,
        "actor_id": actor_id,
        "role": role,
        "categories": categories,
        "state": state,
        "memory_type": memory_type,
        # Row n is created on the 1st and updated on the 15th of month n (2024).
        "create_time": _time(f"2024-{row_id:02d}-01T00:00:00+00:00"),
        "update_time": _time(f"2024-{row_id:02d}-15T00:00:00+00:00"),
        "expire_time": _time(expire_time) if expire_time else None,
        "event_time": _time(event_time) if event_time else None,
        "metadata": metadata,
    }


# fmt: off
ROWS = [
    _row(1, "bot-1", "r1", "alice", "user", ["food", "travel"], "ACTIVE", "SEMANTIC", None, None,
         {"n": 5, "s": "x", "flag": True, "tags": ["a", "b"], "nested": {"k": "v"}}),
    _row(2, "bot-2", "r1", "bob", "assistant", ["food"], "ACTIVE", "EPISODIC",
         "2030-01-01T00:00:00+00:00", "2024-01-15T12:00:00+00:00",
         {"n": "5", "s": "y", "flag": False, "tags": "a"}),
    _row(3, "bot_1", "", "", "user", [], "SUPERSEDED", "PROCEDURAL",
         "2023-06-01T00:00:00+00:00", None,
         {"n": 10.5, "tags": ["c"], "nested": {"k": "w"}}),
    _row(4, "", "", "alice", "", ["work"], "ACTIVE", None,
         None, "2024-04-01T00:00:00+02:00", {}),
    _row(5, "bot%1", "r2", "carol", "user", ["food"], "SUPERSEDED", "SEMANTIC", None, None,
         {"n": -3, "s": "50%", "flag": "true", "a.b": {"c": 1}, "weird key": 1}),
    _row(6, "other", "r2", "bob", "system", ["travel", "work"], "ACTIVE", "EPISODIC", None, None,
         {"n": None, "s": "bot-*", "tags": ["a", "cat"], "o'q": "x"}),
    _row(7, "bot\\1", "r3", "dave", "user", ["fo_od"], "ACTIVE", "SEMANTIC",
         "2030-06-01T00:00:00+00:00", None, {"s": "X", "tags": "cat"}),
    _row(8, "bot-*", "r3", "", "assistant", ["food"], "ACTIVE", "SEMANTIC", None, None,
         {"n": 100, "tags": ["bo"]}),
    _row(9, "Bot-3", "r4", "erin", "user", ["travel"], "ACTIVE", "PROCEDURAL",
         None, "2024-09-01T00:00:00+00:00",
         {"n": 7, "nested": {"k": "v", "deep": {"x": True}}}),
    _row(10, "bot", "", "alice", "user", [], "SUPERSEDED", "EPISODIC", None, None,
         {"tags": [1, 2], "flag": None, "big": 12345678901234567890}),
]
# fmt: on
ALL = frozenset(row["id"] for row in ROWS)


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    data_dir = tempfile.mkdtemp(prefix="mem0stack-filter-test-")
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def db(postgres_uri: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(postgres_uri)
    try:
        await connection.execute(
            """
            CREATE TEMP TABLE memories (
                id integer PRIMARY KEY,
                user_id text NOT NULL,
                agent_id text NOT NULL DEFAULT '',
                run_id text NOT NULL DEFAULT '',
                actor_id text NOT NULL DEFAULT '',
                role text NOT NULL DEFAULT '',
                categories text[] NOT NULL,
                state text NOT NULL,
                memory_type text,
                create_time timestamptz NOT NULL,
                update_time timestamptz NOT NULL,
                expire_time timestamptz,
                event_time timestamptz,
                metadata jsonb NOT NULL DEFAULT '{}'
            )
            """
        )
        columns = list(ROWS[0])
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await connection.executemany(
            f"INSERT INTO memories ({', '.join(columns)}) VALUES ({placeholders})",
            [[json.dumps(row[c]) if c == "metadata" else row[c] for c in columns] for row in ROWS],
        )
        # Another tenant whose row would match almost any filter: it must never
        # show up, which checks that placeholders are numbered from first_param.
        await connection.execute(
            "INSERT INTO memories SELECT 99, 'u2', agent_id, run_id, actor_id, role, categories,"
            " state, memory_type, create_time, update_time, expire_time, event_time, metadata"
            " FROM memories WHERE id = 1"
        )
        yield connection
    finally:
        await connection.close()


async def matching_ids(db: asyncpg.Connection, text: str) -> set[int]:
    compiled = compile_filter(text, before=[USER], column_prefix="m.")
    query = f"SELECT m.id FROM memories AS m WHERE m.user_id = $1 AND {compiled.sql}"
    return {row["id"] for row in await db.fetch(query, USER, *compiled.params)}


EXECUTION_CASES: list[tuple[str, set[int]]] = [
    # text columns
    ('agent_id = "bot-1"', {1}),
    ("agent_id = bot-1", {1}),
    ('agent_id != "bot-1"', set(ALL - {1})),
    ('agent_id:"bot-2"', {2}),
    ('agent_id = ""', {4}),
    ("agent_id:*", set(ALL - {4})),
    ("-agent_id:*", {4}),
    ('agent_id = "bot-*"', {1, 2, 8}),
    ("agent_id = bot-*", {1, 2, 8}),
    (r'agent_id = "bot-\*"', {8}),
    ('agent_id = "bot_*"', {3}),
    ('agent_id = "bot%*"', {5}),
    (r'agent_id = "bot\\*"', {7}),
    ('agent_id = "bot*"', {1, 2, 3, 5, 7, 8, 10}),
    ('agent_id:"bot*"', {1, 2, 3, 5, 7, 8, 10}),
    ('agent_id != "bot*"', {4, 6, 9}),
    ('run_id > "r2"', {7, 8, 9}),
    ("run_id >= r2", {5, 6, 7, 8, 9}),
    ('run_id < "r2"', {1, 2, 3, 4, 10}),
    ("run_id <= r1", {1, 2, 3, 4, 10}),
    ("actor_id = alice", {1, 4, 10}),
    ("-actor_id:*", {3, 8}),
    ("role = user", {1, 3, 5, 7, 9, 10}),
    ("role:*", set(ALL - {4})),
    # enums
    ("state = ACTIVE", {1, 2, 4, 6, 7, 8, 9}),
    ('state = "superseded"', {3, 5, 10}),
    ("state != active", {3, 5, 10}),
    ("memory_type = semantic", {1, 5, 7, 8}),
    ("memory_type != SEMANTIC", {2, 3, 6, 9, 10}),  # the NULL row 4 matches neither
    # categories
    ("categories:food", {1, 2, 5, 8}),
    ('categories = "food"', {1, 2, 5, 8}),
    ("categories:*", set(ALL - {3, 10})),
    ("-categories:*", {3, 10}),
    ("-categories:food", {3, 4, 6, 7, 9, 10}),
    ('categories:"fo*"', {1, 2, 5, 7, 8}),
    ('categories:"fo_*"', {7}),
    ("categories:travel categories:work", {6}),
    ("categories:travel OR categories:work", {1, 4, 6, 9}),
    # timestamps
    ('create_time > "2024-05-01T00:00:00Z"', {6, 7, 8, 9, 10}),
    ("create_time >= 2024-05-01T00:00:00Z", {5, 6, 7, 8, 9, 10}),
    ('create_time < "2024-03-01T00:00:00+00:00"', {1, 2}),
    ('create_time <= "2024-03-01T01:00:00+01:00"', {1, 2, 3}),
    ('create_time = "2024-02-01T00:00:00Z"', {2}),
    ('create_time:"2024-02-01T00:00:00Z"', {2}),
    ('create_time != "2024-02-01T00:00:00Z"', set(ALL - {2})),
    ('update_time > "2024-09-14T23:59:59.999999999Z"', {9, 10}),
    ("expire_time:*", {2, 3, 7}),
    ("-expire_time:*", set(ALL - {2, 3, 7})),
    ('expire_time < "2025-01-01T00:00:00Z"', {3}),
    ('expire_time != "2030-01-01T00:00:00Z"', {3, 7}),  # NULLs match no comparison
    ('event_time >= "2024-03-31T22:00:00Z"', {4, 9}),
    ('event_time = "2024-04-01T00:00:00+02:00"', {4}),
    ('event_time < "2024-04-01T00:00:00Z"', {2, 4}),
    # metadata: numbers match JSON numbers only
    ("metadata.n = 5", {1}),
    ("metadata.n = 5.0", {1}),
    ("metadata.n > 5", {3, 8, 9}),
    ("metadata.n < 0", {5}),
    ("metadata.n <= -3", {5}),
    ("metadata.n >= 1e2", {8}),
    ("metadata.n = 10.50", {3}),
    ("metadata.n != 5", {3, 5, 8, 9}),
    ("metadata.big = 12345678901234567890", {10}),
    ("metadata.big = 12345678901234567891", set()),
    # metadata: strings compare the text form
    ('metadata.n = "5"', {1, 2}),
    ("metadata.s = x", {1}),
    ('metadata.s = "50%"', {5}),
    ('metadata.s = "50*"', {5}),
    (r'metadata.s = "bot-\*"', {6}),
    ('metadata.s != "x"', {2, 5, 6, 7}),
    ('metadata.s != "5*"', {1, 2, 6, 7}),
    ('metadata.s >= "y"', {2}),
    ('metadata.flag = "true"', {1, 5}),
    # metadata: booleans match JSON booleans only
    ("metadata.flag = true", {1}),
    ("metadata.flag = FALSE", {2}),
    ("metadata.flag != true", {2}),
    ("metadata.flag:true", {1}),
    # metadata: presence and containment
    ("metadata.n:*", {1, 2, 3, 5, 6, 8, 9}),
    ("-metadata.n:*", {4, 7, 10}),
    ("metadata.flag:*", {1, 2, 5, 10}),
    ("metadata.tags:a", {1, 2, 6}),
    ('metadata.tags:"cat"', {6, 7}),
    ('metadata.tags:"c*"', {3, 6, 7}),
    ('metadata.tags:"b*"', {1, 8}),
    ("metadata.tags:1", {10}),
    ("metadata.tags:true", set()),
    ("metadata.nested:*", {1, 3, 9}),
    ("metadata.nested.k = v", {1, 9}),
    ("metadata.nested.deep.x = true", {9}),
    ('metadata."a.b".c = 1', {5}),
    ("metadata.'weird key':*", {5}),
    ('metadata."o\'q" = x', {6}),
    ("metadata.missing = 1", set()),
    ("metadata.missing != 1", set()),
    ('metadata.missing != "x"', set()),
    ("metadata.missing:*", set()),
    # boolean structure
    ("state = ACTIVE categories:food", {1, 2, 8}),
    # AIP-160: (work OR food) AND SUPERSEDED; SQL precedence would give {4, 5, 6}.
    ("categories:work OR categories:food AND state = SUPERSEDED", {5}),
    ("categories:work OR (categories:food AND state = SUPERSEDED)", {4, 5, 6}),
    ("NOT metadata.n = 5", set(ALL - {1})),
    ("-metadata.s = x", set(ALL - {1})),
    ('NOT metadata.s != "x"', {1, 3, 4, 8, 9, 10}),
    ("NOT (metadata.n > 5 OR expire_time:*)", {1, 4, 5, 6, 10}),
    ("NOT NOT agent_id = bot-1", {1}),
    ("memory_type = SEMANTIC OR memory_type = EPISODIC", {1, 2, 5, 6, 7, 8, 10}),
    ("-(memory_type = SEMANTIC OR memory_type = EPISODIC)", {3, 4, 9}),
    ('-expire_time < "2025-01-01T00:00:00Z" state = ACTIVE', {1, 2, 4, 6, 7, 8, 9}),
]


@pytest.mark.parametrize(("text", "expected"), EXECUTION_CASES)
async def test_execution(db: asyncpg.Connection, text: str, expected: set[int]) -> None:
    assert await matching_ids(db, text) == expected


@pytest.mark.parametrize(("text", "expected"), EXECUTION_CASES)
async def test_negation_is_exact_complement(
    db: asyncpg.Connection, text: str, expected: set[int]
) -> None:
    # Missing values fail every comparison, and NOT means "not matched", so
    # negating any filter must select exactly the other rows.
    assert await matching_ids(db, f"NOT ({text})") == ALL - expected
    assert await matching_ids(db, f"-({text})") == ALL - expected


async def test_default_numbering_without_prefix(db: asyncpg.Connection) -> None:
    compiled = compile_filter("metadata.tags:a state = ACTIVE")
    rows = await db.fetch(f"SELECT id FROM memories WHERE {compiled.sql}", *compiled.params)
    # Row 99 is tenant u2's copy of row 1; nothing restricts the tenant here.
    assert {row["id"] for row in rows} == {1, 2, 6, 99}


async def test_empty_filter_executes(db: asyncpg.Connection) -> None:
    compiled = compile_filter("  ")
    rows = await db.fetch(f"SELECT id FROM memories WHERE {compiled.sql}", *compiled.params)
    assert len(rows) == len(ROWS) + 1
