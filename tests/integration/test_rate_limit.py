"""Requests per second per API key (MEM0STACK_RATE_LIMIT_RPS), over gRPC and mem0's routes."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest

from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack.v1 import memory_service_pb2_grpc
from tests.support.errors import details_of
from tests.support.keys import create_key
from tests.support.servers import ServerProcess, free_port

BURST = 3


@pytest.fixture(scope="module")
def limited(make_database) -> Iterator[tuple[ServerProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A server allowing each key 0.5 requests per second, in bursts of 3."""
    database_url = make_database("ratelimit")
    keys = {
        "alice": create_key(database_url, "--user", "alice"),
        "bob": create_key(database_url, "--user", "bob"),
    }
    env = {"MEM0STACK_RATE_LIMIT_RPS": "0.5", "MEM0STACK_RATE_LIMIT_BURST": str(BURST)}
    process = ServerProcess(database_url=database_url, port=free_port(), env=env)
    process.start()
    yield process, keys
    process.stop()


async def _list(process: ServerProcess, key: str, user: str) -> None:
    async with process.channel(api_key=key) as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        await stub.ListMemories(svc.ListMemoriesRequest(parent=f"users/{user}"))


async def test_a_key_over_its_rate_is_told_when_to_retry(limited) -> None:  # type: ignore[no-untyped-def]
    process, keys = limited
    for _ in range(BURST):
        await _list(process, keys["alice"], "alice")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list(process, keys["alice"], "alice")
    details = details_of(refused.value)
    assert details.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.reason == "RATE_LIMITED"
    assert details.metadata == {"limit_rps": "0.5"}
    assert details.retry
    # Another key has a budget of its own.
    await _list(process, keys["bob"], "bob")
    # One token comes back every 2 s.
    await asyncio.sleep(2.1)
    await _list(process, keys["alice"], "alice")


def _ping(process: ServerProcess, key: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{process.platform_port}/v1/memories/?user_id=bob",
        headers={"Authorization": f"Token {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
        assert "detail" in body
        return int(error.code)


async def test_mem0_routes_answer_429_from_the_same_budget(limited) -> None:  # type: ignore[no-untyped-def]
    process, keys = limited
    await asyncio.sleep(2 * BURST + 0.1)  # bob's bucket full again
    statuses = [await asyncio.to_thread(_ping, process, keys["bob"]) for _ in range(BURST + 1)]
    assert statuses == [200] * BURST + [429]
    # The gRPC call draws from the same bucket.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list(process, keys["bob"], "bob")
    assert details_of(refused.value).reason == "RATE_LIMITED"
