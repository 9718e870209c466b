"""TLS settings and files without a running server: what is accepted, what is refused with
which message, when renewed files are picked up, and Envoy's rendered TLS configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from mem0stack_server.cli import main
from mem0stack_server.config import Settings
from mem0stack_server.transport.tls import CertificateFiles, TLSConfigError
from tests.support.certs import CertificateAuthority

REPO = Path(__file__).resolve().parents[2]
ENVOY = Path(sys.executable).with_name("envoy")


@pytest.fixture
def ca() -> CertificateAuthority:
    return CertificateAuthority()


def test_certificate_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="set together"):
        Settings(tls_cert_file=tmp_path / "server.crt")
    with pytest.raises(ValidationError, match="set together"):
        Settings(tls_key_file=tmp_path / "server.key")
    with pytest.raises(ValidationError, match="needs the server's own certificate"):
        Settings(tls_client_ca_file=tmp_path / "ca.crt")
    settings = Settings(
        tls_cert_file=tmp_path / "s.crt",
        tls_key_file=tmp_path / "s.key",
        tls_client_ca_file=tmp_path / "ca.crt",
    )
    assert settings.tls_client_ca_file == tmp_path / "ca.crt"


def test_serve_reports_a_certificate_without_its_key(tmp_path: Path) -> None:
    env = {name: None for name in os.environ if name.startswith("MEM0STACK_")}
    result = CliRunner(env=env).invoke(
        main.cli, ["serve", "--tls-cert-file", str(tmp_path / "server.crt")]
    )
    assert result.exit_code == 1
    assert "tls_cert_file and tls_key_file are set together" in result.output


def test_files_are_checked_when_loaded(ca: CertificateAuthority, tmp_path: Path) -> None:
    server = ca.issue(tmp_path, "server", server=True)
    stranger = CertificateAuthority().issue(tmp_path, "stranger")
    CertificateFiles(server.cert_file, server.key_file, None).load()

    with pytest.raises(TLSConfigError, match=r"cannot read .*missing\.crt"):
        CertificateFiles(tmp_path / "missing.crt", server.key_file, None).load()
    with pytest.raises(TLSConfigError, match="not a PEM certificate chain and its unencrypted"):
        CertificateFiles(server.cert_file, stranger.key_file, None).load()
    not_a_ca = tmp_path / "not-a-ca.pem"
    not_a_ca.write_text("hello\n")
    with pytest.raises(TLSConfigError, match="holds no PEM CA certificate"):
        CertificateFiles(server.cert_file, server.key_file, not_a_ca).load()


def test_renewed_files_are_read_once_and_only_when_whole(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    live = ca.issue(tmp_path / "live", "server", server=True)
    files = CertificateFiles(live.cert_file, live.key_file, None)
    files.load()
    assert files.fetch() is None  # unchanged: gRPC keeps what it has

    renewed = ca.issue(tmp_path / "renewed", "server", server=True)
    os.replace(renewed.cert_file, live.cert_file)
    assert files.fetch() is None  # the new certificate with the old key: not yet
    os.replace(renewed.key_file, live.key_file)
    assert files.fetch() is not None  # both renewed: served from the next connection
    assert files.fetch() is None


def _render(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "gateway" / "render_envoy.py"), *args,
         "-o", str(tmp_path / "envoy.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip


def test_envoy_renders_and_accepts_tls_on_both_sides(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    ca.write(tmp_path / "ca.crt")
    ca.issue(tmp_path, "server", server=True)
    ca.issue(tmp_path, "client")
    rendered = _render(
        tmp_path,
        "--upstream", "memory.internal:50051",
        "--tls-cert", "server.crt", "--tls-key", "server.key", "--tls-client-ca", "ca.crt",
        "--upstream-ca", "ca.crt", "--upstream-cert", "client.crt", "--upstream-key", "client.key",
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    config = (tmp_path / "envoy.yaml").read_text()
    assert "DownstreamTlsContext" in config and "require_client_certificate: true" in config
    # Relative paths are made absolute: Envoy does not run from the renderer's directory.
    assert f'{{filename: "{tmp_path / "server.crt"}"}}' in config
    # The server's certificate must carry the upstream's name, not only chain to the CA.
    assert 'sni: "memory.internal"' in config
    assert '- san_type: DNS\n                  matcher: {exact: "memory.internal"}' in config
    validated = subprocess.run(
        [str(ENVOY), "--mode", "validate", "--disable-hot-restart", "-c",
         str(tmp_path / "envoy.yaml"), "--log-level", "error"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_envoy_checks_an_address_upstream_by_ip_and_sends_no_sni(tmp_path: Path) -> None:
    rendered = _render(tmp_path, "--upstream", "127.0.0.1:50051", "--upstream-ca", "ca.crt")
    assert rendered.returncode == 0, rendered.stderr
    config = (tmp_path / "envoy.yaml").read_text()
    assert "san_type: IP_ADDRESS" in config and 'exact: "127.0.0.1"' in config
    assert "sni:" not in config
    assert "DownstreamTlsContext" not in config  # the listener stays plaintext


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "a.crt"], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "ca.crt"], "--tls-client-ca needs the listener's own"),
        (["--upstream-cert", "c.crt", "--upstream-key", "c.key"], "needs --upstream-ca"),
    ],
)
def test_envoy_tls_options_that_do_not_fit_are_refused(
    tmp_path: Path, args: list[str], message: str
) -> None:
    rendered = _render(tmp_path, *args)
    assert rendered.returncode == 2 and message in rendered.stderr
