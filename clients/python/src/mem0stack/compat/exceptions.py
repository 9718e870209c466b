"""mem0's exception classes (``mem0.exceptions``), raised by the mem0 facade.

Code written against mem0 catches these by name; switching the import
(``from mem0.exceptions import MemoryNotFoundError`` becomes
``from mem0stack.compat.exceptions import MemoryNotFoundError``) keeps it working. Each has
mem0's attributes (``message``, ``error_code``, ``details``, ``suggestion``,
``debug_info``) and is also a :class:`~mem0stack.errors.Mem0StackError`, so the gRPC
``code`` and typed ``reason`` are there too. ``error_code`` is the server's ErrorInfo reason
(``MEMORY_NOT_FOUND``, ``INVALID_FILTER``, ...), or the gRPC code's name when it sent none.

Where mem0's ``Memory`` raises ``ValueError`` (an unknown id in ``update``/``delete``, bad
arguments) the facade raises :class:`MemoryNotFoundError` or :class:`ValidationError`,
which are ``ValueError`` as well, so both kinds of ``except`` work.
"""

from __future__ import annotations

from typing import Any

import grpc

from mem0stack.errors import ErrorReason, Mem0StackError

__all__ = [
    "AuthenticationError",
    "CacheError",
    "ConfigurationError",
    "DatabaseError",
    "DependencyError",
    "EmbeddingError",
    "LLMError",
    "Mem0StackWarning",
    "MemoryCorruptionError",
    "MemoryError",
    "MemoryNotFoundError",
    "MemoryQuotaExceededError",
    "NetworkError",
    "RateLimitError",
    "ValidationError",
    "VectorSearchError",
    "VectorStoreError",
    "from_error",
]


class Mem0StackWarning(UserWarning):
    """Something the facade or the server says about a call that did not fail it: a
    warning of the server (see ``add``), or a mem0 argument or setting that mem0-stack
    handles differently or not at all."""


class MemoryError(Mem0StackError):  # mem0's name (shadows the builtin), which code catches
    """Base of mem0's exceptions (``mem0.exceptions.MemoryError``)."""

    _code = grpc.StatusCode.UNKNOWN
    _suggestion: str | None = None

    def __init__(
        self,
        message: str,
        error_code: str = "",
        details: dict[str, Any] | None = None,
        suggestion: str | None = None,
        debug_info: dict[str, Any] | None = None,
        *,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(code=code or self._code, message=message)
        self.error_code = error_code or self.code.name
        self.details: dict[str, Any] = details or {}
        self.suggestion = suggestion or self._suggestion
        self.debug_info: dict[str, Any] = debug_info or {}

    def __str__(self) -> str:
        return self.message


class AuthenticationError(MemoryError):
    """No API key, an invalid one, or one that may not reach the user."""

    _code = grpc.StatusCode.UNAUTHENTICATED
    _suggestion = "Check the API key (MEM0STACK_API_KEY) and the users it is bound to"


class RateLimitError(MemoryError):
    """The server is busy (RESOURCE_EXHAUSTED); ``debug_info["retry_after"]`` is the wait."""

    _code = grpc.StatusCode.RESOURCE_EXHAUSTED
    _suggestion = "Wait and retry"


class ValidationError(MemoryError, ValueError):
    """The arguments are invalid (INVALID_ARGUMENT and the like)."""

    _code = grpc.StatusCode.INVALID_ARGUMENT
    _suggestion = "Check the arguments of the call"


class MemoryNotFoundError(MemoryError, ValueError):
    """No memory with that id (for this user and key)."""

    _code = grpc.StatusCode.NOT_FOUND
    _suggestion = "Check the memory id"


class NetworkError(MemoryError):
    """The server could not be reached or did not answer in time."""

    _code = grpc.StatusCode.UNAVAILABLE
    _suggestion = "Check that the server is running and reachable (MEM0STACK_TARGET), then retry"


class ConfigurationError(MemoryError):
    """A feature the server is not configured for (for example graph memory)."""

    _code = grpc.StatusCode.FAILED_PRECONDITION
    _suggestion = "See docs/configuration.md for the server's settings"


class MemoryQuotaExceededError(MemoryError):
    """Too much in one request."""

    _code = grpc.StatusCode.RESOURCE_EXHAUSTED


class MemoryCorruptionError(MemoryError):
    """Defined for code that catches it; mem0-stack does not raise it."""


class VectorSearchError(MemoryError):
    """Defined for code that catches it; search failures come as the other classes."""


class CacheError(MemoryError):
    """Defined for code that catches it; mem0-stack does not raise it."""


class VectorStoreError(MemoryError):
    """Defined for code that catches it; storage failures are :class:`DatabaseError`."""


class EmbeddingError(MemoryError):
    """The server's embedder failed."""

    _code = grpc.StatusCode.UNAVAILABLE


class LLMError(MemoryError):
    """The server's LLM failed or answered unusably."""

    _code = grpc.StatusCode.UNAVAILABLE


class DatabaseError(MemoryError):
    """The server's database is unavailable."""

    _code = grpc.StatusCode.UNAVAILABLE


class DependencyError(MemoryError):
    """Defined for code that catches it; mem0-stack does not raise it."""


_BY_REASON: dict[int, type[MemoryError]] = {
    ErrorReason.LLM_UNAVAILABLE: LLMError,
    ErrorReason.LLM_OUTPUT_INVALID: LLMError,
    ErrorReason.EMBEDDER_UNAVAILABLE: EmbeddingError,
    ErrorReason.DATABASE_UNAVAILABLE: DatabaseError,
    ErrorReason.GRAPH_DISABLED: ConfigurationError,
    ErrorReason.TOO_MANY_ITEMS: MemoryQuotaExceededError,
}
_BY_CODE: dict[grpc.StatusCode, type[MemoryError]] = {
    grpc.StatusCode.NOT_FOUND: MemoryNotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: ValidationError,
    grpc.StatusCode.FAILED_PRECONDITION: ValidationError,
    grpc.StatusCode.ALREADY_EXISTS: ValidationError,
    grpc.StatusCode.ABORTED: ValidationError,
    grpc.StatusCode.OUT_OF_RANGE: ValidationError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitError,
    grpc.StatusCode.UNAVAILABLE: NetworkError,
    grpc.StatusCode.DEADLINE_EXCEEDED: NetworkError,
}


def from_error(error: Mem0StackError, message: str | None = None) -> MemoryError:
    """The mem0 exception for a failed call (``message`` replaces the server's text)."""
    if isinstance(error, MemoryError):
        return error
    cls = _BY_REASON.get(error.reason) or _BY_CODE.get(error.code, MemoryError)
    details: dict[str, Any] = dict(error.metadata)
    if error.field_violations:
        details["field_violations"] = {v.field: v.description for v in error.field_violations}
    debug_info: dict[str, Any] = {"grpc_code": error.code.name}
    if error.retry_delay is not None:
        debug_info["retry_after"] = error.retry_delay
    result = cls(
        message or error.message,
        error.reason_name or error.code.name,
        details,
        debug_info=debug_info,
        code=error.code,
    )
    result.reason = error.reason
    result.reason_name = error.reason_name
    result.domain = error.domain
    result.metadata = error.metadata
    result.field_violations = error.field_violations
    result.retry_delay = error.retry_delay
    return result
