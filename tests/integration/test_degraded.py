"""With the LLM's circuit open, everything that needs no LLM keeps working.

The fake LLM fails until the breaker opens (llm/breaker.py); the reset time is long, so it
stays open for the whole test. CreateMemory, AddMemories with infer=false, Search and List
answer as usual; AddMemories with inference is refused at once; an asynchronous AddMemories
ends FAILED with nothing written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import grpc
import pytest

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, operation_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, Reply
from tests.support.metrics import metric_value
from tests.support.servers import ServerProcess, free_port

METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def llm_server(make_database, fake_llm: FakeLLM) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    process = ServerProcess(
        database_url=make_database("degraded"),
        port=free_port(),
        env={
            **fake_llm.server_env(),
            "MEM0STACK_LLM_TIMEOUT_S": "1",
            "MEM0STACK_LLM_MAX_RETRIES": "1",
            "MEM0STACK_LLM_BACKOFF_BASE_S": "0.05",
            "MEM0STACK_LLM_BACKOFF_MAX_S": "0.2",
            "MEM0STACK_LLM_BREAKER_FAILURES": "3",
            "MEM0STACK_LLM_BREAKER_RESET_S": "600",
            "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{METRICS_PORT}",
        },
    )
    process.start()
    yield process
    process.stop()


def circuit_state() -> float:
    state = metric_value(METRICS_PORT, "mem0stack_llm_circuit_state")
    if state is None:
        raise AssertionError("no mem0stack_llm_circuit_state metric")
    return state


def conversation(parent: str, text: str, **fields: object) -> svc.AddMemoriesRequest:
    return svc.AddMemoriesRequest(
        parent=parent, messages=[memory_pb2.Message(role="user", content=text)], **fields
    )


async def test_with_the_circuit_open_what_needs_no_llm_works(
    llm_server: ServerProcess, fake_llm: FakeLLM, user_id: str
) -> None:
    parent = f"users/{user_id}"
    async with llm_server.channel() as channel:
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        await stub.CreateMemory(
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content="Likes tea"))
        )

        # The endpoint goes down until the breaker opens (3 failures; 2 tries per call).
        fake_llm.reset()
        fake_llm.responder = lambda request: Reply(status=503, error="overloaded")
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.AddMemories(conversation(parent, "I like chess"))
        assert circuit_state() == 2  # open
        sent = len(fake_llm.requests)

        created = await stub.CreateMemory(
            svc.CreateMemoryRequest(parent=parent, memory=memory_pb2.Memory(content="Likes jazz"))
        )
        assert created.content == "Likes jazz"
        verbatim = await stub.AddMemories(
            conversation(parent, "I play the cello", infer=False, request_id="verbatim-1")
        )
        assert [e.memory.content for e in verbatim.events] == ["I play the cello"]
        found = await stub.SearchMemories(svc.SearchMemoriesRequest(parent=parent, query="music"))
        assert {r.memory.content for r in found.results} >= {"Likes jazz", "I play the cello"}
        listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
        everything = sorted(m.content for m in listed.memories)
        assert everything == ["I play the cello", "Likes jazz", "Likes tea"]

        # Inference is refused at once, without calling the endpoint.
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.AddMemories(conversation(parent, "I like chess"))
        assert time.monotonic() - started < 0.5
        error = details_of(refused.value)
        assert (error.code, error.reason, error.retry) == (
            grpc.StatusCode.UNAVAILABLE,
            "LLM_UNAVAILABLE",
            True,
        )

        # The asynchronous form is accepted, then ends FAILED with nothing written.
        accepted = await stub.AddMemories(conversation(parent, "I like opera", async_mode=True))
        deadline = time.monotonic() + 30
        while True:
            op = await stub.GetOperation(operation_pb2.GetOperationRequest(name=accepted.operation))
            if op.done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert op.state == operation_pb2.Operation.FAILED, op
        assert op.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert not op.HasField("response")
        listed = await stub.ListMemories(svc.ListMemoriesRequest(parent=parent))
        assert sorted(m.content for m in listed.memories) == everything
        assert len(fake_llm.requests) == sent  # the open circuit kept every call off the endpoint
        fake_llm.responder = None
