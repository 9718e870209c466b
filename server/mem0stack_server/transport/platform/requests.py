"""One mem0 Platform request: its caller, its JSON body and query, checked field by field.

Every handler gets a :class:`Call`; reading a field of the wrong type is a 400 naming the
field, so a malformed body never reaches the application as a 500.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from mem0stack_server.auth.principal import Principal
from mem0stack_server.context import request_id_var
from mem0stack_server.domain.records import Caller
from mem0stack_server.transport.platform.errors import bad_request
from mem0stack_server.transport.platform.scope import ENTITY_KEYS, Scope

MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass
class Call:
    """The authenticated caller, the parsed body (``{}`` when none) and the query."""

    principal: Principal
    body: dict[str, Any]
    query: dict[str, str]
    base_url: str
    path: str
    #: The users whose memories the call reached or tried to, for the access log.
    reached: list[str] = field(default_factory=list)

    def reach(self, user_id: str) -> None:
        if user_id not in self.reached:
            self.reached.append(user_id)

    @property
    def caller(self) -> Caller:
        return Caller(actor=self.principal.key_id, request_id=request_id_var.get())

    def field(self, name: str) -> Any:
        """A field of the query or, failing that, of the body (the query wins, as in mem0)."""
        if name in self.query:
            return self.query[name]
        return self.body.get(name)

    def string(self, name: str, default: str = "") -> str:
        value = self.field(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.field(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise bad_request(f"{name} must be true or false")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.field(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise bad_request(f"{name} must be an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise bad_request(f"{name} must be an integer") from None
        if isinstance(value, float) and value != number:
            raise bad_request(f"{name} must be an integer")
        if not low <= number <= high:
            raise bad_request(f"{name} must be between {low} and {high}")
        return number

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.field(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise bad_request(f"{name} must be a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad_request(f"{name} must be a number") from None
        if not low <= number <= high:
            raise bad_request(f"{name} must be between {low:g} and {high:g}")
        return number

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self.field(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise bad_request(f"{name} must be a JSON object")
        return value

    def strings(self, name: str) -> list[str]:
        value = self.field(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request(f"{name} must be a list of strings")
        return value

    def top_scope(self) -> Scope:
        """The entity ids given as plain fields (query or body), not inside ``filters``."""
        return Scope(**{key: self.string(key) for key in ENTITY_KEYS})

    def page_url(self, page: int, page_size: int) -> str:
        return f"{self.base_url}{self.path}?page={page}&page_size={page_size}"


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object of the body; ``{}`` for an empty one; 400 for anything else."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise bad_request("the request body is larger than 32 MiB")
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise bad_request("the request body must be a JSON object")
    storable(parsed, "body")
    return parsed


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def storable(value: Any, where: str) -> None:
    """400 for what PostgreSQL cannot hold: NUL in text, infinite numbers (``1e400``)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise bad_request(f"{where}: text may not contain NUL (\\u0000)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise bad_request(f"{where}: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key, where)
            storable(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            storable(item, f"{where}[{i}]")


def unix_time(value: Any, field: str) -> datetime:
    """Unix seconds as a UTC time, or 400."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"{field} must be Unix seconds")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise bad_request(f"{field}: {value} is not a valid Unix time") from None


def parse_uuid(value: str, what: str = "memory_id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad_request(f"{what} should be a valid UUID") from None
