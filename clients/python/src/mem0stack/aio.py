"""The asyncio client: the same methods as :class:`~mem0stack.Client`, awaitable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message as ProtoMessage

from mem0stack import _requests as build
from mem0stack._requests import MessageLike
from mem0stack.errors import Mem0StackError
from mem0stack.options import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    RetryPolicy,
    TLSConfig,
    auth_metadata,
    channel_options,
    resolve_tls,
)
from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc

__all__ = ["AsyncClient"]

Response = TypeVar("Response", bound=ProtoMessage)


class AsyncClient:
    """A connection to a mem0-stack server for asyncio code (``grpc.aio``).

    ``target`` is ``host:port``; ``api_key`` is sent as ``authorization: Bearer <key>``
    (leave it out for a server in development mode). ``tls`` is ``True``/``False``, a
    :class:`TLSConfig`, or unset for plaintext to loopback addresses and TLS elsewhere.
    ``timeout`` bounds every call (all attempts of it) unless the call passes its own;
    ``retry`` says how UNAVAILABLE is retried.

    Each RPC of ``mem0stack.v1.MemoryService`` is a method taking the generated request
    (``create_memory``, ``list_memories``, ...); on top of them ``create``, ``add``,
    ``search``, ``iter_memories``, ``update``, ``delete``, ... build the requests for you.
    Every failure raises :class:`~mem0stack.errors.Mem0StackError`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        api_key: str | None = None,
        *,
        tls: bool | TLSConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._metadata = auth_metadata(api_key)
        if channel is None:
            resolved = resolve_tls(target, tls)
            options = channel_options(resolved)
            if resolved is None:
                channel = grpc.aio.insecure_channel(target, options=options)
            else:
                channel = grpc.aio.secure_channel(target, resolved.credentials(), options=options)
            self._owns_channel = True
        else:
            self._owns_channel = False
        self.channel = channel
        self.stub = memory_service_pb2_grpc.MemoryServiceStub(channel)

    async def close(self) -> None:
        """Close the channel (unless it was passed in)."""
        if self._owns_channel:
            await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # The RPCs, one method each, taking the generated request.

    async def create_memory(
        self, request: svc.CreateMemoryRequest, *, timeout: float | None = None
    ) -> memory_pb2.Memory:
        return await self._unary(
            self.stub.CreateMemory, build.with_request_id(request), timeout, memory_pb2.Memory
        )

    async def batch_create_memories(
        self, request: svc.BatchCreateMemoriesRequest, *, timeout: float | None = None
    ) -> svc.BatchCreateMemoriesResponse:
        return await self._unary(
            self.stub.BatchCreateMemories,
            build.with_request_id(request),
            timeout,
            svc.BatchCreateMemoriesResponse,
        )

    async def add_memories(
        self, request: svc.AddMemoriesRequest, *, timeout: float | None = None
    ) -> svc.AddMemoriesResponse:
        return await self._unary(
            self.stub.AddMemories, build.with_request_id(request), timeout, svc.AddMemoriesResponse
        )

    async def get_memory(
        self, request: svc.GetMemoryRequest, *, timeout: float | None = None
    ) -> memory_pb2.Memory:
        return await self._unary(self.stub.GetMemory, request, timeout, memory_pb2.Memory)

    async def list_memories(
        self, request: svc.ListMemoriesRequest, *, timeout: float | None = None
    ) -> svc.ListMemoriesResponse:
        return await self._unary(self.stub.ListMemories, request, timeout, svc.ListMemoriesResponse)

    async def search_memories(
        self, request: svc.SearchMemoriesRequest, *, timeout: float | None = None
    ) -> svc.SearchMemoriesResponse:
        return await self._unary(
            self.stub.SearchMemories, request, timeout, svc.SearchMemoriesResponse
        )

    async def update_memory(
        self, request: svc.UpdateMemoryRequest, *, timeout: float | None = None
    ) -> memory_pb2.Memory:
        return await self._unary(self.stub.UpdateMemory, request, timeout, memory_pb2.Memory)

    async def delete_memory(
        self, request: svc.DeleteMemoryRequest, *, timeout: float | None = None
    ) -> None:
        await self._unary(self.stub.DeleteMemory, request, timeout, empty_pb2.Empty)

    async def batch_delete_memories(
        self, request: svc.BatchDeleteMemoriesRequest, *, timeout: float | None = None
    ) -> svc.BatchDeleteMemoriesResponse:
        return await self._unary(
            self.stub.BatchDeleteMemories, request, timeout, svc.BatchDeleteMemoriesResponse
        )

    async def list_memory_revisions(
        self, request: svc.ListMemoryRevisionsRequest, *, timeout: float | None = None
    ) -> svc.ListMemoryRevisionsResponse:
        return await self._unary(
            self.stub.ListMemoryRevisions, request, timeout, svc.ListMemoryRevisionsResponse
        )

    # Helpers that build the requests.

    async def create(
        self,
        user: str,
        content: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        categories: Sequence[str] = (),
        agent_id: str = "",
        run_id: str = "",
        actor_id: str = "",
        expire_time: datetime | None = None,
        event_time: datetime | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> memory_pb2.Memory:
        """Store ``content`` verbatim as a memory of ``user`` (a user id or ``users/{id}``)."""
        memory = build.new_memory(
            content,
            metadata=metadata,
            categories=categories,
            agent_id=agent_id,
            run_id=run_id,
            actor_id=actor_id,
            expire_time=expire_time,
            event_time=event_time,
        )
        request = svc.CreateMemoryRequest(
            parent=build.user_name(user), memory=memory, request_id=request_id or ""
        )
        return await self.create_memory(request, timeout=timeout)

    async def add(
        self,
        user: str,
        messages: str | MessageLike | Iterable[MessageLike],
        *,
        agent_id: str = "",
        run_id: str = "",
        metadata: Mapping[str, Any] | None = None,
        infer: bool | None = None,
        categories: Sequence[str] = (),
        instructions: str = "",
        reference_time: datetime | None = None,
        memory_type: memory_pb2.Memory.Type.ValueType = memory_pb2.Memory.TYPE_UNSPECIFIED,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> svc.AddMemoriesResponse:
        """Turn a conversation (a string is one user turn) into memories of ``user``."""
        request = build.add_request(
            user,
            messages,
            agent_id=agent_id,
            run_id=run_id,
            metadata=metadata,
            infer=infer,
            categories=categories,
            instructions=instructions,
            reference_time=reference_time,
            memory_type=memory_type,
            request_id=request_id,
        )
        return await self.add_memories(request, timeout=timeout)

    async def search(
        self,
        user: str,
        query: str,
        *,
        filter: str = "",
        top_k: int = 0,
        min_score: float | None = None,
        mode: str = "",
        show_expired: bool = False,
        timeout: float | None = None,
    ) -> list[memory_pb2.SearchResult]:
        """The memories of ``user`` most relevant to ``query``, best first.

        ``filter`` is an AIP-160 expression (``agent_id = "travel"``); ``mode`` is
        ``hybrid`` (the server's default), ``vector`` or ``keyword``.
        """
        request = build.search_request(
            user,
            query,
            filter=filter,
            top_k=top_k,
            min_score=min_score,
            mode=mode,
            show_expired=show_expired,
        )
        return list((await self.search_memories(request, timeout=timeout)).results)

    async def get(self, name: str, *, timeout: float | None = None) -> memory_pb2.Memory:
        """The memory named ``users/{user}/memories/{memory}``."""
        return await self.get_memory(svc.GetMemoryRequest(name=name), timeout=timeout)

    async def iter_memories(
        self,
        user: str,
        *,
        filter: str = "",
        order_by: str = "",
        page_size: int = 0,
        show_expired: bool = False,
        timeout: float | None = None,
    ) -> AsyncIterator[memory_pb2.Memory]:
        """Every memory of ``user`` matching ``filter``, fetching pages as it goes."""
        request = build.list_request(
            user, filter=filter, order_by=order_by, page_size=page_size, show_expired=show_expired
        )
        while True:
            page = await self.list_memories(request, timeout=timeout)
            for memory in page.memories:
                yield memory
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def update(
        self,
        name: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        categories: Sequence[str] | None = None,
        expire_time: datetime | None = build._UNSET,
        event_time: datetime | None = build._UNSET,
        etag: str = "",
        request_id: str = "",
        timeout: float | None = None,
    ) -> memory_pb2.Memory:
        """Change the fields given, and only those (the update mask names exactly them).

        Passing ``None`` for a time clears it; ``etag`` makes the update conditional.
        """
        request = build.update_request(
            name,
            content=content,
            metadata=metadata,
            categories=categories,
            expire_time=expire_time,
            event_time=event_time,
            etag=etag,
            request_id=request_id,
        )
        return await self.update_memory(request, timeout=timeout)

    async def delete(self, name: str, *, etag: str = "", timeout: float | None = None) -> None:
        """Delete one memory; its revisions stay readable."""
        await self.delete_memory(svc.DeleteMemoryRequest(name=name, etag=etag), timeout=timeout)

    async def delete_all(
        self,
        user: str,
        *,
        filter: str = "",
        names: Sequence[str] = (),
        timeout: float | None = None,
    ) -> int:
        """Delete the named memories, those matching ``filter``, or (with neither) all of
        ``user``'s memories. Returns how many were deleted."""
        request = svc.BatchDeleteMemoriesRequest(
            parent=build.user_name(user),
            names=list(names),
            filter=filter,
            confirm=not names and not filter,
        )
        return (await self.batch_delete_memories(request, timeout=timeout)).deleted_count

    async def iter_revisions(
        self, name: str, *, page_size: int = 0, timeout: float | None = None
    ) -> AsyncIterator[memory_pb2.MemoryRevision]:
        """Every recorded change of the memory ``name``, oldest first."""
        request = svc.ListMemoryRevisionsRequest(name=name, page_size=page_size)
        while True:
            page = await self.list_memory_revisions(request, timeout=timeout)
            for revision in page.revisions:
                yield revision
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    # Calls

    # Streams. They have no deadline and are never retried: a broken stream resumes from
    # the cursor of the last message received.

    async def watch(
        self, user: str, *, filter: str = "", cursor: str = ""
    ) -> AsyncIterator[streams_pb2.WatchMemoriesResponse]:
        """Changes of ``user``'s memories as they commit, from ``cursor`` (or from now).

        Messages with ``checkpoint`` set carry no change, only a fresher cursor.
        """
        request = streams_pb2.WatchMemoriesRequest(
            parent=build.user_name(user), filter=filter, cursor=cursor
        )
        async for message in self._stream(
            self.stub.WatchMemories(request, metadata=self._metadata)
        ):
            yield message

    async def export(
        self, user: str, *, filter: str = "", cursor: str = "", include_embeddings: bool = False
    ) -> AsyncIterator[streams_pb2.ExportMemoriesResponse]:
        """Every memory of ``user`` matching ``filter``, oldest first, from one snapshot."""
        request = streams_pb2.ExportMemoriesRequest(
            parent=build.user_name(user),
            filter=filter,
            cursor=cursor,
            include_embeddings=include_embeddings,
        )
        async for message in self._stream(
            self.stub.ExportMemories(request, metadata=self._metadata)
        ):
            yield message

    async def import_(
        self,
        user: str,
        memories: Iterable[memory_pb2.Memory | streams_pb2.ImportMemoriesRequest],
    ) -> streams_pb2.ImportMemoriesResponse:
        """Store a stream of memories for ``user``; already imported sources are skipped."""
        try:
            response = await self.stub.ImportMemories(
                build.import_requests(user, memories), metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise Mem0StackError.from_rpc_error(exc) from exc
        return cast(streams_pb2.ImportMemoriesResponse, response)

    @staticmethod
    async def _stream(call: Any) -> AsyncIterator[Any]:
        try:
            async for message in call:
                yield message
        except grpc.RpcError as exc:
            raise Mem0StackError.from_rpc_error(exc) from exc
        finally:
            call.cancel()

    async def _unary(
        self,
        method: Callable[..., Any],
        request: ProtoMessage,
        timeout: float | None,
        response_type: type[Response],
    ) -> Response:
        """One call with the client's deadline, credentials and retries."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        attempt = 1
        while True:
            try:
                response = await method(
                    request,
                    timeout=max(deadline - time.monotonic(), 0.0),
                    metadata=self._metadata,
                )
                return cast(Response, response)
            except grpc.RpcError as exc:
                error = Mem0StackError.from_rpc_error(exc)
                wait = self.retry.wait_before_retry(
                    error.code, error.retry_delay, attempt, deadline - time.monotonic()
                )
                if wait is None:
                    raise error from exc
            await asyncio.sleep(wait)
            attempt += 1
