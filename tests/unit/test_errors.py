"""Every error the server can send is in the contract: its reason is a value of
``ErrorReason`` in errors.proto, and its metadata keys are the ones documented there."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from mem0stack.v1 import errors_pb2
from mem0stack_server.domain.errors import Code, DomainError, Reason, invalid, status_proto

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "server" / "mem0stack_server"
ERRORS_PROTO = REPO / "proto" / "mem0stack" / "v1" / "errors.proto"
#: Keyword arguments of DomainError and its factories that are not ErrorInfo metadata.
NOT_METADATA = {"violations", "retry_after_s"}


def documented() -> dict[str, set[str]]:
    """Each ErrorReason value of errors.proto and the metadata keys its comment shows."""
    reasons: dict[str, set[str]] = {}
    comment: list[str] = []
    for line in ERRORS_PROTO.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comment.append(stripped.removeprefix("//").strip())
            continue
        value = re.fullmatch(r"([A-Z_]+) = \d+;", stripped)
        if value:
            text = " ".join(comment)
            assert text.startswith(f"{value.group(1)}") or ":" in text, value.group(1)
            keys: set[str] = set()
            for block in re.findall(r"metadata\s*\{([^}]*)\}", text):
                keys |= set(re.findall(r"(\w+)\s*:", block))
            reasons[value.group(1)] = keys
        comment = []
    return reasons


def sent() -> dict[str, set[str]]:
    """Each reason the server's source passes to an error, with the metadata keys passed."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            reasons = [
                arg.attr
                for arg in node.args
                if isinstance(arg, ast.Attribute)
                and isinstance(arg.value, ast.Name)
                and arg.value.id == "Reason"
            ]
            for reason in reasons:
                assert all(kw.arg is not None for kw in node.keywords), (
                    f"{path}:{node.lineno}: pass metadata by name, not **mapping"
                )
                found[reason] |= {str(kw.arg) for kw in node.keywords} - NOT_METADATA
    return found


def test_reason_enum_is_the_proto_enum() -> None:
    proto = set(errors_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
    assert {r.value for r in Reason} == proto
    assert {r.name for r in Reason} == proto


def test_every_reason_sent_is_documented_with_its_metadata_keys() -> None:
    docs = documented()
    by_source = sent()
    assert len(by_source) >= 25  # the scan sees the server's errors (not an empty walk)
    for reason, keys in sorted(by_source.items()):
        assert reason in docs, f"{reason} is sent but not in errors.proto"
        undocumented = keys - docs[reason]
        assert not undocumented, (
            f"{reason} is sent with metadata {sorted(undocumented)} that errors.proto does "
            f"not document (documented: {sorted(docs[reason])})"
        )


def test_status_proto_carries_the_details() -> None:
    error = invalid(Reason.INVALID_FILTER, "filter", "bad", position="3")
    status = status_proto(error)
    assert status.code == Code.INVALID_ARGUMENT == 3
    assert status.message == "filter: bad"
    assert [d.type_url.rsplit(".", 1)[-1] for d in status.details] == ["ErrorInfo", "BadRequest"]
    retry = status_proto(
        DomainError(Code.UNAVAILABLE, Reason.DATABASE_UNAVAILABLE, "down", retry_after_s=2)
    )
    assert [d.type_url.rsplit(".", 1)[-1] for d in retry.details] == ["ErrorInfo", "RetryInfo"]


def test_codes_are_the_canonical_ones() -> None:
    from google.rpc import code_pb2

    assert {c.name: c.value for c in Code} == dict(code_pb2.Code.items())
