"""PostgreSQL killed (SIGKILL of the postmaster) and back, under load, without restarting
the server: while it is away every call ends quickly with UNAVAILABLE, reason
DATABASE_UNAVAILABLE and a RetryInfo, health says NOT_SERVING and a Watch ends with the
cursor to resume from; once it is back the same process serves again within seconds.

Two ways back: an external database the test restarts itself, and the embedded one the
server supervises and restarts on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.support.errors import details_of
from tests.support.metrics import metric_value
from tests.support.postgres import PrivatePostgres, kill_postmaster, postmaster_pid, wait_gone
from tests.support.servers import ServerProcess, free_port

#: No call may take longer than this while the database is away: they fail fast.
CALL_TIMEOUT_S = 5.0
#: Failed calls must have ended well within the client's timeout.
FAIL_FAST_S = 3.0


@dataclass
class Load:
    """Clients creating and listing memories in a loop, recording how each call ended."""

    stub: memory_service_pb2_grpc.MemoryServiceStub
    user: str
    outcomes: list[tuple[float, str, str, bool, float]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    stopping: bool = False

    async def client(self, n: int) -> None:
        i = 0
        while not self.stopping:
            i += 1
            start = time.monotonic()
            try:
                if i % 2:
                    made = await self.stub.CreateMemory(
                        svc.CreateMemoryRequest(
                            parent=f"users/{self.user}",
                            memory=memory_pb2.Memory(content=f"fact {n}-{i}"),
                        ),
                        timeout=CALL_TIMEOUT_S,
                    )
                    self.created.append(made.name)
                else:
                    await self.stub.ListMemories(
                        svc.ListMemoriesRequest(parent=f"users/{self.user}", page_size=5),
                        timeout=CALL_TIMEOUT_S,
                    )
                self.outcomes.append((start, "OK", "", False, time.monotonic() - start))
            except grpc.aio.UsageError:
                return  # the test ended (failed) and closed the channel
            except grpc.aio.AioRpcError as exc:
                got = details_of(exc)
                self.outcomes.append(
                    (start, got.code.name, got.reason, got.retry, time.monotonic() - start)
                )
                await asyncio.sleep(0.05)

    def failures(self) -> list[tuple[float, str, str, bool, float]]:
        return [o for o in self.outcomes if o[1] != "OK"]


async def _health(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=2
    )
    return int(reply.status)


async def _wait_health(channel: grpc.aio.Channel, status: int, timeout_s: float) -> float:
    """Seconds until health reports ``status``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if await _health(channel) == status:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    raise AssertionError(f"health not {name} after {timeout_s}s")


def _check_outage_errors(load: Load) -> None:
    failures = load.failures()
    assert failures, "no call failed while the database was away"
    kinds = Counter((code, reason, retry) for _, code, reason, retry, _ in failures)
    assert set(kinds) == {("UNAVAILABLE", "DATABASE_UNAVAILABLE", True)}, kinds
    slowest = max(seconds for *_, seconds in failures)
    assert slowest < FAIL_FAST_S, f"a failing call took {slowest:.1f}s"


async def _watch_until_error(
    stub: memory_service_pb2_grpc.MemoryServiceStub,
    user: str,
    ready: asyncio.Event,
    seen: list[str],
) -> grpc.aio.AioRpcError:
    call = stub.WatchMemories(streams_pb2.WatchMemoriesRequest(parent=f"users/{user}"))
    await call.initial_metadata()
    ready.set()
    try:
        async for message in call:
            if message.HasField("change"):
                seen.append(message.change.memory.name)
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the watch ended without an error while the database was away")


async def test_external_database_restarted_under_load(tmp_path: Path) -> None:
    postgres = PrivatePostgres(tmp_path / "pg")
    postgres.init()
    server = ServerProcess(postgres.dsn, free_port(), env={"MEM0STACK_GRACE_PERIOD_S": "5"})
    try:
        server.start()
        user = f"user-{uuid.uuid4().hex[:8]}"
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            # The watch starts first: it sees every memory the load creates.
            watch_ready = asyncio.Event()
            seen: list[str] = []  # by the first watch, then by the one resumed
            watch = asyncio.create_task(_watch_until_error(stub, user, watch_ready, seen))
            await watch_ready.wait()
            load = Load(stub, user)
            clients = [asyncio.create_task(load.client(n)) for n in range(6)]
            await asyncio.sleep(1.0)
            assert load.outcomes and not load.failures(), Counter(o[1] for o in load.outcomes)
            before = len(load.created)

            postgres.kill()
            killed_at = time.monotonic()
            await _wait_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING, 5.0)
            ended = await asyncio.wait_for(watch, 10.0)
            await asyncio.sleep(2.0)  # the load keeps calling a server without a database
            postgres.start()
            restarted_at = time.monotonic()
            back = await _wait_health(channel, health_pb2.HealthCheckResponse.SERVING, 10.0)
            await asyncio.sleep(1.0)
            load.stopping = True
            await asyncio.gather(*clients)

            _check_outage_errors(load)
            # Calls succeed again after the restart, in the same server process.
            recovered = [o for o in load.outcomes if o[0] > restarted_at + back and o[1] == "OK"]
            assert recovered, "no call succeeded after the database came back"
            assert not [
                o for o in load.outcomes if o[0] > restarted_at + back + 0.5 and o[1] != "OK"
            ]
            assert before > 0 and time.monotonic() - killed_at < 30

            # The watch ended UNAVAILABLE with a cursor; resuming from it misses nothing
            # and repeats nothing.
            assert seen, "the first watch delivered nothing before the outage"
            got = details_of(ended)
            assert (got.code, got.reason, got.retry) == (
                grpc.StatusCode.UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
                True,
            )
            assert got.metadata.get("cursor")
            resumed = stub.WatchMemories(
                streams_pb2.WatchMemoriesRequest(
                    parent=f"users/{user}", cursor=got.metadata["cursor"]
                )
            )

            async def read_resumed() -> None:
                async for message in resumed:
                    if message.HasField("change"):
                        seen.append(message.change.memory.name)
                    if set(load.created) <= set(seen):
                        return

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(read_resumed(), 15)
            resumed.cancel()
            missing = set(load.created) - set(seen)
            assert not missing, f"{len(missing)} of {len(load.created)} never delivered"
            assert len(seen) == len(set(seen)), "a change was delivered twice"
        assert server.stop() == 0
    finally:
        server.stop()
        postgres.stop()


async def test_sigterm_is_honoured_while_the_database_is_away(tmp_path: Path) -> None:
    postgres = PrivatePostgres(tmp_path / "pg")
    postgres.init()
    server = ServerProcess(postgres.dsn, free_port(), env={"MEM0STACK_GRACE_PERIOD_S": "3"})
    try:
        server.start()
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            load = Load(stub, f"user-{uuid.uuid4().hex[:8]}")
            clients = [asyncio.create_task(load.client(n)) for n in range(4)]
            await asyncio.sleep(0.5)
            postgres.kill()
            await _wait_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING, 5.0)
            assert server.process is not None
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, 20)
            took = time.monotonic() - start
            load.stopping = True
            await asyncio.gather(*clients)
        assert code == 0
        assert took < 3 + 5, f"SIGTERM took {took:.1f}s with the database away"
        server.process = None
    finally:
        server.stop()
        postgres.stop()


def _metric(port: int, name: str, **labels: str) -> float:
    value = metric_value(port, name, **labels)
    if value is None:
        raise AssertionError(f"no metric {name}")
    return value


async def test_embedded_database_is_restarted_by_the_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    metrics_port = free_port()
    server = ServerProcess(
        None,
        free_port(),
        env={
            "MEM0STACK_DATA_DIR": str(data_dir),
            "MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        },
    )
    try:
        server.start()
        async with server.channel() as channel:
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            load = Load(stub, f"user-{uuid.uuid4().hex[:8]}")
            clients = [asyncio.create_task(load.client(n)) for n in range(4)]
            await asyncio.sleep(1.0)
            assert _metric(metrics_port, "mem0stack_database_restarts_total") == 0

            first = kill_postmaster(data_dir)
            await _wait_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING, 5.0)
            back = await _wait_health(channel, health_pb2.HealthCheckResponse.SERVING, 20.0)
            await asyncio.sleep(1.0)
            load.stopping = True
            await asyncio.gather(*clients)

            wait_gone(first, 1.0)
            second = postmaster_pid(data_dir)
            assert second is not None and second != first
            assert back < 20
            _check_outage_errors(load)
            assert load.outcomes[-1][1] == "OK"
            assert _metric(metrics_port, "mem0stack_database_restarts_total") == 1
            assert _metric(metrics_port, "mem0stack_database_outages_total") == 1
            assert _metric(metrics_port, "mem0stack_database_up") == 1
            refused = _metric(
                metrics_port, "mem0stack_refused_total", reason="DATABASE_UNAVAILABLE"
            )
            assert refused > 0
        assert "restarted the embedded postgres" in server.logs()
        assert server.stop() == 0
    finally:
        server.stop()
        pid = postmaster_pid(data_dir)  # the server stops its postgres when it exits
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
