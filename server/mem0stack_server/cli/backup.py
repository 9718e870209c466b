"""``mem0stack backup`` and ``mem0stack restore``: a whole deployment in one archive file.

The database and Neo4j are found as ``mem0stack serve`` finds them: flags, then the
``MEM0STACK_*`` environment, then the TOML file of ``MEM0STACK_CONFIG``. The archive's
format and its consistency are described in ``app/backup.py``; docs/operations.md
("Backup and restore") has the commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console

from mem0stack_server.config import Settings

if TYPE_CHECKING:
    from mem0stack_server.store.backup import PgTools

F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=True)


class BackupFailed(click.ClickException):
    """A backup or restore could not be done (exit code 1; the message says why)."""


def _options(command: F) -> F:
    options = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="The embedded PostgreSQL's data directory (env MEM0STACK_DATA_DIR) "
            "[default: ./data].",
        ),
        click.option(
            "--database-url",
            help="An external PostgreSQL (env MEM0STACK_DATABASE_URL); overrides --data-dir.",
        ),
        click.option(
            "--neo4j-uri",
            help="Neo4j of the graph memory (env MEM0STACK_NEO4J_URI; its password from "
            "MEM0STACK_NEO4J_PASSWORD).",
        ),
        click.option("--neo4j-user", help="Neo4j user (env MEM0STACK_NEO4J_USER)."),
        click.option("--neo4j-database", help="Neo4j database (env MEM0STACK_NEO4J_DATABASE)."),
        click.option(
            "--skip-graph",
            is_flag=True,
            help="Leave the graph out, even though the database has graph memory.",
        ),
        click.option(
            "--pg-bin",
            envvar="MEM0STACK_PG_BIN",
            type=click.Path(file_okay=False, exists=True, path_type=Path),
            help="Directory of pg_dump and pg_restore (env MEM0STACK_PG_BIN) [default: "
            "PostgreSQL 16's, from the pgserver package, else PATH]; for an external server "
            "newer than 16 give its own.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings(flags: dict[str, Any]) -> Settings:
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _settings_of(
    data_dir: Path | None,
    database_url: str | None,
    neo4j_uri: str | None,
    neo4j_user: str | None,
    neo4j_database: str | None,
) -> Settings:
    return _settings(
        {
            "data_dir": data_dir,
            "database_url": database_url,
            "neo4j_uri": neo4j_uri,
            "neo4j_user": neo4j_user,
            "neo4j_database": neo4j_database,
        }
    )


def _database(settings: Settings, *, create: bool) -> str:
    """The configured PostgreSQL, or the embedded one (started now). A backup never makes a
    new embedded database: an uninitialised directory is a wrong path."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    data_dir = settings.data_dir.resolve()
    if not create and not (data_dir / "PG_VERSION").is_file():
        raise BackupFailed(
            f"no server database in {data_dir}: point --data-dir at the directory "
            "`mem0stack serve` uses, or give --database-url"
        )
    from mem0stack_server.store.database import start_embedded

    return start_embedded(data_dir).uri


def _tools(pg_bin: Path | None) -> PgTools:
    from mem0stack_server.store.backup import BackupError, PgTools

    try:
        return PgTools.find(pg_bin)
    except BackupError as exc:
        raise BackupFailed(str(exc)) from exc


def _counts_line(counts: dict[str, int], graph: dict[str, int] | None) -> str:
    text = (
        f"{counts['memories']:,} memories, {counts['memory_revisions']:,} revisions, "
        f"{counts['api_keys']:,} API keys"
    )
    if graph is not None:
        text += (
            f"; graph: {graph['entity']:,} entities, {graph['alias']:,} aliases, "
            f"{graph['relation']:,} relations"
        )
    return text


@click.command("backup")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The archive to write (it appears only once complete).",
)
@_options
def backup_command(
    output: Path,
    data_dir: Path | None,
    database_url: str | None,
    neo4j_uri: str | None,
    neo4j_user: str | None,
    neo4j_database: str | None,
    skip_graph: bool,
    pg_bin: Path | None,
) -> None:
    """Back up the server's database and graph into one archive file.

    The database is dumped by pg_dump from one snapshot while the server keeps serving;
    graph updates pause only while the graph is read, so the two agree. Restore the
    archive with `mem0stack restore` into a fresh deployment.

    \b
    Examples:
      mem0stack backup -o mem0stack-$(date +%F).tar --data-dir /var/lib/mem0stack
      MEM0STACK_DATABASE_URL=postgresql://mem0@db/mem0 MEM0STACK_NEO4J_URI=bolt://neo4j:7687 \\
        MEM0STACK_NEO4J_PASSWORD=... mem0stack backup -o mem0stack.tar
    """
    from mem0stack_server.app.backup import BackupError, backup

    settings = _settings_of(data_dir, database_url, neo4j_uri, neo4j_user, neo4j_database)
    tools = _tools(pg_bin)
    dsn = _database(settings, create=False)
    try:
        summary = asyncio.run(backup(settings, dsn, output, tools, skip_graph=skip_graph))
    except BackupError as exc:
        raise BackupFailed(str(exc)) from exc
    console.print(
        f"backed up {_counts_line(summary.counts, summary.graph)} "
        f"into {summary.path} ({summary.size:,} bytes)"
    )
    if summary.graph is None and settings.neo4j_uri is None:
        console.print("no graph: this deployment has no Neo4j configured")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--graph-only",
    is_flag=True,
    help="Import only the graph, into the database this archive was restored into (when "
    "the graph step of a restore failed).",
)
@_options
def restore_command(
    archive: Path,
    graph_only: bool,
    data_dir: Path | None,
    database_url: str | None,
    neo4j_uri: str | None,
    neo4j_user: str | None,
    neo4j_database: str | None,
    skip_graph: bool,
    pg_bin: Path | None,
) -> None:
    """Restore an ARCHIVE made by `mem0stack backup` into a fresh deployment.

    The database must be empty (a new --data-dir, or a new database for --database-url)
    and so must Neo4j: a restore never writes over data. What is restored is checked
    against the counts the archive recorded. Start the server on the restored database
    afterwards, with the embedder the backup was made with.

    \b
    Examples:
      mem0stack restore mem0stack-2026-12-03.tar --data-dir /var/lib/mem0stack-new
      createdb -h db mem0_restored && mem0stack restore mem0stack.tar \\
        --database-url postgresql://mem0@db/mem0_restored --neo4j-uri bolt://neo4j-new:7687
    """
    from mem0stack_server.app.backup import BackupError, GraphRestoreError, read_manifest, restore

    settings = _settings_of(data_dir, database_url, neo4j_uri, neo4j_user, neo4j_database)
    tools = _tools(pg_bin)
    try:
        read_manifest(archive)  # before anything is started or created
    except BackupError as exc:
        raise BackupFailed(str(exc)) from exc
    dsn = _database(settings, create=True)
    try:
        summary = asyncio.run(
            restore(settings, dsn, archive, tools, skip_graph=skip_graph, graph_only=graph_only)
        )
    except GraphRestoreError as exc:
        raise BackupFailed(
            f"the database is restored, the graph is not: {exc}. Once Neo4j works, finish "
            f"with `mem0stack restore {archive} --graph-only` and the same options."
        ) from exc
    except BackupError as exc:
        raise BackupFailed(str(exc)) from exc
    if graph_only and summary.graph is not None:
        console.print(
            f"restored the graph: {summary.graph['entity']:,} entities, "
            f"{summary.graph['alias']:,} aliases, {summary.graph['relation']:,} relations"
        )
    else:
        console.print(f"restored {_counts_line(summary.counts, summary.graph)} from {archive}")
