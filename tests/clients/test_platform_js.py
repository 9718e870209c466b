"""mem0's own npm client (mem0ai, pinned by tests/platform_js/package-lock.json) under Node 20
against the mem0 Platform routes, through Envoy as `make run` serves them.

`make test` installs the package first (`npm ci`, make/platform.mk).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.mem0_platform import PLATFORM_JS, PlatformStack, platform_stack


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[PlatformStack]:  # type: ignore[no-untyped-def]
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (PLATFORM_JS / "node_modules" / "mem0ai").exists():
        pytest.skip("mem0ai (npm) is not installed: `make platform-clients` installs it")
    with platform_stack(make_database) as running:
        yield running


def test_npm_memory_client_runs_the_scenario(stack: PlatformStack) -> None:
    result = subprocess.run(
        ["node", "scenario.mjs"],
        cwd=PLATFORM_JS,
        env=stack.client_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{result.stdout}\n{result.stderr[-6000:]}\nserver log:\n{stack.server.logs()[-3000:]}"
    )
    assert "mem0 platform scenario (npm): OK" in result.stdout
