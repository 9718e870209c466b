"""Checks on caller input. Each failure is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mem0stack_server.config import Settings
from mem0stack_server.domain.errors import Reason, echo, invalid

MAX_REQUEST_ID_CHARS = 128
MAX_CATEGORIES = 32
MAX_CATEGORY_CHARS = 64
MAX_SCOPE_ID_CHARS = 256
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000
DEFAULT_TOP_K = 10
MAX_TOP_K = 100

#: google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
_CHECKED_TYPES = (
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_ENUM,
    FieldDescriptor.TYPE_MESSAGE,
)
_STRUCT_TYPES = ("google.protobuf.Struct", "google.protobuf.ListValue")


class Validator:
    """Input limits from the settings, applied the same way by every method."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def content(self, text: str, field: str) -> str:
        if not text.strip():
            raise invalid(Reason.INVALID_CONTENT, field, "must not be empty")
        if len(text) > self.s.max_content_chars:
            raise invalid(
                Reason.INVALID_CONTENT,
                field,
                f"is {len(text)} characters; the limit is {self.s.max_content_chars}",
                limit=str(self.s.max_content_chars),
                length=str(len(text)),
            )
        return text

    def query(self, text: str, field: str = "query") -> str:
        if len(text) > self.s.max_query_chars:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                field,
                f"is {len(text)} characters; the limit is {self.s.max_query_chars}",
            )
        return text

    def item_count(self, count: int, field: str, limit: int, *, allow_empty: bool = False) -> None:
        if count == 0 and not allow_empty:
            raise invalid(Reason.INVALID_ARGUMENT, field, "must not be empty")
        if count > limit:
            raise invalid(
                Reason.TOO_MANY_ITEMS,
                field,
                f"has {count} items; the limit is {limit}",
                limit=str(limit),
                count=str(count),
            )

    def metadata(self, value: dict[str, Any], field: str) -> dict[str, Any]:
        _check_json(value, field)
        depth = _depth(value)
        if depth > self.s.max_metadata_depth:
            raise invalid(
                Reason.INVALID_METADATA,
                field,
                f"is nested {depth} levels deep; the limit is {self.s.max_metadata_depth}",
                limit_depth=str(self.s.max_metadata_depth),
            )
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if size > self.s.max_metadata_bytes:
            raise invalid(
                Reason.INVALID_METADATA,
                field,
                f"is {size} bytes as JSON; the limit is {self.s.max_metadata_bytes}",
                limit_bytes=str(self.s.max_metadata_bytes),
            )
        return value

    def categories(self, values: Sequence[str], field: str) -> list[str]:
        if len(values) > MAX_CATEGORIES:
            raise invalid(
                Reason.TOO_MANY_ITEMS,
                field,
                f"has {len(values)} items; the limit is {MAX_CATEGORIES}",
            )
        cleaned: list[str] = []
        for i, value in enumerate(values):
            label = value.strip()
            if not label or len(label) > MAX_CATEGORY_CHARS:
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    f"{field}[{i}]",
                    f"must be 1 to {MAX_CATEGORY_CHARS} characters",
                )
            if label not in cleaned:
                cleaned.append(label)
        return cleaned

    def scope_id(self, value: str, field: str) -> str:
        if len(value) > MAX_SCOPE_ID_CHARS:
            raise invalid(
                Reason.INVALID_ARGUMENT, field, f"is longer than {MAX_SCOPE_ID_CHARS} characters"
            )
        return value

    def request_id(self, value: str, field: str = "request_id") -> str:
        if len(value) > MAX_REQUEST_ID_CHARS:
            raise invalid(
                Reason.INVALID_ARGUMENT, field, f"is longer than {MAX_REQUEST_ID_CHARS} characters"
            )
        return value

    def embedding(self, values: Sequence[float], dimension: int, field: str) -> np.ndarray:
        if len(values) != dimension:
            raise invalid(
                Reason.INVALID_EMBEDDING,
                field,
                f"has {len(values)} values; this server's embeddings have {dimension}",
                expected=str(dimension),
                got=str(len(values)),
            )
        vector = np.asarray(values, dtype=np.float32)
        if not np.all(np.isfinite(vector)):
            raise invalid(Reason.INVALID_EMBEDDING, field, "contains NaN or infinity")
        norm = float(np.linalg.norm(vector))
        if norm == 0.0 or not math.isfinite(norm):
            raise invalid(Reason.INVALID_EMBEDDING, field, "must not be the zero vector")
        if abs(norm - 1.0) < 1e-5:
            # Already unit length (e.g. from an export): keep it bit for bit.
            return vector
        normalised: np.ndarray = vector / norm
        return normalised

    @staticmethod
    def page_size(value: int, field: str = "page_size") -> int:
        if value < 0:
            raise invalid(Reason.INVALID_PAGE_SIZE, field, "must not be negative")
        return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

    @staticmethod
    def top_k(value: int, field: str = "top_k") -> int:
        if value < 0:
            raise invalid(Reason.INVALID_ARGUMENT, field, "must not be negative")
        if value > MAX_TOP_K:
            raise invalid(Reason.INVALID_ARGUMENT, field, f"must be at most {MAX_TOP_K}")
        return value or DEFAULT_TOP_K


def masked_paths(paths: Sequence[str], updatable: Sequence[str]) -> set[str] | None:
    """AIP-134: the update mask's paths, refused unless each is updatable; None when the
    mask is empty (the caller then updates every updatable field the request sets)."""
    if not paths:
        return None
    unknown = set(paths) - set(updatable)
    if unknown:
        raise invalid(
            Reason.INVALID_FIELD_MASK,
            "update_mask",
            f"cannot update {', '.join(sorted(unknown))}; updatable fields are "
            f"{', '.join(updatable)}",
        )
    return set(paths)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_message(message: Message, prefix: str = "") -> None:
    """Reject what no field of any request may hold, wherever it is in ``message``.

    That is text with a NUL character (PostgreSQL stores no U+0000 in text or jsonb), an
    enum number the API does not define, a timestamp outside the range RFC 3339 (and so
    google.protobuf.Timestamp) allows, and NaN or infinity in a Struct (JSON has neither).
    The transport runs it on every request it decodes, so the methods' own checks need not
    repeat it. ``prefix`` is the path of ``message`` in the request (e.g. ``"requests[2]."``).
    """
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.type not in _CHECKED_TYPES:
            continue  # numbers and bytes: any value fits (embeddings are checked apart)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                at = f"{path}[{_segment(str(key))}]"
                _check_scalar(field.message_type.fields_by_name["key"], key, at)
                _check_scalar(value_field, item, at)
        elif field.is_repeated:
            for i, item in enumerate(value):
                _check_scalar(field, item, f"{path}[{i}]")
        else:
            _check_scalar(field, value, path)


def _check_scalar(field: FieldDescriptor, value: Any, path: str) -> None:
    if field.type == FieldDescriptor.TYPE_STRING:
        if "\x00" in value:
            raise invalid(
                Reason.INVALID_ARGUMENT, path, "must not contain the NUL character (U+0000)"
            )
    elif field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        if field.enum_type.values_by_number.get(value) is None:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                path,
                f"{value} is not a value of {field.enum_type.full_name}",
            )
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            _check_timestamp(value, path)
        elif name in _STRUCT_TYPES:
            _check_json(value, path)  # a Struct is a Mapping, a ListValue a Sequence
        else:
            check_message(value, path + ".")


def _check_timestamp(value: Any, path: str) -> None:
    if not MIN_TIMESTAMP_SECONDS <= value.seconds <= MAX_TIMESTAMP_SECONDS:
        raise invalid(
            Reason.INVALID_ARGUMENT,
            path,
            "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
        )
    if not 0 <= value.nanos <= 999_999_999:
        raise invalid(Reason.INVALID_ARGUMENT, f"{path}.nanos", "must be 0 to 999,999,999")


def _check_json(value: Any, path: str) -> None:
    """NUL characters (in keys and strings) and non-finite numbers, anywhere in ``value``
    (JSON as Python values, or a Struct)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise invalid(
                Reason.INVALID_METADATA, path, "must not contain the NUL character (U+0000)"
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise invalid(Reason.INVALID_METADATA, path, "must not contain NaN or infinity")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            at = f"{path}.{_segment(key)}" if path else _segment(key)
            if "\x00" in str(key):
                raise invalid(
                    Reason.INVALID_METADATA, at, "keys must not contain the NUL character (U+0000)"
                )
            _check_json(item, at)
    elif isinstance(value, Sequence):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")


def _segment(key: str) -> str:
    """A map key as part of a field path: as is when plain, else quoted and cut short."""
    return key if key.isidentifier() and len(key) <= 64 else echo(key, 32)
