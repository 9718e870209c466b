"""Bad input on the mem0 Platform routes, through Envoy: mem0's error body, the right
status, never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.envoy import Response
from tests.support.mem0_platform import PlatformStack, platform_stack


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[PlatformStack]:  # type: ignore[no-untyped-def]
    with platform_stack(make_database) as running:
        yield running


def call(
    stack: PlatformStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = "alice",
    raw: bytes | None = None,
    params: dict[str, Any] | None = None,
) -> Response:
    headers = {"authorization": f"Token {stack.keys[key]}"} if key else {}
    return stack.envoy.request(method, path, body, headers=headers, raw=raw, params=params)


def assert_error(response: Response, status: int, *words: str) -> None:
    assert response.status == status, (response.status, response.body)
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json["detail"]
    # Envoy's own refusals (a path it will not normalise) may have no text, but a reason.
    assert isinstance(detail, str) and (detail or response.json["reason"])
    for word in words:
        assert word in detail, detail


def test_ping_answers_mem0s_shape_with_either_scheme(stack: PlatformStack) -> None:
    ok = call(stack, "GET", "/v1/ping/")
    assert ok.status == 200 and ok.json["status"] == "ok"
    bearer = stack.envoy.request("GET", "/v1/ping/", key=stack.keys["bob"])
    assert bearer.status == 200


def test_missing_or_wrong_key_is_401(stack: PlatformStack) -> None:
    assert_error(call(stack, "GET", "/v1/ping/", key=None), 401)
    wrong = stack.envoy.request(
        "GET", "/v1/ping/", headers={"authorization": "Token m0s_nope_nope"}
    )
    assert_error(wrong, 401)
    assert_error(
        stack.envoy.request("GET", "/v1/ping/", headers={"authorization": "Basic abc"}), 401
    )


@pytest.mark.parametrize(
    "path",
    ["/v3/memories/add/", "/v1/memories/"],
)
def test_add_without_any_entity_id_is_400(stack: PlatformStack, path: str) -> None:
    body = {"messages": [{"role": "user", "content": "I like tea"}]}
    assert_error(call(stack, "POST", path, body), 400, "user_id")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v3/memories/", {}),
        ("/v3/memories/", {"filters": {}}),
        ("/v3/memories/search/", {"query": "tea", "filters": {"metadata": {"a": 1}}}),
        ("/v2/memories/", {"filters": {"categories": {"in": ["x"]}}}),
    ],
)
def test_list_and_search_without_an_entity_id_are_400(
    stack: PlatformStack, path: str, body: dict[str, Any]
) -> None:
    response = call(stack, "POST", path, body)
    assert response.status == 400, response.body
    assert response.json["detail"]


@pytest.mark.parametrize(
    ("filters", "word"),
    [
        ({"user_id": "alice", "colour": "red"}, "colour"),
        ({"user_id": "alice", "agent_id": {"like": "x"}}, "like"),
        ({"user_id": "alice", "metadata": {"k": {"icontains": "x"}}}, "icontains"),
        ({"user_id": "alice", "metadata": {"k": {"deep": {"x": 1}}}}, "nested"),
        ({"user_id": "alice", "created_at": {"gte": "yesterday"}}, "date"),
        ({"user_id": "*"}, "user_id"),
        ({"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}, "user_id"),
        ({"user_id": "alice", "AND": "not a list"}, "AND"),
        ({"user_id": "alice", "categories": {"in": []}}, "non-empty"),
        ({"user_id": "alice", "agent_id": 5}, "string"),
    ],
)
def test_bad_filters_are_400_naming_the_problem(
    stack: PlatformStack, filters: dict[str, Any], word: str
) -> None:
    for path, extra in (("/v3/memories/", {}), ("/v3/memories/search/", {"query": "tea"})):
        assert_error(call(stack, "POST", path, {"filters": filters, **extra}), 400, word)


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "/v3/memories/", {"filters": {"user_id": "alice"}}, {"page": "0"}),
        ("POST", "/v3/memories/", {"filters": {"user_id": "alice"}}, {"page_size": "x"}),
        ("POST", "/v3/memories/search/", {"filters": {"user_id": "alice"}}, None),
        ("POST", "/v3/memories/search/", {"query": " ", "filters": {"user_id": "alice"}}, None),
        (
            "POST",
            "/v3/memories/search/",
            {"query": "tea", "filters": {"user_id": "alice"}, "threshold": 2},
            None,
        ),
        ("POST", "/v3/memories/search/", {"query": "tea", "filters": ["alice"]}, None),
        ("POST", "/v3/memories/add/", {"messages": [], "user_id": "alice"}, None),
        ("POST", "/v3/memories/add/", {"messages": [{"role": 1}], "user_id": "alice"}, None),
        ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "~agent:x"}, None),
        ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "a b"}, None),
        ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "alice", "infer": "x"}, None),
        ("GET", "/v1/memories/not-a-uuid/", None, None),
        ("DELETE", "/v2/entities/planet/earth/", None, None),
        ("DELETE", "/v2/entities/agent/a%00b/", None, None),
        ("GET", "/v1/memories/", None, {"user_id": "alice", "agent_id": "a\x00b"}),
        ("PUT", "/v1/batch/", {"memories": "all"}, None),
        ("DELETE", "/v1/batch/", {"memories": [{"id": "x"}]}, None),
        ("DELETE", "/v1/memories/", None, None),
        ("GET", "/v1/event/not-a-uuid/", None, None),
    ],
)
def test_malformed_requests_are_400(
    stack: PlatformStack,
    method: str,
    path: str,
    body: Any,
    params: dict[str, Any] | None,
) -> None:
    assert_error(call(stack, method, path, body, params=params), 400)


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v3/memories/add/", b'{"messages": "a\\u0000b", "user_id": "alice"}'),
        ("/v3/memories/add/", b'{"messages": "hi", "user_id": "alice", "metadata": {"x": NaN}}'),
        ("/v3/memories/add/", b'{"messages": "hi", "user_id": "alice", "timestamp": 1e300}'),
        ("/v3/memories/add/", b'{"messages": "hi", "agent_id": "a\\u0000b"}'),
        ("/v3/memories/", b'{"filters": {"user_id": "alice", "agent_id": "a\\u0000b"}}'),
        ("/v3/memories/", b'{"filters": {"user_id": "alice", "metadata": {"k": "\\u0000"}}}'),
        ("/v3/memories/", b'{"filters": {"user_id": "alice", "metadata": {"k": 1e400}}}'),
        ("/v3/memories/search/", b'{"query": "a\\u0000", "filters": {"user_id": "alice"}}'),
        (
            "/v3/memories/search/",
            b'{"query": "tea", "filters": {"user_id": "alice"}, "top_k": 1e9}',
        ),
    ],
)
def test_values_postgres_cannot_hold_are_400(stack: PlatformStack, path: str, raw: bytes) -> None:
    assert_error(call(stack, "POST", path, raw=raw), 400)


def test_bodies_that_are_not_json_objects_are_400(stack: PlatformStack) -> None:
    assert_error(call(stack, "POST", "/v3/memories/", raw=b"{not json"), 400, "JSON")
    assert_error(call(stack, "POST", "/v3/memories/", raw=b"[1, 2]"), 400, "object")
    assert_error(call(stack, "POST", "/v3/memories/", raw=b"\xff\xfe"), 400, "JSON")


def test_unknown_ids_paths_and_methods(stack: PlatformStack) -> None:
    missing = uuid.uuid4()
    for method in ("GET", "PUT", "DELETE"):
        body = {"text": "x"} if method == "PUT" else None
        assert_error(call(stack, method, f"/v1/memories/{missing}/", body), 404, "not found")
    assert_error(call(stack, "GET", f"/v1/memories/{missing}/history/"), 404)
    assert_error(call(stack, "GET", f"/v1/event/{missing}/"), 404)
    assert_error(call(stack, "GET", "/v1/memories/a/b/c/"), 404)
    assert_error(call(stack, "PATCH", "/v3/memories/add/", {}), 405)


def test_a_key_cannot_reach_another_users_memories(stack: PlatformStack) -> None:
    added = call(
        stack, "POST", "/v3/memories/add/", {"messages": "I own a red bike", "user_id": "alice"}
    )
    assert added.status == 200, added.body
    memory_id = added.json["results"][0]["id"]
    assert call(stack, "GET", f"/v1/memories/{memory_id}/").status == 200
    for method in ("GET", "PUT", "DELETE"):
        body = {"text": "stolen"} if method == "PUT" else None
        assert_error(call(stack, method, f"/v1/memories/{memory_id}/", body, key="bob"), 404)
    assert_error(call(stack, "GET", f"/v1/memories/{memory_id}/history/", key="bob"), 404)
    assert_error(
        call(stack, "DELETE", "/v1/batch/", {"memories": [{"memory_id": memory_id}]}, key="bob"),
        404,
    )
    as_bob = {"filters": {"user_id": "alice"}}
    assert_error(call(stack, "POST", "/v3/memories/", as_bob, key="bob"), 403, "alice")
    search = {"query": "bike", "filters": {"user_id": "alice"}}
    assert_error(call(stack, "POST", "/v3/memories/search/", search, key="bob"), 403)
    add = {"messages": "bob writes", "user_id": "alice"}
    assert_error(call(stack, "POST", "/v3/memories/add/", add, key="bob"), 403)
    # Agent-only memories belong to a reserved user a key bound to users cannot reach.
    agent = {"messages": "hi", "agent_id": "support-bot"}
    assert_error(call(stack, "POST", "/v3/memories/add/", agent, key="bob"), 403, "~agent")
    assert_error(call(stack, "DELETE", "/v2/entities/user/alice/", key="bob"), 403, "alice")
    assert call(stack, "GET", f"/v1/memories/{memory_id}/").status == 200


def test_requests_count_in_the_rpc_metrics_and_log(stack: PlatformStack) -> None:
    assert_error(call(stack, "POST", "/v3/memories/add/", {"messages": "hi"}), 400)
    assert call(stack, "GET", "/v1/ping/").status == 200
    text = stack.metrics()
    for code, method in (("INVALID_ARGUMENT", "add"), ("OK", "ping")):
        line = next(
            line
            for line in text.splitlines()
            if line.startswith("grpc_server_handled_total{")
            and 'grpc_service="mem0.Platform"' in line
            and f'grpc_method="{method}"' in line
            and f'grpc_code="{code}"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) >= 1
    logged = [
        json.loads(line)
        for line in stack.server.logs().splitlines()
        if line.startswith("{") and '"platform"' in line
    ]
    assert any(
        entry["method"] == "POST /v3/memories/add/"
        and entry["status"] == 400
        and entry["request_id"]
        and entry["key_id"]
        for entry in logged
    ), logged[-5:]
