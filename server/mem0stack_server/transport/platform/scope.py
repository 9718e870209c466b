"""mem0's entity ids (user, agent, app, run) onto our ownership by ``users/{user}``.

Every memory of mem0-stack belongs to one user; API keys are bound to users. mem0 lets a
memory belong to an agent, an app or a run with no user at all. The mapping:

* With ``user_id``, the owner is ``users/{user_id}``.
* Without it, the owner is a reserved user named after the first id given, in the order
  agent, app, run: ``~agent:{agent_id}``, ``~app:{app_id}``, ``~run:{run_id}`` (an id
  outside the user-id alphabet, or longer than 100 characters, is replaced by a hash:
  ``~agent=<sha256 prefix>``). User ids starting with ``~`` are refused on these routes, so
  no application user can collide with a reserved one.
* ``agent_id`` and ``run_id`` are also stored in the memory's own columns, and ``app_id``
  (we have no app column) in the metadata key :data:`APP_ID_KEY`, which responses lift back
  out into ``app_id``; so within one owner they filter as in mem0.

A key bound to users reaches agent-, app- or run-only memories only when it is also bound
to their reserved user (``mem0stack keys create --user '~agent:support-bot'``); admin keys
and development mode reach every owner. List and search without a user id read the owner
the same rule names, so they find what an add with the same ids stored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mem0stack_server.store.platform import APP_ID_KEY
from mem0stack_server.transport.platform.errors import bad_request

__all__ = ["APP_ID_KEY", "ENTITY_KEYS", "Scope", "reserved_owner"]

ENTITY_KEYS = ("user_id", "agent_id", "app_id", "run_id")

_PLAIN = re.compile(r"[A-Za-z0-9._@+=:~-]{1,100}")
_USER_ID = re.compile(r"[A-Za-z0-9._@+=:~-]{1,128}")


def reserved_owner(kind: str, value: str) -> str:
    """The user that owns the memories of agent, app or run ``value`` added without a user."""
    if _PLAIN.fullmatch(value):
        return f"~{kind}:{value}"
    return f"~{kind}=" + hashlib.sha256(value.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Scope:
    """The entity ids of one request; empty strings are absent ids."""

    user_id: str = ""
    agent_id: str = ""
    app_id: str = ""
    run_id: str = ""

    @property
    def empty(self) -> bool:
        return not (self.user_id or self.agent_id or self.app_id or self.run_id)

    def owner(self) -> str:
        """The user id that owns (or would own) memories of this scope; 400 without any id."""
        if self.user_id:
            if self.user_id.startswith("~"):
                raise bad_request(
                    "user_id may not start with '~' (reserved for agent-only, "
                    "app-only and run-only memories)"
                )
            if not _USER_ID.fullmatch(self.user_id):
                raise bad_request(
                    "user_id must be 1 to 128 characters of letters, digits and ._@+=:~-"
                )
            return self.user_id
        for kind, value in (("agent", self.agent_id), ("app", self.app_id), ("run", self.run_id)):
            if value:
                return reserved_owner(kind, value)
        raise bad_request(
            "At least one of user_id, agent_id, app_id or run_id is required (in filters)."
        )

    def merged(self, other: Scope) -> Scope:
        """This scope with the ids ``other`` sets; two different values of one id are 400."""
        values = {}
        for key in ENTITY_KEYS:
            mine, theirs = getattr(self, key), getattr(other, key)
            if mine and theirs and mine != theirs:
                raise bad_request(f"{key} is given twice, as {mine!r} and {theirs!r}")
            values[key] = mine or theirs
        return Scope(**values)
