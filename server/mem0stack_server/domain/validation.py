"""Checks on caller input. Each failure is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mem0stack_server.config import Settings
from mem0stack_server.domain.errors import Reason, invalid

MAX_REQUEST_ID_CHARS = 128
MAX_CATEGORIES = 32
MAX_CATEGORY_CHARS = 64
MAX_SCOPE_ID_CHARS = 256
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000
DEFAULT_TOP_K = 10
MAX_TOP_K = 100


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


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0
