"""SIGTERM under load: calls in flight finish within the grace period (none CANCELLED),
calls that arrive after it are refused cleanly with UNAVAILABLE, and an open stream ends
with the cursor to resume from, from which another server delivers everything after it.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.fake_llm import FakeLLM, Recorded, Reply, facts
from tests.support.servers import ServerProcess, free_port

LLM_DELAY_S = 1.5


@pytest.fixture
def slow_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()

    def answer(request: Recorded) -> Reply:
        return facts(f"Said: {request.user[-40:]}", delay_s=LLM_DELAY_S)

    fake.responder = answer
    fake.start()
    yield fake
    fake.stop()


def _llm_env(fake: FakeLLM) -> dict[str, str]:
    return {
        **fake.server_env(),
        "MEM0STACK_LLM_TIMEOUT_S": "10",
        "MEM0STACK_GRACE_PERIOD_S": "2.5",
        "MEM0STACK_WATCH_CHECKPOINT_S": "1",
    }


async def _add(stub: memory_service_pb2_grpc.MemoryServiceStub, user: str, n: int) -> str:
    try:
        await stub.AddMemories(
            svc.AddMemoriesRequest(
                parent=f"users/{user}",
                messages=[memory_pb2.Message(role="user", content=f"I collect stamps, {n}")],
            ),
            timeout=20,
        )
        return "OK"
    except grpc.aio.AioRpcError as exc:
        return exc.code().name


async def _quick(
    stub: memory_service_pb2_grpc.MemoryServiceStub, user: str, done: asyncio.Event
) -> list[str]:
    """Fast calls, one after another, until the server has exited."""
    ended = []
    i = 0
    while not done.is_set():
        i += 1
        try:
            await stub.CreateMemory(
                svc.CreateMemoryRequest(
                    parent=f"users/{user}", memory=memory_pb2.Memory(content=f"note {i}")
                ),
                timeout=20,
            )
            ended.append("OK")
        except grpc.aio.AioRpcError as exc:
            ended.append(exc.code().name)
            # As the SDKs do: wait as long as the server's RetryInfo asks, if it says.
            await asyncio.sleep(_retry_delay(exc) or 0.05)
    return ended


def _retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    status = status_pb2.Status()
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            return float(retry.retry_delay.ToTimedelta().total_seconds())
    return None


async def test_sigterm_under_load_cancels_nothing_and_streams_end_with_a_cursor(
    make_database, slow_llm: FakeLLM
) -> None:  # type: ignore[no-untyped-def]
    database_url = make_database("drain")
    server = ServerProcess(database_url, free_port(), env=_llm_env(slow_llm))
    server.start()
    watched = f"user-{uuid.uuid4().hex[:8]}"
    try:
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            watch = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=f"users/{watched}"))
            await watch.initial_metadata()
            slow = [
                asyncio.create_task(_add(stub, f"user-{uuid.uuid4().hex[:8]}", n))
                for n in range(12)
            ]
            exited = asyncio.Event()
            quick = [asyncio.create_task(_quick(stub, watched, exited)) for _ in range(6)]
            # Every slow call is with the LLM when the signal comes.
            deadline = time.monotonic() + 10
            while len(slow_llm.requests) < 12 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the fake LLM runs in a thread: poll it
            assert len(slow_llm.requests) >= 12
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            started = time.monotonic()

            delivered: list[str] = []
            cursor = ""
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                async for message in watch:
                    cursor = message.cursor
                    if message.HasField("change"):
                        delivered.append(message.change.memory.name)
            slow_ended = await asyncio.gather(*slow)
            code = await asyncio.to_thread(server.process.wait, 30)
            took = time.monotonic() - started
            exited.set()
            quick_ended = [code for codes in await asyncio.gather(*quick) for code in codes]

        assert code == 0
        assert slow_ended == ["OK"] * 12, Counter(slow_ended)
        assert "CANCELLED" not in quick_ended, Counter(quick_ended)
        assert set(quick_ended) <= {"OK", "UNAVAILABLE"}, Counter(quick_ended)
        assert took < 8 + 5, f"shutdown took {took:.1f}s"

        # The watch ended UNAVAILABLE, with RetryInfo and the cursor of the last message
        # it delivered (or of its start).
        got = details_of(ended.value)
        assert got.code == grpc.StatusCode.UNAVAILABLE
        assert got.reason == "SHUTTING_DOWN"
        assert got.retry
        resume_from = got.metadata["cursor"]
        assert resume_from == cursor or not cursor

        # Another server (the same database) resumes from it: nothing is lost, nothing
        # delivered twice.
        server.start()
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            # Waits out the reconnect backoff left from the old server's refused connections
            # (this process shares subchannels between channels).
            listed = await stub.ListMemories(
                svc.ListMemoriesRequest(parent=f"users/{watched}", page_size=1000),
                wait_for_ready=True,
                timeout=20,
            )
            stored = {m.name for m in listed.memories}
            resumed = stub.WatchMemories(
                streams_pb2.WatchMemoriesRequest(parent=f"users/{watched}", cursor=resume_from)
            )
            rest: list[str] = []
            async for message in resumed:
                if message.HasField("change"):
                    rest.append(message.change.memory.name)
                if message.checkpoint or set(delivered + rest) >= stored:
                    break
            resumed.cancel()
        assert not set(delivered) & set(rest)
        assert set(delivered) | set(rest) == stored
    finally:
        server.stop()
