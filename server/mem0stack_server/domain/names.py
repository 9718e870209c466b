"""Resource names: ``users/{user}`` and ``users/{user}/memories/{memory}`` (AIP-122)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from mem0stack_server.domain.errors import Reason, invalid

# User ids are chosen by applications (often emails or UUIDs); anything but a slash or
# whitespace, so names stay unambiguous in URLs and gRPC paths alike.
_USER_ID = re.compile(r"[A-Za-z0-9._@+=:~-]{1,128}")


@dataclass(frozen=True)
class MemoryName:
    """A parsed memory name."""

    user_id: str
    memory_id: uuid.UUID

    def __str__(self) -> str:
        return memory_name(self.user_id, self.memory_id)


def memory_name(user_id: str, memory_id: uuid.UUID) -> str:
    return f"users/{user_id}/memories/{memory_id}"


def parse_parent(value: str, field: str = "parent") -> str:
    """The user id of ``users/{user}``, or INVALID_ARGUMENT naming ``field``."""
    parts = value.split("/")
    if len(parts) != 2 or parts[0] != "users" or not _USER_ID.fullmatch(parts[1]):
        raise _bad(field, value, "users/{user}")
    return parts[1]


def parse_memory_name(value: str, field: str = "name") -> MemoryName:
    """The parts of ``users/{user}/memories/{memory}``, or INVALID_ARGUMENT naming ``field``."""
    parts = value.split("/")
    if (
        len(parts) != 4
        or parts[0] != "users"
        or parts[2] != "memories"
        or not _USER_ID.fullmatch(parts[1])
    ):
        raise _bad(field, value, "users/{user}/memories/{memory}")
    try:
        memory_id = uuid.UUID(parts[3])
    except ValueError:
        raise _bad(field, value, "users/{user}/memories/{memory}") from None
    return MemoryName(parts[1], memory_id)


def _bad(field: str, value: str, pattern: str) -> Exception:
    shown = value if len(value) <= 200 else value[:200] + "..."
    return invalid(
        Reason.INVALID_NAME, field, f"{shown!r} is not a valid name; expected {pattern}", name=shown
    )
