"""No module of a folder that holds runnable scripts is named like a standard module.

``python tests/support/run_server_for.py`` puts ``tests/support`` first on ``sys.path``, so a
``tests/support/platform.py`` there replaced the standard ``platform`` for every import the
script made (pgserver's among them) and broke the client tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_script_folders_shadow_no_standard_module() -> None:
    scripts = {p.parent for p in REPO.glob("**/*.py") if _is_script(p)}
    clashes = sorted(
        str(p.relative_to(REPO))
        for folder in scripts
        for p in folder.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem in sys.stdlib_module_names
    )
    assert not clashes, f"rename these, they shadow standard modules for scripts: {clashes}"


def _is_script(path: Path) -> bool:
    if any(part.startswith(".") or part in {"node_modules", "build"} for part in path.parts):
        return False
    try:
        return '__name__ == "__main__"' in path.read_text(errors="ignore")
    except OSError:
        return False
