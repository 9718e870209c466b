"""The MemoryClient examples of docs/moving-from-mem0.md run, as written, with mem0's pinned
Python and npm clients against a server behind Envoy (only the key and host are swapped)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.mem0_platform import MEM0_PYTHON, PLATFORM_JS, PlatformStack, platform_stack
from tests.support.servers import REPO

PAGE = REPO / "docs" / "moving-from-mem0.md"
SECTION = "## The Platform's `MemoryClient`"


def blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of the MemoryClient section, in order."""
    text = PAGE.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    found = re.findall(rf"```{language}\n(.*?)```", text[start:end], flags=re.S)
    assert found, f"no {language} examples in {SECTION}"
    return found


def as_run(code: str, stack: PlatformStack) -> str:
    return code.replace("m0s_your_key", stack.keys["alice"]).replace(
        "http://localhost:8080", stack.url
    )


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[PlatformStack]:  # type: ignore[no-untyped-def]
    with platform_stack(make_database) as running:
        yield running


def test_python_examples_run(stack: PlatformStack) -> None:
    if not MEM0_PYTHON.exists():
        pytest.skip(".venv-mem0 is missing: `make platform-clients` (or `make test`) creates it")
    script = "\n".join(as_run(code, stack) for code in blocks("python"))
    result = subprocess.run(
        [str(MEM0_PYTHON), "-c", script],
        env=stack.client_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    lines = result.stdout.splitlines()
    assert "['ADD', 'UPDATE']" in lines
    assert "['trip-42']" in lines
    assert "I take my coffee black" in lines


def test_javascript_example_runs(stack: PlatformStack) -> None:
    if shutil.which("node") is None or not (PLATFORM_JS / "node_modules" / "mem0ai").exists():
        pytest.skip("node or mem0ai (npm) is missing: `make platform-clients` installs it")
    (code,) = blocks("js")
    result = subprocess.run(
        ["node", "--input-type=module", "-e", as_run(code, stack)],
        cwd=PLATFORM_JS,
        env=stack.client_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    assert "1 memories" in result.stdout
