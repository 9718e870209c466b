"""TLS and mutual TLS, end to end, with certificates made here (tests/support/certs.py).

Real `mem0stack serve` processes serving TLS from certificate files, reached by the Python
SDK, the CLI's export, the MCP bridge and REST through a real Envoy that also speaks TLS on
both sides. What a user would notice: the right CA connects, anything else (no CA, another
CA, plaintext, no client certificate where one is required) is refused; a renewed
certificate is served without a restart; unusable files stop the server with a message.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from mem0stack import Client, Mem0StackError, RetryPolicy, TLSConfig
from mem0stack_server.cli import main
from tests.mcp.bridges import call, fails, stdio_session
from tests.support.certs import CertificateAuthority, Issued
from tests.support.envoy import EnvoyProcess
from tests.support.servers import REPO, ServerProcess, free_port

# Refusals are UNAVAILABLE; trying once keeps the tests quick.
ONCE = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class Pki:
    ca: CertificateAuthority
    ca_file: Path
    server: Issued
    client: Issued
    stranger: Issued  # a client certificate from another CA
    stranger_ca_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = CertificateAuthority("mem0-stack test CA"), CertificateAuthority("another CA")
    return Pki(
        ca,
        ca.write(directory / "ca.crt"),
        ca.issue(directory, "server", server=True),
        ca.issue(directory, "client"),
        other.issue(directory, "stranger"),
        other.write(directory / "other-ca.crt"),
    )


def _tls_env(pki: Pki, *, mutual: bool) -> dict[str, str]:
    env = {
        "MEM0STACK_TLS_CERT_FILE": str(pki.server.cert_file),
        "MEM0STACK_TLS_KEY_FILE": str(pki.server.key_file),
    }
    if mutual:
        env["MEM0STACK_TLS_CLIENT_CA_FILE"] = str(pki.ca_file)
    return env


@pytest.fixture(scope="module")
def tls_server(make_database, pki: Pki) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """TLS, no client certificates asked for."""
    process = ServerProcess(
        make_database("tls"),
        free_port(),
        env=_tls_env(pki, mutual=False),
        credentials=grpc.ssl_channel_credentials(pki.ca.pem),
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def mtls_server(make_database, pki: Pki) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """Mutual TLS: every client presents a certificate the test CA signed."""
    process = ServerProcess(
        make_database("mtls"),
        free_port(),
        env=_tls_env(pki, mutual=True),
        credentials=grpc.ssl_channel_credentials(pki.ca.pem, pki.client.key, pki.client.cert),
    )
    process.start()
    yield process
    process.stop()


def _refused(target: str, tls: bool | TLSConfig) -> Mem0StackError:
    with (
        Client(target, tls=tls, timeout=5, retry=ONCE) as client,
        pytest.raises(Mem0StackError) as caught,
    ):
        client.create("nobody", "never stored")
    return caught.value


# The gRPC server


def test_the_sdk_reaches_a_tls_server_with_its_ca(
    tls_server: ServerProcess, pki: Pki, user_id: str
) -> None:
    with Client(tls_server.target, tls=TLSConfig(root_certificates=pki.ca.pem)) as client:
        created = client.create(user_id, "Speaks TLS")
        assert client.get(created.name).content == "Speaks TLS"


def test_a_tls_server_refuses_clients_that_do_not_trust_it(
    tls_server: ServerProcess, pki: Pki
) -> None:
    # The system's roots do not include the test CA; another CA does not sign it either.
    assert _refused(tls_server.target, True).code == grpc.StatusCode.UNAVAILABLE
    other = TLSConfig(root_certificates=pki.stranger_ca_file.read_bytes())
    assert _refused(tls_server.target, other).code == grpc.StatusCode.UNAVAILABLE
    # And a plaintext client gets nothing from a TLS port.
    assert _refused(tls_server.target, False).code == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate_from_its_ca(
    mtls_server: ServerProcess, pki: Pki, user_id: str
) -> None:
    without = TLSConfig(root_certificates=pki.ca.pem)
    assert _refused(mtls_server.target, without).code == grpc.StatusCode.UNAVAILABLE
    stranger = TLSConfig(
        root_certificates=pki.ca.pem,
        private_key=pki.stranger.key,
        certificate_chain=pki.stranger.cert,
    )
    assert _refused(mtls_server.target, stranger).code == grpc.StatusCode.UNAVAILABLE
    member = TLSConfig(
        root_certificates=pki.ca.pem, private_key=pki.client.key, certificate_chain=pki.client.cert
    )
    with Client(mtls_server.target, tls=member) as client:
        assert client.create(user_id, "Has a certificate").content == "Has a certificate"


def test_a_renewed_certificate_is_served_without_a_restart(
    make_database,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    user_id: str,
) -> None:
    first, second = CertificateAuthority("first CA"), CertificateAuthority("second CA")
    live = first.issue(tmp_path / "live", "server", server=True)
    process = ServerProcess(
        make_database("tls_renew"),
        free_port(),
        env={
            "MEM0STACK_TLS_CERT_FILE": str(live.cert_file),
            "MEM0STACK_TLS_KEY_FILE": str(live.key_file),
        },
        credentials=grpc.ssl_channel_credentials(first.pem),
    )
    process.start()
    try:
        trusts_first = TLSConfig(root_certificates=first.pem)
        trusts_second = TLSConfig(root_certificates=second.pem)
        with Client(process.target, tls=trusts_first) as client:
            client.create(user_id, "before the renewal")
        assert _refused(process.target, trusts_second).code == grpc.StatusCode.UNAVAILABLE

        # The renewal lands as a certificate-manager writes it: each file replaced whole,
        # the certificate first (a moment where it does not match the old key), then the key.
        renewed = second.issue(tmp_path / "renewed", "server", server=True)
        os.replace(renewed.cert_file, live.cert_file)
        # Half-way: the old pair keeps serving instead of failing every handshake.
        with Client(process.target, tls=trusts_first, retry=ONCE) as client:
            client.create(user_id, "while half renewed")
        os.replace(renewed.key_file, live.key_file)

        with Client(process.target, tls=trusts_second) as client:
            assert client.create(user_id, "after the renewal").content == "after the renewal"
        assert _refused(process.target, trusts_first).code == grpc.StatusCode.UNAVAILABLE
        assert "TLS certificate files reloaded" in process.logs()
    finally:
        process.stop()


def test_unusable_certificate_files_stop_the_server(pki: Pki, tmp_path: Path) -> None:
    other = pki.stranger  # its key does not belong to the server's certificate
    result = subprocess.run(
        [sys.executable, "-m", "mem0stack_server.cli.main", "serve"],
        env={
            **os.environ,
            # Never reached: the certificate is checked before the database is opened.
            "MEM0STACK_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nothing",
            "MEM0STACK_METRICS_LISTEN": "",
            "MEM0STACK_TLS_CERT_FILE": str(pki.server.cert_file),
            "MEM0STACK_TLS_KEY_FILE": str(other.key_file),
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert str(pki.server.cert_file) in result.stderr and str(other.key_file) in result.stderr


# Clients other than the SDK: the CLI and the MCP bridge


def test_cli_export_over_mutual_tls(mtls_server: ServerProcess, pki: Pki, user_id: str) -> None:
    member = TLSConfig(
        root_certificates=pki.ca.pem, private_key=pki.client.key, certificate_chain=pki.client.cert
    )
    with Client(mtls_server.target, tls=member) as client:
        client.create(user_id, "Exported over mutual TLS")
    no_env = {
        "MEM0STACK_TARGET": None,
        "MEM0STACK_API_KEY": None,
        "MEM0STACK_CA_CERT": None,
        "MEM0STACK_CLIENT_CERT": None,
        "MEM0STACK_CLIENT_KEY": None,
    }
    base = ["export", "--user", user_id, "--target", mtls_server.target]
    runner = CliRunner(env=no_env)

    result = runner.invoke(
        main.cli,
        [*base, "--ca-cert", str(pki.ca_file), "--client-cert", str(pki.client.cert_file),
         "--client-key", str(pki.client.key_file)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["content"] for m in lines] == ["Exported over mutual TLS"]

    refused = runner.invoke(main.cli, [*base, "--ca-cert", str(pki.ca_file)])
    assert refused.exit_code == 1
    assert "UNAVAILABLE" in refused.stderr and "--client-cert" in refused.stderr


async def test_the_mcp_bridge_reaches_a_mutual_tls_server(
    mtls_server: ServerProcess, pki: Pki, user_id: str
) -> None:
    base = ["--user", user_id, "--server", mtls_server.target]
    certificate = [
        "--client-cert",
        str(pki.client.cert_file),
        "--client-key",
        str(pki.client.key_file),
    ]
    async with stdio_session([*base, "--ca-cert", str(pki.ca_file), *certificate]) as session:
        added = await call(session, "add_memories", text="I reach the server over mutual TLS")
        assert [r["event"] for r in added["results"]] == ["ADD"]
        found = await call(session, "search_memory", query="mutual TLS")
        assert "I reach the server over mutual TLS" in json.dumps(found)
    # Trusting the CA but showing no certificate: the tool fails and says the server is
    # unavailable, instead of the bridge pretending there are no memories.
    async with stdio_session([*base, "--ca-cert", str(pki.ca_file)]) as session:
        message = await fails(session, "search_memory", query="mutual TLS")
        assert "UNAVAILABLE" in message


# REST and gRPC through Envoy, TLS on both sides


def _https(pki: Pki, client: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_file)
    if client is not None:
        context.load_cert_chain(client.cert_file, client.key_file)
    return context


def _envoy_tls_args(pki: Pki, *, mutual_listener: bool) -> list[str]:
    args = [
        "--tls-cert", str(pki.server.cert_file), "--tls-key", str(pki.server.key_file),
        "--upstream-ca", str(pki.ca_file),
        # The server requires client certificates: Envoy presents the test's.
        "--upstream-cert", str(pki.client.cert_file), "--upstream-key", str(pki.client.key_file),
    ]  # fmt: skip
    if mutual_listener:
        args += ["--tls-client-ca", str(pki.ca_file)]
    return args


@pytest.fixture(scope="module")
def tls_gateway(mtls_server: ServerProcess, pki: Pki) -> Iterator[EnvoyProcess]:
    envoy = EnvoyProcess(
        upstream=mtls_server.target,
        platform=f"127.0.0.1:{mtls_server.platform_port}",
        render_args=_envoy_tls_args(pki, mutual_listener=False),
        tls=_https(pki),
    )
    # Healthy means Envoy's health checks reach the server over mutual TLS.
    envoy.start()
    yield envoy
    envoy.stop()


def test_rest_through_envoy_over_tls(tls_gateway: EnvoyProcess, pki: Pki, user_id: str) -> None:
    created = tls_gateway.request(
        "POST", f"/v1/users/{user_id}/memories", {"content": "Reached over HTTPS"}
    )
    assert created.status == 200, created.body
    name = created.json["name"]
    got = tls_gateway.request("GET", f"/v1/{name}")
    assert got.status == 200 and got.json["content"] == "Reached over HTTPS"
    # Native gRPC on the same TLS listener.
    with Client(tls_gateway.target, tls=TLSConfig(root_certificates=pki.ca.pem)) as client:
        assert client.get(name).content == "Reached over HTTPS"
    # The listener speaks nothing but TLS: a plaintext request gets no answer.
    plain = http.client.HTTPConnection("127.0.0.1", tls_gateway.port, timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, OSError)):
            plain.request("GET", f"/v1/{name}")
            plain.getresponse()
    finally:
        plain.close()


def test_mem0_platform_routes_through_envoy_over_tls(
    tls_gateway: EnvoyProcess, user_id: str
) -> None:
    """mem0's routes reach the server's platform port over mutual TLS too (same files)."""
    token = {"authorization": "Token dev"}
    body = {"messages": "Reached mem0's routes over TLS", "user_id": user_id, "infer": False}
    added = tls_gateway.request("POST", "/v3/memories/add/", body, headers=token)
    assert added.status == 200, added.body
    listed = tls_gateway.request(
        "POST", "/v3/memories/", {"filters": {"user_id": user_id}}, headers=token
    )
    assert listed.status == 200 and listed.json["count"] == 1, listed.body


def test_envoy_with_mutual_tls_refuses_callers_without_a_certificate(
    mtls_server: ServerProcess, pki: Pki, user_id: str
) -> None:
    envoy = EnvoyProcess(
        upstream=mtls_server.target,
        render_args=_envoy_tls_args(pki, mutual_listener=True),
        tls=_https(pki, pki.client),
    )
    envoy.start()
    try:
        path = f"/v1/users/{user_id}/memories"
        assert envoy.request("POST", path, {"content": "Shown a certificate"}).status == 200
        envoy.tls = _https(pki)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            envoy.request("GET", path)
        envoy.tls = _https(pki, pki.stranger)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            envoy.request("GET", path)
    finally:
        envoy.stop()
