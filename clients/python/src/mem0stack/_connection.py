"""What Client and AsyncClient share: their settings, the channel and the generated stubs."""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar

import grpc

from mem0stack._plans import ADMIN_SERVICE, GRAPH_SERVICE, MEMORY_SERVICE, WEBHOOK_SERVICE, Rpc
from mem0stack.options import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    RetryPolicy,
    TLSConfig,
    auth_metadata,
    resolve_tls,
)
from mem0stack.v1 import (
    admin_service_pb2_grpc,
    graph_service_pb2_grpc,
    memory_service_pb2_grpc,
    webhook_service_pb2_grpc,
)

ChannelT = TypeVar("ChannelT", grpc.Channel, grpc.aio.Channel)


class Connection(Generic[ChannelT]):
    """The settings, the channel and the stubs of a client: the arguments are
    :class:`~mem0stack.Client`'s. A ``channel`` passed in is not closed by ``close``."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        api_key: str | None = None,
        *,
        tls: bool | TLSConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        channel: ChannelT | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._metadata = auth_metadata(api_key)
        self._owns_channel = channel is None
        if channel is None:
            channel = self._open(target, resolve_tls(target, tls))
        self.channel: ChannelT = channel
        self.stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        self.graph_stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        self.webhook_stub = webhook_service_pb2_grpc.WebhookServiceStub(channel)
        self.admin_stub = admin_service_pb2_grpc.AdminServiceStub(channel)
        self._stubs = {
            MEMORY_SERVICE: self.stub,
            GRAPH_SERVICE: self.graph_stub,
            WEBHOOK_SERVICE: self.webhook_stub,
            ADMIN_SERVICE: self.admin_stub,
        }

    def _open(self, target: str, tls: TLSConfig | None) -> ChannelT:
        """A new channel to ``target``; ``tls`` None means plaintext."""
        raise NotImplementedError

    def _method(self, rpc: Rpc) -> Any:
        """The stub's callable for ``rpc``."""
        return getattr(self._stubs[rpc.service], rpc.method)


class Closing:
    """``with`` it, and it is closed at the end of the block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClosing:
    """``async with`` it, and it is closed at the end of the block."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
