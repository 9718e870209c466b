"""mem0's own Python client (mem0ai, pinned in bench/requirements-mem0.txt) against the mem0
Platform routes, through Envoy as `make run` serves them.

mem0ai needs protobuf < 7, so the scenario (tests/clients/platform_scenario_mem0.py) runs in
.venv-mem0 as a subprocess; `make test` creates that environment first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mem0_platform import MEM0_PYTHON, PlatformStack, platform_stack

SCENARIO = Path(__file__).with_name("platform_scenario_mem0.py")


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[PlatformStack]:  # type: ignore[no-untyped-def]
    if not MEM0_PYTHON.exists():
        pytest.skip(".venv-mem0 is missing: `make bench-setup` (or `make test`) creates it")
    with platform_stack(make_database) as running:
        yield running


def test_memory_client_and_async_memory_client_run_the_scenario(stack: PlatformStack) -> None:
    result = subprocess.run(
        [str(MEM0_PYTHON), str(SCENARIO)],
        env=stack.client_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{result.stdout}\n{result.stderr[-6000:]}\nserver log:\n{stack.server.logs()[-3000:]}"
    )
    assert "mem0 platform scenario: OK" in result.stdout
