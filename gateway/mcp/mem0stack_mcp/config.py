"""What the bridge is configured with, and whose identity each call carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mem0stack import DEFAULT_TARGET, TLSConfig

__all__ = [
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
    "USER_HEADER",
    "BridgeConfig",
    "Caller",
    "IdentityError",
    "caller_for",
]

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8765
USER_HEADER = "X-Mem0stack-User"
"""The HTTP header a remote MCP client names its user with (next to ``Authorization``)."""


@dataclass(frozen=True)
class BridgeConfig:
    """How the bridge reaches the memory server, and for whom.

    ``server`` is the gRPC target ``host:port``; ``api_key`` and ``user`` are the bridge's own
    identity (stdio always uses them; over HTTP they serve callers that bring none); ``tls``
    forces TLS on or off (unset: plaintext to loopback, TLS elsewhere), or is the SDK's
    :class:`~mem0stack.TLSConfig` (a private CA, a client certificate); ``timeout`` bounds
    each call to the server in seconds.
    """

    server: str = DEFAULT_TARGET
    api_key: str | None = None
    user: str | None = None
    tls: bool | TLSConfig | None = None
    timeout: float = 30.0
    http: bool = False
    host: str = DEFAULT_HTTP_HOST
    port: int = DEFAULT_HTTP_PORT

    def __post_init__(self) -> None:
        if self.user is not None and not self.user.strip():
            raise ValueError("the user id must not be empty")
        if not self.http and self.user is None:
            raise ValueError("a stdio bridge serves one user: give --user (or MEM0STACK_USER)")
        if self.http and self.api_key and self.user is None:
            # Without a user the bridge's key could only ever be combined with a user the
            # caller names, which would hand that key to anyone who can reach the port.
            raise ValueError(
                "over HTTP, the bridge's own --api-key needs --user: the user it serves"
            )


@dataclass(frozen=True)
class Caller:
    """The identity one MCP request acts as: the user whose memories it reaches, and the key."""

    user: str
    api_key: str | None

    @property
    def parent(self) -> str:
        return f"users/{self.user}"


class IdentityError(Exception):
    """The request carries no usable identity; the message says what to configure."""


def caller_for(
    config: BridgeConfig, headers: Mapping[str, str] | None, path_user: str | None = None
) -> Caller:
    """The identity of a request that arrived with ``headers`` (``None`` on stdio; looked up
    by lower-case name, as HTTP servers present them) at a URL that may name a user
    (``path_user``, OpenMemory's ``/mcp/{client}/sse/{user}``).

    On stdio, the bridge's configuration. Over HTTP, a caller that sends its own
    ``Authorization: Bearer <key>`` acts with that key, as the user its ``X-Mem0stack-User``
    header names (or the bridge's ``--user``); the server checks that the key may reach that
    user. A caller without ``Authorization`` gets the bridge's own key, and with it only the
    bridge's ``--user``: the header cannot point the bridge's key at anyone else. A user in
    the URL counts as that header, under the same rules (and must agree with the header when
    both are sent). Never does a tool argument (something the model writes) choose the user
    or the key.
    """
    if headers is None:
        assert config.user is not None  # BridgeConfig requires it for stdio
        return Caller(config.user, config.api_key)
    header_user = (headers.get(USER_HEADER.lower()) or "").strip() or None
    path_user = (path_user or "").strip() or None
    if header_user and path_user and header_user != path_user:
        raise IdentityError(
            f"the URL names the user {path_user!r} and the {USER_HEADER} header {header_user!r}"
        )
    header_user = header_user or path_user
    authorization = (headers.get("authorization") or "").strip()
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise IdentityError("the Authorization header must be 'Bearer <mem0-stack API key>'")
        api_key: str | None = key.strip()
        user = header_user or config.user
    else:
        api_key = config.api_key
        if api_key and header_user and header_user != config.user:
            raise IdentityError(
                f"the {USER_HEADER} header (or the URL) names a user other than the bridge's "
                "own; send an Authorization header with an API key for that user"
            )
        user = header_user or config.user
    if user is None:
        raise IdentityError(
            f"no user: send an {USER_HEADER} header, or start the bridge with --user"
        )
    return Caller(user, api_key)
