"""The image as an operator runs it: the embedded default with its data in a volume, and a
server on an external PostgreSQL; each behind the image's own Envoy, driven with grpcurl and
REST, stopped with SIGTERM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.deploy.containers import (
    SERVICE,
    Container,
    container_dsn,
    grpcurl,
    page,
    podman,
    rest,
    run,
    run_gateway,
    server_env,
)
from tests.mcp.bridges import call
from tests.support.servers import free_port

# podman stop's grace period: SIGKILL after this. The server's own is 5 s (server_env).
STOP_TIMEOUT_S = 20


@pytest.fixture
def volume(image: str) -> Iterator[str]:
    name = f"mem0stack-test-data-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """Containers a test started; removed afterwards, whatever happened."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def start_embedded(
    image: str, volume: str, port: int, started: list[Container], platform_port: int = 0
) -> Container:
    server = run(
        image,
        "embedded",
        env=server_env(f"127.0.0.1:{port}", MEM0STACK_PLATFORM_PORT=str(platform_port)),
        options=["--volume", f"{volume}:/var/lib/mem0stack/data"],
    )
    started.append(server)
    return server


def assert_drains(server: Container) -> None:
    """SIGTERM (podman stop) ends the server cleanly, well within the grace period."""
    code, elapsed = server.stop(STOP_TIMEOUT_S)
    logs = server.logs()
    assert code == 0, f"exit code {code} after SIGTERM:\n{logs[-3000:]}"
    assert elapsed < STOP_TIMEOUT_S - 5, f"stopping took {elapsed:.1f} s"
    assert "shutting down" in logs and "stopped" in logs.rsplit("shutting down", 1)[1]


async def test_embedded_default_in_a_volume(
    image: str, volume: str, containers: list[Container]
) -> None:
    port, platform_port = free_port(), free_port()
    target = f"127.0.0.1:{port}"
    server = start_embedded(image, volume, port, containers, platform_port)
    seconds = server.wait_healthy()
    print(f"\nembedded server SERVING {seconds:.1f} s after podman run (first start, initdb)")

    # The CLI and the MCP bridge are in the image beside the server.
    assert server.exec("mem0stack", "--version").returncode == 0
    assert "streamable HTTP" in server.exec("mem0stack", "mcp", "--help").stdout
    assert SERVICE in grpcurl(target, "list")

    # The gateway also routes / (the web UI) and mem0's paths to the platform port.
    gateway = run_gateway(image, target, gateway_args=["--platform", f"127.0.0.1:{platform_port}"])
    containers.append(gateway.container)
    gateway.wait_healthy_hosts(1)

    user = f"image-{uuid.uuid4().hex[:8]}"
    created = grpcurl(
        target,
        f"{SERVICE}/CreateMemory",
        {"parent": f"users/{user}", "memory": {"content": "Keeps bees on the roof"}},
    )
    # gRPC through Envoy, then REST/JSON through Envoy.
    assert (
        grpcurl(gateway.target, f"{SERVICE}/GetMemory", {"name": created["name"]})["content"]
        == "Keeps bees on the roof"
    )
    status, answer = rest(
        gateway, "POST", f"/v1/users/{user}/memories", {"content": "Cycles to work"}
    )
    assert status == 200, answer
    status, answer = rest(
        gateway, "POST", f"/v1/users/{user}/memories:search", {"query": "bees", "top_k": 1}
    )
    assert status == 200, answer
    assert answer["results"][0]["memory"]["name"] == created["name"]
    # The web UI, from the image's own build, at / of the gateway.
    status, html = page(gateway, "/")
    assert status == 200 and "<title>mem0-stack</title>" in html

    # The MCP bridge from the same image, over streamable HTTP, on the same server.
    mcp_port = free_port()
    bridge = run(
        image,
        "mcp",
        ["mem0stack", "mcp", "--http", "--port", str(mcp_port), "--server", target],
        # The bridge's health check, as deploy/compose.yaml sets it.
        options=["--health-cmd", f"mem0stack-healthcheck http http://127.0.0.1:{mcp_port}/mcp"],
    )
    containers.append(bridge)
    bridge.wait_healthy()
    async with (
        httpx2.AsyncClient(headers={"X-Mem0stack-User": user}, timeout=30) as http,
        streamable_http_client(f"http://127.0.0.1:{mcp_port}/mcp", http_client=http) as (
            read,
            write,
        ),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        found = await call(session, "search_memory", query="cycling")
    assert found["results"][0]["memory"] == "Cycles to work"

    assert_drains(server)

    # A new container on the same volume finds everything: the embedded PostgreSQL stopped
    # cleanly and its files live in the volume, not in the container.
    again = start_embedded(image, volume, port, containers)
    seconds = again.wait_healthy()
    print(f"embedded server SERVING {seconds:.1f} s after podman run (existing data)")
    gateway.wait_healthy_hosts(1)
    status, answer = rest(gateway, "GET", f"/v1/users/{user}/memories?page_size=10")
    assert status == 200, answer
    assert {m["content"] for m in answer["memories"]} == {
        "Keeps bees on the roof",
        "Cycles to work",
    }
    assert_drains(again)


async def test_external_postgres(
    image: str,
    make_database,  # type: ignore[no-untyped-def]
    containers: list[Container],
    tmp_path: Path,
) -> None:
    """As deploy/compose.yaml runs it: API keys required, the database URL from a settings
    file mounted as a secret, the first key made with the image's CLI."""
    dsn = make_database("image")
    inside, options = container_dsn(dsn)
    settings = tmp_path / "server.toml"
    settings.write_text(f"database_url = {json.dumps(inside)}\n")
    settings.chmod(0o644)
    port = free_port()
    target = f"127.0.0.1:{port}"
    server = run(
        image,
        "external",
        env=server_env(
            target,
            MEM0STACK_CONFIG="/run/secrets/server.toml",
            MEM0STACK_AUTH="keys",
            MEM0STACK_DRAIN_DELAY_S="3",
        ),
        options=[*options, "--volume", f"{settings}:/run/secrets/server.toml:ro"],
    )
    containers.append(server)
    seconds = server.wait_healthy()
    print(f"\nserver on external PostgreSQL SERVING {seconds:.1f} s after podman run")
    gateway = run_gateway(image, target)
    containers.append(gateway.container)
    gateway.wait_healthy_hosts(1)

    created_key = server.exec("mem0stack", "keys", "create", "--admin", "--label", "image-test")
    assert created_key.returncode == 0, created_key.stderr
    key = created_key.stdout.strip().splitlines()[-1]

    user = f"image-{uuid.uuid4().hex[:8]}"
    status, answer = rest(gateway, "GET", f"/v1/users/{user}/memories")
    assert status == 401 and answer["code"] == 16, answer  # UNAUTHENTICATED without a key
    created = grpcurl(
        gateway.target,
        f"{SERVICE}/CreateMemory",
        {"parent": f"users/{user}", "memory": {"content": "Speaks Basque"}},
        key=key,
    )
    status, answer = rest(gateway, "GET", f"/v1/{created['name']}", key=key)
    assert status == 200, answer
    assert answer["content"] == "Speaks Basque"

    # The memory is in the external database itself.
    connection = await asyncpg.connect(dsn)
    try:
        stored = await connection.fetchval("SELECT content FROM memories WHERE user_id = $1", user)
    finally:
        await connection.close()
    assert stored == "Speaks Basque"

    # SIGTERM: the server reports NOT_SERVING at once, so the image's health check fails
    # while it still serves out its drain delay, and Envoy takes it out of rotation.
    podman("kill", "--signal", "TERM", server.name)
    assert server.healthcheck().returncode != 0
    assert server.running()
    assert_drains(server)
    # With its only server gone, Envoy answers REST at once, as google.rpc.Status JSON.
    gateway_status, answer = rest(gateway, "GET", f"/v1/{created['name']}", key=key)
    assert gateway_status == 503 and answer["code"] == 14, answer
