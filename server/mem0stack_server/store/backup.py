"""PostgreSQL backups: PostgreSQL's own pg_dump and pg_restore, and the SQL around them.

The tools come from ``--pg-bin``, else from the pgserver package (which ships PostgreSQL
16's binaries beside the embedded server), else from ``PATH``. pg_dump can dump servers of
its own major version and older, so an external PostgreSQL newer than 16 needs its own
tools in ``--pg-bin``.

A backup reads one snapshot: :class:`Snapshot` opens a REPEATABLE READ transaction, exports
its snapshot, and pg_dump dumps exactly what that transaction sees (``--snapshot``), so the
row counts read in the same transaction describe the dump and a restore can be checked
against them. Passwords in a URL are handed to the tools through ``PGPASSWORD``, never on
their command line, where other users could read them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from mem0stack_server.store.graph_outbox import pause_graph_writes, resume_graph_writes

# Tables whose row counts a backup records and a restore checks.
COUNTED_TABLES = (
    "memories",
    "memory_revisions",
    "memory_events",
    "api_keys",
    "operations",
    "graph_outbox",
    "graph_sources",
)


class BackupError(RuntimeError):
    """A backup or restore step failed; the message says which and why."""


@dataclass(frozen=True)
class PgTools:
    """Paths of pg_dump and pg_restore."""

    pg_dump: Path
    pg_restore: Path

    @classmethod
    def find(cls, bin_dir: Path | None = None) -> PgTools:
        """The tools in ``bin_dir``, else pgserver's, else the ones on ``PATH``."""
        candidates = [bin_dir] if bin_dir is not None else [_pgserver_bin(), None]
        for directory in candidates:
            dump, restore = (_tool(directory, name) for name in ("pg_dump", "pg_restore"))
            if dump is not None and restore is not None:
                return cls(dump, restore)
        where = bin_dir or "the pgserver package or PATH"
        raise BackupError(
            f"pg_dump and pg_restore not found in {where}; install PostgreSQL's client "
            "tools (the server's major version or newer) and name their directory with --pg-bin"
        )


def _pgserver_bin() -> Path | None:
    try:
        import pgserver  # the embedded server's package ships PostgreSQL's binaries
    except ImportError:
        return None
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _tool(directory: Path | None, name: str) -> Path | None:
    if directory is None:
        found = shutil.which(name)
        return Path(found) if found else None
    path = directory / name
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _libpq(dsn: str) -> tuple[str, dict[str, str]]:
    """``dsn`` without its password, and the environment that carries the password."""
    env = dict(os.environ)
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql") or parts.password is None:
        return dsn, env
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    env["PGPASSWORD"] = unquote(parts.password)
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}")), env


async def _run(
    tool: Path, args: list[str], dsn: str, feed: Callable[[], Awaitable[bytes]] | None = None
) -> None:
    """Run ``tool`` on ``dsn``; ``feed`` supplies its standard input, chunk by chunk."""
    target, env = _libpq(dsn)
    process = await asyncio.create_subprocess_exec(
        str(tool),
        *args,
        f"--dbname={target}",
        stdin=asyncio.subprocess.PIPE if feed else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    errors = asyncio.create_task(process.stderr.read())
    try:
        if feed is not None:
            assert process.stdin is not None
            while chunk := await feed():
                process.stdin.write(chunk)
                await process.stdin.drain()
            process.stdin.close()
        code = await process.wait()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    said = (await errors).decode(errors="replace").strip()
    if code != 0:
        raise BackupError(f"{tool.name} failed (exit code {code}): {said}")


async def dump(tools: PgTools, dsn: str, snapshot_id: str, path: Path) -> None:
    """Dump the database as ``snapshot_id`` sees it into ``path`` (custom format)."""
    await _run(
        tools.pg_dump,
        ["--format=custom", f"--snapshot={snapshot_id}", f"--file={path}"],
        dsn,
    )


async def restore(tools: PgTools, dsn: str, feed: Callable[[], Awaitable[bytes]]) -> None:
    """Restore a custom-format dump, read from ``feed``, all or nothing.

    Objects belong to the restoring user (``--no-owner``); grants and comments are left out,
    so a role that is not the one that made the original database can restore it.
    """
    await _run(
        tools.pg_restore,
        [
            "--no-owner",
            "--no-privileges",
            "--no-comments",
            "--exit-on-error",
            "--single-transaction",
        ],
        dsn,
        feed,
    )


async def is_empty(dsn: str) -> bool:
    """Whether the database holds no table, view or sequence outside the system schemas."""
    conn = await asyncpg.connect(dsn)
    try:
        found: bool = await conn.fetchval(
            """SELECT EXISTS (
                   SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                     AND c.relkind IN ('r', 'p', 'v', 'm', 'S'))"""
        )
    finally:
        await conn.close()
    return not found


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {
        table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # names are ours
        for table in COUNTED_TABLES
    }


async def _meta(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT key, value FROM store_meta")
    meta = {row["key"]: row["value"] for row in rows}
    meta["server_version"] = str(await conn.fetchval("SHOW server_version"))
    return meta


async def counts(dsn: str) -> dict[str, int]:
    """Row counts of the tables a backup records, now."""
    conn = await asyncpg.connect(dsn)
    try:
        return await _counts(conn)
    finally:
        await conn.close()


class Snapshot:
    """An exported snapshot of the database, held until :meth:`close`.

    ``counts`` and ``meta`` (``store_meta`` and the server's version) are read in it. With
    ``pause_graph``, graph writes wait from before the snapshot until :meth:`resume_graph`.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.id = ""
        self.counts: dict[str, int] = {}
        self.meta: dict[str, str] = {}
        self._paused = False

    @classmethod
    async def open(cls, dsn: str, *, pause_graph: bool) -> Snapshot:
        conn = await asyncpg.connect(dsn)
        try:
            if not await conn.fetchval("SELECT to_regclass('store_meta') IS NOT NULL"):
                raise BackupError("this database holds no mem0-stack data (no store_meta table)")
            if pause_graph:
                await pause_graph_writes(conn)
            # Ended by close(): closing the connection ends the transaction.
            await conn.transaction(isolation="repeatable_read", readonly=True).start()
            snapshot = cls(conn)
            snapshot._paused = pause_graph
            snapshot.id = str(await conn.fetchval("SELECT pg_export_snapshot()"))
            snapshot.counts = await _counts(conn)
            snapshot.meta = await _meta(conn)
        except BaseException:
            await conn.close()
            raise
        return snapshot

    async def resume_graph(self) -> None:
        if self._paused:
            await resume_graph_writes(self._conn)
            self._paused = False

    async def close(self) -> None:
        """End the transaction (and the pause, if still on)."""
        await self._conn.close()
