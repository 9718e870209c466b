"""The gateway's side of the web UI, without a browser: Envoy serves the built UI from the
server's platform port at /, and turns gRPC-web calls (the UI's transport) into gRPC, while
REST and mem0's routes stay as they were. The UI itself is tested in tests/ui (make test-ui).

The UI directory here is one the test writes: what matters is how its files are served.
"""

from __future__ import annotations

import http.client
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.envoy import EnvoyProcess
from tests.support.servers import ServerProcess, free_port

INDEX = b"<!doctype html><title>mem0-stack</title><script src='/assets/app-1a2b.js'></script>"
BUNDLE = b"console.log('mem0-stack');"


@contextmanager
def _stack(
    make_database: Callable[[str], str], ui_dir: Path
) -> Iterator[tuple[ServerProcess, EnvoyProcess]]:
    server = ServerProcess(
        database_url=make_database("ui"),
        port=free_port(),
        env={"MEM0STACK_UI_DIR": str(ui_dir)},
    )
    envoy = EnvoyProcess(upstream=server.target, platform=f"127.0.0.1:{server.platform_port}")
    try:
        server.start()
        envoy.start()
        yield server, envoy
    finally:
        envoy.stop()
        server.stop()


@pytest.fixture(scope="module")
def gateway(make_database, tmp_path_factory) -> Iterator[EnvoyProcess]:  # type: ignore[no-untyped-def]
    ui = tmp_path_factory.mktemp("ui-dist")
    (ui / "assets").mkdir()
    (ui / "index.html").write_bytes(INDEX)
    (ui / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (ui / "assets" / "app-1a2b.js").write_bytes(BUNDLE)
    with _stack(make_database, ui) as (_, envoy):
        yield envoy


def test_the_page_is_served_at_the_root_and_never_cached(gateway: EnvoyProcess) -> None:
    for path in ("/", "/index.html"):
        reply = gateway.request("GET", path)
        assert reply.status == 200, reply.body
        assert reply.body == INDEX
        assert reply.headers["content-type"].startswith("text/html")
        assert reply.headers["cache-control"] == "no-cache"
        # The page loads only its own scripts and talks only to its own origin.
        assert "script-src 'self'" in reply.headers["content-security-policy"]
        assert "connect-src 'self'" in reply.headers["content-security-policy"]


def test_assets_are_served_with_a_long_cache_life(gateway: EnvoyProcess) -> None:
    reply = gateway.request("GET", "/assets/app-1a2b.js")
    assert reply.status == 200
    assert reply.body == BUNDLE
    assert "immutable" in reply.headers["cache-control"]
    assert gateway.request("GET", "/favicon.svg").status == 200
    assert gateway.request("GET", "/assets/missing.js").status == 404
    # Nothing outside the UI directory can be reached through it.
    assert gateway.request("GET", "/assets/../../etc/passwd").status in (400, 404)


def test_rest_and_unknown_paths_are_unchanged(gateway: EnvoyProcess) -> None:
    listed = gateway.request("GET", "/v1/users/alice/memories")
    assert listed.status == 200
    assert listed.json["memories"] == []
    # A path that is neither the UI nor the API is still Envoy's REST 404, not the page.
    other = gateway.request("GET", "/users/alice/memories")
    assert other.status == 404
    assert other.body != INDEX


def _grpc_web(gateway: EnvoyProcess, method: str, request: bytes) -> tuple[int, bytes, bytes]:
    """One unary gRPC-web call over HTTP/1.1, as a browser makes it: (status, data, trailers).

    A call that fails before any message is "trailers-only": its status comes as HTTP
    headers, which are returned with the trailers, in the same ``name:value`` lines."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        conn.request(
            "POST",
            f"/mem0stack.v1.MemoryService/{method}",
            body=b"\x00" + struct.pack(">I", len(request)) + request,
            headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
        )
        reply = conn.getresponse()
        body = reply.read()
        headers = "".join(f"{k.lower()}:{v}\r\n" for k, v in reply.getheaders()).encode()
    finally:
        conn.close()
    data = b""
    trailers = headers if reply.getheader("grpc-status") is not None else b""
    while body:
        flag, length = body[0], struct.unpack(">I", body[1:5])[0]
        frame, body = body[5 : 5 + length], body[5 + length :]
        if flag & 0x80:
            trailers += frame
        else:
            data += frame
    return reply.status, data, trailers


def test_grpc_web_calls_reach_the_server(gateway: EnvoyProcess) -> None:
    created = gateway.request("POST", "/v1/users/webby/memories", {"content": "Likes gRPC-web"})
    assert created.status == 200, created.body
    status, data, trailers = _grpc_web(
        gateway,
        "ListMemories",
        svc.ListMemoriesRequest(parent="users/webby").SerializeToString(),
    )
    assert status == 200
    assert b"grpc-status:0" in trailers
    listed = svc.ListMemoriesResponse.FromString(data)
    assert [m.content for m in listed.memories] == ["Likes gRPC-web"]


def test_grpc_web_errors_keep_their_status_and_details(gateway: EnvoyProcess) -> None:
    status, data, trailers = _grpc_web(
        gateway, "ListMemories", svc.ListMemoriesRequest(parent="people/x").SerializeToString()
    )
    assert status == 200
    assert data == b""
    assert b"grpc-status:3" in trailers  # INVALID_ARGUMENT
    # The google.rpc.Status with its ErrorInfo, which the UI shows as reason and message.
    assert b"grpc-status-details-bin:" in trailers


def test_without_a_built_ui_the_root_is_not_found(make_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with _stack(make_database, tmp_path / "not-built") as (_, envoy):
        reply = envoy.request("GET", "/")
        assert reply.status == 404
        assert envoy.request("GET", "/v1/users/alice/memories").status == 200
