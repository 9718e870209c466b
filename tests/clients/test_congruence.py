"""Congruence: one scenario through every front door, same results.

The scenario of tests/clients/scenario.py runs through the Python, Go and TypeScript clients
(each its own copy, in its own language), through REST/JSON on a real Envoy
(scenario_rest.py) and through the MCP bridge with the MCP SDK's client (scenario_mcp.py),
against the same live server, each as a user of its own. Each result is normalised JSON;
they must agree with each other and with what the scenario means. MCP's tools cover part of
the scenario: the steps and fields they cannot do are listed in scenario_mcp.py and compared
without. The Go and TypeScript toolchains come from `make clients-tools` (Go modules pinned
in clients/go/go.sum, npm packages in clients/ts/package-lock.json).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mem0stack.v1 import memory_pb2
from tests.clients import scenario, scenario_mcp, scenario_rest
from tests.support.envoy import EnvoyProcess
from tests.support.servers import REPO, ServerProcess

GO_DIR = REPO / "clients" / "go"
#: The keys of a normalised memory.
MEMORY_KEYS = scenario.memory(memory_pb2.Memory(), scenario.Positions([])).keys()
TS_DIR = REPO / "clients" / "ts"


def _run(command: list[str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _user(door: str) -> str:
    return f"congruence-{door}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def gateway(server: ServerProcess) -> Iterator[EnvoyProcess]:
    envoy = EnvoyProcess(upstream=server.target)
    envoy.start()
    yield envoy
    envoy.stop()


@pytest.fixture(scope="module")
def results(server: ServerProcess, gateway: EnvoyProcess) -> dict[str, dict[str, Any]]:
    go = shutil.which("go")
    assert go, "the Go toolchain is needed for the congruence test"
    tsc = TS_DIR / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "run `make clients-tools` (npm ci in clients/ts) first"
    subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=TS_DIR, check=True, timeout=300)
    # The MCP session needs an event loop of its own, outside the tests' loop.
    with ThreadPoolExecutor(1) as pool:
        mcp = pool.submit(asyncio.run, scenario_mcp.run(server.target, _user("mcp"))).result()
    return {
        "python": scenario.run(server.target, _user("py")),
        "go": _run([go, "run", "./internal/scenario", server.target, _user("go")], GO_DIR),
        "ts": _run(
            ["node", "dist/test/scenario.js", server.target, _user("ts")],
            TS_DIR,
        ),
        "rest": scenario_rest.run(gateway.target, _user("rest")),
        "mcp": mcp,
    }


def test_the_scenario_means_what_it_says(results: dict[str, dict[str, Any]]) -> None:
    py = results["python"]
    assert [m["content"] for m in py["created"]] == [s[0] for s in scenario.SEED]
    assert py["pages"] == [["#2", "#1"], ["#0"]]
    assert py["listed"] == ["#2", "#1", "#0"]
    assert py["search"][0]["name"] == "#1"
    assert py["updated"]["content"] == "I like aisle seats"
    assert py["updated"]["metadata"] == {"topic": "travel"}
    assert py["get_deleted"] == {"code": 5, "reason": "MEMORY_NOT_FOUND"}
    assert [r["event"] for r in py["revisions"]["#0"]] == ["CREATE", "UPDATE"]
    assert [r["event"] for r in py["revisions"]["#1"]] == ["CREATE", "DELETE"]
    assert py["remaining"] == ["#2", "#0"]
    assert py["bad_filter"] == {"code": 3, "reason": "UNKNOWN_FILTER_FIELD"}


@pytest.mark.parametrize("door", ["go", "ts", "rest"])
def test_front_doors_agree(results: dict[str, dict[str, Any]], door: str) -> None:
    expected, got = results["python"], results[door]
    for key in expected:
        assert got.get(key) == expected[key], f"{door} differs from python in {key!r}"
    assert got.keys() == expected.keys()


def _without_mcp_fields(value: Any) -> Any:
    """``value`` with every normalised memory's fields the MCP tools lack removed."""
    if isinstance(value, list):
        return [_without_mcp_fields(item) for item in value]
    if isinstance(value, dict) and value.keys() == MEMORY_KEYS:
        return {k: v for k, v in value.items() if k not in scenario_mcp.NO_FIELD}
    return value


def test_mcp_agrees_where_it_has_tools(results: dict[str, dict[str, Any]]) -> None:
    expected, got = results["python"], results["mcp"]
    # Every step runs through MCP but those written down as having no tool.
    assert got.keys() == expected.keys() - scenario_mcp.NO_TOOL.keys()
    assert scenario_mcp.NO_TOOL.keys() < expected.keys()
    for key in got:
        assert got[key] == _without_mcp_fields(expected[key]), f"mcp differs from python in {key!r}"
