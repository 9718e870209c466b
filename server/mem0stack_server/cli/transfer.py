"""``mem0stack export`` and ``mem0stack import``: JSON lines in and out over the gRPC API.

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
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import grpc
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

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2

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


def _metadata(api_key: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {api_key}")] if api_key else []


# Export


async def export_memories(
    target: str,
    api_key: str | None,
    user: str,
    filter_text: str,
    include_embeddings: bool,
    out: TextIO,
    cursor: str,
) -> int:
    """Write every memory as one JSON line; returns how many were written."""
    written = 0
    request = streams_pb2.ExportMemoriesRequest(
        parent=f"users/{user}",
        filter=filter_text,
        include_embeddings=include_embeddings,
        cursor=cursor,
    )
    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with _progress(None) as progress:
            task = progress.add_task(f"exporting users/{user}", total=None)
            last_cursor = cursor
            try:
                async for message in stub.ExportMemories(request, metadata=_metadata(api_key)):
                    record = json_format.MessageToDict(
                        message.memory, preserving_proto_field_name=True
                    )
                    if include_embeddings:
                        record["embedding"] = [round(v, 7) for v in message.embedding]
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
                    last_cursor = message.cursor
                    progress.advance(task)
            except grpc.aio.AioRpcError:
                if last_cursor:
                    console.print(
                        f"[yellow]interrupted; resume with --cursor {last_cursor}[/yellow]"
                    )
                raise
    return written


# Import


@dataclass
class ParsedLine:
    line: int
    request: streams_pb2.ImportMemoriesRequest


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


async def import_memories(target: str, api_key: str | None, user: str, path: Path) -> ImportReport:
    report = ImportReport()
    records = list(read_records(path))
    lines: list[int] = []  # stream index -> line number

    async def requests(
        progress: Progress, task: Any
    ) -> AsyncIterator[streams_pb2.ImportMemoriesRequest]:
        first = True
        for number, record, error in records:
            progress.advance(task)
            if record is None:
                report.failures.append((number, error))
                continue
            try:
                request = record_to_request(record)
            except (ValueError, TypeError, json_format.ParseError) as exc:
                report.failures.append((number, str(exc)))
                continue
            if first:
                request.parent = f"users/{user}"
                first = False
            lines.append(number)
            yield request
            # Let the transport send: the progress bar then shows what the server took.
            await asyncio.sleep(0)

    async with grpc.aio.insecure_channel(target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with _progress(len(records)) as progress:
            task = progress.add_task(f"importing into users/{user}", total=len(records))
            summary = await stub.ImportMemories(
                requests(progress, task), metadata=_metadata(api_key)
            )
    report.imported = summary.imported
    report.skipped = summary.skipped
    for failure in summary.failures:
        report.failures.append((lines[failure.index], failure.reason))
    report.failures.sort()
    return report
