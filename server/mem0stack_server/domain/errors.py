"""The errors a caller can see, independent of any transport.

Code below the transport layer raises :class:`DomainError` (usually through the factories
here); the transport maps it, in one place, to a gRPC status with a ``google.rpc.Status``
carrying an ``ErrorInfo`` (domain ``mem0stack.dev``, reason from the proto's
``ErrorReason``), a ``BadRequest`` for field problems and a ``RetryInfo`` for retryable
ones. :func:`status_proto` builds that ``google.rpc.Status`` message, which background
operations also store as their result.

Metadata is passed as keyword arguments only, so a test can read every reason the server
sends and the metadata keys it sends with it straight from the source, and check them
against the documentation in ``errors.proto``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

#: ErrorInfo.domain of every error.
DOMAIN = "mem0stack.dev"

#: How much of a caller's value an error repeats (see :func:`echo`).
ECHO_CHARS = 80
#: Bounds on what one error sends back, whatever built it: the status travels in HTTP/2
#: trailers, and a status larger than the client's header limit reaches it as
#: RESOURCE_EXHAUSTED instead of the error.
MAX_MESSAGE_CHARS = 1_024
MAX_METADATA_CHARS = 256


class Code(IntEnum):
    """The canonical status codes (``google.rpc.Code``), without a transport attached."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class Reason(StrEnum):
    """``ErrorInfo.reason``: the values of ``mem0stack.v1.ErrorReason`` (a test keeps the two
    equal), so a misspelt reason is a type error instead of an undocumented one."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_NAME = "INVALID_NAME"
    INVALID_CONTENT = "INVALID_CONTENT"
    TOO_MANY_ITEMS = "TOO_MANY_ITEMS"
    INVALID_FILTER = "INVALID_FILTER"
    UNKNOWN_FILTER_FIELD = "UNKNOWN_FILTER_FIELD"
    INVALID_ORDER_BY = "INVALID_ORDER_BY"
    INVALID_PAGE_SIZE = "INVALID_PAGE_SIZE"
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
    INVALID_METADATA = "INVALID_METADATA"
    INVALID_EMBEDDING = "INVALID_EMBEDDING"
    INVALID_FIELD_MASK = "INVALID_FIELD_MASK"
    CONFIRMATION_REQUIRED = "CONFIRMATION_REQUIRED"
    REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
    MEMORY_NOT_FOUND = "MEMORY_NOT_FOUND"
    ETAG_MISMATCH = "ETAG_MISMATCH"
    API_KEY_MISSING = "API_KEY_MISSING"
    API_KEY_INVALID = "API_KEY_INVALID"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    EMBEDDER_UNAVAILABLE = "EMBEDDER_UNAVAILABLE"
    LLM_UNAVAILABLE = "LLM_UNAVAILABLE"
    LLM_OUTPUT_INVALID = "LLM_OUTPUT_INVALID"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INTERNAL = "INTERNAL"
    INVALID_CURSOR = "INVALID_CURSOR"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    WATCH_OVERFLOW = "WATCH_OVERFLOW"
    OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"
    OPERATION_QUEUE_FULL = "OPERATION_QUEUE_FULL"
    CONCURRENT_CHANGE = "CONCURRENT_CHANGE"
    GRAPH_DISABLED = "GRAPH_DISABLED"
    GRAPH_UNAVAILABLE = "GRAPH_UNAVAILABLE"
    ENTITY_NOT_FOUND = "ENTITY_NOT_FOUND"
    WEBHOOK_NOT_FOUND = "WEBHOOK_NOT_FOUND"
    INVALID_WEBHOOK_URL = "INVALID_WEBHOOK_URL"
    RATE_LIMITED = "RATE_LIMITED"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    API_KEY_REVOKED = "API_KEY_REVOKED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    SHUTTING_DOWN = "SHUTTING_DOWN"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request, reported in ``google.rpc.BadRequest``."""

    field: str
    description: str


class DomainError(Exception):
    """An error the caller should see: its code, reason, message and details."""

    def __init__(
        self,
        code: Code,
        reason: Reason,
        message: str,
        *,
        violations: list[FieldViolation] | None = None,
        retry_after_s: float | None = None,
        **metadata: str,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = metadata
        self.violations = violations or []
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


def echo(value: str, limit: int = ECHO_CHARS) -> str:
    """``value`` quoted for an error message, cut to its first ``limit`` characters.

    Errors name the value the caller sent, so it can find it, but never repeat all of it.
    """
    return repr(_cut(value, limit))


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def invalid(reason: Reason, field_path: str, description: str, **metadata: str) -> DomainError:
    """INVALID_ARGUMENT for one field, with a field violation naming it."""
    message = f"{field_path}: {description}" if field_path else description
    error = DomainError(Code.INVALID_ARGUMENT, reason, message)
    error.metadata = metadata
    if field_path:
        error.violations = [FieldViolation(field_path, description)]
    return error


def not_found(name: str) -> DomainError:
    """NOT_FOUND for a memory the caller cannot see, whether or not it exists."""
    return DomainError(
        Code.NOT_FOUND, Reason.MEMORY_NOT_FOUND, f"memory {name!r} not found", name=name
    )


def permission_denied(message: str) -> DomainError:
    """PERMISSION_DENIED: the caller is known but may not do this."""
    return DomainError(Code.PERMISSION_DENIED, Reason.PERMISSION_DENIED, message)


def unavailable(reason: Reason, message: str, retry_after_s: float = 1.0) -> DomainError:
    """UNAVAILABLE with a RetryInfo telling the caller when to try again."""
    return DomainError(Code.UNAVAILABLE, reason, message, retry_after_s=retry_after_s)


def with_cursor(error: DomainError, cursor: str) -> DomainError:
    """``error`` carrying the cursor a stream resumes from, as metadata ``cursor``."""
    return DomainError(
        error.code,
        error.reason,
        f"{error.message}; resume from the cursor in the error's metadata",
        violations=error.violations,
        retry_after_s=error.retry_after_s,
        **{**error.metadata, "cursor": cursor},
    )


def status_proto(error: DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` of ``error``: ErrorInfo, then BadRequest and RetryInfo."""
    details: list[object] = [
        error_details_pb2.ErrorInfo(
            reason=str(error.reason),
            domain=DOMAIN,
            metadata={k: _cut(v, MAX_METADATA_CHARS) for k, v in error.metadata.items()},
        )
    ]
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=_cut(v.field, MAX_METADATA_CHARS),
                        description=_cut(v.description, MAX_MESSAGE_CHARS),
                    )
                    for v in error.violations
                ]
            )
        )
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_s * 1000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    return status_pb2.Status(
        code=int(error.code), message=_cut(error.message, MAX_MESSAGE_CHARS), details=packed
    )
