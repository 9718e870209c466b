"""TLS for the gRPC listener, from the certificate files named in the settings.

The files are read at start-up, checked with the standard library's ``ssl`` (a key that does
not match its certificate stops the server with a message naming the files, rather than
failing every handshake later), and read again when they change: gRPC asks for the
certificate before each new connection, and a changed file (a renewal by cert-manager or
certbot) is picked up from the next connection on, without a restart. A renewal caught
half-written (a certificate without its new key) keeps the previous pair until both agree.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from pathlib import Path

import grpc

from mem0stack_server.config import Settings

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int, int], ...]


class TLSConfigError(ValueError):
    """The TLS files cannot be used; the message names the file and the reason."""


class CertificateFiles:
    """The server's certificate chain, its key and the client CA, as gRPC wants them."""

    def __init__(self, cert_file: Path, key_file: Path, client_ca_file: Path | None) -> None:
        self.files = [cert_file, key_file] + ([client_ca_file] if client_ca_file else [])
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self._stamp: _Stamp | None = None
        self._failed: _Stamp | None = None
        # gRPC may ask from several of its threads at once.
        self._lock = threading.Lock()

    def _current_stamp(self) -> _Stamp:
        stamps = []
        for path in self.files:
            # stat follows symlinks, so a Kubernetes secret's swapped ..data link counts.
            info = os.stat(path)
            stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(stamps)

    def load(self) -> grpc.ServerCertificateConfiguration:
        """Read and check the files now; raises :class:`TLSConfigError`."""
        try:
            stamp = self._current_stamp()
            cert, key = self.cert_file.read_bytes(), self.key_file.read_bytes()
            client_ca = self.client_ca_file.read_bytes() if self.client_ca_file else None
        except OSError as exc:
            raise TLSConfigError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            raise TLSConfigError(
                f"{self.cert_file} and {self.key_file} are not a PEM certificate chain and "
                f"its unencrypted private key ({exc.reason or exc})"
            ) from exc
        if self.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except ssl.SSLError as exc:
                raise TLSConfigError(
                    f"{self.client_ca_file} holds no PEM CA certificate ({exc.reason or exc})"
                ) from exc
        self._stamp = stamp
        return grpc.ssl_server_certificate_configuration([(key, cert)], client_ca)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's callback before each new connection: the files again if they changed
        since the last good read, else ``None`` (keep what it has)."""
        with self._lock:
            stamp: _Stamp | None = None
            try:
                stamp = self._current_stamp()
                if stamp in (self._stamp, self._failed):
                    return None
                config = self.load()
            except (OSError, TLSConfigError) as exc:
                self._failed = stamp  # said once per change, not once per connection
                log.warning(
                    "TLS files changed but cannot be used yet; keeping the previous ones: %s", exc
                )
                return None
            log.info("TLS certificate files reloaded", extra={"cert_file": str(self.cert_file)})
            return config


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The listener's credentials, or ``None`` for plaintext (no certificate configured)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    files = CertificateFiles(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
    return grpc.dynamic_ssl_server_credentials(
        files.load(),
        files.fetch,
        require_client_authentication=settings.tls_client_ca_file is not None,
    )
