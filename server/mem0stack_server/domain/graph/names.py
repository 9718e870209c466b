"""Resource names of graph memory (AIP-122): entities, relations, the graph status."""

from __future__ import annotations

import uuid

from mem0stack_server.domain.errors import Reason, invalid
from mem0stack_server.domain.names import parse_parent


def entity_name(user_id: str, entity_id: str) -> str:
    return f"users/{user_id}/entities/{entity_id}"


def relation_name(user_id: str, relation_id: str) -> str:
    return f"users/{user_id}/relations/{relation_id}"


def status_name(user_id: str) -> str:
    return f"users/{user_id}/graphStatus"


def parse_entity_name(value: str, field: str = "name") -> tuple[str, str]:
    """(user id, entity id) of ``users/{user}/entities/{entity}``."""
    parts = value.split("/")
    if len(parts) == 4 and parts[2] == "entities":
        user_id = parse_parent("/".join(parts[:2]), field)
        try:
            return user_id, str(uuid.UUID(parts[3]))
        except ValueError:
            pass
    raise _bad(field, value, "users/{user}/entities/{entity}")


def parse_status_name(value: str, field: str = "name") -> str:
    """The user id of ``users/{user}/graphStatus``."""
    parts = value.split("/")
    if len(parts) == 3 and parts[2] == "graphStatus":
        return parse_parent("/".join(parts[:2]), field)
    raise _bad(field, value, "users/{user}/graphStatus")


def _bad(field: str, value: str, pattern: str) -> Exception:
    shown = value if len(value) <= 200 else value[:200] + "..."
    return invalid(
        Reason.INVALID_NAME, field, f"{shown!r} is not a valid name; expected {pattern}", name=shown
    )
