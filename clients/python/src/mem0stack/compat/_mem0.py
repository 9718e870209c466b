"""mem0's calls mapped onto mem0-stack's: argument mapping and result shaping (no I/O).

Each method of :class:`~mem0stack.compat.Memory` and :class:`~mem0stack.compat.AsyncMemory`
is made from the *script* of the same name at the end of this module: a generator that takes
mem0's arguments, yields the plans (``_plans.py``) of the mem0-stack calls it needs, is sent
each plan's result, and returns the result in mem0's shape. The two classes only run the
scripts, one blocking, one awaiting, so every mapping is written once.

A :class:`Directory` is what the facades of a process remember between calls: the owner of
every memory id they handed out, so that mem0's bare ids (``get("0190...")``) find their user.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn, TypeAlias, TypeVar

from google.protobuf import timestamp_pb2

from mem0stack import _requests as build
from mem0stack._plans import Call, Collect
from mem0stack._requests import user_name
from mem0stack.compat.exceptions import (
    Mem0StackWarning,
    MemoryNotFoundError,
    ValidationError,
    from_error,
)
from mem0stack.errors import ErrorReason, Mem0StackError
from mem0stack.structs import struct_to_dict
from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc

T = TypeVar("T")

Script: TypeAlias = Generator[Call[Any], Any, T]
"""A facade method: yields plans, is sent their results, returns mem0's result."""

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
_WRITTEN = (
    memory_pb2.MemoryEvent.ADD,
    memory_pb2.MemoryEvent.UPDATE,
    memory_pb2.MemoryEvent.SUPERSEDE,
)
_MEMORY_TYPES = {
    None: memory_pb2.Memory.TYPE_UNSPECIFIED,
    "semantic_memory": memory_pb2.Memory.SEMANTIC,
    "episodic_memory": memory_pb2.Memory.EPISODIC,
    "procedural_memory": memory_pb2.Memory.PROCEDURAL,
}

# The reserved owners of memories without a user, named exactly as the mem0 Platform routes
# name them (server/mem0stack_server/transport/platform/scope.py), so that either way in
# finds what the other stored: "~agent:{agent_id}", else "~run:{run_id}"; an id outside the
# user-id alphabet, or longer than 100 characters, is replaced by a hash.
_RESERVED = "~"
_PLAIN = re.compile(r"[A-Za-z0-9._@+=:~-]{1,100}")


def reserved_owner(kind: str, value: str) -> str:
    """The user that owns the memories of agent or run ``value`` added without a user."""
    if _PLAIN.fullmatch(value):
        return f"~{kind}:{value}"
    return f"~{kind}=" + hashlib.sha256(value.encode()).hexdigest()[:40]


DEFAULT_THRESHOLD = 0.1
"""mem0's default ``threshold`` of ``search`` (mem0 2.x): results scoring below are dropped."""
DEFAULT_TOP_K = 20
"""mem0's default ``top_k`` of ``search`` and ``get_all`` (mem0 2.x)."""
_LOOKUP_USERS = 10
_REMEMBERED_IDS = 100_000
_REMEMBERED_USERS = 10_000
_UNSET: Any = object()


def _warn(message: str) -> None:
    # stacklevel 4: this function, the script, the facade method, the caller's line.
    warnings.warn(message, Mem0StackWarning, stacklevel=4)


def _invalid(message: str) -> ValidationError:
    return ValidationError(message)


class Directory:
    """Who owns each memory id handed out and the users worked with (most recent last; the
    last 100,000 ids and 10,000 users), on one server, for every facade of this process.

    mem0 code makes a ``Memory()`` wherever it needs one and passes bare ids between them;
    a memory never changes owner, so what one facade learnt holds for all of them.
    """

    def __init__(self) -> None:
        self.owners: OrderedDict[str, str] = OrderedDict()
        self.users: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def use(self, user: str) -> None:
        with self._lock:
            self.users.pop(user, None)
            self.users[user] = None
            if len(self.users) > _REMEMBERED_USERS:
                self.users.popitem(last=False)

    def saw(self, memory_id: str, user: str) -> None:
        with self._lock:
            self.owners.pop(memory_id, None)
            self.owners[memory_id] = user
            if len(self.owners) > _REMEMBERED_IDS:
                self.owners.popitem(last=False)

    def owner(self, memory_id: str) -> str | None:
        with self._lock:
            return self.owners.get(memory_id)

    def recent_users(self) -> list[str]:
        """The users worked with, most recent first."""
        with self._lock:
            return list(reversed(self.users))

    def forget(self, users: Iterable[str]) -> None:
        gone = set(users)
        with self._lock:
            for user in gone:
                self.users.pop(user, None)
            for memory_id in [i for i, u in self.owners.items() if u in gone]:
                del self.owners[memory_id]


_DIRECTORIES: dict[str, Directory] = {}


def directory(target: str) -> Directory:
    """The directory of the server at ``target``, shared by the process's facades."""
    return _DIRECTORIES.setdefault(target, Directory())


@dataclass
class Session:
    """What a facade's calls share: the server's :class:`Directory` and mem0 settings."""

    directory: Directory = field(default_factory=Directory)
    instructions: str = ""

    def use(self, user: str) -> str:
        """Note that ``user`` was worked with; returns its parent name."""
        self.directory.use(user)
        return user_name(user)

    def saw(self, name: str) -> str:
        """Note the owner of the memory ``name``; returns its bare id."""
        _, user, _, memory_id = name.split("/", 3)
        self.directory.saw(memory_id, user)
        return memory_id


# Configuration

# mem0 config sections that a mem0-stack server owns (docs/configuration.md).
_SERVER_SECTIONS = (
    "llm",
    "embedder",
    "vector_store",
    "graph_store",
    "reranker",
    "history_db_path",
    "custom_fact_extraction_prompt",
    "custom_update_memory_prompt",
)


@dataclass(frozen=True)
class Settings:
    """What a mem0 config dict says that the facade uses."""

    target: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    instructions: str = ""


def settings_from_config(config: Any) -> Settings:
    """Read a mem0 config (a dict or mem0's ``MemoryConfig``): ``target``, ``api_key`` and
    ``timeout`` say where the server is; ``custom_instructions`` is sent with every ``add``.
    Every other setting is named in a :class:`Mem0StackWarning`, not silently dropped."""
    if hasattr(config, "model_dump"):  # mem0's MemoryConfig (pydantic): what was set
        config = config.model_dump(exclude_unset=True)
    if not isinstance(config, Mapping):
        raise _invalid(f"config must be a dict (or mem0's MemoryConfig), not {type(config)}")
    values = dict(config)
    settings = Settings(
        target=values.pop("target", None),
        api_key=values.pop("api_key", None),
        timeout=values.pop("timeout", None),
        instructions=values.pop("custom_instructions", None) or "",
    )
    if values.get("version") in ("v1.1", None):
        values.pop("version", None)  # mem0's result format, the only one served
    server = [key for key in list(values) if key in _SERVER_SECTIONS]
    for key in server:
        del values[key]
    if server:
        _warn(
            f"Memory config {', '.join(server)}: configured on the mem0-stack server "
            "(MEM0STACK_* settings, docs/configuration.md), not by the client; ignored here"
        )
    if values:
        _warn(
            f"Memory config {', '.join(sorted(values))}: not understood by mem0-stack; ignored "
            "(the client reads target, api_key, timeout, custom_instructions)"
        )
    return settings


# Translating mem0's arguments


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise _invalid(f"unsupported filter value {value!r}: use a string, number or boolean")


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
        elif op == "contains" and key == "categories":
            parts.append(f"categories:{_literal(operand)}")
        elif op in ("in", "nin"):
            if not isinstance(operand, Sequence) or isinstance(operand, str) or not operand:
                raise _invalid(f"{op!r} on {key!r} needs a non-empty list")
            any_of = " OR ".join(f"{member} = {_literal(v)}" for v in operand)
            parts.append(f"({any_of})" if op == "in" else f"NOT ({any_of})")
        else:
            raise _invalid(
                f"filter operator {op!r} on {key!r} is not supported by mem0-stack "
                "(supported: eq, ne, gt, gte, lt, lte, in, nin, '*' for any value, and "
                "contains on categories)"
            )
    return " AND ".join(parts)


def _expression(filters: Mapping[str, Any]) -> str:
    parts = []
    for key, value in filters.items():
        if key in ("AND", "OR", "NOT"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise _invalid(f"{key} takes a list of filters")
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


def _identifier(value: Any, name: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text or any(c.isspace() for c in text):
        raise _invalid(f"Invalid {name}: {value!r} (empty, or contains whitespace)")
    return text


def owner_of(user_id: Any, agent_id: Any, run_id: Any) -> str | None:
    """The user a mem0 scope lives under: its ``user_id``; else ``~agent:{agent_id}``; else
    ``~run:{run_id}``; ``None`` for an empty scope. mem0 allows memories without a user,
    mem0-stack keeps every memory under one, so scope-only memories get a reserved one."""
    user, agent, run = (
        _identifier(user_id, "user_id"),
        _identifier(agent_id, "agent_id"),
        _identifier(run_id, "run_id"),
    )
    if user is not None:
        if user.startswith(_RESERVED):
            raise _invalid("user_id may not start with '~' (reserved for agent-only and run-only)")
        return user
    if agent is not None:
        return reserved_owner("agent", agent)
    if run is not None:
        return reserved_owner("run", run)
    return None


def _scope(
    session: Session,
    method: str,
    user_id: Any,
    agent_id: Any,
    run_id: Any,
    filters: Mapping[str, Any] | None,
) -> tuple[str, str]:
    """The parent and the AIP-160 filter for mem0's entity ids and filters."""
    merged = dict(filters or {})
    for key, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        if value is not None:
            if merged.get(key, value) != value:
                raise _invalid(f"{key} given twice with different values")
            merged[key] = value
    owner = owner_of(merged.pop("user_id", None), merged.get("agent_id"), merged.get("run_id"))
    if owner is None:
        raise _invalid(
            f"{method}() needs at least one of user_id, agent_id, run_id "
            "(as arguments or in filters), e.g. filters={'user_id': 'alice'}"
        )
    for key in ("agent_id", "run_id"):
        if key in merged:
            merged[key] = _identifier(merged[key], key)
    return session.use(owner), filters_to_aip160(merged)


def _candidates(session: Session, memory_id: str, user_id: str | None) -> list[str]:
    """The names ``memory_id`` may have: itself if it is a name; under ``user_id`` if given;
    under the owner this session saw it with; else under the users it worked with."""
    value = str(memory_id).strip()
    if value.startswith("users/"):
        return [value]
    try:
        bare = str(uuid.UUID(value))
    except ValueError:
        raise _invalid(
            f"{memory_id!r} is not a memory id (a UUID, or users/<user>/memories/<uuid>)"
        ) from None
    if user_id is not None:
        return [f"{user_name(str(user_id))}/memories/{bare}"]
    owner = session.directory.owner(bare)
    if owner is not None:
        return [f"{user_name(owner)}/memories/{bare}"]
    users = session.directory.recent_users()[:_LOOKUP_USERS]
    if not users:
        raise _invalid(
            f"memory {bare}: this Memory has not seen it yet, so its user is unknown; pass "
            "user_id= (or the name users/<user>/memories/<id>). mem0-stack keeps every memory "
            "under a user; ids returned by this Memory are found without it"
        )
    return [f"{user_name(user)}/memories/{bare}" for user in users]


def _locate(session: Session, memory_id: str, user_id: str | None) -> Script[str | None]:
    """The name of the memory, or None when none of its candidate names exists."""
    names = _candidates(session, memory_id, user_id)
    if len(names) == 1:
        return names[0]
    for name in names:
        memory = yield build.get(name).then(lambda m: m, _missing_is(None))
        if memory is not None:
            return name
    return None


def _messages(messages: Any, when: datetime | None) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]]
    if isinstance(messages, str):
        turns = [{"role": "user", "content": messages}]
    elif isinstance(messages, Mapping):
        turns = [dict(messages)]
    elif isinstance(messages, list | tuple):
        turns = [dict(m) for m in messages]
    else:
        raise _invalid("messages must be str, dict, or list[dict]")
    if when is not None:
        for turn in turns:
            turn.setdefault("time", when)
    return turns


def _when(timestamp: Any) -> datetime | None:
    """mem0 Platform's ``timestamp`` (Unix seconds; a datetime or ISO string works too)."""
    if timestamp is None:
        return None
    if isinstance(timestamp, datetime):
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        return datetime.fromtimestamp(timestamp, UTC)
    if isinstance(timestamp, str):
        try:
            return _when(datetime.fromisoformat(timestamp))
        except ValueError:
            pass
    raise _invalid(f"timestamp must be Unix seconds, a datetime or an ISO string: {timestamp!r}")


def _expiry(expiration_date: Any) -> datetime | None:
    """mem0's ``expiration_date`` (YYYY-MM-DD, the last day the memory is shown) as the
    ``expire_time`` that hides it: the next midnight UTC."""
    if expiration_date is None:
        return None
    if isinstance(expiration_date, datetime):
        day = expiration_date.date()
    elif isinstance(expiration_date, date):
        day = expiration_date
    else:
        try:
            day = date.fromisoformat(str(expiration_date))
        except ValueError:
            raise _invalid("expiration_date must be a date in YYYY-MM-DD format") from None
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)


# Shaping results like mem0's


def _time(stamp: timestamp_pb2.Timestamp) -> str | None:
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


def _user_of(owner: str) -> str | None:
    return None if owner.startswith(_RESERVED) else owner


def memory_item(memory: memory_pb2.Memory, score: float | None = None) -> dict[str, Any]:
    """A mem0 ``MemoryItem`` dict for a memory (``score`` only for search results).

    ``id`` is the bare UUID, as mem0's ids are; ``user_id`` is left out for a memory of
    an agent or run without a user; whole numbers in metadata are ints.
    """
    _, owner, _, memory_id = memory.name.split("/", 3)
    item: dict[str, Any] = {
        "id": memory_id,
        "memory": memory.content,
        "hash": memory.hash,
        "metadata": struct_to_dict(memory.metadata) or None,
        "created_at": _time(memory.create_time),
        "updated_at": _time(memory.update_time),
    }
    if (user := _user_of(owner)) is not None:
        item["user_id"] = user
    if score is not None:
        item["score"] = score
    for key in _SCOPE_FIELDS:
        if value := getattr(memory, key):
            item[key] = value
    if memory.categories:
        item["categories"] = list(memory.categories)
    if memory.HasField("expire_time"):
        last_day = memory.expire_time.ToDatetime(tzinfo=UTC) - timedelta(microseconds=1)
        item["expiration_date"] = last_day.date().isoformat()
    return item


def _item(session: Session, memory: memory_pb2.Memory, score: float | None = None) -> Any:
    session.saw(memory.name)
    return memory_item(memory, score)


def _add_result(session: Session, response: svc.AddMemoriesResponse) -> dict[str, Any]:
    results = []
    for event in response.events:
        if event.type not in _EVENTS:
            continue  # NOOP: the fact was already known; mem0 reports nothing either
        entry = {
            "id": session.saw(event.memory.name),
            "memory": event.memory.content,
            "event": _EVENTS[event.type],
        }
        if event.type == memory_pb2.MemoryEvent.UPDATE:
            entry["previous_memory"] = event.previous_content
        if event.type == memory_pb2.MemoryEvent.SUPERSEDE:
            entry["superseded"] = session.saw(event.superseded_memory)
        results.append(entry)
    if not response.warnings:
        return {"results": results}
    return {"results": results, "warnings": list(response.warnings)}


def _history_item(revision: memory_pb2.MemoryRevision) -> dict[str, Any]:
    name, _, number = revision.name.rpartition("/revisions/")
    when = _time(revision.create_time)
    return {
        "id": number,
        "memory_id": name.rsplit("/", 1)[-1],
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


def _not_found(memory_id: str) -> MemoryNotFoundError:
    return MemoryNotFoundError(
        f"Memory with id {memory_id} not found", "MEMORY_NOT_FOUND", {"memory_id": memory_id}
    )


def _missing_raises(memory_id: str) -> Callable[[Mem0StackError], NoReturn]:
    """Recovery from MEMORY_NOT_FOUND: mem0's not-found error (a ValueError, as mem0's)."""

    def recover(error: Mem0StackError) -> NoReturn:
        if error.reason != ErrorReason.MEMORY_NOT_FOUND:
            raise error
        raise from_error(error, f"Memory with id {memory_id} not found") from error

    return recover


def _limit(top_k: int | None, limit: int | None, default: int) -> int:
    value = top_k if top_k is not None else limit if limit is not None else default
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _invalid("top_k must be a positive integer")
    return value


def _each(items: Iterable[T]) -> list[T]:
    return list(items)


# The calls


def add(
    session: Session,
    messages: Any,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    timestamp: Any = None,
    expiration_date: Any = None,
    infer: bool = True,
    memory_type: str | None = None,
    prompt: str | None = None,
) -> Script[dict[str, Any]]:
    """Remember a conversation (a string is one user message).

    ``timestamp`` (Unix seconds, as mem0's Platform takes it) is when the conversation
    happened: it becomes the memories' ``event_time`` and the "now" of relative dates.
    ``expiration_date`` (YYYY-MM-DD) hides the memories after that day, as in mem0.
    What the server warns about (e.g. that it has no LLM, so nothing was extracted) is in
    the result's ``"warnings"`` and raised as a :class:`Mem0StackWarning` too.
    """
    if memory_type not in _MEMORY_TYPES:
        raise _invalid(f"Invalid memory_type {memory_type!r}: use 'procedural_memory' or None")
    owner = owner_of(user_id, agent_id, run_id)
    if owner is None:
        raise _invalid("At least one of 'user_id', 'agent_id', or 'run_id' must be provided.")
    when = _when(timestamp)
    expire_time = _expiry(expiration_date)
    response = yield build.add(
        session.use(owner),
        _messages(messages, when),
        agent_id=_identifier(agent_id, "agent_id") or "",
        run_id=_identifier(run_id, "run_id") or "",
        metadata=metadata,
        infer=infer,
        instructions=prompt or session.instructions,
        reference_time=when,
        memory_type=_MEMORY_TYPES[memory_type],
    )
    result = _add_result(session, response)
    if expire_time is not None:
        # AddMemories takes no expiry: the memories it wrote get theirs set right after.
        for event in response.events:
            if event.type in _WRITTEN:
                yield build.update(event.memory.name, expire_time=expire_time)
    return result


def get(session: Session, memory_id: str, *, user_id: str | None = None) -> Script[Any]:
    """One memory (a mem0 MemoryItem dict), or ``None`` when there is none with that id."""
    for name in _candidates(session, memory_id, user_id):
        memory = yield build.get(name).then(lambda m: m, _missing_is(None))
        if memory is not None:
            return _item(session, memory)
    return None


def get_all(
    session: Session,
    *,
    filters: Mapping[str, Any] | None = None,
    top_k: int | None = None,
    show_expired: bool = False,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    limit: int | None = None,
) -> Script[dict[str, Any]]:
    """Up to ``top_k`` (default 20, as mem0) memories of the scope, newest first."""
    parent, where = _scope(session, "get_all", user_id, agent_id, run_id, filters)
    count = _limit(top_k, limit, DEFAULT_TOP_K)
    pages = build.iter_memories(
        parent, filter=where, page_size=min(count, 1000), show_expired=show_expired
    )
    memories = yield Collect(pages, _each, count)
    return {"results": [_item(session, m) for m in memories]}


def search(
    session: Session,
    query: str,
    *,
    top_k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    threshold: float | None = DEFAULT_THRESHOLD,
    rerank: bool = False,
    explain: bool = False,
    show_expired: bool = False,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    limit: int | None = None,
) -> Script[dict[str, Any]]:
    """The memories most relevant to ``query``, best first, each with its ``score``.

    ``score`` is the cosine similarity of query and memory; ``threshold`` (default 0.1, as
    mem0) drops results below it, ``None`` keeps all. ``explain`` adds mem0's
    ``score_details``: the one score the server reports (``semantic_score``); the keyword
    and context weighting that order the results are not broken down.
    mem0-stack has no reranker: ``rerank=True`` is accepted and a :class:`Mem0StackWarning`
    says so.
    """
    if not isinstance(query, str) or not query.strip():
        raise _invalid("Invalid query: must be a non-empty string.")
    if threshold is not None and (
        not isinstance(threshold, int | float) or not 0 <= threshold <= 1
    ):
        raise _invalid(f"Invalid threshold: {threshold!r}. Must be between 0 and 1 (inclusive).")
    parent, where = _scope(session, "search", user_id, agent_id, run_id, filters)
    if rerank:
        _warn("search(rerank=True): mem0-stack has no reranker; results keep the server's ranking")
    results = yield build.search(
        parent,
        query.strip(),
        filter=where,
        top_k=min(_limit(top_k, limit, DEFAULT_TOP_K), 100),
        min_score=threshold,
        show_expired=show_expired,
    )
    items = [_item(session, r.memory, r.score) for r in results]
    if explain:
        # The server returns one score, the cosine similarity: that is all there is to show.
        for item in items:
            item["score_details"] = {
                "semantic_score": item["score"],
                "final_score": item["score"],
                "threshold": threshold,
            }
    return {"results": items}


def update(
    session: Session,
    memory_id: str,
    text: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    expiration_date: Any = _UNSET,
    data: str | None = None,
    *,
    user_id: str | None = None,
) -> Script[dict[str, Any]]:
    """Change a memory's text, metadata and/or expiration date (``None`` clears it)."""
    text = text if text is not None else data
    if text is None and metadata is None and expiration_date is _UNSET:
        raise _invalid("At least one of text, metadata, or expiration_date must be provided.")
    fields: dict[str, Any] = {}
    if text is not None:
        fields["content"] = text
    if metadata is not None:
        fields["metadata"] = metadata
    if expiration_date is not _UNSET:
        fields["expire_time"] = _expiry(expiration_date)
    name = yield from _locate(session, memory_id, user_id)
    if name is None:
        raise _not_found(memory_id)
    yield build.update(name, **fields).then(lambda m: m, _missing_raises(memory_id))
    return {"message": "Memory updated successfully!"}


def delete(session: Session, memory_id: str, *, user_id: str | None = None) -> Script[Any]:
    """Delete one memory (its history stays readable)."""
    name = yield from _locate(session, memory_id, user_id)
    if name is None:
        raise _not_found(memory_id)
    yield build.delete(name).then(lambda m: m, _missing_raises(memory_id))
    return {"message": "Memory deleted successfully!"}


def delete_all(
    session: Session,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> Script[dict[str, Any]]:
    """Delete every memory of the scope (a user's, narrowed by agent_id/run_id when given)."""
    if owner_of(user_id, agent_id, run_id) is None:
        raise _invalid(
            "At least one filter is required to delete all memories. If you want to delete "
            "all memories, use the `reset()` method."
        )
    parent, where = _scope(session, "delete_all", user_id, agent_id, run_id, None)
    yield build.delete_all(parent, filter=where)
    return {"message": "Memories deleted successfully!"}


def history(
    session: Session, memory_id: str, *, user_id: str | None = None
) -> Script[list[dict[str, Any]]]:
    """Every change of a memory, oldest first (``[]`` for an unknown id)."""
    name = yield from _locate(session, memory_id, user_id)
    if name is None:
        return []
    pages = build.iter_revisions(name)
    revisions = yield Collect(pages, _each, recover=_missing_is([]))
    return [_history_item(r) for r in revisions]


def reset(session: Session) -> Script[None]:
    """Delete every memory of every user (and agent or run scope) that the facades of this
    process worked with on this server (the last 10,000). mem0-stack has no call that erases
    all users at once (a server is shared by tenants; that is its operator's job), which a
    :class:`Mem0StackWarning` says."""
    users = session.directory.recent_users()
    for user in users:
        yield build.delete_all(user)
    session.directory.forget(users)
    _warn(
        f"reset() deleted the memories of the {len(users)} user(s) this process worked with; "
        "mem0-stack erases no other user's memories from a client"
    )
    return None
