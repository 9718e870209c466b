"""Backup and restore of a deployment: its PostgreSQL database and its Neo4j graph, in one
archive file.

The archive is a tar file of three members:

- ``manifest.json``: the format and its version, when and by which mem0-stack it was made,
  the embedding model and dimension, the row counts of the main tables and the graph's;
- ``postgres.dump``: pg_dump's custom format, of one snapshot (``store/backup.py``);
- ``graph.jsonl.gz``: the graph, when the deployment has one (``store/graph_backup.py``).

The graph is copied, not rebuilt: it holds what an LLM extracted and later decided, which a
second extraction would not reproduce. The two are consistent: graph writes pause from
just before the database snapshot until the graph has been read (``store/graph_outbox.py``),
so the archived graph holds every outbox job finished before the snapshot and none queued
after it; jobs still pending in the snapshot run again after a restore (graph updates are
idempotent). pg_dump goes on reading its snapshot after the pause ends.

A restore goes into an empty database and an empty graph (a fresh deployment) and checks
what it restored against the manifest's counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import importlib.metadata
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mem0stack_server.app.graph import graph_store
from mem0stack_server.config import Settings
from mem0stack_server.store import backup as pg
from mem0stack_server.store.backup import BackupError, PgTools
from mem0stack_server.store.graph import DimensionMismatchError, GraphStore, GraphUnavailableError
from mem0stack_server.store.graph_backup import (
    GraphBackupError,
    export_graph,
    graph_counts,
    import_graph,
)

__all__ = ["BackupError", "GraphRestoreError", "Summary", "backup", "read_manifest", "restore"]

FORMAT = "mem0stack-backup"
VERSION = 1
MANIFEST = "manifest.json"
POSTGRES = "postgres.dump"
GRAPH = "graph.jsonl.gz"
_CHUNK = 1 << 20
_GRAPH_ERRORS = (GraphBackupError, GraphUnavailableError, DimensionMismatchError)


class GraphRestoreError(BackupError):
    """PostgreSQL was restored but the graph was not; ``restore --graph-only`` finishes it."""


@dataclass(frozen=True)
class Summary:
    """What an archive holds: row counts, graph counts (``None``: no graph), its size."""

    path: Path
    counts: dict[str, int]
    graph: dict[str, int] | None
    size: int


def _version() -> str:
    try:
        return importlib.metadata.version("mem0-stack")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


async def backup(
    settings: Settings, dsn: str, output: Path, tools: PgTools, *, skip_graph: bool = False
) -> Summary:
    """Write the archive of the database at ``dsn`` (and of the graph ``settings`` name,
    unless ``skip_graph``) to ``output``, which appears only once it is complete."""
    use_graph = settings.neo4j_uri is not None and not skip_graph
    work = await asyncio.to_thread(_workdir, output)
    try:
        snapshot = await pg.Snapshot.open(dsn, pause_graph=use_graph)
        try:
            if not use_graph and snapshot.counts["graph_sources"] and not skip_graph:
                raise BackupError(
                    "this database has graph memory (memories whose relations are in Neo4j) "
                    "but no Neo4j was given: set --neo4j-uri (or MEM0STACK_NEO4J_URI) to "
                    "include the graph, or --skip-graph to back up without it"
                )
            dumping = asyncio.create_task(pg.dump(tools, dsn, snapshot.id, work / POSTGRES))
            try:
                graph = None
                if use_graph:
                    dimension = int(snapshot.meta.get("embedding_dim", "0"))
                    graph = await _export_graph(graph_store(settings, dimension), work / GRAPH)
                await snapshot.resume_graph()
                await dumping
            except BaseException:
                dumping.cancel()
                with contextlib.suppress(BaseException):
                    await dumping
                raise
        finally:
            await snapshot.close()
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "create_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "mem0stack_version": _version(),
            "postgres": {
                "server_version": snapshot.meta.get("server_version"),
                "embedding_model": snapshot.meta.get("embedding_model"),
                "embedding_dim": snapshot.meta.get("embedding_dim"),
                "counts": snapshot.counts,
            },
            "graph": None if graph is None else {"counts": graph},
        }
        path, size = await asyncio.to_thread(_write_archive, output, work, manifest)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    return Summary(path, snapshot.counts, graph, size)


def _workdir(output: Path) -> Path:
    """A scratch directory beside ``output``: on its file system, so no other disk needs
    room for the dump."""
    return Path(tempfile.mkdtemp(prefix=".mem0stack-backup-", dir=output.absolute().parent))


def _write_archive(output: Path, work: Path, manifest: dict[str, Any]) -> tuple[Path, int]:
    """The archive of what ``work`` holds, made under a scratch name and then renamed, so
    ``output`` is never a partial archive. Returns its path and size."""
    output = output.absolute()
    partial = output.with_name(f".{output.name}.partial")
    try:
        with tarfile.open(partial, "w") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
            tar.add(work / POSTGRES, POSTGRES)
            if manifest["graph"] is not None:
                tar.add(work / GRAPH, GRAPH)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output, output.stat().st_size


async def _export_graph(store: GraphStore, path: Path) -> dict[str, int]:
    try:
        with gzip.open(path, "wt", encoding="utf-8") as out:

            def write(record: dict[str, Any]) -> None:
                out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")

            return await export_graph(store, write)
    except _GRAPH_ERRORS as exc:
        raise BackupError(f"could not read the graph: {exc}") from exc
    finally:
        await store.close()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def read_manifest(archive: Path) -> dict[str, Any]:
    """The archive's manifest, checked to be one this version can restore."""
    try:
        with tarfile.open(archive, "r:") as tar:
            manifest: dict[str, Any] = json.loads(_member(tar, MANIFEST).read())
    except (tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive} is not a mem0-stack backup: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not a mem0-stack backup (no {FORMAT} manifest)")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"{archive} is a backup of format version {manifest.get('version')}; this "
            f"mem0-stack restores version {VERSION}"
        )
    return manifest


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    found = tar.extractfile(name)
    if found is None:
        raise KeyError(f"{name} is not a file")
    return found


async def restore(
    settings: Settings,
    dsn: str,
    archive: Path,
    tools: PgTools,
    *,
    skip_graph: bool = False,
    graph_only: bool = False,
) -> Summary:
    """Restore ``archive`` into the empty database at ``dsn`` and the empty graph
    ``settings`` name; ``graph_only`` imports the graph alone (after a restore whose graph
    step failed), ``skip_graph`` leaves it out."""
    manifest = read_manifest(archive)
    counts: dict[str, int] = manifest["postgres"]["counts"]
    graph: dict[str, int] | None = (manifest["graph"] or {}).get("counts")
    use_graph = graph is not None and not skip_graph
    if use_graph and settings.neo4j_uri is None:
        raise BackupError(
            "the backup holds a graph: set --neo4j-uri (or MEM0STACK_NEO4J_URI) to restore it "
            "into an empty Neo4j, or --skip-graph to restore without it"
        )
    if graph_only and not use_graph:
        raise BackupError("--graph-only: the backup holds no graph to import")
    store = graph_store(settings, int(manifest["postgres"]["embedding_dim"])) if use_graph else None
    try:
        if graph_only:
            if await pg.is_empty(dsn):
                raise BackupError("--graph-only is for a database this backup was restored into")
        else:
            await _check_empty(dsn, store)
            with tarfile.open(archive, "r:") as tar:
                dump = _member(tar, POSTGRES)
                await pg.restore(tools, dsn, lambda: asyncio.to_thread(dump.read, _CHUNK))
            restored = await pg.counts(dsn)
            if restored != counts:
                raise BackupError(f"restored rows {restored} differ from the backup's {counts}")
        if store is not None and graph is not None:
            await _import_graph(store, archive, graph)
    finally:
        if store is not None:
            await store.close()
    size = (await asyncio.to_thread(archive.stat)).st_size
    return Summary(archive, counts, graph if use_graph else None, size)


async def _check_empty(dsn: str, store: GraphStore | None) -> None:
    if not await pg.is_empty(dsn):
        raise BackupError(
            "the database is not empty: restore into a new database (or a new --data-dir), "
            "never over a live one"
        )
    if store is None:
        return
    try:
        found = await graph_counts(store)
    except _GRAPH_ERRORS as exc:
        raise BackupError(f"cannot check that the graph is empty: {exc}") from exc
    if any(found.values()):
        raise BackupError(
            f"the Neo4j database {store.config.database!r} at {store.config.uri} already holds "
            "graph memory: restore into an empty one"
        )


async def _import_graph(store: GraphStore, archive: Path, expected: dict[str, int]) -> None:
    try:
        await store.ensure_schema()
        with tarfile.open(archive, "r:") as tar, gzip.open(_member(tar, GRAPH), "rt") as lines:
            await import_graph(store, _records(lines))
        found = await graph_counts(store)
    except _GRAPH_ERRORS as exc:
        raise GraphRestoreError(f"the graph could not be restored: {exc}") from exc
    if found != expected:
        raise GraphRestoreError(f"the restored graph {found} differs from the backup's {expected}")


def _records(lines: IO[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)
