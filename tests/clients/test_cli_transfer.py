"""``mem0stack export`` and ``import`` are clients of the Python SDK: what the server says
reaches the user as the SDK's Mem0StackError reads it, code and ErrorInfo reason."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mem0stack import Client
from mem0stack_server.cli import main
from tests.support.servers import ServerProcess

# Nothing from the environment the tests run in may choose the server or a key.
_NO_ENV = {"MEM0STACK_TARGET": None, "MEM0STACK_API_KEY": None, "MEM0STACK_CA_CERT": None}


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner(env=_NO_ENV).invoke(main.cli, list(args))
    return result.exit_code, result.stderr


def test_a_rejected_export_names_the_reason(
    server: ServerProcess, user_id: str, tmp_path: Path
) -> None:
    code, err = _cli(
        "export", "--user", user_id, "--filter", 'colour = "red"',
        "--target", server.target, "-o", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    assert code == 1
    assert "INVALID_ARGUMENT UNKNOWN_FILTER_FIELD" in err and "colour" in err


def test_a_rejected_import_names_the_reason(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "m-1", "memory": "Likes tea"}) + "\n")
    code, err = _cli("import", str(path), "--user", "Not A User!", "--target", server.target)
    assert code == 1
    assert "INVALID_ARGUMENT INVALID_NAME" in err


def test_export_keeps_whole_numbers_whole(
    server: ServerProcess, user_id: str, tmp_path: Path
) -> None:
    metadata = {"priority": 7, "ratio": 0.5, "nested": {"ids": [1, 2]}}
    with Client(server.target) as client:
        client.create(user_id, "Numbered", metadata=metadata)
    out = tmp_path / "out.jsonl"
    code, err = _cli("export", "--user", user_id, "--target", server.target, "-o", str(out))
    assert code == 0, err
    (line,) = out.read_text().splitlines()
    exported = json.loads(line)["metadata"]
    assert exported == metadata
    # 7, not the Struct's 7.0: metadata is JSON, and 7 is what was written.
    assert type(exported["priority"]) is int and type(exported["nested"]["ids"][0]) is int
