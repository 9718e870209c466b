"""Backup pieces that need no database: finding PostgreSQL's tools, keeping passwords off
their command line, the graph's JSON form, and what restore says about a wrong file."""

from __future__ import annotations

import datetime
import json
import tarfile
from pathlib import Path

import neo4j
import pytest

from mem0stack_server.app.backup import FORMAT, read_manifest
from mem0stack_server.store.backup import BackupError, PgTools, _libpq
from mem0stack_server.store.graph_backup import GraphBackupError, from_json, to_json


def test_the_tools_come_with_the_embedded_server() -> None:
    tools = PgTools.find()
    assert tools.pg_dump.name == "pg_dump" and tools.pg_restore.name == "pg_restore"
    assert "pgserver" in str(tools.pg_dump)


def test_a_directory_without_the_tools_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=f"not found in {tmp_path}.*--pg-bin"):
        PgTools.find(tmp_path)


def test_a_password_travels_in_the_environment_not_on_the_command_line() -> None:
    dsn, env = _libpq("postgresql://mem0:s%40cret%2Fpw@db.internal:5432/mem0?sslmode=require")
    assert dsn == "postgresql://mem0@db.internal:5432/mem0?sslmode=require"
    assert env["PGPASSWORD"] == "s@cret/pw"
    embedded = "postgresql://postgres:@/postgres?host=/tmp/data"
    assert _libpq(embedded)[0] == "postgresql://postgres@/postgres?host=/tmp/data"
    assert _libpq("host=db user=mem0")[0] == "host=db user=mem0"


def test_graph_values_survive_json() -> None:
    when = neo4j.time.DateTime(2026, 12, 3, 10, 4, 5, 123456789, tzinfo=datetime.UTC)
    props = {
        "name": "Alice",
        "is_user": False,
        "memory_ids": ["a", "b"],
        "embedding": [0.1, -0.30000000000000004, 1e-12],
        "create_time": when,
        "count": 3,
    }
    text = json.dumps({k: to_json(v, k) for k, v in props.items()})
    back = {k: from_json(v) for k, v in json.loads(text).items()}
    assert back == props
    assert back["create_time"].nanosecond == 123456789


def test_an_unknown_graph_value_stops_the_backup() -> None:
    with pytest.raises(GraphBackupError, match=r"entity 7\.location: .*Point"):
        to_json(neo4j.spatial.CartesianPoint((1.0, 2.0)), "entity 7.location")


def test_restore_names_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello")
    with pytest.raises(BackupError, match="is not a mem0-stack backup"):
        read_manifest(not_tar)
    future = tmp_path / "future.tar"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": FORMAT, "version": 99}))
    with tarfile.open(future, "w") as tar:
        tar.add(manifest, "manifest.json")
    with pytest.raises(BackupError, match="format version 99; this mem0-stack restores version 1"):
        read_manifest(future)
