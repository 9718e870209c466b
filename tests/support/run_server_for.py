"""Run a command against a fresh mem0-stack server on the embedded default.

    python -m tests.support.run_server_for [--cwd DIR] -- COMMAND [ARG...]

Starts PostgreSQL with pgvector (pgserver, in a temporary directory) and a development-mode
``mem0stack serve`` on a free loopback port, runs COMMAND with ``MEM0STACK_TEST_TARGET``
set to the server's ``host:port``, stops both and exits with COMMAND's exit code. The Go
and TypeScript client tests run under it (``make test-clients-go``, ``test-clients-ts``).
``$MEM0STACK_TEST_DATABASE_URL``, when set, is used instead of the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# Run as a script or a module, from anywhere: the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.servers import ServerProcess, free_port


@contextmanager
def dev_server() -> Iterator[ServerProcess]:
    """A development-mode server on its own PostgreSQL, stopped on exit."""
    external = os.environ.get("MEM0STACK_TEST_DATABASE_URL")
    pg = None
    if external:
        dsn = external
    else:
        # Before any gRPC object exists in this process: pgserver forks.
        import pgserver

        pg = pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="mem0stack-clients-pg-")), cleanup_mode="delete"
        )
        dsn = pg.get_uri()
    server = ServerProcess(database_url=dsn, port=free_port())
    try:
        server.start()
        yield server
    finally:
        code = server.stop()
        if code not in (0, -15):
            print(f"server exited with {code}; log: {server.log_path}", file=sys.stderr)
        if pg is not None:
            pg.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cwd", type=Path, help="Directory to run COMMAND in.")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    with dev_server() as server:
        env = {**os.environ, "MEM0STACK_TEST_TARGET": server.target}
        return subprocess.call(command, env=env, cwd=args.cwd)


if __name__ == "__main__":
    sys.exit(main())
