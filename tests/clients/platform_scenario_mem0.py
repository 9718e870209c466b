"""The mem0 Platform scenario, driven by mem0's own Python client (mem0ai, pinned).

Runs in mem0's virtual environment (.venv-mem0: mem0ai needs protobuf < 7), started by
tests/clients/test_platform_python.py with the server's address and three API keys in
the environment (MEM0_HOST, MEM0_ADMIN_KEY, MEM0_ALICE_KEY, MEM0_BOB_KEY). Only the standard
library, httpx (mem0's own dependency) and mem0 are imported. It exits non-zero at the
first step that differs from what mem0's documentation promises, naming the step.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

os.environ["MEM0_TELEMETRY"] = "False"

import httpx
from mem0 import AsyncMemoryClient, MemoryClient
from mem0.exceptions import AuthenticationError, MemoryNotFoundError

HOST = os.environ["MEM0_HOST"]
KEYS = {
    "admin": os.environ["MEM0_ADMIN_KEY"],
    "alice": os.environ["MEM0_ALICE_KEY"],
    "bob": os.environ["MEM0_BOB_KEY"],
}


def step(name: str) -> None:
    print(f"- {name}", flush=True)


def expect_error(kind: type[Exception], call: Any, *args: Any, **kwargs: Any) -> Exception:
    try:
        call(*args, **kwargs)
    except kind as exc:
        return exc
    raise AssertionError(f"{call.__name__} did not raise {kind.__name__}")


def wait_for_event(key: str, event_id: str) -> dict[str, Any]:
    """Poll GET /v1/event/{id}/ (mem0's event API; the client has no method for it)."""
    headers = {"Authorization": f"Token {key}"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = httpx.get(f"{HOST}/v1/event/{event_id}/", headers=headers, timeout=10)
        reply.raise_for_status()
        event: dict[str, Any] = reply.json()
        if event["status"] in ("SUCCEEDED", "FAILED"):
            return event
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} did not finish")


def sync_scenario() -> None:
    step("MemoryClient(host=...) pings in its constructor")
    alice = MemoryClient(api_key=KEYS["alice"], host=HOST)
    bob = MemoryClient(api_key=KEYS["bob"], host=HOST)
    admin = MemoryClient(api_key=KEYS["admin"], host=HOST)
    expect_error(ValueError, MemoryClient, api_key="m0s_wrong_key", host=HOST)

    step("add, sync: results with ADD events and mem0-style ids")
    added = alice.add(
        [{"role": "user", "content": "I love green tea in the morning"}],
        user_id="alice",
        metadata={"topic": "drinks", "cups": 3},
    )
    (event,) = added["results"]
    assert event["event"] == "ADD" and event["memory"] == "I love green tea in the morning"
    tea_id = event["id"]
    assert len(tea_id) == 36, tea_id
    alice.add("I am planning a trip to Lisbon in May", filters={"user_id": "alice"})
    alice.add(
        [{"role": "user", "content": "I play chess on Sundays"}],
        user_id="alice",
        agent_id="coach",
        run_id="session-1",
        metadata={"topic": "hobbies"},
    )
    again = alice.add("I love green tea in the morning", user_id="alice")
    assert again["results"][0]["event"] == "NOOP", again  # ours, passed through

    step("add, async_mode: an event id whose status can be read")
    queued = alice.add("My sister is called Maria", user_id="alice", async_mode=True)
    assert queued["status"] == "PENDING" and queued["event_id"], queued
    finished = wait_for_event(KEYS["alice"], queued["event_id"])
    assert finished["status"] == "SUCCEEDED", finished
    assert finished["results"][0]["memory"] == "My sister is called Maria", finished

    step("get_all: the paginated envelope, pages, filters")
    everything = alice.get_all(filters={"user_id": "alice"})
    assert set(everything) >= {"count", "next", "previous", "results"}, everything
    assert everything["count"] == 4, everything
    first = alice.get_all(filters={"user_id": "alice"}, page=1, page_size=3)
    assert first["count"] == 4 and len(first["results"]) == 3 and first["next"], first
    assert first["previous"] is None
    second = alice.get_all(filters={"user_id": "alice"}, page=2, page_size=3)
    assert len(second["results"]) == 1 and second["next"] is None and second["previous"]
    seen = {m["id"] for m in first["results"] + second["results"]}
    assert len(seen) == 4
    drinks = alice.get_all(
        filters={"AND": [{"user_id": "alice"}, {"metadata": {"topic": "drinks"}}]}
    )
    (tea,) = drinks["results"]
    assert tea["id"] == tea_id and tea["metadata"] == {"topic": "drinks", "cups": 3}, tea
    assert isinstance(tea["metadata"]["cups"], int)
    coach = alice.get_all(filters={"user_id": "alice", "agent_id": "coach"})
    (chess,) = coach["results"]
    assert chess["session_id"] == "session-1" and chess["agent_id"] == "coach", chess
    not_coach = alice.get_all(
        filters={
            "user_id": "alice",
            "NOT": [{"agent_id": "coach"}],
            "created_at": {"gte": "2000-01-01"},
        }
    )
    assert not_coach["count"] == 3, not_coach
    either = alice.get_all(
        filters={
            "user_id": "alice",
            "OR": [{"metadata": {"topic": {"in": ["drinks", "hobbies"]}}}, {"run_id": "*"}],
        }
    )
    assert either["count"] == 2, either
    big_cups = alice.get_all(filters={"user_id": "alice", "metadata": {"cups": {"gte": 2}}})
    assert big_cups["count"] == 1, big_cups

    step("search: scores in [0, 1], run_id in results")
    found = alice.search("What does alice drink?", filters={"user_id": "alice"}, threshold=0.0)
    assert found["results"][0]["id"] == tea_id, found
    for result in found["results"]:
        assert 0.0 <= result["score"] <= 1.0 and "run_id" in result, result
    chess_hit = alice.search("chess", filters={"user_id": "alice", "run_id": "session-1"})
    assert [r["run_id"] for r in chess_hit["results"]] == ["session-1"], chess_hit
    assert (
        alice.search("quantum chromodynamics lecture", filters={"user_id": "alice"}, threshold=0.9)[
            "results"
        ]
        == []
    )

    step("get, update, history")
    got = alice.get(tea_id)
    assert got["memory"] == "I love green tea in the morning" and got["user_id"] == "alice"
    alice.update(tea_id, text="I love oolong tea in the morning")
    assert alice.get(tea_id)["memory"] == "I love oolong tea in the morning"
    alice.update(tea_id, metadata={"topic": "drinks", "cups": 2})
    events = [h["event"] for h in alice.history(tea_id)]
    assert events == ["ADD", "UPDATE", "UPDATE"], events
    old = alice.history(tea_id)[1]
    assert old["old_memory"].startswith("I love green") and old["new_memory"].startswith(
        "I love oolong"
    )

    step("two keys, two users: neither sees the other's memories")
    bob.add("I drive a blue van", user_id="bob")
    expect_error(MemoryNotFoundError, bob.get, tea_id)
    expect_error(MemoryNotFoundError, bob.update, tea_id, text="mine now")
    expect_error(MemoryNotFoundError, bob.delete, tea_id)
    expect_error(MemoryNotFoundError, bob.history, tea_id)
    expect_error(AuthenticationError, bob.get_all, filters={"user_id": "alice"})
    expect_error(AuthenticationError, bob.search, "tea", filters={"user_id": "alice"})
    expect_error(AuthenticationError, bob.delete_all, user_id="alice")
    expect_error(AuthenticationError, bob.delete_users, user_id="alice")
    expect_error(AuthenticationError, alice.get_all, filters={"user_id": "bob"})
    assert {(e["type"], e["name"]) for e in bob.users()["results"]} == {("user", "bob")}
    alice_entities = {(e["type"], e["name"]) for e in alice.users()["results"]}
    assert alice_entities == {("user", "alice"), ("agent", "coach"), ("run", "session-1")}, (
        alice_entities
    )

    step("agent-only and app-only scopes")
    admin.add("Escalate refunds over 100 EUR", agent_id="support-bot")
    admin.add("The helpdesk opens at 9", app_id="helpdesk", infer=False)
    (rule,) = admin.get_all(filters={"agent_id": "support-bot"})["results"]
    assert rule["user_id"] is None and rule["agent_id"] == "support-bot", rule
    (hours,) = admin.get_all(filters={"app_id": "helpdesk"})["results"]
    assert hours["app_id"] == "helpdesk" and hours["metadata"] is None, hours
    found = admin.search("refund policy", filters={"agent_id": "support-bot"})["results"]
    assert [r["id"] for r in found] == [rule["id"]], found
    expect_error(AuthenticationError, alice.get_all, filters={"agent_id": "support-bot"})
    expect_error(MemoryNotFoundError, alice.get, rule["id"])
    kinds = {(e["type"], e["name"]) for e in admin.users()["results"]}
    assert {("agent", "support-bot"), ("app", "helpdesk"), ("user", "bob")} <= kinds, kinds

    step("batch_update, batch_delete, delete")
    by_text = {m["memory"]: m["id"] for m in alice.get_all(filters={"user_id": "alice"})["results"]}
    lisbon, chess_id = (
        by_text["I am planning a trip to Lisbon in May"],
        by_text["I play chess on Sundays"],
    )
    maria = by_text["My sister is called Maria"]
    alice.batch_update([{"memory_id": lisbon, "text": "I am planning a trip to Porto in June"}])
    assert alice.get(lisbon)["memory"] == "I am planning a trip to Porto in June"
    expect_error(MemoryNotFoundError, bob.batch_delete, [{"memory_id": chess_id}])
    alice.batch_delete([{"memory_id": chess_id}])
    expect_error(MemoryNotFoundError, alice.get, chess_id)
    alice.delete(maria)
    expect_error(MemoryNotFoundError, alice.get, maria)
    assert [h["event"] for h in alice.history(maria)] == ["ADD", "DELETE"]  # history stays
    assert alice.get_all(filters={"user_id": "alice"})["count"] == 2

    step("delete_all and delete_users")
    alice.delete_all(user_id="alice")
    assert alice.get_all(filters={"user_id": "alice"})["count"] == 0
    admin.delete_users(agent_id="support-bot")
    assert admin.get_all(filters={"agent_id": "support-bot"})["count"] == 0
    bob.delete_users(user_id="bob")
    assert bob.get_all(filters={"user_id": "bob"})["count"] == 0


async def async_scenario() -> None:
    step("AsyncMemoryClient: the same calls, awaited")
    client = AsyncMemoryClient(api_key=KEYS["alice"], host=HOST)
    added = await client.add("I keep bees on my balcony", user_id="alice", metadata={"year": 2024})
    memory_id = added["results"][0]["id"]
    queued = await client.add("My bees make lavender honey", user_id="alice", async_mode=True)
    assert (await asyncio.to_thread(wait_for_event, KEYS["alice"], queued["event_id"]))[
        "status"
    ] == "SUCCEEDED"
    listed = await client.get_all(filters={"user_id": "alice"}, page=1, page_size=10)
    assert listed["count"] == 2, listed
    found = await client.search("honey bees", filters={"user_id": "alice"})
    assert {r["id"] for r in found["results"]} >= {memory_id}, found
    got = await client.get(memory_id)
    assert got["metadata"] == {"year": 2024}, got
    await client.update(memory_id, text="I keep three beehives on my balcony")
    assert [h["event"] for h in await client.history(memory_id)] == ["ADD", "UPDATE"]
    assert {e["name"] for e in (await client.users())["results"]} == {"alice"}
    await client.delete(memory_id)
    await client.delete_all(user_id="alice")
    assert (await client.get_all(filters={"user_id": "alice"}))["count"] == 0


def reset_scenario() -> None:
    step("reset: every entity the key reaches, deleted")
    admin = MemoryClient(api_key=KEYS["admin"], host=HOST)
    admin.add("Reset me", user_id="carol")
    admin.add("Reset me too", agent_id="helper", run_id="r-9")
    assert admin.users()["results"], "nothing to reset"
    admin.reset()
    assert admin.users()["results"] == []
    assert admin.get_all(filters={"user_id": "carol"})["count"] == 0


def main() -> int:
    sync_scenario()
    asyncio.run(async_scenario())
    reset_scenario()
    print("mem0 platform scenario: OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
