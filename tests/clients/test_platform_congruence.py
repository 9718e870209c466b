"""The mem0 Platform routes and the Python facade (mem0stack.compat) agree: what one stores
under mem0's ids, the other finds under the same ids, with the same memory ids and values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mem0stack.compat import Memory
from tests.support.envoy import Response
from tests.support.mem0_platform import PlatformStack, platform_stack


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[PlatformStack]:  # type: ignore[no-untyped-def]
    with platform_stack(make_database) as running:
        yield running


def call(stack: PlatformStack, method: str, path: str, body: Any = None) -> Response:
    headers = {"authorization": f"Token {stack.keys['admin']}"}
    response = stack.envoy.request(method, path, body, headers=headers)
    assert response.status == 200, response.body
    return response


def test_either_way_in_finds_what_the_other_stored(stack: PlatformStack) -> None:
    memory = Memory(stack.server.target, stack.keys["admin"])
    try:
        rule = memory.add("Escalate refunds over 100 EUR", agent_id="support-bot", infer=False)
        rule_id = rule["results"][0]["id"]
        tea = memory.add(
            "Alice drinks tea",
            user_id="alice",
            agent_id="coach",
            run_id="s-1",
            metadata={"cups": 7},
            infer=False,
        )
        tea_id = tea["results"][0]["id"]

        listed = call(stack, "POST", "/v3/memories/", {"filters": {"agent_id": "support-bot"}})
        assert [m["id"] for m in listed.json["results"]] == [rule_id]
        got = call(stack, "GET", f"/v1/memories/{rule_id}/").json
        assert (got["memory"], got["user_id"], got["agent_id"]) == (
            "Escalate refunds over 100 EUR",
            None,
            "support-bot",
        )
        scoped = {"filters": {"user_id": "alice", "agent_id": "coach", "run_id": "s-1"}}
        (shaped,) = call(stack, "POST", "/v3/memories/", scoped).json["results"]
        assert shaped["id"] == tea_id and shaped["metadata"] == {"cups": 7}
        assert shaped["session_id"] == "s-1"

        body = {"messages": "Session notes: call back on Monday", "run_id": "r-7", "infer": False}
        added = call(stack, "POST", "/v3/memories/add/", body).json["results"][0]
        facade = memory.get_all(filters={"run_id": "r-7"})["results"]
        assert [m["id"] for m in facade] == [added["id"]]
        assert memory.get(added["id"])["memory"] == "Session notes: call back on Monday"
    finally:
        memory.close()


def test_the_older_routes_agree_with_v3(stack: PlatformStack) -> None:
    """What older pinned clients call: the same memories, in those routes' shapes."""
    for text in ("I collect vinyl records", "I grow tomatoes on my balcony"):
        body = {"messages": [{"role": "user", "content": text}], "user_id": "olga"}
        assert call(stack, "POST", "/v1/memories/", body).json["results"][0]["event"] == "ADD"
    v3 = call(stack, "POST", "/v3/memories/", {"filters": {"user_id": "olga"}}).json
    assert v3["count"] == 2
    ids = [m["id"] for m in v3["results"]]
    listed = stack.envoy.request(
        "GET",
        "/v1/memories/",
        params={"user_id": "olga"},
        headers={"authorization": f"Token {stack.keys['admin']}"},
    )
    assert listed.status == 200 and [m["id"] for m in listed.json] == ids
    v2 = call(stack, "POST", "/v2/memories/", {"filters": {"user_id": "olga"}}).json
    assert [m["id"] for m in v2] == ids
    paged = call(stack, "POST", "/v2/memories/", {"filters": {"user_id": "olga"}, "page_size": 1})
    assert paged.json["count"] == 2 and len(paged.json["results"]) == 1

    query = "gardening vegetables"
    v3_hits = call(
        stack, "POST", "/v3/memories/search/", {"query": query, "filters": {"user_id": "olga"}}
    ).json["results"]
    v2_hits = call(
        stack, "POST", "/v2/memories/search/", {"query": query, "filters": {"user_id": "olga"}}
    ).json
    v1_hits = call(stack, "POST", "/v1/memories/search/", {"query": query, "user_id": "olga"}).json
    assert v3_hits and v3_hits[0]["memory"] == "I grow tomatoes on my balcony"
    assert [h["id"] for h in v2_hits] == [h["id"] for h in v1_hits] == [h["id"] for h in v3_hits]
    call(stack, "DELETE", "/v1/entities/user/olga/")
    assert call(stack, "POST", "/v3/memories/", {"filters": {"user_id": "olga"}}).json["count"] == 0
