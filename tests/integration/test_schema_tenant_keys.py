"""The schema keeps the way open to distributing tables by user (docs/scaling.md).

A table can be hash-distributed by ``user_id`` (Citus) only if each of its primary keys and
unique indexes contains ``user_id``: uniqueness is then decided within one shard. This applies
every migration to a real PostgreSQL, the way the server does at start-up, reads the
catalogue, and holds the schema to that rule, naming each exception:

- GLOBAL: tables that belong to no user and would be reference tables (copied to every
  node) or stay on the coordinator; they have no ``user_id`` column at all.
- GLOBAL_ID_KEYS: keys of per-user tables that are still a globally unique id alone. They
  are the re-keying migration docs/scaling.md describes, to be done before distribution;
  the list must shrink, never grow, and an entry that no longer applies fails the test so
  that it is taken off.

A new table, a new unique index, or a changed key that leaves ``user_id`` out fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest

from mem0stack_server.store.database import create_pool, migrate

TENANT_COLUMN = "user_id"

GLOBAL: dict[str, str] = {
    "schema_migrations": "the migration runner's ledger: one per database, on the coordinator",
    "store_meta": "server-wide facts (embedding model and size, how far the change feed was "
    "pruned): a reference table",
    "api_keys": "a key is looked up by its id before any user is known, and may reach several "
    "users or all of them (admin keys): a reference table",
    "auth_state": "one row saying whether the database has ever held a key: a reference table",
    "token_secret": "the one secret that signs every user's page tokens and cursors, read by "
    "every replica: a reference table",
    "webhooks": "few rows, read by every server's delivery worker, and a webhook of all users "
    "belongs to no user (the user a webhook sees is scope_user): a reference table",
}

GLOBAL_ID_KEYS: dict[tuple[str, str], str] = {
    ("memories", "memories_pkey"): "(id): becomes (user_id, id); every read names the user "
    "(users/{user}/memories/{id}) except the graph triggers' join on id",
    ("memory_revisions", "memory_revisions_pkey"): "(id) identity: becomes (user_id, id)",
    ("memory_events", "memory_events_pkey"): "(seq), the Watch cursor: becomes (user_id, seq) "
    "with seq drawn per user (docs/scaling.md, Watch)",
    ("operations", "operations_pkey"): "(id): becomes (user_id, id); operation names carry "
    "the user (users/{user}/operations/{id})",
    ("graph_outbox", "graph_outbox_pkey"): "(id) identity: becomes (user_id, id); jobs are "
    "already applied in id order per user",
    ("graph_sources", "graph_sources_pkey"): "(memory_id): becomes (user_id, memory_id)",
}


@dataclass(frozen=True)
class UniqueKey:
    table: str
    index: str
    columns: tuple[str, ...]
    primary: bool


@pytest.fixture(scope="module")
def schema(make_database) -> tuple[dict[str, set[str]], list[UniqueKey]]:  # type: ignore[no-untyped-def]
    """Every table of a freshly migrated database with its columns, and every unique key."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    dsn = make_database("tenant_keys")

    async def read() -> tuple[dict[str, set[str]], list[UniqueKey]]:
        pool = await create_pool(dsn, min_size=1, max_size=1, ef_search=40)
        try:
            await migrate(pool, embedding_model="schema-test", embedding_dim=384)
            async with pool.acquire() as conn:
                return await _tables(conn), await _unique_keys(conn)
        finally:
            await pool.close()

    # As in conftest: a thread with its own loop, whatever loop the session runs.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, read()).result()


async def _tables(conn: asyncpg.Connection) -> dict[str, set[str]]:
    rows = await conn.fetch(
        """SELECT c.relname AS table, a.attname AS column
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"""
    )
    tables: dict[str, set[str]] = {}
    for row in rows:
        tables.setdefault(row["table"], set()).add(row["column"])
    return tables


async def _unique_keys(conn: asyncpg.Connection) -> list[UniqueKey]:
    # Expression columns (attnum 0) have no name: such a key never counts as containing
    # user_id, which is right, since distribution needs the plain column.
    rows = await conn.fetch(
        """SELECT t.relname AS table, i.relname AS index, ix.indisprimary AS primary,
                  array_agg(coalesce(a.attname, '<expression>') ORDER BY k.ord) AS columns
           FROM pg_index ix
           JOIN pg_class i ON i.oid = ix.indexrelid
           JOIN pg_class t ON t.oid = ix.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           WHERE n.nspname = 'public' AND ix.indisunique
             AND k.ord <= ix.indnkeyatts
           GROUP BY t.relname, i.relname, ix.indisprimary"""
    )
    return [UniqueKey(r["table"], r["index"], tuple(r["columns"]), r["primary"]) for r in rows]


def test_every_table_is_per_user_or_named_global(
    schema: tuple[dict[str, set[str]], list[UniqueKey]],
) -> None:
    tables, _ = schema
    unscoped = sorted(t for t, columns in tables.items() if TENANT_COLUMN not in columns)
    assert unscoped == sorted(GLOBAL), (
        "a table without user_id must be named in GLOBAL with the reason it belongs to no "
        "user, and a table named there must exist without user_id"
    )


def test_every_unique_key_of_a_per_user_table_contains_the_user(
    schema: tuple[dict[str, set[str]], list[UniqueKey]],
) -> None:
    tables, keys = schema
    per_user = {t for t in tables if t not in GLOBAL}
    assert per_user, "the migrations made no per-user table"
    missing = {
        (k.table, k.index): k.columns
        for k in keys
        if k.table in per_user and TENANT_COLUMN not in k.columns
    }
    unexpected = {key: columns for key, columns in missing.items() if key not in GLOBAL_ID_KEYS}
    assert not unexpected, (
        f"unique keys without {TENANT_COLUMN} (the table could not be distributed by user): "
        f"{unexpected}; add {TENANT_COLUMN} to the key"
    )
    fixed = sorted(set(GLOBAL_ID_KEYS) - set(missing))
    assert not fixed, (
        f"these keys contain {TENANT_COLUMN} now: take them off GLOBAL_ID_KEYS: {fixed}"
    )


def test_per_user_tables_have_a_primary_key(
    schema: tuple[dict[str, set[str]], list[UniqueKey]],
) -> None:
    tables, keys = schema
    with_primary = {k.table for k in keys if k.primary}
    assert not sorted(set(tables) - with_primary), "every table needs a primary key"


def test_keys_that_contain_the_user_are_found(
    schema: tuple[dict[str, set[str]], list[UniqueKey]],
) -> None:
    """The catalogue query reads composite and partial keys: the idempotency key and the
    partial unique index on imported memories' source ids both lead with user_id."""
    _, keys = schema
    by_index = {k.index: k for k in keys}
    assert by_index["idempotency_pkey"].columns == ("user_id", "method", "request_id")
    assert by_index["memories_user_source"].columns == ("user_id", "source_id")
    assert by_index["memories_pkey"].columns == ("id",)
