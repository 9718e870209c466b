"""Congruence: one scenario through every front door, same results.

The scenario of tests/clients/scenario.py runs through the Python, Go and TypeScript clients
(each its own copy, in its own language) and through REST/JSON on a real Envoy
(scenario_rest.py), against the same live server, each as a user of its own. Each result is
normalised JSON; they must agree with each other and with what the scenario means. The Go
and TypeScript toolchains come from `make clients-tools` (Go modules pinned in
clients/go/go.sum, npm packages in clients/ts/package-lock.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import scenario, scenario_rest
from tests.support.envoy import EnvoyProcess
from tests.support.servers import REPO, ServerProcess

GO_DIR = REPO / "clients" / "go"
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
    return {
        "python": scenario.run(server.target, _user("py")),
        "go": _run([go, "run", "./internal/scenario", server.target, _user("go")], GO_DIR),
        "ts": _run(
            ["node", "dist/test/scenario.js", server.target, _user("ts")],
            TS_DIR,
        ),
        "rest": scenario_rest.run(gateway.target, _user("rest")),
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
