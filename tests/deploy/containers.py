"""Run the mem0-stack image with podman, on the host's network, and reach it as an operator
does: grpcurl (the pinned one in .tools/bin), REST through the image's Envoy, podman's own
health check and stop.

Every container listens on a loopback address only (``--network=host``, addresses chosen by
the test), so nothing here ever talks to anything but this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from tests.support.servers import REPO, free_port

GRPCURL = REPO / ".tools" / "bin" / "grpcurl"
SERVICE = "mem0stack.v1.MemoryService"
# What deploy/compose.yaml asks of every mem0-stack container: a read-only root filesystem,
# no capabilities, no privilege gains.
HARDENED = (
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
# Inside the image: where a mounted PostgreSQL socket goes.
SOCKET_DIR_IN_CONTAINER = "/run/postgresql"


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a podman command. Its stderr is kept for error messages only: podman also writes
    there that it cannot schedule health checks without systemd, which is harmless here
    (``podman healthcheck run`` runs the image's check on demand)."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


@dataclass
class Container:
    """One container of the image, started detached; ``remove`` ends it whatever its state."""

    name: str
    started: float = field(default_factory=time.monotonic)

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The image's HEALTHCHECK, run now."""
        return podman("healthcheck", "run", self.name, check=False, timeout=30)

    def wait_healthy(self, timeout_s: float = 90) -> float:
        """Seconds from ``podman run`` until the image's health check passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.healthcheck().returncode == 0:
                return time.monotonic() - self.started
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()[-4000:]}")
            time.sleep(0.25)
        raise AssertionError(f"{self.name} not healthy after {timeout_s} s:\n{self.logs()[-4000:]}")

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=False)

    def stop(self, timeout_s: int) -> tuple[int, float]:
        """``podman stop`` (SIGTERM, then SIGKILL after ``timeout_s``): the exit code and how
        long stopping took."""
        start = time.monotonic()
        podman("stop", "--time", str(timeout_s), self.name, timeout=timeout_s + 30)
        elapsed = time.monotonic() - start
        code = podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip()
        return int(code), elapsed

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


def run(
    image: str,
    role: str,
    command: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    options: Iterable[str] = (),
) -> Container:
    """``podman run -d --network=host`` the image with ``command`` (default: its CMD),
    hardened as in deploy/compose.yaml."""
    name = f"mem0stack-test-{role}-{uuid.uuid4().hex[:8]}"
    args = ["run", "--detach", "--name", name, "--network=host", *HARDENED, *options]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    container = Container(name)
    podman(*args, image, *command)
    return container


def server_env(listen: str, **extra: str) -> dict[str, str]:
    """A server's environment for tests: its address, no metrics port, short drain."""
    return {
        "MEM0STACK_LISTEN": listen,
        "MEM0STACK_METRICS_LISTEN": "",
        "MEM0STACK_PLATFORM_PORT": "0",
        "MEM0STACK_GRACE_PERIOD_S": "5",
        "MEM0STACK_LOG_FORMAT": "console",
        **extra,
    }


@dataclass
class Gateway:
    """The image's Envoy (``mem0stack-gateway``) on free loopback ports."""

    container: Container
    port: int
    admin_port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def healthy_hosts(self) -> int:
        """Upstream servers Envoy currently routes to."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/clusters") as reply:
            lines = reply.read().decode().splitlines()
        return sum(
            1
            for line in lines
            if line.startswith("mem0stack::") and line.endswith("::health_flags::healthy")
        )

    def wait_healthy_hosts(self, count: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.healthy_hosts() >= count:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(
            f"Envoy does not see {count} healthy servers:\n{self.container.logs()[-3000:]}"
        )


def run_gateway(
    image: str, upstream: str, options: Iterable[str] = (), gateway_args: Iterable[str] = ()
) -> Gateway:
    port, admin_port = free_port(), free_port()
    container = run(
        image,
        "gateway",
        ["mem0stack-gateway", "--upstream", upstream, "--health-interval", "0.5", *gateway_args],
        env={
            "MEM0STACK_GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "MEM0STACK_GATEWAY_ADMIN": f"127.0.0.1:{admin_port}",
        },
        # Envoy's health check, as deploy/compose.yaml sets it.
        options=[
            "--health-cmd",
            f"mem0stack-healthcheck http http://127.0.0.1:{admin_port}/ready",
            *options,
        ],
    )
    container.wait_healthy(timeout_s=30)
    return Gateway(container, port, admin_port)


def grpcurl(
    target: str, method: str, request: Mapping[str, Any] | None = None, key: str | None = None
) -> Any:
    """One call with the pinned grpcurl, with API key ``key`` if given; the response as JSON
    (``list`` and ``describe``: text)."""
    args = [str(GRPCURL), "-plaintext", "-max-time", "30"]
    if key is not None:
        args += ["-H", f"authorization: Bearer {key}"]
    if request is not None:
        args += ["-d", json.dumps(request)]
    args += [target, *method.split(" ")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise AssertionError(f"grpcurl {method} on {target} failed:\n{result.stderr}")
    if method.startswith(("list", "describe")):
        return result.stdout
    return json.loads(result.stdout) if result.stdout.strip() else {}


def page(gateway: Gateway, path: str) -> tuple[int, str]:
    """A plain GET through Envoy (the web UI's files): the status and the text."""
    with urllib.request.urlopen(f"http://{gateway.target}{path}", timeout=30) as reply:
        return reply.status, reply.read().decode()


def rest(
    gateway: Gateway, method: str, path: str, body: Any = None, key: str | None = None
) -> tuple[int, Any]:
    """A REST call through Envoy, with API key ``key`` if given: the status and the JSON
    answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"http://{gateway.target}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def container_dsn(dsn: str) -> tuple[str, list[str]]:
    """The DSN a container on the host's network uses for the database ``dsn``, and the
    podman options it needs: a Unix-socket DSN (pgserver's) gets its socket file mounted,
    since the socket's folder on the host is PostgreSQL's private data directory."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = query.get("host", [""])[0]
    if not host.startswith("/"):
        return dsn, []
    socket_name = f".s.PGSQL.{parts.port or 5432}"
    query["host"] = [SOCKET_DIR_IN_CONTAINER]
    mount = f"{os.path.join(host, socket_name)}:{SOCKET_DIR_IN_CONTAINER}/{socket_name}"
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True))), ["--volume", mount]
