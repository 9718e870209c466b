"""Which built web UI the platform port serves (MEM0STACK_UI_DIR, or a built ui/dist)."""

from __future__ import annotations

from pathlib import Path

from mem0stack_server.transport.platform.ui import CHECKOUT_DIST, resolve_ui_dir


def _built(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "index.html").write_text("<!doctype html>")
    return directory


def test_the_configured_directory_wins_when_built(tmp_path: Path) -> None:
    configured = _built(tmp_path / "elsewhere")
    _built(tmp_path / "ui" / "dist")
    assert resolve_ui_dir(configured, cwd=tmp_path) == configured


def test_a_configured_directory_without_a_build_serves_no_ui(tmp_path: Path) -> None:
    # Not silently another build: the operator named this one.
    _built(tmp_path / "ui" / "dist")
    assert resolve_ui_dir(tmp_path / "empty", cwd=tmp_path) is None


def test_unset_serves_the_working_directorys_build(tmp_path: Path) -> None:
    built = _built(tmp_path / "ui" / "dist")
    assert resolve_ui_dir(None, cwd=tmp_path) == built


def test_unset_without_any_build_falls_back_to_the_checkouts(tmp_path: Path) -> None:
    found = resolve_ui_dir(None, cwd=tmp_path)
    expected = CHECKOUT_DIST if (CHECKOUT_DIST / "index.html").is_file() else None
    assert found == expected
