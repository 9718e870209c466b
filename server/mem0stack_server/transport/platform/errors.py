"""Errors on the mem0 Platform routes: mem0's ``{"detail": ...}`` body, the right status.

Every error a handler raises becomes one answer here, so no bad input turns into a 500:
:class:`DomainError` codes map to HTTP statuses in :data:`HTTP_STATUS` (the one place),
:class:`PlatformError` is for what only this transport checks (body shapes, mem0's rules).
Beside ``detail`` the body carries our ``reason`` (``ErrorInfo.reason``), so a caller can
branch on it as gRPC callers do.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mem0stack_server.domain.errors import Code, DomainError, Reason
from mem0stack_server.transport.interceptors import _to_api_error as to_api_error

__all__ = [
    "HTTP_STATUS",
    "PlatformError",
    "bad_request",
    "error_response",
    "not_found",
    "to_api_error",
]

#: google.rpc.Code to HTTP status, as google.rpc's own mapping (and Envoy's transcoder) does.
HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class PlatformError(DomainError):
    """A request the mem0 Platform API refuses before it reaches the application."""

    def __init__(self, code: Code, message: str, reason: Reason = Reason.INVALID_ARGUMENT) -> None:
        super().__init__(code, reason, message)


def bad_request(message: str) -> PlatformError:
    return PlatformError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> PlatformError:
    return PlatformError(Code.NOT_FOUND, message, Reason.MEMORY_NOT_FOUND)


def error_response(error: DomainError) -> JSONResponse:
    status = HTTP_STATUS.get(error.code, 500)
    body: dict[str, object] = {"detail": error.message, "reason": str(error.reason)}
    if error.violations:
        body["errors"] = {v.field: v.description for v in error.violations}
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after_s)))
    return JSONResponse(body, status_code=status, headers=headers)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """Infrastructure failures as the gRPC transport maps them; anything else is our bug,
    logged with its traceback and answered as INTERNAL."""
    return error_response(to_api_error(exc))
