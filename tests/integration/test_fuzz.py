"""No request, however wrong, is answered as a server fault.

Every method of MemoryService, GraphService, WebhookService and AdminService gets requests
generated from
its message descriptor (every field of every type: text with NUL characters and of 6,000
characters, extreme integers and timestamps, NaN and infinity, enum numbers the API does not
define, nested Structs, made-up page tokens and cursors) and raw bytes that are no message.
The answer is a success or an error with an ErrorInfo whose reason is in the proto's
ErrorReason; never INTERNAL or UNKNOWN. Seeded (derandomize) and bounded, so a failure
repeats and the file runs in well under a minute.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mem0stack.v1 import (
    admin_service_pb2,
    errors_pb2,
    graph_service_pb2,
    memory_pb2,
    memory_service_pb2,
    webhook_service_pb2,
)
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.keys import create_key
from tests.support.servers import ServerProcess, free_port

REASONS = set(errors_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
USER = f"fuzz-{uuid.uuid4().hex[:8]}"
PARENT = f"users/{USER}"
DIMENSION = 384

METHODS: list[MethodDescriptor] = [
    method
    for service in (
        memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
        graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"],
        webhook_service_pb2.DESCRIPTOR.services_by_name["WebhookService"],
        admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"],
    )
    for method in service.methods
]

FUZZ = settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


# Values worth trying in any field of a type, beside arbitrary ones.

LONG = "x" * 6_000
TEXT = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", LONG, "users/\x00", "é", "\ud7ff"]),
    st.text(max_size=24),
)
INT32 = st.one_of(
    st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1)
)
INT64 = st.one_of(st.sampled_from([0, -1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1))
UINT32 = st.integers(0, 2**32 - 1)
UINT64 = st.integers(0, 2**64 - 1)
DOUBLE = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e308]), st.floats())
FLOAT = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 3.4e38]), st.floats(width=32)
)


def _token(payload: object) -> str:
    """A token as an unsigned (forged) one would look: base64 of JSON."""
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_TOKENS = [
    _token({"q": "0" * 16, "k": [2**70]}),
    _token({"q": "0" * 16, "k": ["9999-12-31T23:59:59+00:00", str(uuid.UUID(int=0))]}),
    _token({"q": "0" * 16, "k": "not a list"}),
    _token([1, 2]),
    base64.urlsafe_b64encode(b"\x00" * 16 + b'{"q":"x","k":[1]}').decode(),
    "%%%",
    "AAAA",
    "A",
    "=" * 8,
]
FILTERS = [
    'agent_id = "a"',
    'agent_id = "a\x00"',
    'metadata.k = "v"',
    "metadata.n > 1e400",
    "metadata.n > -1e400",
    "metadata.n = 99999999999999999999999999",
    'create_time > "9999-12-31T23:59:59Z"',
    'create_time < "0001-01-01T00:00:00Z"',
    'create_time > "0000-01-01T00:00:00Z"',
    'expire_time > "2024-02-30T00:00:00Z"',
    'categories:"a"',
    "state = ACTIVE",
    'memory_type = "PROCEDURAL"',
    "name = x",
    "(" * 60 + "a = 1" + ")" * 60,
    'metadata."\x00" = 1',
    "NOT NOT NOT a = 1",
]


def _names(existing: list[str]) -> list[str]:
    return [
        *existing * 4,
        f"{PARENT}/memories/{uuid.UUID(int=0)}",
        f"{PARENT}/memories/{uuid.UUID(int=0)}\x00",
        f"{PARENT}/entities/alice",
        f"{PARENT}/entities/\x00",
        f"{PARENT}/graphStatus",
        f"{PARENT}/operations/{uuid.UUID(int=0)}",
        f"{PARENT}/operations/x",
        "users/other/memories/x",
    ]


_ALWAYS_SET = ("parent", "name", "memory")


def _strings(field: FieldDescriptor, names: list[str]) -> st.SearchStrategy[str]:
    special: dict[str, list[str]] = {
        "parent": [PARENT] * 12 + [PARENT + "\x00", "users/a/b", "users/", LONG],
        "name": _names(names),
        "filter": FILTERS,
        "order_by": ["create_time", "update_time desc", "create_time asc", LONG],
        "page_token": FORGED_TOKENS,
        "cursor": FORGED_TOKENS,
        "role": ["user", "assistant", "system", "robot"],
    }
    if field.name in ("parent", "name"):
        return st.sampled_from(special[field.name])
    if field.name in special:
        return st.one_of(st.sampled_from(special[field.name]), TEXT)
    return TEXT


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), DOUBLE, TEXT, st.sampled_from(["\x00", "k\x00"]))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)
        ),
        max_leaves=8,
    )


def _struct() -> st.SearchStrategy[struct_pb2.Struct]:
    def build(value: dict[str, Any]) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        for key, item in value.items():
            _set_value(s.fields[key], item)
        return s

    return st.dictionaries(TEXT, _json_values(), max_size=4).map(build)


def _set_value(target: struct_pb2.Value, value: Any) -> None:
    # Built by hand: Struct.update refuses nothing, but this keeps NaN and NUL keys as sent.
    if value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, float):
        target.number_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, list):
        target.list_value.SetInParent()
        for item in value:
            _set_value(target.list_value.values.add(), item)
    else:
        target.struct_value.SetInParent()
        for key, item in value.items():
            _set_value(target.struct_value.fields[key], item)


def _timestamp(cls: type[Message]) -> st.SearchStrategy[Message]:
    seconds = st.one_of(
        st.sampled_from([0, 253402300799, 253402300800, -62135596800, -62135596801, 2**62]),
        st.integers(-(2**63), 2**63 - 1),
    )
    nanos = st.one_of(st.sampled_from([0, 999_999_999, 1_000_000_000, -1]), INT32)
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def _enum(field: FieldDescriptor) -> st.SearchStrategy[int]:
    assert field.enum_type is not None
    known = [v.number for v in field.enum_type.values]
    return st.one_of(st.sampled_from(known), st.sampled_from([99, -1, 2**31 - 1]))


def _scalar(field: FieldDescriptor, names: list[str], depth: int) -> st.SearchStrategy[Any]:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return _strings(field, names)
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=16)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        return _enum(field)
    if t == FieldDescriptor.TYPE_DOUBLE:
        return DOUBLE
    if t == FieldDescriptor.TYPE_FLOAT:
        return FLOAT
    if t in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
    ):
        return INT32
    if t in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return INT64
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return UINT32
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return UINT64
    assert field.message_type is not None
    return messages(field.message_type, names, depth + 1)


def _field(field: FieldDescriptor, names: list[str], depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = field.message_type.fields_by_name["key"]
        value = field.message_type.fields_by_name["value"]
        return st.dictionaries(_scalar(key, names, depth), _scalar(value, names, depth), max_size=3)
    if field.is_repeated:
        if field.name in ("embedding", "query_embedding"):
            # Mostly of the right dimension, so the checks after the length are reached.
            return st.one_of(
                FLOAT.map(lambda x: [x] * DIMENSION),
                st.just([0.1] * DIMENSION),
                st.lists(FLOAT, max_size=3),
            )
        return st.lists(_scalar(field, names, depth), max_size=3)
    return _scalar(field, names, depth)


def messages(
    descriptor: Descriptor, names: list[str], depth: int = 0
) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with any subset of their fields set to any value."""
    cls = GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Struct":
        return _struct()
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp(cls)
    if depth > 3:
        return st.just(cls())
    # Requests mostly name a real user or memory and carry a memory, so that the fields
    # after the name are reached; the rest is optional.
    required = {f.name: _field(f, names, depth) for f in descriptor.fields if f.name in _ALWAYS_SET}
    optional = {
        f.name: _field(f, names, depth) for f in descriptor.fields if f.name not in required
    }

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            target = getattr(message, name)
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                for k, v in value.items():
                    if isinstance(v, Message):
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif field.is_repeated:
                if field.message_type is not None:
                    for item in value:
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)
            elif field.message_type is not None:
                target.CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries(required, optional=optional).map(build)


# Calling the server.


class _Bearer(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
):
    """Sends the admin key on every call, streaming ones too."""

    def __init__(self, key: str) -> None:
        self.metadata = [("authorization", f"Bearer {key}")]

    def _with_key(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), *self.metadata])

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_key(details), request)

    def intercept_stream_unary(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._with_key(details), requests)


@pytest.fixture(scope="module")
def channel(make_database) -> Iterator[grpc.Channel]:  # type: ignore[no-untyped-def]
    """A server of its own, that requires keys, called with an admin key: the fuzz creates
    and revokes keys (AdminService), which on the shared development-mode server would end
    development mode for every other test."""
    dsn = make_database("fuzz")
    key = create_key(dsn, "--admin", "--label", "fuzz")
    server = ServerProcess(dsn, free_port(), env={"MEM0STACK_AUTH": "keys"})
    server.start()
    try:
        with grpc.insecure_channel(server.target) as plain:
            yield grpc.intercept_channel(plain, _Bearer(key))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def names(channel: grpc.Channel) -> list[str]:
    """Memories of the fuzzed user, so names and pages lead to real rows."""
    create = _unary(channel, next(m for m in METHODS if m.name == "CreateMemory"))
    made = []
    for text in ("likes tea", "lives in Berlin", "works on databases"):
        reply = create(
            svc.CreateMemoryRequest(parent=PARENT, memory=memory_pb2.Memory(content=text))
        )
        made.append(memory_pb2.Memory.FromString(reply).name)
    return made


def _path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _unary(channel: grpc.Channel, method: MethodDescriptor) -> Any:
    call = channel.unary_unary(
        _path(method),
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=None,
    )
    return lambda request: call(request, timeout=30)


def call(channel: grpc.Channel, method: MethodDescriptor, requests: list[Any]) -> None:
    """Send ``requests`` (messages or raw bytes) to ``method``; check how it answers."""
    path = _path(method)

    def serialize(m: Any) -> bytes:
        return m if isinstance(m, bytes) else m.SerializeToString()

    try:
        if method.client_streaming:
            channel.stream_unary(path, request_serializer=serialize)(iter(requests), timeout=30)
        elif method.server_streaming:
            stream = channel.unary_stream(path, request_serializer=serialize)(
                requests[0], timeout=30
            )
            try:
                # Watch waits for changes: its first answer is enough to see it accepted.
                for _ in range(3):
                    if not _next_or_timeout(stream):
                        break
            finally:
                stream.cancel()
        else:
            channel.unary_unary(path, request_serializer=serialize)(requests[0], timeout=30)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.CANCELLED:
            return  # our own cancel of a stream that was still running
        err = details_of(exc)  # type: ignore[arg-type]
        label = f"{method.name}: {exc.code().name} {exc.details()!r} for {requests!r:.2000}"
        assert err.code not in SERVER_FAULTS, label
        assert err.reason in REASONS, label


def _next_or_timeout(stream: Any) -> bool:
    """Read one message of a server stream, giving up after a short wait."""
    import threading

    got: list[bool] = []
    failure: list[BaseException] = []

    def read() -> None:
        try:
            next(stream)
            got.append(True)
        except StopIteration:
            got.append(False)
        except BaseException as exc:
            failure.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(0.25)  # a refused request fails before the stream's headers, at once
    if failure:
        raise failure[0]
    return bool(got and got[0])


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_no_request_is_a_server_fault(
    channel: grpc.Channel, names: list[str], method: MethodDescriptor
) -> None:
    strategy = messages(method.input_type, names)
    if method.client_streaming:
        requests = st.lists(strategy, min_size=1, max_size=3)
    else:
        requests = strategy.map(lambda m: [m])

    @FUZZ
    @given(requests)
    def check(batch: list[Message]) -> None:
        call(channel, method, batch)

    check()


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_undecodable_bytes_are_invalid_argument(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    @settings(FUZZ, max_examples=10)
    @given(
        st.one_of(
            st.sampled_from([b"\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x80"]),
            st.binary(min_size=1, max_size=32),
        )
    )
    def check(raw: bytes) -> None:
        try:
            GetMessageClass(method.input_type).FromString(raw)
            return  # happens to be a valid message: the other test covers those
        except Exception:
            pass
        with pytest.raises(grpc.RpcError) as caught:
            call_raw(channel, method, raw)
        err = details_of(caught.value)  # type: ignore[arg-type]
        assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")

    check()


def call_raw(channel: grpc.Channel, method: MethodDescriptor, raw: bytes) -> None:
    path = _path(method)
    if method.client_streaming:
        channel.stream_unary(path)(iter([raw]), timeout=30)
    elif method.server_streaming:
        for _ in channel.unary_stream(path)(raw, timeout=30):
            pass
    else:
        channel.unary_unary(path)(raw, timeout=30)
