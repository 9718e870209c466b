"""Connection options shared by :class:`~mem0stack.Client` and :class:`~mem0stack.AsyncClient`."""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from mem0stack.errors import Mem0StackError

__all__ = ["DEFAULT_TARGET", "DEFAULT_TIMEOUT", "RetryPolicy", "TLSConfig"]

DEFAULT_TARGET = "localhost:50051"
"""Where ``mem0stack serve`` listens when it is not configured."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a call (all its attempts together) may take unless told otherwise."""


@dataclass(frozen=True)
class TLSConfig:
    """TLS for the channel. Every field is optional: the default trusts the system's roots.

    ``root_certificates`` (PEM) replaces the trusted roots, e.g. for a private CA;
    ``private_key`` and ``certificate_chain`` (PEM) present a client certificate (mTLS);
    ``server_name`` overrides the name checked against the server's certificate.
    """

    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            self.root_certificates, self.private_key, self.certificate_chain
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff for calls that fail with UNAVAILABLE.

    The n-th retry waits ``initial_backoff * multiplier**(n-1)`` seconds, capped at
    ``max_backoff``, with jitter (a random 50-100% of it), or longer when the server's
    ``RetryInfo`` asks for more. Retries never outlast the call's timeout. Creating calls
    are retried safely: the client gives each a ``request_id`` when the caller did not.
    ``max_attempts=1`` turns retries off.
    """

    max_attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    retryable_codes: Sequence[grpc.StatusCode] = (grpc.StatusCode.UNAVAILABLE,)

    def backoff(self, retry: int, server_delay: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        delay = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        delay *= random.uniform(0.5, 1.0)
        return max(delay, server_delay or 0.0)

    def wait_before_retry(
        self, code: grpc.StatusCode, server_delay: float | None, attempt: int, remaining: float
    ) -> float | None:
        """Seconds to wait before retrying a failed ``attempt``, or ``None`` to give up.

        Gives up on codes that are not retryable, after ``max_attempts``, and when the wait
        would not leave any of the ``remaining`` seconds of the call's deadline.
        """
        if attempt >= self.max_attempts or code not in self.retryable_codes:
            return None
        wait = self.backoff(attempt, server_delay)
        return wait if wait < remaining else None


NO_RETRY = RetryPolicy(max_attempts=1)


class Attempts:
    """The attempts of one call: its deadline, and whether and when to try again."""

    def __init__(self, policy: RetryPolicy, timeout: float) -> None:
        self.policy = policy
        self.deadline = time.monotonic() + timeout
        self.attempt = 1

    def remaining(self) -> float:
        """Seconds left for the next attempt."""
        return max(self.deadline - time.monotonic(), 0.0)

    def retry_after(self, exc: grpc.RpcError) -> float:
        """Seconds to wait before retrying the attempt that failed with ``exc``; raises
        its :class:`~mem0stack.errors.Mem0StackError` when the call gives up."""
        error = Mem0StackError.from_rpc_error(exc)
        wait = self.policy.wait_before_retry(
            error.code, error.retry_delay, self.attempt, self.deadline - time.monotonic()
        )
        if wait is None:
            raise error from exc
        self.attempt += 1
        return wait


def is_loopback(target: str) -> bool:
    """Whether ``target`` (host:port, optionally with a scheme) names this machine."""
    host = target.split("://", 1)[-1]
    if host.startswith("unix:"):
        return True
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_tls(target: str, tls: bool | TLSConfig | None) -> TLSConfig | None:
    """The TLS settings for ``target``: ``None`` means plaintext.

    Unset ``tls`` means plaintext to a loopback address (a local development server)
    and TLS with the system's roots to anything else.
    """
    if tls is None:
        return None if is_loopback(target) else TLSConfig()
    if tls is True:
        return TLSConfig()
    if tls is False:
        return None
    return tls


def channel_options(tls: TLSConfig | None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        # Reconnect quickly after a server restart so retries find it again.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
        # Retries are ours (with RetryInfo and request ids); gRPC's own would stack on them.
        ("grpc.enable_retries", 0),
        ("grpc.primary_user_agent", "mem0stack-python/0.1"),
    ]
    if tls is not None and tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return options


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()
