"""Every request the clients send and every result they return, as builders (no I/O).

Each method of :class:`~mem0stack.Client` and :class:`~mem0stack.AsyncClient` is made from
the builder of the same name here (see ``_plans.py``): it takes the method's arguments
(``timeout`` included) and returns a plan of the call. First the RPCs, one builder each,
taking the generated request (named by the rule in :func:`method_name`); then the helpers,
which build those requests from plain arguments.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias, TypeVar, overload

from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import Message as ProtoMessage

from mem0stack._plans import (
    ADMIN_SERVICE,
    GRAPH_SERVICE,
    MEMORY_SERVICE,
    WEBHOOK_SERVICE,
    Pages,
    Poll,
    Rpc,
    Stream,
    Unary,
    Upload,
)
from mem0stack.errors import Mem0StackError
from mem0stack.v1 import (
    admin_pb2,
    admin_service_pb2_grpc,
    graph_pb2,
    graph_service_pb2_grpc,
    memory_pb2,
    memory_service_pb2_grpc,
    operation_pb2,
    streams_pb2,
    webhook_pb2,
    webhook_service_pb2_grpc,
)
from mem0stack.v1 import admin_service_pb2 as asvc
from mem0stack.v1 import graph_service_pb2 as gsvc
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1 import webhook_service_pb2 as wsvc

Q = TypeVar("Q", bound=ProtoMessage, contravariant=True)
R = TypeVar("R", covariant=True)

MessageLike: TypeAlias = memory_pb2.Message | Mapping[str, Any]
"""A conversation turn: a ``Message`` or a dict with ``role``, ``content`` and optionally
``name`` and ``time`` (a datetime)."""

SEARCH_MODES: Mapping[str, svc.SearchMemoriesRequest.Mode.ValueType] = {
    "": svc.SearchMemoriesRequest.MODE_UNSPECIFIED,
    "hybrid": svc.SearchMemoriesRequest.HYBRID,
    "vector": svc.SearchMemoriesRequest.VECTOR,
    "keyword": svc.SearchMemoriesRequest.KEYWORD,
}

# The proto's comments, which grpc's code generator keeps on the servicer classes.
_DOCUMENTED = {
    MEMORY_SERVICE: memory_service_pb2_grpc.MemoryServiceServicer,
    GRAPH_SERVICE: graph_service_pb2_grpc.GraphServiceServicer,
    WEBHOOK_SERVICE: webhook_service_pb2_grpc.WebhookServiceServicer,
    ADMIN_SERVICE: admin_service_pb2_grpc.AdminServiceServicer,
}


# Conversions


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


def with_request_id(request: Any) -> Any:
    """A copy of a creating request with a ``request_id``, so that retrying it is safe."""
    if request.request_id:
        return request
    copy = type(request)()
    copy.CopyFrom(request)
    copy.request_id = new_request_id(None)
    return copy


def method_name(rpc: str) -> str:
    """The client method of an RPC: its name in snake_case (``GetOperation`` is
    ``get_operation``). Every RPC of every service of ``mem0stack.v1`` has one."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", rpc).lower()


def _same(response: Any) -> Any:
    return response


def _nothing(response: Any) -> None:
    return None


# The RPCs, one builder each, taking the generated request.


class RpcBuilder(Protocol[Q, R]):
    def __call__(self, request: Q, *, timeout: float | None = None) -> Unary[R]: ...


@overload
def rpc(
    service: str, method: str, request: type[Q], response: type[R], *, creating: bool = False
) -> RpcBuilder[Q, R]: ...
@overload
def rpc(service: str, method: str, request: type[Q], response: None) -> RpcBuilder[Q, None]: ...
def rpc(
    service: str,
    method: str,
    request: type[Q],
    response: type[Any] | None,
    *,
    creating: bool = False,
) -> RpcBuilder[Q, Any]:
    """The builder of a unary RPC. ``response`` None: the RPC returns Empty and the method
    None. A ``creating`` RPC gets a ``request_id`` when the caller sent none, so that a
    retry after UNAVAILABLE cannot store twice (the server replays the first response)."""

    def build(request: Any, *, timeout: float | None = None) -> Unary[Any]:
        message = with_request_id(request) if creating else request
        return Unary(Rpc(service, method), message, _same if response else _nothing, timeout)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=request),
        inspect.Parameter(
            "timeout", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=float | None
        ),
    ]
    plan: Any = Unary  # Unary[response]: a runtime type, which mypy cannot see
    build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=plan[response]
    )
    build.__name__ = build.__qualname__ = method_name(method)
    build.__doc__ = inspect.getdoc(getattr(_DOCUMENTED[service], method))
    return build


create_memory = rpc(
    MEMORY_SERVICE, "CreateMemory", svc.CreateMemoryRequest, memory_pb2.Memory, creating=True
)
batch_create_memories = rpc(
    MEMORY_SERVICE,
    "BatchCreateMemories",
    svc.BatchCreateMemoriesRequest,
    svc.BatchCreateMemoriesResponse,
    creating=True,
)
add_memories = rpc(
    MEMORY_SERVICE,
    "AddMemories",
    svc.AddMemoriesRequest,
    svc.AddMemoriesResponse,
    creating=True,
)
get_memory = rpc(MEMORY_SERVICE, "GetMemory", svc.GetMemoryRequest, memory_pb2.Memory)
list_memories = rpc(
    MEMORY_SERVICE, "ListMemories", svc.ListMemoriesRequest, svc.ListMemoriesResponse
)
search_memories = rpc(
    MEMORY_SERVICE, "SearchMemories", svc.SearchMemoriesRequest, svc.SearchMemoriesResponse
)
update_memory = rpc(MEMORY_SERVICE, "UpdateMemory", svc.UpdateMemoryRequest, memory_pb2.Memory)
delete_memory = rpc(MEMORY_SERVICE, "DeleteMemory", svc.DeleteMemoryRequest, None)
batch_delete_memories = rpc(
    MEMORY_SERVICE,
    "BatchDeleteMemories",
    svc.BatchDeleteMemoriesRequest,
    svc.BatchDeleteMemoriesResponse,
)
list_memory_revisions = rpc(
    MEMORY_SERVICE,
    "ListMemoryRevisions",
    svc.ListMemoryRevisionsRequest,
    svc.ListMemoryRevisionsResponse,
)
get_operation = rpc(
    MEMORY_SERVICE, "GetOperation", operation_pb2.GetOperationRequest, operation_pb2.Operation
)

list_entities = rpc(
    GRAPH_SERVICE, "ListEntities", gsvc.ListEntitiesRequest, gsvc.ListEntitiesResponse
)
get_entity = rpc(GRAPH_SERVICE, "GetEntity", gsvc.GetEntityRequest, gsvc.GetEntityResponse)
delete_entity = rpc(GRAPH_SERVICE, "DeleteEntity", gsvc.DeleteEntityRequest, None)
list_relations = rpc(
    GRAPH_SERVICE, "ListRelations", gsvc.ListRelationsRequest, gsvc.ListRelationsResponse
)
get_graph_status = rpc(
    GRAPH_SERVICE, "GetGraphStatus", gsvc.GetGraphStatusRequest, graph_pb2.GraphStatus
)

create_webhook = rpc(
    WEBHOOK_SERVICE, "CreateWebhook", wsvc.CreateWebhookRequest, webhook_pb2.Webhook
)
get_webhook = rpc(WEBHOOK_SERVICE, "GetWebhook", wsvc.GetWebhookRequest, webhook_pb2.Webhook)
list_webhooks = rpc(
    WEBHOOK_SERVICE, "ListWebhooks", wsvc.ListWebhooksRequest, wsvc.ListWebhooksResponse
)
update_webhook = rpc(
    WEBHOOK_SERVICE, "UpdateWebhook", wsvc.UpdateWebhookRequest, webhook_pb2.Webhook
)
delete_webhook = rpc(WEBHOOK_SERVICE, "DeleteWebhook", wsvc.DeleteWebhookRequest, None)
list_webhook_deliveries = rpc(
    WEBHOOK_SERVICE,
    "ListWebhookDeliveries",
    wsvc.ListWebhookDeliveriesRequest,
    wsvc.ListWebhookDeliveriesResponse,
)

create_api_key = rpc(
    ADMIN_SERVICE, "CreateApiKey", asvc.CreateApiKeyRequest, asvc.CreateApiKeyResponse
)
get_api_key = rpc(ADMIN_SERVICE, "GetApiKey", asvc.GetApiKeyRequest, admin_pb2.ApiKey)
list_api_keys = rpc(ADMIN_SERVICE, "ListApiKeys", asvc.ListApiKeysRequest, asvc.ListApiKeysResponse)
revoke_api_key = rpc(ADMIN_SERVICE, "RevokeApiKey", asvc.RevokeApiKeyRequest, admin_pb2.ApiKey)
list_users = rpc(ADMIN_SERVICE, "ListUsers", asvc.ListUsersRequest, asvc.ListUsersResponse)
get_user_usage = rpc(ADMIN_SERVICE, "GetUserUsage", asvc.GetUserUsageRequest, admin_pb2.UserUsage)
erase_user = rpc(ADMIN_SERVICE, "EraseUser", asvc.EraseUserRequest, asvc.EraseUserResponse)
get_server_status = rpc(
    ADMIN_SERVICE, "GetServerStatus", asvc.GetServerStatusRequest, admin_pb2.ServerStatus
)


def watch_memories(
    request: streams_pb2.WatchMemoriesRequest,
) -> Stream[streams_pb2.WatchMemoriesResponse]:
    """WatchMemories streams the changes of a user's memories as they commit (see
    :meth:`watch`). Messages with ``checkpoint`` set carry only a fresher cursor."""
    return Stream(Rpc(MEMORY_SERVICE, "WatchMemories"), request)


def export_memories(
    request: streams_pb2.ExportMemoriesRequest,
) -> Stream[streams_pb2.ExportMemoriesResponse]:
    """ExportMemories streams a user's memories, oldest first, from one snapshot (see
    :meth:`export`); each message carries a cursor to resume from."""
    return Stream(Rpc(MEMORY_SERVICE, "ExportMemories"), request)


def import_memories(
    requests: Iterable[streams_pb2.ImportMemoriesRequest],
) -> Upload[streams_pb2.ImportMemoriesResponse]:
    """ImportMemories stores a stream of memories; the first request names the user (see
    :meth:`import_`). Sources already imported are skipped."""
    return Upload(Rpc(MEMORY_SERVICE, "ImportMemories"), iter(requests), _same)


# Helpers that build the requests.


def create(
    user: str,
    content: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    categories: Sequence[str] = (),
    agent_id: str = "",
    run_id: str = "",
    actor_id: str = "",
    expire_time: datetime | None = None,
    event_time: datetime | None = None,
    valid_time: datetime | None = None,
    invalid_time: datetime | None = None,
    request_id: str | None = None,
    timeout: float | None = None,
) -> Unary[memory_pb2.Memory]:
    """Store ``content`` verbatim as a memory of ``user`` (a user id or ``users/{id}``).

    ``valid_time`` is when the fact became true (default: ``event_time``, else now) and
    ``invalid_time`` when it stopped being true (default: still true).
    """
    memory = memory_pb2.Memory(
        content=content,
        metadata=to_struct(metadata),
        categories=list(categories),
        agent_id=agent_id,
        run_id=run_id,
        actor_id=actor_id,
        expire_time=to_timestamp(expire_time),
        event_time=to_timestamp(event_time),
        valid_time=to_timestamp(valid_time),
        invalid_time=to_timestamp(invalid_time),
    )
    request = svc.CreateMemoryRequest(
        parent=user_name(user), memory=memory, request_id=request_id or ""
    )
    return create_memory(request, timeout=timeout)


def add(
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
    async_mode: bool = False,
    request_id: str | None = None,
    timeout: float | None = None,
) -> Unary[svc.AddMemoriesResponse]:
    """Turn a conversation (a string is one user turn) into memories of ``user``.

    With ``async_mode`` the server answers at once with the name of an operation
    (``response.operation``) and does the work in the background: see
    :meth:`wait_operation`.
    """
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
        async_mode=async_mode,
        request_id=new_request_id(request_id),
    )
    if infer is not None:
        request.infer = infer
    return add_memories(request, timeout=timeout)


def search(
    user: str,
    query: str,
    *,
    filter: str = "",
    top_k: int = 0,
    min_score: float | None = None,
    mode: str = "",
    show_expired: bool = False,
    as_of: datetime | None = None,
    include_invalid: bool = False,
    timeout: float | None = None,
) -> Unary[list[memory_pb2.SearchResult]]:
    """The memories of ``user`` most relevant to ``query``, best first.

    ``filter`` is an AIP-160 expression (``agent_id = "travel"``); ``mode`` is
    ``hybrid`` (the server's default), ``vector`` or ``keyword``. ``as_of`` searches what
    was true at that time; ``include_invalid`` searches superseded memories too.
    """
    if mode.lower() not in SEARCH_MODES:
        raise ValueError(f"mode must be one of hybrid, vector, keyword, not {mode!r}")
    request = svc.SearchMemoriesRequest(
        parent=user_name(user),
        query=query,
        filter=filter,
        top_k=top_k,
        mode=SEARCH_MODES[mode.lower()],
        show_expired=show_expired,
        as_of=to_timestamp(as_of),
        include_invalid=include_invalid,
    )
    if min_score is not None:
        request.min_score = min_score
    return search_memories(request, timeout=timeout).then(lambda r: list(r.results))


def get(name: str, *, timeout: float | None = None) -> Unary[memory_pb2.Memory]:
    """The memory named ``users/{user}/memories/{memory}``."""
    return get_memory(svc.GetMemoryRequest(name=name), timeout=timeout)


def iter_memories(
    user: str,
    *,
    filter: str = "",
    order_by: str = "",
    page_size: int = 0,
    show_expired: bool = False,
    as_of: datetime | None = None,
    include_invalid: bool = False,
    timeout: float | None = None,
) -> Pages[memory_pb2.Memory]:
    """Every memory of ``user`` matching ``filter``, fetching pages as it goes (what was
    true at ``as_of``, or superseded ones too with ``include_invalid``)."""
    request = svc.ListMemoriesRequest(
        parent=user_name(user),
        filter=filter,
        order_by=order_by,
        page_size=page_size,
        show_expired=show_expired,
        as_of=to_timestamp(as_of),
        include_invalid=include_invalid,
    )
    return Pages.over(list_memories(request, timeout=timeout), lambda page: page.memories)


_UNSET: Any = object()


def update(
    name: str,
    *,
    content: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    categories: Sequence[str] | None = None,
    expire_time: datetime | None = _UNSET,
    event_time: datetime | None = _UNSET,
    etag: str = "",
    request_id: str = "",
    timeout: float | None = None,
) -> Unary[memory_pb2.Memory]:
    """Change the fields given, and only those (the update mask names exactly them).

    Passing ``None`` for a time clears it; ``etag`` makes the update conditional.
    """
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
    request = svc.UpdateMemoryRequest(
        memory=memory,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        request_id=request_id,
    )
    return update_memory(request, timeout=timeout)


def delete(name: str, *, etag: str = "", timeout: float | None = None) -> Unary[None]:
    """Delete one memory; its revisions stay readable."""
    return delete_memory(svc.DeleteMemoryRequest(name=name, etag=etag), timeout=timeout)


def delete_all(
    user: str,
    *,
    filter: str = "",
    names: Sequence[str] = (),
    timeout: float | None = None,
) -> Unary[int]:
    """Delete the named memories, those matching ``filter``, or (with neither) all of
    ``user``'s memories. Returns how many were deleted."""
    request = svc.BatchDeleteMemoriesRequest(
        parent=user_name(user),
        names=list(names),
        filter=filter,
        confirm=not names and not filter,
    )
    return batch_delete_memories(request, timeout=timeout).then(lambda r: r.deleted_count)


def iter_revisions(
    name: str, *, page_size: int = 0, timeout: float | None = None
) -> Pages[memory_pb2.MemoryRevision]:
    """Every recorded change of the memory ``name``, oldest first."""
    request = svc.ListMemoryRevisionsRequest(name=name, page_size=page_size)
    return Pages.over(list_memory_revisions(request, timeout=timeout), lambda p: p.revisions)


def wait_operation(
    name: str, *, poll_interval: float = 0.2, timeout: float | None = None
) -> Poll[svc.AddMemoriesResponse]:
    """Wait for the background AddMemories ``name`` (``users/{user}/operations/{id}``, from
    ``add(..., async_mode=True).operation``) and return its response.

    A FAILED operation raises its error as :class:`~mem0stack.errors.Mem0StackError` (the
    reason the synchronous call would have had); ``timeout`` bounds the whole wait, which
    then raises DEADLINE_EXCEEDED. The operation itself, with its state and times, is
    ``get_operation(GetOperationRequest(name=name))``.
    """
    check = get_operation(operation_pb2.GetOperationRequest(name=name))
    return Poll(check, operation_result, poll_interval, timeout)


def operation_result(operation: operation_pb2.Operation) -> svc.AddMemoriesResponse:
    """The response of a SUCCEEDED operation; a FAILED one raises its error."""
    if operation.state == operation_pb2.Operation.FAILED:
        raise Mem0StackError.from_status(operation.error)
    response = svc.AddMemoriesResponse()
    operation.response.Unpack(response)
    return response


def iter_entities(
    user: str, *, filter: str = "", page_size: int = 0, timeout: float | None = None
) -> Pages[graph_pb2.Entity]:
    """Every entity of ``user``'s graph matching ``filter`` (AIP-160 over
    ``display_name``, ``entity_type``, ...), by display name, fetching pages as it goes."""
    request = gsvc.ListEntitiesRequest(parent=user_name(user), filter=filter, page_size=page_size)
    return Pages.over(list_entities(request, timeout=timeout), lambda page: page.entities)


def iter_relations(
    user: str,
    *,
    filter: str = "",
    page_size: int = 0,
    show_invalid: bool = False,
    timeout: float | None = None,
) -> Pages[graph_pb2.Relation]:
    """Every relation of ``user``'s graph matching ``filter``, newest first; INVALID ones
    (the history) only with ``show_invalid``."""
    request = gsvc.ListRelationsRequest(
        parent=user_name(user), filter=filter, page_size=page_size, show_invalid=show_invalid
    )
    return Pages.over(list_relations(request, timeout=timeout), lambda page: page.relations)


def entity(
    name: str,
    *,
    hops: int = 0,
    relation_limit: int = 0,
    show_invalid: bool = False,
    timeout: float | None = None,
) -> Unary[gsvc.GetEntityResponse]:
    """The entity ``users/{user}/entities/{entity}`` with its neighbourhood: the relations
    ``hops`` (1 or 2) out and the entities at their other ends."""
    request = gsvc.GetEntityRequest(
        name=name, hops=hops, relation_limit=relation_limit, show_invalid=show_invalid
    )
    return get_entity(request, timeout=timeout)


def graph_status(user: str, *, timeout: float | None = None) -> Unary[graph_pb2.GraphStatus]:
    """How many graph updates of ``user`` still wait to be applied, and the last error."""
    request = gsvc.GetGraphStatusRequest(name=f"{user_name(user)}/graphStatus")
    return get_graph_status(request, timeout=timeout)


def new_api_key(
    *,
    admin: bool = False,
    users: Sequence[str] = (),
    label: str = "",
    timeout: float | None = None,
) -> Unary[asvc.CreateApiKeyResponse]:
    """Create an API key: an admin key (``admin=True``) or one that reaches ``users``.
    The response's ``key`` is the only copy of the full key."""
    role = admin_pb2.ApiKey.ADMIN if admin else admin_pb2.ApiKey.USER
    request = asvc.CreateApiKeyRequest(
        api_key=admin_pb2.ApiKey(role=role, users=list(users), label=label)
    )
    return create_api_key(request, timeout=timeout)


def iter_api_keys(
    *, show_revoked: bool = False, page_size: int = 0, timeout: float | None = None
) -> Pages[admin_pb2.ApiKey]:
    """Every API key, oldest first; revoked ones only with ``show_revoked``."""
    request = asvc.ListApiKeysRequest(show_revoked=show_revoked, page_size=page_size)
    return Pages.over(list_api_keys(request, timeout=timeout), lambda page: page.api_keys)


def revoke_key(key_id: str, *, timeout: float | None = None) -> Unary[admin_pb2.ApiKey]:
    """Revoke the key ``key_id`` (or ``apiKeys/{id}``)."""
    name = key_id if key_id.startswith("apiKeys/") else f"apiKeys/{key_id}"
    return revoke_api_key(asvc.RevokeApiKeyRequest(name=name), timeout=timeout)


def iter_users(
    *, prefix: str = "", page_size: int = 0, timeout: float | None = None
) -> Pages[admin_pb2.UserSummary]:
    """Every user with memories (whose id starts with ``prefix``), by id."""
    request = asvc.ListUsersRequest(prefix=prefix, page_size=page_size)
    return Pages.over(list_users(request, timeout=timeout), lambda page: page.users)


def usage(user: str, *, days: int = 0, timeout: float | None = None) -> Unary[admin_pb2.UserUsage]:
    """``user``'s activity per day for the last ``days`` days (0: 30), oldest first."""
    request = asvc.GetUserUsageRequest(name=f"{user_name(user)}/usage", days=days)
    return get_user_usage(request, timeout=timeout)


def erase(user: str, *, timeout: float | None = None) -> Unary[asvc.EraseUserResponse]:
    """Erase everything ``user`` stored (GDPR): nothing of their content is kept."""
    return erase_user(asvc.EraseUserRequest(name=user_name(user)), timeout=timeout)


def server_status(*, timeout: float | None = None) -> Unary[admin_pb2.ServerStatus]:
    """The server's version, models, graph lag and database size."""
    return get_server_status(asvc.GetServerStatusRequest(), timeout=timeout)


def watch(
    user: str, *, filter: str = "", cursor: str = ""
) -> Stream[streams_pb2.WatchMemoriesResponse]:
    """Changes of ``user``'s memories as they commit, from ``cursor`` (or from now).

    Messages with ``checkpoint`` set carry no change, only a fresher cursor. Stop by
    breaking out of the loop.
    """
    request = streams_pb2.WatchMemoriesRequest(parent=user_name(user), filter=filter, cursor=cursor)
    return watch_memories(request)


def export(
    user: str, *, filter: str = "", cursor: str = "", include_embeddings: bool = False
) -> Stream[streams_pb2.ExportMemoriesResponse]:
    """Every memory of ``user`` matching ``filter``, oldest first, from one snapshot."""
    request = streams_pb2.ExportMemoriesRequest(
        parent=user_name(user),
        filter=filter,
        cursor=cursor,
        include_embeddings=include_embeddings,
    )
    return export_memories(request)


def import_(
    user: str,
    memories: Iterable[memory_pb2.Memory | streams_pb2.ImportMemoriesRequest],
) -> Upload[streams_pb2.ImportMemoriesResponse]:
    """Store a stream of memories for ``user``; already imported sources are skipped."""
    return import_memories(import_requests(user, memories))


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
