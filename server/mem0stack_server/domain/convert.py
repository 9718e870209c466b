"""Database rows to API messages."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from mem0stack.v1 import memory_pb2
from mem0stack_server.domain.names import memory_name

# An asyncpg Record or a dict with the same keys.
Row = Mapping[str, Any]


def etag_of(memory_id: uuid.UUID, version: int) -> str:
    """An opaque etag that changes with every update of one memory."""
    return hashlib.sha256(f"{memory_id}:{version}".encode()).hexdigest()[:16]


def content_hash(content: str) -> str:
    return hashlib.md5(content.encode(), usedforsecurity=False).hexdigest()


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def to_struct(value: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def from_struct(value: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(value)
    return result


def memory_from_row(row: Row) -> memory_pb2.Memory:
    superseded_by = row["superseded_by"]
    return memory_pb2.Memory(
        name=memory_name(row["user_id"], row["id"]),
        uid=str(row["id"]),
        content=row["content"],
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        actor_id=row["actor_id"],
        role=row["role"],
        metadata=to_struct(row["metadata"]),
        categories=row["categories"],
        hash=row["hash"],
        create_time=timestamp(row["create_time"]),
        update_time=timestamp(row["update_time"]),
        expire_time=timestamp(row["expire_time"]),
        event_time=timestamp(row["event_time"]),
        state=memory_pb2.Memory.State.Value(row["state"]),
        etag=etag_of(row["id"], row["version"]),
        memory_type=memory_pb2.Memory.Type.Value(row["memory_type"]),
        superseded_by=memory_name(row["user_id"], superseded_by) if superseded_by else "",
        valid_time=timestamp(row["valid_time"]),
        invalid_time=timestamp(row["invalid_time"]),
    )


def revision_from_row(row: Row) -> memory_pb2.MemoryRevision:
    return memory_pb2.MemoryRevision(
        name=f"{memory_name(row['user_id'], row['memory_id'])}/revisions/{row['id']}",
        event=memory_pb2.MemoryRevision.Event.Value(row["event"]),
        content_before=row["content_before"],
        content_after=row["content_after"],
        metadata_before=to_struct(row["metadata_before"]),
        metadata_after=to_struct(row["metadata_after"]),
        actor=row["actor"],
        request_id=row["request_id"],
        create_time=timestamp(row["create_time"]),
    )
