"""Two server replicas of the image behind the image's Envoy, on one external PostgreSQL: the
part of deploy/compose.yaml that needs no registry image, on the host's network.

As in compose, Envoy knows the replicas by one name that resolves to both (there a network
alias, here two /etc/hosts entries), and they listen on the same port of two loopback
addresses.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.containers import (
    GRPCURL,
    SERVICE,
    Container,
    container_dsn,
    grpcurl,
    rest,
    run,
    run_gateway,
    server_env,
)
from tests.support.servers import free_port

REPLICA_HOSTS = ("127.0.0.2", "127.0.0.3")


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


class Watch:
    """``grpcurl WatchMemories`` in the background, its output collected line by line."""

    def __init__(self, target: str, user: str) -> None:
        self.process = subprocess.Popen(
            [
                str(GRPCURL),
                "-plaintext",
                "-max-time",
                "60",
                "-d",
                f'{{"parent": "users/{user}"}}',
                target,
                f"{SERVICE}/WatchMemories",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_for(self, text: str, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in "".join(self.output):
                return
            time.sleep(0.1)
        raise AssertionError(f"the watch never printed {text!r}:\n{''.join(self.output)}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def test_two_replicas_behind_envoy(
    image: str,
    make_database,  # type: ignore[no-untyped-def]
    containers: list[Container],
) -> None:
    inside, options = container_dsn(make_database("replicas"))
    port = free_port()
    replicas = []
    for host in REPLICA_HOSTS:
        replica = run(
            image,
            f"replica-{host.rsplit('.', 1)[1]}",
            env=server_env(
                f"{host}:{port}",
                MEM0STACK_DATABASE_URL=inside,
                # Long enough for Envoy's 0.5 s health checks to see NOT_SERVING twice.
                MEM0STACK_DRAIN_DELAY_S="2",
                # A checkpoint every second shows that a watch is established.
                MEM0STACK_WATCH_CHECKPOINT_S="1",
            ),
            options=options,
        )
        containers.append(replica)
        replicas.append(replica)
    for replica in replicas:
        replica.wait_healthy()
    first, second = (f"{host}:{port}" for host in REPLICA_HOSTS)

    gateway = run_gateway(
        image,
        f"replicas:{port}",
        options=[arg for host in REPLICA_HOSTS for arg in ("--add-host", f"replicas:{host}")],
    )
    containers.append(gateway.container)
    gateway.wait_healthy_hosts(2)

    # A watch on the second replica, established (it has sent a checkpoint) before the write.
    user = f"replicas-{uuid.uuid4().hex[:8]}"
    watch = Watch(second, user)
    try:
        watch.wait_for('"checkpoint": true')
        created = grpcurl(
            first,
            f"{SERVICE}/CreateMemory",
            {"parent": f"users/{user}", "memory": {"content": "Plays the oboe"}},
        )
        # Written through the first, read through the second, and seen by the watch there.
        read = grpcurl(second, f"{SERVICE}/GetMemory", {"name": created["name"]})
        assert read["content"] == "Plays the oboe"
        watch.wait_for(created["name"])
    finally:
        watch.stop()

    # Stopping one replica while REST calls flow through Envoy: it drains (NOT_SERVING, its
    # drain delay, calls in flight finish), Envoy moves the calls to the other replica (its
    # health checks, and retries of what the draining one refuses), and none fails.
    failures: list[tuple[int, object]] = []
    calls = 0
    stopped: list[tuple[int, float]] = []
    stopping = threading.Thread(target=lambda: stopped.append(replicas[0].stop(20)))
    stopping.start()
    deadline = time.monotonic() + 8
    while stopping.is_alive() or time.monotonic() < deadline:
        status, answer = rest(gateway, "GET", f"/v1/{created['name']}")
        calls += 1
        if status != 200:
            failures.append((status, answer))
        if time.monotonic() > deadline + 30:
            break
        time.sleep(0.05)
    stopping.join()
    assert not failures, f"{len(failures)} of {calls} calls failed: {failures[:3]}"
    assert stopped and stopped[0][0] == 0, f"exit code after SIGTERM: {stopped}"
    assert gateway.healthy_hosts() == 1
