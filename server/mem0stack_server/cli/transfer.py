"""``mem0stack export`` and ``mem0stack import``: JSON lines in and out through the Python SDK.

Import reads three shapes, one JSON object per line:

- our export: the Memory fields (``content``, ``name``, ``uid``, ``metadata``, ...) and,
  optionally, ``embedding``; the ``uid`` becomes the source id;
- mem0 (``Memory.get_all`` / REST ``/memories`` items): ``id``, ``memory``, ``metadata``,
  ``created_at``, ``updated_at``, ``agent_id``, ``run_id``, ``actor_id``, ``role``;
- OpenMemory: ``id``, ``content``, ``created_at``, ``updated_at``, ``state``,
  ``metadata`` (or ``metadata_``), ``categories``. A whole-file JSON object with a
  ``memories`` array is read too.

A line that is not valid JSON or has no text is reported with its number and skipped; the
rest still imports. The importing user is always the one named on the command line.

Both commands talk to the server through ``mem0stack.AsyncClient``, so credentials, channel
options and errors (:class:`~mem0stack.Mem0StackError`) are the SDK's. They reach the server
over TLS unless the target is a loopback address (the rule of the SDK and the MCP bridge), so
an API key never crosses a network in the clear unless ``--no-tls`` says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import json_format, timestamp_pb2
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mem0stack import AsyncClient, Mem0StackError
from mem0stack.options import TLSConfig, resolve_tls
from mem0stack.structs import struct_to_dict
from mem0stack.v1 import memory_pb2, streams_pb2

console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Items per second, blank until rich has measured a rate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


def _progress(total: int | None) -> Progress:
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn()] if total else [TextColumn("{task.completed:,}")]
    columns += [RateColumn(), TimeElapsedColumn()]
    if total:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console)


# Connection


@dataclass(frozen=True)
class Connection:
    """Where the server is, the API key to send, and TLS (``None``: plaintext)."""

    target: str
    api_key: str | None = None
    tls: TLSConfig | None = None

    def client(self) -> AsyncClient:
        """An SDK client with exactly this TLS: ``None`` is plaintext, never the SDK's own
        choice by target, which :func:`channel_tls` has already made."""
        return AsyncClient(
            self.target, self.api_key, tls=self.tls if self.tls is not None else False
        )


def channel_tls(
    target: str,
    tls: bool | None,
    ca_cert: bytes | None,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
) -> TLSConfig | None:
    """TLS for ``target`` (``None``: plaintext), from ``--tls/--no-tls``, ``--ca-cert`` and
    ``--client-cert``/``--client-key``.

    Unset ``tls`` is plaintext to loopback targets and TLS anywhere else, exactly as the
    Python client and the MCP bridge decide, so a remote target gets plaintext (and an API
    key in the clear) only from an explicit ``--no-tls``. A CA certificate or a client
    certificate (for a server that requires one: mutual TLS) asks for TLS.
    """
    if (client_cert is None) != (client_key is None):
        raise ValueError("--client-cert and --client-key go together")
    if ca_cert is None and client_cert is None:
        return resolve_tls(target, tls)
    if tls is False:
        raise ValueError("--ca-cert and --client-cert are for TLS connections; leave out --no-tls")
    return TLSConfig(
        root_certificates=ca_cert, private_key=client_key, certificate_chain=client_cert
    )


# Export


async def export_memories(
    connection: Connection,
    user: str,
    filter_text: str,
    include_embeddings: bool,
    out: TextIO,
    cursor: str,
) -> int:
    """Write every memory as one JSON line; returns how many were written."""
    written = 0
    async with connection.client() as client:
        with _progress(None) as progress:
            task = progress.add_task(f"exporting users/{user}", total=None)
            last_cursor = cursor
            messages = client.export(
                user, filter=filter_text, cursor=cursor, include_embeddings=include_embeddings
            )
            try:
                async for message in messages:
                    record = json_format.MessageToDict(
                        message.memory, preserving_proto_field_name=True
                    )
                    if "metadata" in record:  # 7 stays 7, not the Struct's 7.0
                        record["metadata"] = struct_to_dict(message.memory.metadata)
                    if include_embeddings:
                        record["embedding"] = [round(v, 7) for v in message.embedding]
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
                    last_cursor = message.cursor
                    progress.advance(task)
            except Mem0StackError:
                if last_cursor:
                    console.print(
                        f"[yellow]interrupted; resume with --cursor {last_cursor}[/yellow]"
                    )
                raise
    return written


# Import


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)


def _timestamp(value: Any) -> timestamp_pb2.Timestamp | None:
    if not value:
        return None
    ts = timestamp_pb2.Timestamp()
    if isinstance(value, (int, float)):
        ts.FromSeconds(int(value))
        return ts
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    ts.FromDatetime(parsed)
    return ts


def record_to_request(record: dict[str, Any]) -> streams_pb2.ImportMemoriesRequest:
    """One JSON object in any supported shape -> an import request (ValueError if unusable)."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    embedding = record.pop("embedding", None) or []
    if "memory" in record and "content" not in record:  # mem0
        memory = memory_pb2.Memory(
            content=str(record.get("memory") or ""),
            agent_id=str(record.get("agent_id") or ""),
            run_id=str(record.get("run_id") or ""),
            actor_id=str(record.get("actor_id") or ""),
            role=str(record.get("role") or ""),
            create_time=_timestamp(record.get("created_at")),
            update_time=_timestamp(record.get("updated_at")),
        )
        if isinstance(record.get("metadata"), dict):
            memory.metadata.update(record["metadata"])
        source_id = str(record.get("id") or "")
    elif "name" in record or "uid" in record:  # our own export
        memory = json_format.ParseDict(record, memory_pb2.Memory(), ignore_unknown_fields=True)
        source_id = memory.uid
    else:  # OpenMemory
        state = str(record.get("state") or "active").lower()
        if state == "deleted":
            raise ValueError("a deleted memory")
        memory = memory_pb2.Memory(
            content=str(record.get("content") or record.get("text") or ""),
            create_time=_timestamp(record.get("created_at")),
            update_time=_timestamp(record.get("updated_at")),
            categories=[
                str(c.get("name", c)) if isinstance(c, dict) else str(c)
                for c in record.get("categories") or []
            ],
        )
        metadata = record.get("metadata") or record.get("metadata_")
        if isinstance(metadata, dict):
            memory.metadata.update(metadata)
        source_id = str(record.get("id") or "")
    if not memory.content.strip():
        raise ValueError("no memory text")
    return streams_pb2.ImportMemoriesRequest(
        memory=memory, source_id=source_id, embedding=embedding
    )


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, record or None, error) for each line; a whole-file object is expanded."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n{" not in stripped:
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict) and isinstance(whole.get("memories"), list):
            for i, record in enumerate(whole["memories"], start=1):
                yield i, record, ""
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), ""
        except json.JSONDecodeError as exc:
            yield number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"


# ImportMemoriesResponse.failures holds at most this many (the proto says so).
MAX_REPORTED_FAILURES = 1_000

# Memories per ImportMemories stream. The server answers a stream only once, at its end, so
# the stream is the unit of acknowledgement: small enough for the bar to move every two seconds
# or so on the local embedder (about 250 memories/s on two cores), large enough to fill two of
# the server's batches (256), whose embedding and writing overlap within a stream, and within
# the 1,000 failures a response reports, so every failure keeps its line number. Measured on
# 3,000 memories: as fast as one stream for the whole file, within the noise of a shared host.
IMPORT_CHUNK = 512


async def import_memories(
    connection: Connection,
    user: str,
    path: Path,
    *,
    chunk_size: int = IMPORT_CHUNK,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import the file in streams of ``chunk_size`` records, one after the other.

    ``on_progress(done, total)`` (and the progress bar) hear after each stream's response:
    ``done`` counts the file's records whose fate is known (stored, skipped or rejected by
    the server, or rejected here), so it never runs ahead of the server. Splitting keeps the
    import's meaning: a stream commits before the next one starts, so a source id repeated
    in a later stream is found stored and skipped, exactly as within one stream; and an
    interrupted import keeps every acknowledged stream, so running it again resumes.
    """
    if not 1 <= chunk_size <= MAX_REPORTED_FAILURES:
        raise ValueError(f"chunk_size must be 1 to {MAX_REPORTED_FAILURES}")
    report = ImportReport()
    records = list(read_records(path))
    total = len(records)
    async with connection.client() as client:
        with _progress(total) as progress:
            task = progress.add_task(f"importing into users/{user}", total=total)
            for start in range(0, total, chunk_size):
                chunk = records[start : start + chunk_size]
                requests, lines = _requests(chunk, report)
                if requests:
                    summary = await client.import_(user, requests)
                    report.imported += summary.imported
                    report.skipped += summary.skipped
                    for failure in summary.failures:
                        report.failures.append((lines[failure.index], failure.reason))
                done = start + len(chunk)
                progress.update(task, completed=done)
                if on_progress is not None:
                    on_progress(done, total)
    report.failures.sort()
    return report


def _requests(
    chunk: list[tuple[int, dict[str, Any] | None, str]], report: ImportReport
) -> tuple[list[streams_pb2.ImportMemoriesRequest], list[int]]:
    """The chunk's import requests and their line numbers; unusable lines go to the report."""
    requests: list[streams_pb2.ImportMemoriesRequest] = []
    lines: list[int] = []  # request index in the stream -> line number
    for number, record, error in chunk:
        if record is None:
            report.failures.append((number, error))
            continue
        try:
            requests.append(record_to_request(record))
        except (ValueError, TypeError, json_format.ParseError) as exc:
            report.failures.append((number, str(exc)))
            continue
        lines.append(number)
    return requests, lines
