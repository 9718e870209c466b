"""API keys for tests, made the way an operator makes them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.servers import REPO


def create_key(database_url: str, *args: str) -> str:
    """Run the real CLI, as an operator would, and return the key it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "keys", "create", *args],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return result.stdout.strip().splitlines()[-1]


def revoke_key(database_url: str, key: str) -> None:
    """Revoke ``key`` with the real CLI, by its id (the part between the underscores)."""
    subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "keys", "revoke", key.split("_")[1]],
        env={**os.environ, "MEM0STACK_DATABASE_URL": database_url},
        check=True,
        cwd=REPO,
        capture_output=True,
    )


def bearer(key: str) -> list[tuple[str, str]]:
    """Call metadata carrying ``key``: streaming calls need it explicitly, because the
    channel's BearerInterceptor (tests/support/servers.py) only wraps unary calls."""
    return [("authorization", f"Bearer {key}")]
