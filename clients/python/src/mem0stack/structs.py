"""Metadata (``google.protobuf.Struct``) as the JSON values it was written from.

A Struct keeps every number as a double, so metadata written as ``{"priority": 7}`` is read
back by ``json_format.MessageToDict`` as ``{"priority": 7.0}``. Metadata comes from JSON,
which has one number type, and the server stores it as JSON: a whole number is given back
as an ``int``. Every reader that hands metadata to users (the mem0 facade, ``mem0stack
export``, the MCP bridge) goes through :func:`struct_to_dict`.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

__all__ = ["json_numbers", "struct_to_dict"]

# Doubles represent every integer up to 2**53 exactly; a larger whole double was not
# necessarily an integer when written, so it stays a float.
_EXACT = 2**53


def json_numbers(value: Any) -> Any:
    """``value`` (from a Struct) with whole numbers as ``int``, in nested dicts and lists too."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= _EXACT else value
    if isinstance(value, dict):
        return {key: json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_numbers(item) for item in value]
    return value


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a dict, whole numbers as ``int`` (``{"n": 7}`` stays ``{"n": 7}``)."""
    result: dict[str, Any] = json_numbers(json_format.MessageToDict(struct))
    return result
