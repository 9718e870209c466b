"""Run a command against a fresh mem0-stack server on the embedded default.

    python -m tests.support.run_server_for [--cwd DIR] -- COMMAND [ARG...]

Starts PostgreSQL with pgvector (pgserver, in a temporary directory) and a development-mode
``mem0stack serve`` on a free loopback port, runs COMMAND with ``MEM0STACK_TEST_TARGET``
set to the server's ``host:port``, stops both and exits with COMMAND's exit code. The Go
and TypeScript client tests run under it (``make test-clients-go``, ``test-clients-ts``).
``$MEM0STACK_TEST_DATABASE_URL``, when set, is used instead of the embedded PostgreSQL.

With ``--tls`` a second server on the same database serves mutual TLS, from a CA and
certificates made for the run: ``MEM0STACK_TEST_TLS_TARGET`` is its ``host:port``,
``MEM0STACK_TEST_CA_FILE`` the CA, ``MEM0STACK_TEST_CLIENT_CERT`` and
``MEM0STACK_TEST_CLIENT_KEY`` a client certificate it accepts (PEM files).

With ``--admin`` a third server, on a database of its own on the same PostgreSQL, requires
API keys (``MEM0STACK_AUTH=keys``) and has one admin key, made by ``mem0stack keys create
--admin`` as an operator would: ``MEM0STACK_TEST_ADMIN_TARGET`` is its ``host:port`` and
``MEM0STACK_TEST_ADMIN_KEY`` the key, for the AdminService tests. They cannot use the
development-mode server: the first key created there would end development mode for it and
for every other test still running against it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc

# Run as a script or a module, from anywhere: the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.certs import CertificateAuthority
from tests.support.keys import create_key
from tests.support.servers import ServerProcess, free_port


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    try:
        server.start()
        yield server
    finally:
        code = server.stop()
        if code not in (0, -15):
            print(f"server exited with {code}; log: {server.log_path}", file=sys.stderr)


@contextmanager
def mtls_server(dsn: str) -> Iterator[dict[str, str]]:
    """A second server on ``dsn`` that requires client certificates; the test environment."""
    directory = Path(tempfile.mkdtemp(prefix="mem0stack-clients-pki-"))
    ca = CertificateAuthority()
    ca_file = ca.write(directory / "ca.crt")
    server_cert = ca.issue(directory, "server", server=True)
    client = ca.issue(directory, "client")
    process = ServerProcess(
        database_url=dsn,
        port=free_port(),
        env={
            "MEM0STACK_TLS_CERT_FILE": str(server_cert.cert_file),
            "MEM0STACK_TLS_KEY_FILE": str(server_cert.key_file),
            "MEM0STACK_TLS_CLIENT_CA_FILE": str(ca_file),
        },
        credentials=grpc.ssl_channel_credentials(ca.pem, client.key, client.cert),
    )
    with running(process):
        yield {
            "MEM0STACK_TEST_TLS_TARGET": process.target,
            "MEM0STACK_TEST_CA_FILE": str(ca_file),
            "MEM0STACK_TEST_CLIENT_CERT": str(client.cert_file),
            "MEM0STACK_TEST_CLIENT_KEY": str(client.key_file),
        }


@contextmanager
def admin_server(dsn: str) -> Iterator[dict[str, str]]:
    """A server that requires keys, on a new database beside ``dsn``; the test environment."""
    name = f"clients_admin_{uuid.uuid4().hex[:12]}"

    async def create_database() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create_database())
    own = urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    key = create_key(own, "--admin", "--label", "client tests")
    process = ServerProcess(database_url=own, port=free_port(), env={"MEM0STACK_AUTH": "keys"})
    with running(process):
        yield {"MEM0STACK_TEST_ADMIN_TARGET": process.target, "MEM0STACK_TEST_ADMIN_KEY": key}


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
    try:
        with running(ServerProcess(database_url=dsn, port=free_port())) as server:
            yield server
    finally:
        if pg is not None:
            pg.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cwd", type=Path, help="Directory to run COMMAND in.")
    parser.add_argument(
        "--tls", action="store_true", help="Also start a server with mutual TLS (see above)."
    )
    parser.add_argument(
        "--admin",
        action="store_true",
        help="Also start a server that requires keys, with an admin key (see above).",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    with ExitStack() as stack:
        server = stack.enter_context(dev_server())
        env = {**os.environ, "MEM0STACK_TEST_TARGET": server.target}
        if args.tls:
            env.update(stack.enter_context(mtls_server(server.database_url)))
        if args.admin:
            env.update(stack.enter_context(admin_server(server.database_url)))
        return subprocess.call(command, env=env, cwd=args.cwd)


if __name__ == "__main__":
    sys.exit(main())
