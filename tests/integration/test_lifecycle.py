"""Server life cycle: persistence across restarts, reflection, graceful shutdown, config errors."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.servers import REPO, ServerProcess, free_port


async def test_data_survives_a_restart(make_database) -> None:  # type: ignore[no-untyped-def]
    process = ServerProcess(database_url=make_database("restart"), port=free_port())
    process.start()
    async with process.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        created = await stub.CreateMemory(
            svc.CreateMemoryRequest(
                parent="users/ro", memory=memory_pb2.Memory(content="Speaks Portuguese")
            )
        )
    assert process.stop() == 0  # SIGTERM drains and exits cleanly

    process.start()
    try:
        async with process.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            got = await stub.GetMemory(svc.GetMemoryRequest(name=created.name))
            found = await stub.SearchMemories(
                svc.SearchMemoriesRequest(parent="users/ro", query="which language")
            )
        assert got == created
        assert found.results[0].memory.name == created.name
    finally:
        process.stop()


async def test_reflection_lists_the_services(server: ServerProcess) -> None:
    async with server.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        async for response in responses:
            names = {s.name for s in response.list_services_response.service}
            break
    assert {
        "mem0stack.v1.MemoryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


async def test_health_reports_serving(server: ServerProcess) -> None:
    async with server.channel() as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_other_embedding_dimension_stops_with_a_clear_error(make_database) -> None:  # type: ignore[no-untyped-def]
    database_url = make_database("dim")
    process = ServerProcess(database_url=database_url, port=free_port())
    process.start()
    process.stop()
    import asyncio

    import asyncpg

    async def fake_other_dimension() -> None:
        conn = await asyncpg.connect(database_url)
        await conn.execute("UPDATE store_meta SET value = '768' WHERE key = 'embedding_dim'")
        await conn.close()

    asyncio.run(fake_other_dimension())
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "serve"],
        env={
            **os.environ,
            "MEM0STACK_DATABASE_URL": database_url,
            "MEM0STACK_LISTEN": f"127.0.0.1:{free_port()}",
            "MEM0STACK_METRICS_LISTEN": "",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "768-dimensional" in result.stderr
    assert "384" in result.stderr


async def test_deadline_exceeded_is_reported(server: ServerProcess) -> None:
    async with server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        try:
            await stub.ListMemories(
                svc.ListMemoriesRequest(parent="users/deadline"), timeout=0.000001
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
