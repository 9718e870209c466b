"""A mem0-stack with API keys behind Envoy, for mem0's own clients (the Platform routes).

The server runs on a database of its own with three keys made by the real CLI: an admin
key and one key each for the users alice and bob. Envoy is rendered as in `make run`, with
the platform cluster pointing at the server's platform port.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.envoy import EnvoyProcess
from tests.support.keys import create_key
from tests.support.servers import REPO, ServerProcess, free_port

MEM0_PYTHON = REPO / ".venv-mem0" / "bin" / "python"
PLATFORM_JS = REPO / "tests" / "platform_js"


@dataclass
class PlatformStack:
    server: ServerProcess
    envoy: EnvoyProcess
    keys: dict[str, str]
    metrics_port: int

    def metrics(self) -> str:
        """The server's Prometheus exposition."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as reply:
            text: str = reply.read().decode()
        return text

    @property
    def url(self) -> str:
        """What mem0's clients take as ``host``: the gateway, as in `make run`."""
        return f"http://{self.envoy.target}"

    def client_env(self) -> dict[str, str]:
        """The environment of a mem0 client process: keys, host, no telemetry."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("MEM0")},
            "MEM0_TELEMETRY": "false",
            "MEM0_HOST": self.url,
            "MEM0_ADMIN_KEY": self.keys["admin"],
            "MEM0_ALICE_KEY": self.keys["alice"],
            "MEM0_BOB_KEY": self.keys["bob"],
            "HOME": str(Path(os.environ.get("TMPDIR", "/tmp")) / "mem0-client-home"),
        }


@contextmanager
def platform_stack(make_database: Callable[[str], str]) -> Iterator[PlatformStack]:
    database_url = make_database("platform")
    keys = {
        "admin": create_key(database_url, "--admin", "--label", "platform-admin"),
        "alice": create_key(database_url, "--user", "alice"),
        "bob": create_key(database_url, "--user", "bob"),
    }
    metrics_port = free_port()
    server = ServerProcess(
        database_url=database_url,
        port=free_port(),
        env={"MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{metrics_port}"},
    )
    server.start()
    envoy = EnvoyProcess(upstream=server.target, platform=f"127.0.0.1:{server.platform_port}")
    try:
        envoy.start()
        yield PlatformStack(server, envoy, keys, metrics_port)
    finally:
        envoy.stop()
        server.stop()
