"""Which identity a request resolves to, and how memory ids are read (no server needed)."""

from __future__ import annotations

import uuid

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from mem0stack_mcp import BridgeConfig, Caller, caller_for
from mem0stack_mcp.config import IdentityError
from mem0stack_mcp.server import memory_name

OPEN = BridgeConfig(http=True)
KEYED = BridgeConfig(http=True, api_key="bridge-key", user="bob")


def test_stdio_uses_the_configuration() -> None:
    config = BridgeConfig(user="alice", api_key="k")
    assert caller_for(config, None) == Caller("alice", "k")


@pytest.mark.parametrize(
    ("config", "headers", "expected"),
    [
        (OPEN, {"authorization": "Bearer k1", "x-mem0stack-user": "alice"}, Caller("alice", "k1")),
        (OPEN, {"x-mem0stack-user": "alice"}, Caller("alice", None)),
        (KEYED, {}, Caller("bob", "bridge-key")),
        (KEYED, {"x-mem0stack-user": "bob"}, Caller("bob", "bridge-key")),
        (KEYED, {"authorization": "bearer  k2 ", "x-mem0stack-user": "al"}, Caller("al", "k2")),
        (KEYED, {"authorization": "Bearer k2"}, Caller("bob", "k2")),
    ],
)
def test_http_identity(config: BridgeConfig, headers: dict[str, str], expected: Caller) -> None:
    assert caller_for(config, headers) == expected


@pytest.mark.parametrize(
    ("config", "headers", "message"),
    [
        (OPEN, {}, "no user"),
        (OPEN, {"authorization": "Bearer k1"}, "no user"),
        (OPEN, {"authorization": "Basic a2V5", "x-mem0stack-user": "alice"}, "Bearer"),
        (OPEN, {"authorization": "Bearer ", "x-mem0stack-user": "alice"}, "Bearer"),
        (KEYED, {"x-mem0stack-user": "alice"}, "other than the bridge's own"),
    ],
)
def test_http_identity_refused(config: BridgeConfig, headers: dict[str, str], message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        caller_for(config, headers)


def test_a_user_in_the_url_counts_as_the_header() -> None:
    assert caller_for(OPEN, {}, "alice") == Caller("alice", None)
    assert caller_for(OPEN, {"authorization": "Bearer k1"}, "al") == Caller("al", "k1")
    assert caller_for(KEYED, {}, "bob") == Caller("bob", "bridge-key")
    assert caller_for(OPEN, {"x-mem0stack-user": "al"}, "al") == Caller("al", None)
    with pytest.raises(IdentityError, match="other than the bridge's own"):
        caller_for(KEYED, {}, "alice")
    with pytest.raises(IdentityError, match="the URL names the user 'al'"):
        caller_for(OPEN, {"x-mem0stack-user": "bob"}, "al")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "--user"),
        ({"user": ""}, "empty"),
        ({"http": True, "api_key": "k"}, "--user"),
    ],
)
def test_incomplete_configuration(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BridgeConfig(**kwargs)  # type: ignore[arg-type]


def test_memory_ids_resolve_under_the_callers_user() -> None:
    caller = Caller("alice", None)
    uid = uuid.uuid4()
    expected = f"users/alice/memories/{uid}"
    assert memory_name(caller, str(uid)) == expected
    assert memory_name(caller, f" {uid.hex.upper()} ") == expected
    assert memory_name(caller, expected) == expected
    with pytest.raises(ToolError, match="No memory"):
        memory_name(caller, f"users/bob/memories/{uid}")
    for bad in ("peanuts", f"users/alice/memories/{uid}/revisions/1", "users/alice"):
        with pytest.raises(ToolError, match="not a memory id"):
            memory_name(caller, bad)
