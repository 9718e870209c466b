"""Domain errors and their gRPC status.

Business code raises these; one interceptor (``api.interceptors.ErrorInterceptor``) turns
them into a ``google.rpc.Status`` with an ``ErrorInfo`` (reason from the proto's
``ErrorReason`` enum), a ``BadRequest`` for field problems and a ``RetryInfo`` for
retryable ones. Nothing else in the server calls ``context.abort``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc

DOMAIN = "mem0stack.dev"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request, reported in ``google.rpc.BadRequest``."""

    field: str
    description: str


@dataclass
class ApiError(Exception):
    """An error the caller should see, with its gRPC code and ErrorInfo reason."""

    code: grpc.StatusCode
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: list[FieldViolation] = field(default_factory=list)
    retry_after_s: float | None = None

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


def invalid(reason: str, field_path: str, description: str, **metadata: str) -> ApiError:
    """INVALID_ARGUMENT for one field, with a field violation naming it."""
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        f"{field_path}: {description}" if field_path else description,
        metadata,
        [FieldViolation(field_path, description)] if field_path else [],
    )


def not_found(name: str) -> ApiError:
    """NOT_FOUND for a memory the caller cannot see, whether or not it exists."""
    return ApiError(
        grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND", f"memory {name!r} not found", {"name": name}
    )


def permission_denied(message: str) -> ApiError:
    """PERMISSION_DENIED: the caller is known but may not do this."""
    return ApiError(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED", message)


def unavailable(reason: str, message: str, retry_after_s: float = 1.0) -> ApiError:
    """UNAVAILABLE with a RetryInfo telling the caller when to try again."""
    return ApiError(
        grpc.StatusCode.UNAVAILABLE, reason, message, {}, [], retry_after_s=retry_after_s
    )
