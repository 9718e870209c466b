"""The mem0 Platform routes: each turns mem0's request into our use case and back.

The contract is mem0's (``docs/openapi.json`` in mem0ai/mem0, and what the pinned clients
send); docs/moving-from-mem0.md documents the mapping onto the MemoryService methods these
handlers call (the same application services the gRPC servicer calls).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf import field_mask_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mem0stack.v1 import memory_pb2, operation_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.app.access_log import AccessLog
from mem0stack_server.app.adding import AddMemories
from mem0stack_server.app.erasure import Erasure
from mem0stack_server.app.memories import Memories
from mem0stack_server.app.operations import Operations
from mem0stack_server.app.search import Search
from mem0stack_server.auth.authenticator import Authenticator
from mem0stack_server.context import request_id_var
from mem0stack_server.domain.convert import memory_from_row
from mem0stack_server.domain.errors import Code, DomainError, Reason
from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.domain.names import MemoryName, memory_name
from mem0stack_server.domain.validation import MAX_PAGE_SIZE, MAX_TOP_K
from mem0stack_server.obs import metrics
from mem0stack_server.store.platform import PlatformStore
from mem0stack_server.transport.interceptors import principal_var
from mem0stack_server.transport.platform import filters, shapes
from mem0stack_server.transport.platform.errors import (
    PlatformError,
    bad_request,
    error_response,
    not_found,
    to_api_error,
)
from mem0stack_server.transport.platform.requests import (
    Call,
    parse_uuid,
    read_body,
    storable,
    unix_time,
)
from mem0stack_server.transport.platform.scope import APP_ID_KEY, Scope

log = logging.getLogger("mem0stack.platform")

#: mem0's default similarity threshold for search.
DEFAULT_THRESHOLD = 0.1
DEFAULT_LIST_PAGE_SIZE = 100
ENTITY_TYPES = ("user", "agent", "app", "run")


@dataclass
class Services:
    """What the handlers use: the application services the gRPC servicer uses too."""

    authenticator: Authenticator
    memories: Memories
    search: Search
    add: AddMemories
    operations: Operations
    erasure: Erasure
    store: PlatformStore
    max_batch_items: int
    access_log: AccessLog | None = None


#: The routes the access log records, by handler: the action, as gRPC calls record theirs.
#: Adds and updates are not here: every change already leaves a revision naming its key.
AUDITED = {
    "list_paged": "list",
    "list_plain": "list",
    "search": "search",
    "search_plain": "search",
    "get_memory": "read",
    "history": "history",
    "delete_memory": "delete",
    "delete_all": "delete",
    "batch_delete": "delete",
    "delete_entity": "delete",
}


Handler = Callable[[Services, Call, dict[str, str]], Awaitable[Any]]


def endpoint(services: Services, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint: authenticate, parse, run ``handler``, answer JSON or mem0's
    error body. The request id is Envoy's ``x-request-id`` when there is one. Each request
    is one log line and counts in the RPC metrics (service ``mem0.Platform``, the handler's
    name as method, the status code's gRPC name), so dashboards and alerts see it."""
    labels = ("unary", PLATFORM_SERVICE, handler.__name__)
    action = AUDITED.get(handler.__name__)

    async def run(request: Request) -> Response:
        request_id_var.set(request.headers.get("x-request-id") or uuid.uuid4().hex)
        principal_var.set(None)
        metrics.STARTED.labels(*labels).inc()
        start = time.perf_counter()
        response, code, call = await _answer(request)
        elapsed = time.perf_counter() - start
        if action and call is not None and services.access_log is not None:
            for user_id in call.reached:
                services.access_log.record(
                    user_id=user_id,
                    key_id=call.principal.key_id,
                    action=action,
                    method=f"mem0.{handler.__name__}",
                    outcome=code.name,
                    request_id=request_id_var.get(),
                    peer=request.client.host if request.client else "",
                )
        metrics.HANDLED.labels(*labels, code.name).inc()
        metrics.HANDLING_SECONDS.labels(*labels).observe(elapsed)
        principal = principal_var.get()
        log.log(
            logging.WARNING if response.status_code >= 500 else logging.INFO,
            "platform",
            extra={
                "method": f"{request.method} {request.url.path}",
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 3),
                "key_id": principal.key_id if principal else None,
            },
        )
        return response

    async def _answer(request: Request) -> tuple[Response, Code, Call | None]:
        call: Call | None = None
        try:
            principal = await services.authenticator.admit(
                _bearer(request.headers.get("authorization"))
            )
            principal_var.set(principal)
            query = dict(request.query_params)
            storable(query, "query")
            call = Call(
                principal=principal,
                body=await read_body(request) if request.method != "GET" else {},
                query=query,
                base_url=str(request.base_url).rstrip("/"),
                path=request.url.path,
            )
            path = dict(request.path_params)
            storable(path, "path")
            result = await handler(services, call, path)
        except DomainError as exc:
            return error_response(exc), exc.code, call
        except Exception as exc:
            error = to_api_error(exc)
            return error_response(error), error.code, call
        return JSONResponse(result), Code.OK, call

    return run


#: The metrics' service label of the mem0 Platform routes.
PLATFORM_SERVICE = "mem0.Platform"


def _bearer(authorization: str | None) -> str | None:
    """mem0's ``Token <key>`` as the ``Bearer <key>`` our authenticator reads."""
    if authorization is None:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() == "token":
        return f"Bearer {key.strip()}"
    return authorization


# ---------------------------------------------------------------------------- helpers


def _owner(call: Call, scope: Scope) -> str:
    owner = scope.owner()
    call.reach(owner)
    call.principal.require_user(owner)
    return owner


def _scope_filter(scope: Scope) -> list[str]:
    """Conditions for the ids of a request given as plain fields, beside the owner."""
    parts = []
    if scope.agent_id:
        parts.append(f"agent_id = {filters.quote(scope.agent_id)}")
    if scope.run_id:
        parts.append(f"run_id = {filters.quote(scope.run_id)}")
    if scope.app_id:
        parts.append(f"metadata.{APP_ID_KEY} = {filters.quote(scope.app_id)}")
    return parts


def _read_filter(call: Call) -> tuple[str, str]:
    """The owner and the AIP-160 filter of a list or search: ids from the plain fields and
    from ``filters``, mem0's filter grammar, ``categories``, ``start_date``/``end_date``."""
    mem0_filters = call.field("filters")
    if mem0_filters is not None and not isinstance(mem0_filters, dict):
        raise bad_request("filters must be a JSON object")
    top = call.top_scope()
    owner = _owner(call, top.merged(filters.scope_of(mem0_filters)))
    parts = _scope_filter(top)
    translated = filters.translate(mem0_filters)
    if translated:
        parts.append(translated)
    categories = call.strings("categories")
    if categories:
        parts.append(" OR ".join(f"categories:{filters.quote(c)}" for c in categories))
    for name, op in (("start_date", "gte"), ("end_date", "lte")):
        value = call.field(name)
        if value is not None:
            parts.append(filters.translate({"created_at": {op: value}}))
    text = " AND ".join(f"({p})" for p in parts)
    return owner, text


async def _find(services: Services, call: Call, memory_id: str) -> MemoryName:
    """The memory a bare id names, if the key may reach its owner; 404 otherwise."""
    uid = parse_uuid(memory_id)
    owner = await services.store.memory_owner(uid)
    if owner is not None:
        call.reach(owner)
    if owner is None or not call.principal.can_reach(owner):
        raise not_found("Memory not found!")
    return MemoryName(owner, uid)


def _expire_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a date, YYYY-MM-DD")
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        raise bad_request(f"{field} must be a date, YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _messages(value: Any) -> list[memory_pb2.Message]:
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    elif isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise bad_request("messages must be a non-empty list of {role, content} objects")
    messages = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad_request(f"messages[{i}] must be an object with role and content")
        role, content, name = item.get("role"), item.get("content"), item.get("name", "")
        if not isinstance(role, str) or not isinstance(content, str):
            raise bad_request(f"messages[{i}]: role and content must be strings")
        if not isinstance(name, str):
            raise bad_request(f"messages[{i}].name must be a string")
        messages.append(memory_pb2.Message(role=role, content=content, name=name))
    return messages


# ---------------------------------------------------------------------------- handlers


async def ping(services: Services, call: Call, path: dict[str, str]) -> Any:
    """The key is valid. mem0's Python client refuses to start without an organisation and
    a project: ours are the server and the key."""
    return {
        "status": "ok",
        "message": "mem0-stack",
        "org_id": "mem0-stack",
        "project_id": call.principal.key_id,
        "user_email": None,
    }


async def add(services: Services, call: Call, path: dict[str, str]) -> Any:
    """Add (``POST /v3/memories/add/``, ``/v1/memories/``): sync unless ``async_mode``."""
    scope = call.top_scope().merged(filters.scope_of(call.mapping("filters")))
    owner = _owner(call, scope)
    metadata = dict(call.mapping("metadata") or {})
    if APP_ID_KEY in metadata:
        raise bad_request(f"metadata.{APP_ID_KEY} is reserved for app_id")
    if scope.app_id:
        metadata[APP_ID_KEY] = scope.app_id
    req = svc.AddMemoriesRequest(
        parent=f"users/{owner}",
        messages=_messages(call.field("messages")),
        agent_id=scope.agent_id,
        run_id=scope.run_id,
        infer=call.boolean("infer", True),
        async_mode=call.boolean("async_mode", False),
        instructions=call.string("custom_instructions") or call.string("prompt"),
        categories=call.strings("categories"),
    )
    if metadata:
        req.metadata.update(metadata)
    stamp = call.field("timestamp")
    if stamp is not None:
        moment = unix_time(stamp, "timestamp")
        for message in req.messages:
            message.time.FromDatetime(moment)
    expire = _expire_time(call.field("expiration_date"), "expiration_date")
    if expire is not None and req.async_mode:
        raise bad_request("expiration_date is not supported with async_mode")
    response = await services.add.add(owner, req, call.caller)
    if response.operation:
        event_id = response.operation.rsplit("/", 1)[-1]
        return {
            "event_id": event_id,
            "status": "PENDING",
            "message": "Memory processing has been queued; read GET /v1/event/{event_id}/",
        }
    events = list(response.events)
    if expire is not None:
        for e in events:
            if e.type == memory_pb2.MemoryEvent.ADD:
                e.memory.CopyFrom(await _set_expiry(services, call, e.memory, expire))
    result: dict[str, Any] = {"results": [shapes.event(e) for e in events]}
    if response.warnings:
        result["warnings"] = list(response.warnings)
    return result


async def _set_expiry(
    services: Services, call: Call, memory: memory_pb2.Memory, expire: datetime
) -> memory_pb2.Memory:
    update = svc.UpdateMemoryRequest(
        memory=memory_pb2.Memory(name=memory.name),
        update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
    )
    update.memory.expire_time.FromDatetime(expire)
    owner = shapes.owner_of(memory.name)
    name = MemoryName(owner, uuid.UUID(memory.uid))
    return await services.memories.update(name, update, call.caller)


async def _listing(services: Services, call: Call) -> tuple[int, int, int, list[Any]]:
    owner, text = _read_filter(call)
    node = parse_filter(text)
    page = call.integer("page", 1, 1, 1_000_000)
    size = call.integer("page_size", DEFAULT_LIST_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    show_expired = call.boolean("show_expired", False)
    total = await services.store.count(owner, node, show_expired=show_expired)
    rows = await services.store.page(
        owner, node, show_expired=show_expired, offset=(page - 1) * size, limit=size
    )
    return total, page, size, [shapes.memory(memory_from_row(r)) for r in rows]


async def list_paged(services: Services, call: Call, path: dict[str, str]) -> Any:
    """List (``POST /v3/memories/``): ``{count, next, previous, results}``."""
    total, page, size, results = await _listing(services, call)
    return {
        "count": total,
        "next": call.page_url(page + 1, size) if page * size < total else None,
        "previous": call.page_url(page - 1, size) if page > 1 else None,
        "results": results,
    }


async def list_plain(services: Services, call: Call, path: dict[str, str]) -> Any:
    """The older lists (``GET /v1/memories/``, ``POST /v2/memories/``): a JSON list, or the
    paginated envelope when a page is asked for."""
    if call.field("page") is not None or call.field("page_size") is not None:
        return await list_paged(services, call, path)
    return (await _listing(services, call))[3]


async def _search(services: Services, call: Call) -> list[dict[str, Any]]:
    query = call.field("query")
    if not isinstance(query, str) or not query.strip():
        raise bad_request("query must be a non-empty string")
    owner, text = _read_filter(call)
    req = svc.SearchMemoriesRequest(
        parent=f"users/{owner}",
        query=query,
        filter=text,
        top_k=call.integer("top_k", call.integer("limit", 10, 1, MAX_TOP_K), 1, MAX_TOP_K),
        min_score=call.number("threshold", DEFAULT_THRESHOLD, 0.0, 1.0),
        show_expired=call.boolean("show_expired", False),
    )
    response = await services.search.search(owner, req)
    return [shapes.search_result(r) for r in response.results]


async def search(services: Services, call: Call, path: dict[str, str]) -> Any:
    """Search (``POST /v3/memories/search/``): ``{"results": [...]}``."""
    return {"results": await _search(services, call)}


async def search_plain(services: Services, call: Call, path: dict[str, str]) -> Any:
    """The older searches (``/v1/memories/search/``, ``/v2/memories/search/``): a list."""
    return await _search(services, call)


async def get_memory(services: Services, call: Call, path: dict[str, str]) -> Any:
    name = await _find(services, call, path["memory_id"])
    return shapes.memory(await services.memories.get(name))


async def _update(services: Services, call: Call, memory_id: str, item: dict[str, Any]) -> Any:
    name = await _find(services, call, memory_id)
    memory = memory_pb2.Memory(name=str(name))
    paths = []
    text = item.get("text", item.get("memory"))
    if text is not None:
        if not isinstance(text, str):
            raise bad_request("text must be a string")
        memory.content = text
        paths.append("content")
    if item.get("metadata") is not None:
        metadata = item["metadata"]
        if not isinstance(metadata, dict):
            raise bad_request("metadata must be a JSON object")
        if APP_ID_KEY in metadata:
            raise bad_request(f"metadata.{APP_ID_KEY} is reserved for app_id")
        current = shapes.memory(await services.memories.get(name))
        if current["app_id"]:
            metadata = {**metadata, APP_ID_KEY: current["app_id"]}
        memory.metadata.update(metadata)
        paths.append("metadata")
    if "expiration_date" in item:
        expire = _expire_time(item["expiration_date"], "expiration_date")
        if expire is not None:
            memory.expire_time.FromDatetime(expire)
        paths.append("expire_time")
    stamp = item.get("timestamp")
    if stamp is not None:
        memory.event_time.FromDatetime(unix_time(stamp, "timestamp"))
        paths.append("event_time")
    if not paths:
        raise bad_request("give at least one of text, metadata, timestamp or expiration_date")
    request = svc.UpdateMemoryRequest(
        memory=memory, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    return await services.memories.update(name, request, call.caller)


async def update_memory(services: Services, call: Call, path: dict[str, str]) -> Any:
    updated = await _update(services, call, path["memory_id"], call.body)
    return {**shapes.memory(updated), "message": "Memory updated successfully!"}


async def delete_memory(services: Services, call: Call, path: dict[str, str]) -> Any:
    name = await _find(services, call, path["memory_id"])
    await services.memories.delete(name, svc.DeleteMemoryRequest(name=str(name)), call.caller)
    return {"message": "Memory deleted successfully!"}


async def delete_all(services: Services, call: Call, path: dict[str, str]) -> Any:
    """``DELETE /v1/memories/?user_id=...``: every memory of the ids given, in any state."""
    scope = call.top_scope()
    owner = _owner(call, scope)
    text = " AND ".join(f"({p})" for p in _scope_filter(scope))
    request = svc.BatchDeleteMemoriesRequest(parent=f"users/{owner}", filter=text, confirm=True)
    deleted = await services.memories.batch_delete(owner, request, call.caller)
    return {"message": "Memories deleted successfully!", "deleted_count": deleted.deleted_count}


async def history(services: Services, call: Call, path: dict[str, str]) -> Any:
    name = await _find(services, call, path["memory_id"])
    entries: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await services.memories.revisions(
            name,
            svc.ListMemoryRevisionsRequest(
                name=str(name), page_size=MAX_PAGE_SIZE, page_token=token
            ),
        )
        entries += [shapes.revision(r, str(name.memory_id), name.user_id) for r in page.revisions]
        token = page.next_page_token
        if not token:
            return entries


async def entities(services: Services, call: Call, path: dict[str, str]) -> Any:
    """``GET /v1/entities/``: users, agents, apps and runs holding memories, with counts."""
    principal = call.principal
    owners = None if principal.is_admin else sorted(principal.users)
    rows = await services.store.entities(owners)
    results = [
        {
            "id": f"{r['type']}:{r['name']}",
            "name": r["name"],
            "type": r["type"],
            "total_memories": r["total"],
            "owner": principal.key_id,
            "metadata": None,
            "created_at": r["created"].isoformat(),
            "updated_at": r["updated"].isoformat(),
        }
        for r in rows
    ]
    totals = {kind: sum(1 for r in rows if r["type"] == kind) for kind in ENTITY_TYPES}
    return {
        "count": len(results),
        "next": None,
        "previous": None,
        "results": results,
        **{f"total_{kind}s": totals[kind] for kind in ENTITY_TYPES},
    }


async def delete_entity(services: Services, call: Call, path: dict[str, str]) -> Any:
    """``DELETE /v2/entities/{type}/{id}/``: every memory of that user, agent, app or run."""
    kind, name = path["entity_type"], path["entity_id"]
    if kind not in ENTITY_TYPES:
        raise bad_request(f"Invalid entity type {kind!r}; use user, agent, app or run")
    principal = call.principal
    deleted = 0
    if kind == "user":
        # mem0's "delete user": the user is erased, history and all (app/erasure.py).
        owner = _owner(call, Scope(user_id=name))
        deleted = (await services.erasure.erase(owner, actor=call.caller.actor)).memories
    else:
        reachable = None if principal.is_admin else sorted(principal.users)
        field = {"agent": "agent_id", "run": "run_id", "app": f"metadata.{APP_ID_KEY}"}[kind]
        text = f"{field} = {filters.quote(name)}"
        for owner in await services.store.owners_holding(kind, name, reachable):
            call.reach(owner)
            request = svc.BatchDeleteMemoriesRequest(parent=f"users/{owner}", filter=text)
            result = await services.memories.batch_delete(owner, request, call.caller)
            deleted += result.deleted_count
    return {"message": "Entity deleted successfully.", "deleted_count": deleted}


def _batch_items(call: Call, services: Services) -> list[dict[str, Any]]:
    items = call.body.get("memories")
    if not isinstance(items, list) or not items:
        raise bad_request("memories must be a non-empty list of {memory_id, ...} objects")
    if len(items) > services.max_batch_items:
        raise bad_request(f"Maximum of {services.max_batch_items} memories in a single request")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("memory_id"), str):
            raise bad_request(f"memories[{i}] must be an object with a memory_id string")
    return items


async def batch_update(services: Services, call: Call, path: dict[str, str]) -> Any:
    items = _batch_items(call, services)
    for item in items:  # every id first: a missing one changes nothing
        await _find(services, call, item["memory_id"])
    for item in items:
        await _update(services, call, item["memory_id"], item)
    return {"message": f"Successfully updated {len(items)} memories"}


async def batch_delete(services: Services, call: Call, path: dict[str, str]) -> Any:
    items = _batch_items(call, services)
    by_owner: dict[str, list[str]] = {}
    for item in items:
        name = await _find(services, call, item["memory_id"])
        by_owner.setdefault(name.user_id, []).append(memory_name(name.user_id, name.memory_id))
    deleted = 0
    for owner, names in by_owner.items():
        request = svc.BatchDeleteMemoriesRequest(parent=f"users/{owner}", names=names)
        deleted += (await services.memories.batch_delete(owner, request, call.caller)).deleted_count
    return {"message": f"Successfully deleted {deleted} memories"}


async def event(services: Services, call: Call, path: dict[str, str]) -> Any:
    """``GET /v1/event/{event_id}/``: the status of an ``async_mode`` add (our operation)."""
    operation_id = parse_uuid(path["event_id"], "event_id")
    owner = await services.store.operation_owner(operation_id)
    if owner is None or not call.principal.can_reach(owner):
        raise PlatformError(
            Code.NOT_FOUND,
            "Event not found or you don't have permission to access it.",
            Reason.OPERATION_NOT_FOUND,
        )
    op = await services.operations.get(owner, operation_id)
    state = operation_pb2.Operation.State.Name(op.state)
    result: dict[str, Any] = {
        "id": str(operation_id),
        "event_type": "ADD",
        "status": state,
        "results": [],
        "error": op.error.message if op.HasField("error") else None,
        "created_at": shapes.time_text(op, "create_time"),
        "started_at": shapes.time_text(op, "start_time"),
        "completed_at": shapes.time_text(op, "end_time"),
    }
    if state == "SUCCEEDED" and op.HasField("response"):
        response = svc.AddMemoriesResponse()
        op.response.Unpack(response)
        result["results"] = [shapes.event(e) for e in response.events]
    return result
