"""Request builders shared by the sync and asyncio clients (no I/O here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2

from mem0stack.v1 import memory_pb2, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc

MessageLike: TypeAlias = memory_pb2.Message | Mapping[str, Any]
"""A conversation turn: a ``Message`` or a dict with ``role``, ``content`` and optionally
``name`` and ``time`` (a datetime)."""

SEARCH_MODES: Mapping[str, svc.SearchMemoriesRequest.Mode.ValueType] = {
    "": svc.SearchMemoriesRequest.MODE_UNSPECIFIED,
    "hybrid": svc.SearchMemoriesRequest.HYBRID,
    "vector": svc.SearchMemoriesRequest.VECTOR,
    "keyword": svc.SearchMemoriesRequest.KEYWORD,
}


def user_name(user: str) -> str:
    """``users/{user}`` for a bare user id; a name that already has the prefix is kept."""
    return user if user.startswith("users/") else f"users/{user}"


def new_request_id(request_id: str | None) -> str:
    return request_id or str(uuid.uuid4())


def to_struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(dict(value))
    return struct


def to_timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def to_message(message: MessageLike) -> memory_pb2.Message:
    if isinstance(message, memory_pb2.Message):
        return message
    return memory_pb2.Message(
        role=str(message.get("role", "user")),
        content=str(message["content"]),
        name=str(message.get("name") or ""),
        time=to_timestamp(message.get("time")),
    )


def new_memory(
    content: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    categories: Sequence[str] = (),
    agent_id: str = "",
    run_id: str = "",
    actor_id: str = "",
    memory_type: memory_pb2.Memory.Type.ValueType = memory_pb2.Memory.TYPE_UNSPECIFIED,
    expire_time: datetime | None = None,
    event_time: datetime | None = None,
) -> memory_pb2.Memory:
    return memory_pb2.Memory(
        content=content,
        metadata=to_struct(metadata),
        categories=list(categories),
        agent_id=agent_id,
        run_id=run_id,
        actor_id=actor_id,
        memory_type=memory_type,
        expire_time=to_timestamp(expire_time),
        event_time=to_timestamp(event_time),
    )


def add_request(
    user: str,
    messages: str | MessageLike | Iterable[MessageLike],
    *,
    agent_id: str = "",
    run_id: str = "",
    metadata: Mapping[str, Any] | None = None,
    infer: bool | None = None,
    categories: Sequence[str] = (),
    instructions: str = "",
    reference_time: datetime | None = None,
    memory_type: memory_pb2.Memory.Type.ValueType = memory_pb2.Memory.TYPE_UNSPECIFIED,
    request_id: str | None = None,
) -> svc.AddMemoriesRequest:
    if isinstance(messages, str):
        turns = [memory_pb2.Message(role="user", content=messages)]
    elif isinstance(messages, memory_pb2.Message | Mapping):
        turns = [to_message(messages)]
    else:
        turns = [to_message(m) for m in messages]
    request = svc.AddMemoriesRequest(
        parent=user_name(user),
        messages=turns,
        agent_id=agent_id,
        run_id=run_id,
        metadata=to_struct(metadata),
        categories=list(categories),
        instructions=instructions,
        reference_time=to_timestamp(reference_time),
        memory_type=memory_type,
        request_id=new_request_id(request_id),
    )
    if infer is not None:
        request.infer = infer
    return request


def search_request(
    user: str,
    query: str,
    *,
    filter: str = "",
    top_k: int = 0,
    min_score: float | None = None,
    mode: str = "",
    show_expired: bool = False,
) -> svc.SearchMemoriesRequest:
    if mode.lower() not in SEARCH_MODES:
        raise ValueError(f"mode must be one of hybrid, vector, keyword, not {mode!r}")
    request = svc.SearchMemoriesRequest(
        parent=user_name(user),
        query=query,
        filter=filter,
        top_k=top_k,
        mode=SEARCH_MODES[mode.lower()],
        show_expired=show_expired,
    )
    if min_score is not None:
        request.min_score = min_score
    return request


def list_request(
    user: str,
    *,
    filter: str = "",
    order_by: str = "",
    page_size: int = 0,
    show_expired: bool = False,
) -> svc.ListMemoriesRequest:
    return svc.ListMemoriesRequest(
        parent=user_name(user),
        filter=filter,
        order_by=order_by,
        page_size=page_size,
        show_expired=show_expired,
    )


_UNSET: Any = object()


def update_request(
    name: str,
    *,
    content: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    categories: Sequence[str] | None = None,
    expire_time: datetime | None = _UNSET,
    event_time: datetime | None = _UNSET,
    etag: str = "",
    request_id: str = "",
) -> svc.UpdateMemoryRequest:
    """An update whose mask names exactly the fields given (``None`` times clear them)."""
    memory = memory_pb2.Memory(name=name, etag=etag)
    paths: list[str] = []
    if content is not None:
        memory.content = content
        paths.append("content")
    if metadata is not None:
        memory.metadata.update(dict(metadata))
        paths.append("metadata")
    if categories is not None:
        memory.categories.extend(categories)
        paths.append("categories")
    for field, value in (("expire_time", expire_time), ("event_time", event_time)):
        if value is not _UNSET:
            if value is not None:
                getattr(memory, field).FromDatetime(value)
            paths.append(field)
    if not paths:
        raise ValueError("nothing to update: give content, metadata, categories or a time")
    return svc.UpdateMemoryRequest(
        memory=memory,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        request_id=request_id,
    )


def with_request_id(request: Any) -> Any:
    """A copy of a creating request with a ``request_id``, so that retrying it is safe."""
    if request.request_id:
        return request
    copy = type(request)()
    copy.CopyFrom(request)
    copy.request_id = new_request_id(None)
    return copy


def import_requests(
    user: str, memories: Iterable[memory_pb2.Memory | streams_pb2.ImportMemoriesRequest]
) -> Iterator[streams_pb2.ImportMemoriesRequest]:
    """An import stream: the first message names the user; a bare Memory's uid is its source."""
    first = True
    for item in memories:
        if isinstance(item, memory_pb2.Memory):
            request = streams_pb2.ImportMemoriesRequest(memory=item, source_id=item.uid)
        else:
            request = streams_pb2.ImportMemoriesRequest()
            request.CopyFrom(item)
        if first:
            request.parent = user_name(user)
            first = False
        yield request
