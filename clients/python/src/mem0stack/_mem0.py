"""mem0's calls mapped onto mem0-stack's: argument mapping and result shaping (no I/O).

Each method of :class:`~mem0stack.compat.Memory` and :class:`~mem0stack.compat.AsyncMemory`
is made from the builder of the same name at the end of this module: it takes mem0's
arguments, and returns the plan (``_plans.py``) of the mem0-stack call, whose result has
mem0's shape. The two classes only run the plans, one blocking, one awaiting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, NoReturn, TypeVar

from google.protobuf import json_format, timestamp_pb2

from mem0stack import _requests as build
from mem0stack._plans import Collect, Unary
from mem0stack._requests import user_name
from mem0stack.errors import ErrorReason, Mem0StackError
from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc

T = TypeVar("T")

_SCOPE_FIELDS = ("agent_id", "run_id", "actor_id", "role")
# Fields of a mem0 filter that are real columns here; any other key is a metadata key.
_TOP_LEVEL = frozenset(
    (
        *_SCOPE_FIELDS,
        "categories",
        "state",
        "memory_type",
        "create_time",
        "update_time",
        "expire_time",
        "event_time",
    )
)
_OPERATORS = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_EVENTS = {
    memory_pb2.MemoryEvent.ADD: "ADD",
    memory_pb2.MemoryEvent.UPDATE: "UPDATE",
    memory_pb2.MemoryEvent.SUPERSEDE: "ADD",
    memory_pb2.MemoryEvent.DELETE: "DELETE",
}
_REVISION_EVENTS = {
    memory_pb2.MemoryRevision.CREATE: "ADD",
    memory_pb2.MemoryRevision.UPDATE: "UPDATE",
    memory_pb2.MemoryRevision.SUPERSEDE: "SUPERSEDE",
    memory_pb2.MemoryRevision.DELETE: "DELETE",
}
_MEMORY_TYPES = {
    None: memory_pb2.Memory.TYPE_UNSPECIFIED,
    "semantic_memory": memory_pb2.Memory.SEMANTIC,
    "episodic_memory": memory_pb2.Memory.EPISODIC,
    "procedural_memory": memory_pb2.Memory.PROCEDURAL,
}


# Translating mem0's arguments


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise ValueError(f"unsupported filter value {value!r}: use a string, number or boolean")


def _member(key: str) -> str:
    if key in _TOP_LEVEL:
        return key
    parts = key.split(".")
    return "metadata." + ".".join(p if _IDENTIFIER.match(p) else json.dumps(p) for p in parts)


def _condition(key: str, value: Any) -> str:
    member = _member(key)
    if value == "*":
        return f"{member}:*"
    if not isinstance(value, Mapping):
        return f"{member} = {_literal(value)}"
    parts = []
    for op, operand in value.items():
        if op in _OPERATORS:
            parts.append(f"{member} {_OPERATORS[op]} {_literal(operand)}")
        elif op in ("in", "nin"):
            if not isinstance(operand, Sequence) or isinstance(operand, str) or not operand:
                raise ValueError(f"{op!r} on {key!r} needs a non-empty list")
            any_of = " OR ".join(f"{member} = {_literal(v)}" for v in operand)
            parts.append(f"({any_of})" if op == "in" else f"NOT ({any_of})")
        else:
            raise ValueError(
                f"filter operator {op!r} on {key!r} is not supported by mem0-stack "
                "(supported: eq, ne, gt, gte, lt, lte, in, nin, and '*' for any value)"
            )
    return " AND ".join(parts)


def _expression(filters: Mapping[str, Any]) -> str:
    parts = []
    for key, value in filters.items():
        if key in ("AND", "OR", "NOT"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise ValueError(f"{key} takes a list of filters")
            inner = [f"({_expression(v)})" for v in value if v]
            if not inner:
                continue
            if key == "NOT":
                parts.append(" AND ".join(f"NOT {p}" for p in inner))
            else:
                parts.append("(" + f" {key} ".join(inner) + ")")
        else:
            parts.append(_condition(key, value))
    return " AND ".join(parts)


def filters_to_aip160(filters: Mapping[str, Any]) -> str:
    """Translate a mem0 filter dict (without ``user_id``) into an AIP-160 expression.

    ``{"agent_id": "a", "topic": {"in": ["x", "y"]}}`` becomes
    ``agent_id = "a" AND (metadata.topic = "x" OR metadata.topic = "y")``. Keys that are
    not memory fields are metadata keys; ``AND``/``OR``/``NOT`` take lists of filters.
    """
    return _expression(filters)


def _scope(
    method: str,
    user_id: str | None,
    agent_id: str | None,
    run_id: str | None,
    filters: Mapping[str, Any] | None,
) -> tuple[str, str]:
    """The parent and the AIP-160 filter for mem0's entity ids and filters."""
    merged = dict(filters or {})
    for key, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        if value is not None:
            if merged.get(key, value) != value:
                raise ValueError(f"{key} given twice with different values")
            merged[key] = value
    user = merged.pop("user_id", None)
    if not isinstance(user, str) or not user.strip():
        raise ValueError(
            f"{method}() needs a user_id (argument or filters['user_id']): "
            "mem0-stack keeps every memory under one user"
        )
    return user_name(user.strip()), filters_to_aip160(merged)


def _memory_name(memory_id: str, user_id: str | None) -> str:
    if memory_id.startswith("users/"):
        return memory_id
    if not user_id:
        raise ValueError(
            f"{memory_id!r} is not a memory name (users/<user>/memories/<id>); "
            "pass user_id= as well to use a bare id"
        )
    return f"{user_name(user_id)}/memories/{memory_id}"


def _messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, Mapping):
        return [dict(messages)]
    return [dict(m) for m in messages]


# Shaping results like mem0's


def _time(stamp: timestamp_pb2.Timestamp) -> str | None:
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


def memory_item(memory: memory_pb2.Memory, score: float | None = None) -> dict[str, Any]:
    """A mem0 ``MemoryItem`` dict for a memory (``score`` only for search results)."""
    item: dict[str, Any] = {
        "id": memory.name,
        "memory": memory.content,
        "hash": memory.hash,
        "metadata": json_format.MessageToDict(memory.metadata) or None,
        "created_at": _time(memory.create_time),
        "updated_at": _time(memory.update_time),
        "user_id": memory.name.split("/")[1],
    }
    if score is not None:
        item["score"] = score
    for key in _SCOPE_FIELDS:
        if value := getattr(memory, key):
            item[key] = value
    if memory.categories:
        item["categories"] = list(memory.categories)
    return item


def _add_result(response: svc.AddMemoriesResponse) -> dict[str, Any]:
    results = []
    for event in response.events:
        if event.type not in _EVENTS:
            continue  # NOOP: the fact was already known; mem0 reports nothing either
        entry = {
            "id": event.memory.name,
            "memory": event.memory.content,
            "event": _EVENTS[event.type],
        }
        if event.type == memory_pb2.MemoryEvent.UPDATE:
            entry["previous_memory"] = event.previous_content
        if event.type == memory_pb2.MemoryEvent.SUPERSEDE:
            entry["superseded"] = event.superseded_memory
        results.append(entry)
    if not response.warnings:
        return {"results": results}
    return {"results": results, "warnings": list(response.warnings)}


def _history_item(revision: memory_pb2.MemoryRevision) -> dict[str, Any]:
    name = revision.name.rsplit("/revisions/", 1)[0]
    when = _time(revision.create_time)
    return {
        "id": revision.name,
        "memory_id": name,
        "old_memory": revision.content_before or None,
        "new_memory": revision.content_after or None,
        "event": _REVISION_EVENTS.get(revision.event, "UPDATE"),
        "created_at": when,
        "updated_at": when,
        "is_deleted": revision.event == memory_pb2.MemoryRevision.DELETE,
        "actor_id": revision.actor or None,
        "role": None,
    }


def _missing_is(value: T) -> Callable[[Mem0StackError], T]:
    """Recovery from MEMORY_NOT_FOUND: the result is ``value``. Other errors are raised."""

    def recover(error: Mem0StackError) -> T:
        if error.reason != ErrorReason.MEMORY_NOT_FOUND:
            raise error
        return value

    return recover


def _missing_raises(memory_id: str) -> Callable[[Mem0StackError], NoReturn]:
    """Recovery from MEMORY_NOT_FOUND: mem0's ValueError. Other errors are raised."""

    def recover(error: Mem0StackError) -> NoReturn:
        if error.reason != ErrorReason.MEMORY_NOT_FOUND:
            raise error
        raise ValueError(f"Memory with id {memory_id} not found") from error

    return recover


def _limit(top_k: int | None, limit: int | None, default: int) -> int:
    value = top_k if top_k is not None else limit if limit is not None else default
    if value <= 0:
        raise ValueError("top_k must be positive")
    return value


def _update_fields(text: str | None, data: str | None, metadata: Any) -> dict[str, Any]:
    text = text if text is not None else data
    if text is None and metadata is None:
        raise ValueError("At least one of text or metadata must be provided.")
    fields: dict[str, Any] = {}
    if text is not None:
        fields["content"] = text
    if metadata is not None:
        fields["metadata"] = metadata
    return fields


# The calls


def add(
    messages: Any,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    infer: bool = True,
    memory_type: str | None = None,
    prompt: str | None = None,
) -> Unary[dict[str, Any]]:
    """Remember a conversation (a string is one user message).

    What the server warns about (e.g. that it has no LLM, so nothing was extracted) is in
    the result's ``"warnings"`` and raised as a :class:`Mem0StackWarning` too.
    """
    parent, _ = _scope("add", user_id, None, None, None)
    call = build.add(
        parent,
        _messages(messages),
        agent_id=agent_id or "",
        run_id=run_id or "",
        metadata=metadata,
        infer=infer,
        instructions=prompt or "",
        memory_type=_MEMORY_TYPES[memory_type],
    )
    return call.then(_add_result)


def get(memory_id: str, *, user_id: str | None = None) -> Unary[dict[str, Any] | None]:
    """One memory, or ``None`` when there is none with that id."""
    call = build.get(_memory_name(memory_id, user_id))
    return call.then(memory_item, recover=_missing_is(None))


def get_all(
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    filters: Mapping[str, Any] | None = None,
    top_k: int | None = None,
    limit: int | None = None,
    show_expired: bool = False,
) -> Collect[dict[str, Any]]:
    """Up to ``top_k`` (or ``limit``, default 100) memories, newest first."""
    parent, where = _scope("get_all", user_id, agent_id, run_id, filters)
    count = _limit(top_k, limit, 100)
    pages = build.iter_memories(
        parent, filter=where, page_size=min(count, 1000), show_expired=show_expired
    )
    return Collect(pages, lambda memories: {"results": [memory_item(m) for m in memories]}, count)


def search(
    query: str,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    filters: Mapping[str, Any] | None = None,
    top_k: int | None = None,
    limit: int | None = None,
    threshold: float | None = None,
    show_expired: bool = False,
) -> Unary[dict[str, Any]]:
    """The memories most relevant to ``query``, best first, each with its ``score``."""
    parent, where = _scope("search", user_id, agent_id, run_id, filters)
    call = build.search(
        parent,
        query,
        filter=where,
        top_k=min(_limit(top_k, limit, 20), 100),
        min_score=threshold,
        show_expired=show_expired,
    )
    return call.then(lambda results: {"results": [memory_item(r.memory, r.score) for r in results]})


def update(
    memory_id: str,
    data: str | None = None,
    *,
    text: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    user_id: str | None = None,
) -> Unary[dict[str, Any]]:
    """Change a memory's text and/or metadata."""
    fields = _update_fields(text, data, metadata)
    call = build.update(_memory_name(memory_id, user_id), **fields)
    return call.then(_message("Memory updated successfully!"), _missing_raises(memory_id))


def delete(memory_id: str, *, user_id: str | None = None) -> Unary[dict[str, Any]]:
    """Delete one memory (its history stays readable)."""
    call = build.delete(_memory_name(memory_id, user_id))
    return call.then(_message("Memory deleted successfully!"), _missing_raises(memory_id))


def delete_all(
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> Unary[dict[str, Any]]:
    """Delete every memory of the user (narrowed by agent_id/run_id when given)."""
    parent, where = _scope("delete_all", user_id, agent_id, run_id, None)
    return build.delete_all(parent, filter=where).then(_message("Memories deleted successfully!"))


def history(memory_id: str, *, user_id: str | None = None) -> Collect[list[dict[str, Any]]]:
    """Every change of a memory, oldest first."""
    pages = build.iter_revisions(_memory_name(memory_id, user_id))
    return Collect(
        pages,
        lambda revisions: [_history_item(r) for r in revisions],
        recover=_missing_is([]),
    )


def _message(text: str) -> Callable[[Any], dict[str, Any]]:
    return lambda _: {"message": text}
