"""Whose memories a bridge reaches: the user and key come from its configuration or, over HTTP,
from the caller's headers; never from the model. Against a server that requires API keys."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from mcp.shared.exceptions import MCPError

from mem0stack_mcp import RECENT_MEMORIES_URI
from tests.mcp.bridges import BRIDGE, HttpBridge, call, fails, stdio_session
from tests.support.servers import REPO, ServerProcess, free_port


def create_key(database_url: str, user: str) -> str:
    """Run the real CLI, as an operator would, and return the key it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "keys", "create", "--user", user],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def secured(make_database) -> Iterator[tuple[ServerProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A server whose database has a key for alice and one for bob."""
    database_url = make_database("mcp")
    keys = {user: create_key(database_url, user) for user in ("alice", "bob")}
    process = ServerProcess(database_url=database_url, port=free_port())
    process.start()
    yield process, keys
    process.stop()


@pytest.fixture(scope="module")
def open_bridge(secured) -> Iterator[HttpBridge]:  # type: ignore[no-untyped-def]
    """An HTTP bridge without a key of its own: every caller brings one."""
    server, _ = secured
    bridge = HttpBridge(["--server", server.target])
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def bobs_bridge(secured) -> Iterator[HttpBridge]:  # type: ignore[no-untyped-def]
    """An HTTP bridge holding bob's key, configured through the environment."""
    server, keys = secured
    env = {"MEM0STACK_SERVER": server.target, "MEM0STACK_API_KEY": keys["bob"]}
    bridge = HttpBridge(["--user", "bob"], env=env)
    bridge.start()
    yield bridge
    bridge.stop()


async def test_two_bridges_with_two_keys_are_isolated(secured, bobs_bridge) -> None:  # type: ignore[no-untyped-def]
    server, keys = secured
    alices_env = {"MEM0STACK_API_KEY": keys["alice"]}
    async with (
        stdio_session(["--user", "alice", "--server", server.target], env=alices_env) as alice,
        bobs_bridge.session() as bob,
    ):
        await call(alice, "delete_all_memories", confirm=True)
        await call(bob, "delete_all_memories", confirm=True)
        secret = await call(alice, "add_memories", text="Alice's locker code is 4512")
        alices = secret["results"][0]["id"]
        mine = await call(bob, "add_memories", text="Bob plays the cello")
        bobs = mine["results"][0]["id"]

        assert [m["id"] for m in (await call(alice, "list_memories"))["memories"]] == [alices]
        assert [m["id"] for m in (await call(bob, "list_memories"))["memories"]] == [bobs]
        # Unrelated results are left out unless asked for: ask, to see all bob may see.
        found = await call(bob, "search_memory", query="locker code", min_score=None)
        assert [r["id"] for r in found["results"]] == [bobs]

        for memory_id in (alices, f"users/alice/memories/{alices}"):
            await fails(bob, "get_memory", id=memory_id)
            await fails(bob, "update_memory", id=memory_id, text="Alice's locker code is 0000")
            await fails(bob, "delete_memories", ids=[memory_id])
        assert "MEMORY_NOT_FOUND" in await fails(bob, "get_memory", id=alices)
        assert (await call(bob, "delete_all_memories", confirm=True))["deleted_count"] == 1

        kept = await call(alice, "get_memory", id=alices)
        assert kept["memory"] == "Alice's locker code is 4512"
        recent = await alice.read_resource(RECENT_MEMORIES_URI)
        assert "4512" in recent.contents[0].text  # type: ignore[union-attr]


async def test_http_callers_bring_their_own_key_and_user(secured, open_bridge) -> None:  # type: ignore[no-untyped-def]
    _, keys = secured
    async with open_bridge.session(api_key=keys["alice"], user="alice") as alice:
        saved = await call(alice, "add_memories", text="Alice takes the 8:10 train")
        assert saved["results"][0]["event"] in ("ADD", "NOOP")
        assert (await call(alice, "list_memories"))["memories"]

    async with open_bridge.session(api_key=keys["bob"], user="alice") as intruder:
        assert "PERMISSION_DENIED" in await fails(intruder, "list_memories")
        assert "PERMISSION_DENIED" in await fails(intruder, "search_memory", query="train")

    async with open_bridge.session(user="alice") as anonymous:
        message = await fails(anonymous, "list_memories")
        assert "UNAUTHENTICATED API_KEY_MISSING" in message and "Retrying will not help" in message

    async with open_bridge.session(api_key="mk_nonsense", user="alice") as forged:
        assert "UNAUTHENTICATED API_KEY_INVALID" in await fails(forged, "list_memories")

    async with open_bridge.session(api_key=keys["alice"]) as nameless:
        assert "X-Mem0stack-User" in await fails(nameless, "list_memories")
        with pytest.raises(MCPError, match="X-Mem0stack-User"):
            await nameless.read_resource(RECENT_MEMORIES_URI)


async def test_the_bridges_own_key_serves_only_its_user(secured, bobs_bridge) -> None:  # type: ignore[no-untyped-def]
    _, keys = secured
    async with bobs_bridge.session(user="alice") as borrowing:
        message = await fails(borrowing, "list_memories")
        assert "names a user other than the bridge's own" in message
    async with bobs_bridge.session(api_key=keys["alice"], user="alice") as alice:
        # A caller's own key takes the place of the bridge's.
        await call(alice, "list_memories")
    async with bobs_bridge.session(api_key=keys["alice"]) as mismatched:
        # Alice's key does not reach the bridge's user.
        assert "PERMISSION_DENIED" in await fails(mismatched, "list_memories")


async def test_openmemory_urls_name_the_user_as_the_header_does(secured, bobs_bridge) -> None:  # type: ignore[no-untyped-def]
    _, keys = secured
    async with bobs_bridge.openmemory_session("/mcp/claude/sse/bob") as bob:
        await call(bob, "list_memories")
    # With the bridge's key, the URL may name only the bridge's user.
    async with bobs_bridge.openmemory_session("/mcp/claude/sse/alice") as borrowing:
        message = await fails(borrowing, "list_memories")
        assert "names a user other than the bridge's own" in message
    async with bobs_bridge.openmemory_session("/mcp/cursor/http/alice") as borrowing:
        assert "other than the bridge's own" in await fails(borrowing, "list_memories")
    # A caller's own key reaches the users it is bound to, and no other.
    async with bobs_bridge.openmemory_session("/mcp/claude/sse/alice", keys["alice"]) as alice:
        await call(alice, "list_memories")
    async with bobs_bridge.openmemory_session("/mcp/claude/sse/bob", keys["alice"]) as wrong:
        assert "PERMISSION_DENIED" in await fails(wrong, "list_memories")


def test_cli_refuses_incomplete_configuration() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEM0STACK_")}
    for args, expected in (
        ([], "--user"),
        (["--http", "--api-key", "k"], "--user"),
        (["--user", " "], "must not be empty"),
    ):
        result = subprocess.run(
            [*BRIDGE, *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert result.returncode == 2 and expected in result.stderr, (args, result.stderr)
