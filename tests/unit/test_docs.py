"""Docs that are generated from code must match it."""

from __future__ import annotations

from pathlib import Path

from scripts.gen_config_doc import render

REPO = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_current() -> None:
    current = (REPO / "docs" / "configuration.md").read_text()
    assert current == render(), (
        "run: .venv/bin/python scripts/gen_config_doc.py > docs/configuration.md"
    )
