"""Read the rich error details (google.rpc.Status) of a failed call."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2


@dataclass
class ErrorDetails:
    code: grpc.StatusCode
    reason: str
    metadata: dict[str, str]
    fields: list[str]
    retry: bool


def details_of(error: grpc.aio.AioRpcError) -> ErrorDetails:
    status = status_pb2.Status()
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    reason, metadata, fields, retry = "", {}, [], False
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = True
    return ErrorDetails(error.code(), reason, metadata, fields, retry)
