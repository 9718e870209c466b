"""Our messages in the JSON shapes mem0's clients read.

A memory is ``{id, memory, user_id, agent_id, app_id, session_id | run_id, metadata,
categories, created_at, updated_at, expiration_date, ...}``: lists name the run
``session_id`` and search results ``run_id``, as mem0's API does. Ids are the bare memory
UUIDs; reserved owners (agent-, app- or run-only memories, see :mod:`.scope`) show no
``user_id``. Metadata numbers that are whole come back as integers (``google.protobuf.Struct``
holds doubles, and mem0 callers store counts and years).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from mem0stack.v1 import memory_pb2
from mem0stack_server.transport.platform.scope import APP_ID_KEY

_REVISION_EVENTS = {
    memory_pb2.MemoryRevision.CREATE: "ADD",
    memory_pb2.MemoryRevision.UPDATE: "UPDATE",
    memory_pb2.MemoryRevision.SUPERSEDE: "SUPERSEDE",
    memory_pb2.MemoryRevision.DELETE: "DELETE",
}


def plain(value: Any) -> Any:
    """JSON from a Struct: whole floats back to integers, at any depth."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def owner_of(name: str) -> str:
    """The user id in ``users/{user}/memories/...`` (or ``.../operations/...``)."""
    return name.split("/")[1] if name.startswith("users/") else ""


def time_text(message: Any, field: str) -> str | None:
    if not message.HasField(field):
        return None
    text: str = getattr(message, field).ToDatetime().isoformat() + "Z"
    return text


def memory(m: memory_pb2.Memory, *, run_key: str = "session_id") -> dict[str, Any]:
    metadata: dict[str, Any] = plain(json_format.MessageToDict(m.metadata))
    app_id = metadata.pop(APP_ID_KEY, None)
    owner = owner_of(m.name)
    expire = m.expire_time.ToDatetime().date().isoformat() if m.HasField("expire_time") else None
    return {
        "id": m.uid,
        "memory": m.content,
        "user_id": None if owner.startswith("~") else owner,
        "agent_id": m.agent_id or None,
        "app_id": app_id if isinstance(app_id, str) else None,
        run_key: m.run_id or None,
        "actor_id": m.actor_id or None,
        "role": m.role or None,
        "metadata": metadata or None,
        "categories": list(m.categories),
        "hash": m.hash,
        "created_at": time_text(m, "create_time"),
        "updated_at": time_text(m, "update_time"),
        "expiration_date": expire,
        "event_time": time_text(m, "event_time"),
        # Ours, beside mem0's fields: when the fact was true (docs/time.md).
        "valid_time": time_text(m, "valid_time"),
        "invalid_time": time_text(m, "invalid_time"),
        "state": memory_pb2.Memory.State.Name(m.state),
        "replaced_by": m.superseded_by.rsplit("/", 1)[-1] if m.superseded_by else None,
        "immutable": False,
    }


def search_result(result: memory_pb2.SearchResult) -> dict[str, Any]:
    shaped = memory(result.memory, run_key="run_id")
    # Ranking scores are similarities; mem0 promises [0, 1].
    shaped["score"] = min(1.0, max(0.0, float(result.score)))
    return shaped


def event(e: memory_pb2.MemoryEvent) -> dict[str, Any]:
    """One entry of an add's ``results``: ADD, UPDATE, DELETE, and our SUPERSEDE and NOOP."""
    shaped: dict[str, Any] = {
        "id": e.memory.uid,
        "memory": e.memory.content,
        "event": memory_pb2.MemoryEvent.Type.Name(e.type),
        "data": {"memory": e.memory.content},
    }
    if e.previous_content:
        shaped["previous_memory"] = e.previous_content
    if e.superseded_memory:
        shaped["superseded_memory_id"] = e.superseded_memory.rsplit("/", 1)[-1]
    owner = owner_of(e.memory.name)
    if owner and not owner.startswith("~"):
        shaped["user_id"] = owner
    return shaped


def revision(r: memory_pb2.MemoryRevision, memory_id: str, owner: str) -> dict[str, Any]:
    parts = r.name.split("/")
    before = (
        plain(json_format.MessageToDict(r.metadata_before))
        if r.HasField("metadata_before")
        else None
    )
    after = (
        plain(json_format.MessageToDict(r.metadata_after)) if r.HasField("metadata_after") else None
    )
    created = time_text(r, "create_time")
    return {
        "id": parts[-1],
        "memory_id": memory_id,
        "user_id": None if owner.startswith("~") else owner,
        "event": _REVISION_EVENTS.get(r.event, memory_pb2.MemoryRevision.Event.Name(r.event)),
        "old_memory": r.content_before or None,
        "new_memory": r.content_after or None,
        "metadata": after if after is not None else before,
        "input": [],
        "actor": r.actor,
        "request_id": r.request_id or None,
        "created_at": created,
        "updated_at": created,
    }
