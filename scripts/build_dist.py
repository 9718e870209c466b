"""Build every package of this tree into one directory (``make dist``).

    python scripts/build_dist.py --out dist --gomodproxy .tools/bin/gomodproxy

- ``python/``: the wheels of the server (mem0-stack), the client (mem0stack) and the MCP
  bridge (mem0stack-mcp), built without their dependencies (those come from PyPI at the
  versions of requirements.lock). Each is built from a copy of its sources, so nothing is
  left in the tree and no stale ``build/`` of an earlier build leaks into a wheel.
- ``npm/``: the TypeScript client's tarball (``npm pack``; its prepack script compiles it).
- ``goproxy/``: the Go client as a module proxy on disk (deploy/tools/gomodproxy), fetched
  with ``GOPROXY=file://<dist>/goproxy,https://proxy.golang.org``.
- ``SHA256SUMS``: a checksum of each file.

Every package carries the same version, read from the tree and checked to agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Each Python project: its directory and what of it the build needs.
PYTHON_PROJECTS = {
    "mem0-stack": (REPO, ["pyproject.toml", "server"]),
    "mem0stack": (REPO / "clients" / "python", ["pyproject.toml", "README.md", "src"]),
    "mem0stack-mcp": (REPO / "gateway" / "mcp", ["pyproject.toml", "mem0stack_mcp"]),
}
TS_CLIENT = REPO / "clients" / "ts"
GO_CLIENT = REPO / "clients" / "go"
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", ".mypy_cache")


def version() -> str:
    """The one version of every package; fails if the packages disagree."""
    found: dict[str, str] = {}
    for name, (folder, _) in PYTHON_PROJECTS.items():
        found[name] = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["version"]
    found["@mem0stack/client"] = json.loads((TS_CLIENT / "package.json").read_text())["version"]
    versions = {str(v) for v in found.values()}
    if len(versions) != 1:
        raise SystemExit(f"the packages' versions differ: {found}")
    return versions.pop()


def run(command: list[str], cwd: Path = REPO) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}{result.stderr}")
    return result.stdout


def build_wheels(out: Path) -> None:
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="mem0stack-dist-") as tmp:
        for name, (folder, parts) in PYTHON_PROJECTS.items():
            source = Path(tmp) / name
            source.mkdir()
            for part in parts:
                if (folder / part).is_dir():
                    shutil.copytree(folder / part, source / part, ignore=_JUNK)
                else:
                    shutil.copy2(folder / part, source / part)
            # The build backend is the pinned setuptools of requirements.lock.
            run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--no-build-isolation",
                    "--wheel-dir",
                    str(out),
                    str(source),
                ]
            )


def build_npm(out: Path) -> None:
    out.mkdir(parents=True)
    run(["npm", "pack", "--silent", "--pack-destination", str(out)], cwd=TS_CLIENT)


def build_go(out: Path, gomodproxy: str, release: str) -> None:
    # The time of the commit built, so that two builds of one commit agree.
    stamp = run(["git", "log", "-1", "--format=%cI"]).strip()
    run(
        [
            gomodproxy,
            "-dir",
            str(GO_CLIENT),
            "-version",
            f"v{release}",
            "-time",
            stamp,
            "-out",
            str(out),
        ]
    )


def checksums(out: Path) -> None:
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(out).as_posix()}"
        for path in sorted(out.rglob("*"))
        if path.is_file()
    ]
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gomodproxy", required=True, help="the gomodproxy binary")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    release = version()
    if out.exists():
        shutil.rmtree(out)
    build_wheels(out / "python")
    build_npm(out / "npm")
    build_go(out / "goproxy", args.gomodproxy, release)
    checksums(out)
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name not in ("SHA256SUMS", "list"):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
