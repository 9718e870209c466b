"""A real Neo4j for tests and benchmarks: the embedded launcher of deploy/neo4j.

``Neo4jProcess`` builds the launcher when it is missing (Maven, once; `make neo4j-launcher`
does the same ahead of time), starts it on a free loopback port with its own data
directory, and waits for its ready line. The launcher exits when its standard input
closes, so a test run that dies takes Neo4j with it.

``TcpProxy`` sits between a server and Neo4j so a test can take Neo4j "down" (refuse and
drop connections) and bring it back without restarting it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.support.servers import REPO, free_port

RUN = REPO / "deploy" / "neo4j" / "run.sh"


def build_launcher() -> None:
    """Build the launcher jar if it is missing or stale (no-op otherwise)."""
    subprocess.run([str(RUN), "--build-only"], check=True, cwd=REPO)


class Neo4jProcess:
    """An embedded Neo4j 5.26 with Bolt on 127.0.0.1:``port``."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="mem0stack-test-neo4j-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "launcher.log"

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 300.0) -> None:
        build_launcher()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(RUN), "--data", str(self.data_dir), "--port", str(self.port), "--stop-on-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=REPO,
            env={**os.environ, "NEO4J_JAVA_OPTS": "-Xms256m -Xmx768m -XX:+UseSerialGC"},
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        ready = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith(b"mem0stack-neo4j ready"):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        while not ready.wait(0.2):
            if self.process.poll() is not None:
                raise RuntimeError(f"Neo4j exited early:\n{self.logs()[-4000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Neo4j not ready after {timeout_s}s:\n{self.logs()[-4000:]}")

    def logs(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        debug = self.data_dir / "logs" / "debug.log"
        if debug.exists():
            text += debug.read_text(errors="replace")[-4000:]
        return text

    def stop(self) -> None:
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()  # the launcher shuts Neo4j down cleanly
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a backend port; ``down()`` drops every connection
    and refuses new ones until ``up()``."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                backend = socket.create_connection(("127.0.0.1", self.backend_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, backend]
            for a, b in ((client, backend), (backend, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
