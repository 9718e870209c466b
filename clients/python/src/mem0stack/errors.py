"""Errors of the mem0-stack client.

Every failed call raises :class:`Mem0StackError`. The server sends a ``google.rpc.Status``
whose ``ErrorInfo.reason`` is the name of an :data:`ErrorReason` value; branch on
``error.reason``, never on the message text::

    try:
        client.get("users/alice/memories/0190...")
    except Mem0StackError as error:
        if error.reason == ErrorReason.MEMORY_NOT_FOUND:
            ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2

from mem0stack.v1 import errors_pb2
from mem0stack.v1.errors_pb2 import ErrorReason

__all__ = ["DOMAIN", "ErrorReason", "FieldViolation", "Mem0StackError"]

DOMAIN = "mem0stack.dev"
"""The ``ErrorInfo.domain`` of every error the server raises."""

_DETAILS_KEY = "grpc-status-details-bin"
_CODES = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request, from the error's ``google.rpc.BadRequest``."""

    field: str
    description: str


@dataclass
class Mem0StackError(Exception):
    """A call failed: its gRPC code, the typed ErrorInfo reason and the other details.

    ``reason`` is ``ErrorReason.ERROR_REASON_UNSPECIFIED`` when the error carries no
    ErrorInfo (for example a connection failure) or a reason this client does not know
    yet; ``reason_name`` then holds the raw string, if any.
    """

    code: grpc.StatusCode
    message: str
    reason: ErrorReason.ValueType = ErrorReason.ERROR_REASON_UNSPECIFIED
    reason_name: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    field_violations: list[FieldViolation] = field(default_factory=list)
    retry_delay: float | None = None
    """Seconds the server asked the caller to wait before retrying (``RetryInfo``)."""

    def __str__(self) -> str:
        if self.reason_name:
            return f"{self.code.name} {self.reason_name}: {self.message}"
        return f"{self.code.name}: {self.message}"

    @property
    def retryable(self) -> bool:
        """Whether retrying the same call may succeed (UNAVAILABLE)."""
        return bool(self.code == grpc.StatusCode.UNAVAILABLE)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> Mem0StackError:
        """Decode a failed call's status and its ``grpc-status-details-bin`` trailer."""
        code: grpc.StatusCode = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        message: str = error.details() if hasattr(error, "details") else str(error)
        trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
        result = cls(code=code, message=message or "")
        for key, value in trailers or ():
            if key == _DETAILS_KEY and isinstance(value, bytes):
                status = status_pb2.Status()
                try:
                    status.ParseFromString(value)
                except Exception:  # a garbled trailer must not hide the error itself
                    continue
                result._read_details(status)
        return result

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> Mem0StackError:
        """The error a ``google.rpc.Status`` describes, e.g. a failed operation's ``error``."""
        code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
        result = cls(code=code, message=status.message)
        result._read_details(status)
        return result

    def _read_details(self, status: status_pb2.Status) -> None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                self.reason_name = info.reason
                self.domain = info.domain
                self.metadata = dict(info.metadata)
                self.reason = reason_of(info.reason)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                self.field_violations = [
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                ]
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                self.retry_delay = retry.retry_delay.ToTimedelta().total_seconds()


def reason_of(name: str) -> ErrorReason.ValueType:
    """The ErrorReason value named ``name``, or ERROR_REASON_UNSPECIFIED when unknown."""
    try:
        return errors_pb2.ErrorReason.Value(name)
    except ValueError:
        return ErrorReason.ERROR_REASON_UNSPECIFIED
