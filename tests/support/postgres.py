"""A PostgreSQL of a test's own, which the test may kill and start again.

The session's server (conftest's ``pg_root_dsn``) is shared by every test, so a test that
takes the database away needs its own. This one runs pgserver's binaries directly: the test
owns the postmaster process, kills it with SIGKILL, and starts it again on the same data
directory and socket, as an operator's restart would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pgserver
import pgserver._commands as pg_commands


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid`` (its first line), if the file is there."""
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def kill_postmaster(data_dir: Path) -> int:
    """SIGKILL the postmaster of ``data_dir``, as a crash would; returns its pid."""
    pid = postmaster_pid(data_dir)
    assert pid is not None, f"no postmaster running in {data_dir}"
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until no process has ``pid`` (the killed postmaster has been reaped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise TimeoutError(f"process {pid} still there after {timeout_s}s")


class PrivatePostgres:
    """PostgreSQL on a Unix socket in ``data_dir``, started and killed by the test.

    pgserver makes the data directory and starts it the first time (as its own system
    user when the tests run as root, which PostgreSQL refuses); later starts run pg_ctl
    the same way.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log = data_dir / "log"
        self.system_user: str | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:@/postgres?host={self.data_dir}"

    def init(self) -> None:
        """Make the data directory and start PostgreSQL in it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(self.data_dir, cleanup_mode=None)  # type: ignore[attr-defined]
        self.system_user = server.system_user

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the postmaster again; a crashed one's shared memory may take a moment to go."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                pg_commands.pg_ctl(  # type: ignore[attr-defined]
                    [
                        "-w",
                        "-o",
                        '-h ""',
                        "-o",
                        f"-k {self.data_dir}",
                        "-l",
                        str(self.log),
                        "start",
                    ],
                    pgdata=self.data_dir,
                    user=self.system_user,
                    timeout=timeout_s,
                )
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the postmaster and wait until it is gone."""
        wait_gone(kill_postmaster(self.data_dir))

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_commands.pg_ctl(  # type: ignore[attr-defined]
                ["-m", "immediate", "stop"], pgdata=self.data_dir, user=self.system_user, timeout=30
            )
