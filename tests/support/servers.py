"""Start and stop real `mem0stack serve` processes for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """A server subprocess on a given database and port.

    ``database_url`` ``None`` runs the embedded PostgreSQL of ``MEM0STACK_DATA_DIR`` (in
    ``env``). ``credentials`` are what the test's own channels (the readiness check included) use
    when the server serves TLS (``MEM0STACK_TLS_*`` in ``env``).
    """

    def __init__(
        self,
        database_url: str | None,
        port: int,
        env: dict[str, str] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.database_url = database_url
        self.port = port
        self.env = env or {}
        self.credentials = credentials
        # Every test server gets its own mem0 Platform port (tests run several at once).
        self.platform_port = int(self.env.get("MEM0STACK_PLATFORM_PORT") or free_port())
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"mem0stack-test-{port}.log"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if k != "MEM0STACK_DATABASE_URL"},
            **({"MEM0STACK_DATABASE_URL": self.database_url} if self.database_url else {}),
            "MEM0STACK_LISTEN": self.target,
            "MEM0STACK_METRICS_LISTEN": "",
            "MEM0STACK_GRACE_PERIOD_S": "2",
            "MEM0STACK_PLATFORM_PORT": str(self.platform_port),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mem0stack_server.cli.main", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.wait_serving(timeout_s)

    def wait_serving(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                with (
                    grpc.secure_channel(self.target, self.credentials)
                    if self.credentials is not None
                    else grpc.insecure_channel(self.target)
                ) as channel:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"server not serving after {timeout_s}s:\n{self.log_path.read_text()[-4000:]}"
        )

    def stop(self) -> int:
        """SIGTERM and wait for the graceful shutdown; returns the exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def logs(self) -> str:
        return self.log_path.read_text()

    @asynccontextmanager
    async def channel(self, api_key: str | None = None) -> AsyncIterator[grpc.aio.Channel]:
        interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
        if api_key is not None:
            interceptors = (BearerInterceptor(api_key),)
        if self.credentials is not None:
            secure = grpc.aio.secure_channel(
                self.target, self.credentials, interceptors=interceptors
            )
            async with secure as channel:
                yield channel
            return
        async with grpc.aio.insecure_channel(self.target, interceptors=interceptors) as channel:
            yield channel


class BearerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds ``authorization: Bearer <key>`` to every unary call."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self.key}")]
        details = details._replace(metadata=metadata)
        return await continuation(details, request)
