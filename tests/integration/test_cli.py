"""The mem0stack command line against real databases and servers: keys on the server's
database, import progress that follows the server, export and import over TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import grpc
import pytest
from click.testing import CliRunner

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack_server.cli import main
from mem0stack_server.cli.transfer import Connection, import_memories
from tests.support.servers import REPO, ServerProcess, free_port

# Nothing from the environment the tests run in may choose a database, server or key.
_CLI_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith("MEM0STACK_") or k == "MEM0STACK_TEST_DATABASE_URL"
}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**_CLI_ENV, **(env or {})},
        timeout=120,
    )


# keys


def _create_key(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main.cli, ["keys", "create", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_keys_list_json_has_every_field_and_no_secret(make_database) -> None:  # type: ignore[no-untyped-def]
    dsn = make_database("cli_keys")
    runner = CliRunner(env={"MEM0STACK_DATABASE_URL": dsn})
    user_key = _create_key(runner, "--user", "alice", "--user", "alice-work", "--label", "app")
    admin_key = _create_key(runner, "--admin")
    admin_id = admin_key.split("_")[1]
    assert runner.invoke(main.cli, ["keys", "revoke", admin_id]).exit_code == 0

    # By flag this time, with the environment variable out of the way.
    listed = CliRunner(env={"MEM0STACK_DATABASE_URL": None}).invoke(
        main.cli, ["keys", "list", "--json", "--database-url", dsn]
    )

    assert listed.exit_code == 0, listed.output
    records = json.loads(listed.stdout)
    by_id = {r["id"]: r for r in records}
    assert set(by_id) == {user_key.split("_")[1], admin_id}
    for record in records:
        assert set(record) == {
            "id",
            "role",
            "users",
            "label",
            "create_time",
            "last_use_time",
            "revoke_time",
        }
        assert dt.datetime.fromisoformat(record["create_time"]).tzinfo is not None
    user_record = by_id[user_key.split("_")[1]]
    assert user_record["role"] == "user"
    assert user_record["users"] == ["alice", "alice-work"]
    assert user_record["label"] == "app"
    assert user_record["revoke_time"] is None
    assert by_id[admin_id]["role"] == "admin"
    assert by_id[admin_id]["users"] == []
    revoked = dt.datetime.fromisoformat(by_id[admin_id]["revoke_time"])
    assert revoked >= dt.datetime.fromisoformat(by_id[admin_id]["create_time"])
    for key in (user_key, admin_key):
        assert key.rsplit("_", 1)[1] not in listed.stdout


def test_keys_through_the_servers_admin_service(make_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without a database option the keys commands ask the running server: the first key
    in development mode, then only with an admin key; both ways list the same keys."""
    dsn = make_database("cli_keys_server")
    server = ServerProcess(dsn, free_port(), env={"MEM0STACK_AUTH_CACHE_S": "0.2"})
    server.start()
    try:
        at = ("--target", server.target)
        first = _cli("keys", "create", "--admin", "--label", "ops", *at, env=_CLI_ENV)
        assert first.returncode == 0, first.stderr
        admin_key = first.stdout.strip().splitlines()[-1]
        time.sleep(0.5)  # the server ends development mode within its cache window

        refused = _cli("keys", "list", *at, env=_CLI_ENV)
        assert refused.returncode == 1
        assert "UNAUTHENTICATED" in refused.stderr and "--api-key" in refused.stderr

        as_admin = (*at, "--api-key", admin_key)
        made = _cli("keys", "create", "--user", "alice", *as_admin, env=_CLI_ENV)
        assert made.returncode == 0, made.stderr
        user_key = made.stdout.strip().splitlines()[-1]
        denied = _cli("keys", "list", *at, "--api-key", user_key, env=_CLI_ENV)
        assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr

        user_id = user_key.split("_")[1]
        assert _cli("keys", "revoke", user_id, *as_admin, env=_CLI_ENV).returncode == 0
        again = _cli("keys", "revoke", user_id, *as_admin, env=_CLI_ENV)
        assert again.returncode == 1 and f"no active key {user_id!r}" in again.stderr

        over_server = json.loads(_cli("keys", "list", "--json", *as_admin, env=_CLI_ENV).stdout)
        on_database = json.loads(
            _cli("keys", "list", "--json", env={**_CLI_ENV, "MEM0STACK_DATABASE_URL": dsn}).stdout
        )
        assert over_server == on_database
        by_id = {r["id"]: r for r in over_server}
        assert by_id[admin_key.split("_")[1]]["last_use_time"] is not None
        assert by_id[user_id]["revoke_time"] is not None
    finally:
        server.stop()


def test_keys_list_truncates_nothing_in_a_narrow_terminal(make_database) -> None:  # type: ignore[no-untyped-def]
    dsn = make_database("cli_narrow")
    users = [f"customer-{i:02d}-of-the-northern-region" for i in range(8)]
    created = _cli(
        "keys", "create", "--label", "a label of some length", *[
            word for user in users for word in ("--user", user)
        ], env={"MEM0STACK_DATABASE_URL": dsn},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.strip().splitlines()[-1].split("_")[1]

    listed = _cli("keys", "list", env={"MEM0STACK_DATABASE_URL": dsn, "COLUMNS": "40"})

    assert listed.returncode == 0, listed.stderr
    as_json = _cli("keys", "list", "--json", env={"MEM0STACK_DATABASE_URL": dsn})
    (record,) = json.loads(as_json.stdout)
    for value in (key_id, ",".join(users), "a label of some length", record["create_time"]):
        assert value in listed.stdout, value
    assert "…" not in listed.stdout


def test_keys_act_on_an_initialised_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # What `mem0stack serve` leaves behind: an initialised embedded PostgreSQL.
    init = "import pgserver, sys; pgserver.get_server(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", init, str(data_dir)],
        check=True,
        env=_CLI_ENV,
        capture_output=True,
        timeout=120,
    )

    created = _cli("keys", "create", "--user", "alice", "--data-dir", str(data_dir))
    listed = _cli("keys", "list", "--json", env={"MEM0STACK_DATA_DIR": str(data_dir)})

    assert created.returncode == 0, created.stderr
    assert listed.returncode == 0, listed.stderr
    (record,) = json.loads(listed.stdout)
    assert record["id"] == created.stdout.strip().splitlines()[-1].split("_")[1]


# import progress


def _stored_counter(database_url: str, user: str) -> Callable[[], int]:
    """Count the user's stored memories from inside the import's own event loop."""
    pool = ThreadPoolExecutor(1)

    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            found: int = await conn.fetchval(
                "SELECT count(*) FROM memories WHERE user_id = $1", user
            )
            return found
        finally:
            await conn.close()

    return lambda: pool.submit(asyncio.run, count()).result()


async def test_import_progress_never_runs_ahead_of_the_server(
    server: ServerProcess, user_id: str, tmp_path: Path
) -> None:
    too_long, repeated, broken = 37, 40, 50  # line numbers that store nothing
    lines = []
    for number in range(1, 71):
        if number == too_long:
            lines.append(json.dumps({"id": "long", "memory": "x" * 20_000}))
        elif number == repeated:  # line 3's id again, in a later stream
            lines.append(json.dumps({"id": "m-3", "memory": "Memory number 3, again"}))
        elif number == broken:
            lines.append("{broken")
        else:
            lines.append(json.dumps({"id": f"m-{number}", "memory": f"Memory number {number}"}))
    path = tmp_path / "memories.jsonl"
    path.write_text("\n".join(lines) + "\n")
    stored = _stored_counter(server.database_url, user_id)
    seen: list[tuple[int, int, int]] = []

    def on_progress(done: int, total: int) -> None:
        seen.append((done, total, stored()))

    report = await import_memories(
        Connection(server.target), user_id, path, chunk_size=16, on_progress=on_progress
    )

    assert [done for done, _, _ in seen] == [16, 32, 48, 64, 70]
    assert {total for _, total, _ in seen} == {70}
    for done, _, held in seen:
        settled_without_storing = sum(n <= done for n in (too_long, repeated, broken))
        assert held == done - settled_without_storing, (done, held)
    assert (report.imported, report.skipped) == (67, 1)
    assert [line for line, _ in report.failures] == [too_long, broken]
    assert "20000 characters" in report.failures[0][1]

    seen.clear()
    again = await import_memories(
        Connection(server.target), user_id, path, chunk_size=16, on_progress=on_progress
    )
    assert (again.imported, again.skipped) == (0, 68)
    assert seen[-1][0] == 70 and seen[-1][2] == 67


# TLS


def _self_signed(host: str) -> tuple[bytes, bytes]:
    """A private key and a self-signed CA certificate for ``host`` and 127.0.0.1 (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


class RecordingMemoryService(memory_service_pb2_grpc.MemoryServiceServicer):
    """Export and import only, remembering the authorization each call brought."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        self.imported: list[str] = []

    def _record(self, context: grpc.aio.ServicerContext) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        self.authorizations.append(metadata.get("authorization"))

    async def ExportMemories(self, request, context):  # type: ignore[no-untyped-def]
        self._record(context)
        for i in range(2):
            yield streams_pb2.ExportMemoriesResponse(
                memory=memory_pb2.Memory(
                    name=f"{request.parent}/memories/m{i}", content=f"sent over TLS {i}"
                ),
                cursor=f"c{i}",
            )

    async def ImportMemories(self, request_iterator, context):  # type: ignore[no-untyped-def]
        self._record(context)
        async for request in request_iterator:
            self.imported.append(request.memory.content)
        return streams_pb2.ImportMemoriesResponse(imported=len(self.imported))


@pytest.fixture
async def tls_server(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, Path, RecordingMemoryService]]:
    """A TLS server on localhost with a private CA: (target, CA file, its service)."""
    key_pem, cert_pem = _self_signed("localhost")
    ca_file = tmp_path / "private-ca.pem"
    ca_file.write_bytes(cert_pem)
    service = RecordingMemoryService()  # type: ignore[abstract]  # serves only two RPCs
    server = grpc.aio.server()
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(service, server)
    port = server.add_secure_port("localhost:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    await server.start()
    yield f"localhost:{port}", ca_file, service
    await server.stop(None)


async def _cli_async(*args: str) -> tuple[int, str, str]:
    """The CLI in a subprocess, while this event loop keeps serving the test server."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mem0stack_server.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env=_CLI_ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_export_and_import_over_tls_with_a_private_ca(
    tls_server: tuple[str, Path, RecordingMemoryService], tmp_path: Path
) -> None:
    target, ca_file, service = tls_server
    exported = tmp_path / "out.jsonl"
    common = ["--target", target, "--api-key", "m0s_key", "--ca-cert", str(ca_file)]

    code, _, err = await _cli_async("export", "--user", "alice", "-o", str(exported), *common)
    assert code == 0, err
    contents = [json.loads(line)["content"] for line in exported.read_text().splitlines()]
    assert contents == ["sent over TLS 0", "sent over TLS 1"]

    code, _, err = await _cli_async("import", str(exported), "--user", "bob", *common)
    assert code == 0, err
    assert "imported 2" in err
    assert service.imported == contents
    assert service.authorizations == ["Bearer m0s_key", "Bearer m0s_key"]


async def test_tls_to_an_untrusted_server_fails_before_the_key_is_sent(
    tls_server: tuple[str, Path, RecordingMemoryService], tmp_path: Path
) -> None:
    target, _, service = tls_server
    code, _, err = await _cli_async(
        "export", "--user", "alice", "--target", target, "--api-key", "m0s_key", "--tls",
        "-o", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    assert code == 1
    assert "UNAVAILABLE" in err and "--ca-cert" in err
    assert service.authorizations == []


async def test_a_ca_certificate_with_no_tls_is_a_usage_error(
    tls_server: tuple[str, Path, RecordingMemoryService],
) -> None:
    target, ca_file, service = tls_server
    code, _, err = await _cli_async(
        "export", "--user", "alice", "--target", target, "--no-tls", "--ca-cert", str(ca_file)
    )
    assert code == 2
    assert "--no-tls" in err
    assert service.authorizations == []
