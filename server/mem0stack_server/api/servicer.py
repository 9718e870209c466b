"""MemoryService over gRPC: resolve names, check the caller may reach the user, delegate.

Tenant identity comes only from the authenticated key and the resource name, never from
anything else the caller sends. A memory of a user the key cannot reach is NOT_FOUND, so a
caller cannot learn whether it exists; a parent it cannot reach is PERMISSION_DENIED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2

from mem0stack.v1 import memory_pb2, memory_service_pb2_grpc, operation_pb2, streams_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.api.interceptors import current_principal
from mem0stack_server.context import request_id_var
from mem0stack_server.core import feed, operations, transfer
from mem0stack_server.core.engine import Caller, MemoryEngine
from mem0stack_server.core.names import MemoryName, parse_memory_name, parse_parent
from mem0stack_server.domain.errors import not_found


def _user(parent: str, field: str = "parent") -> str:
    user_id = parse_parent(parent, field)
    current_principal().require_user(user_id)
    return user_id


def _memory(name: str, field: str = "name") -> MemoryName:
    parsed = parse_memory_name(name, field)
    if not current_principal().can_reach(parsed.user_id):
        raise not_found(name)
    return parsed


def _caller(request_id: str = "") -> Caller:
    # Revisions record the caller's request_id, or else this call's log request id, so
    # every change can be traced to its log line.
    return Caller(actor=current_principal().key_id, request_id=request_id or request_id_var.get())


class MemoryServicer(memory_service_pb2_grpc.MemoryServiceServicer):
    """Thin transport layer over MemoryEngine."""

    def __init__(self, engine: MemoryEngine, listener: feed.FeedListener) -> None:
        self.engine = engine
        self.listener = listener
        settings = engine.settings
        self.watch_settings = feed.WatchSettings(
            checkpoint_s=settings.watch_checkpoint_s, queue_size=settings.watch_queue_size
        )

    async def CreateMemory(
        self, request: svc.CreateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.Memory:
        user_id = _user(request.parent)
        return await self.engine.create(user_id, request, _caller(request.request_id))

    async def BatchCreateMemories(
        self, request: svc.BatchCreateMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.BatchCreateMemoriesResponse:
        user_id = _user(request.parent)
        return await self.engine.batch_create(user_id, request, _caller(request.request_id))

    async def AddMemories(
        self, request: svc.AddMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.AddMemoriesResponse:
        user_id = _user(request.parent)
        return await self.engine.add(user_id, request, _caller(request.request_id))

    async def GetMemory(
        self, request: svc.GetMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.Memory:
        return await self.engine.get(_memory(request.name))

    async def ListMemories(
        self, request: svc.ListMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListMemoriesResponse:
        return await self.engine.list(_user(request.parent), request)

    async def SearchMemories(
        self, request: svc.SearchMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.SearchMemoriesResponse:
        return await self.engine.search(_user(request.parent), request)

    async def UpdateMemory(
        self, request: svc.UpdateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.Memory:
        name = _memory(request.memory.name, "memory.name")
        return await self.engine.update(name, request, _caller(request.request_id))

    async def DeleteMemory(
        self, request: svc.DeleteMemoryRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        name = _memory(request.name)
        return await self.engine.delete(name, request, _caller(request.request_id))

    async def BatchDeleteMemories(
        self, request: svc.BatchDeleteMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.BatchDeleteMemoriesResponse:
        user_id = _user(request.parent)
        return await self.engine.batch_delete(user_id, request, _caller(request.request_id))

    async def ListMemoryRevisions(
        self, request: svc.ListMemoryRevisionsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListMemoryRevisionsResponse:
        return await self.engine.revisions(_memory(request.name), request)

    async def WatchMemories(
        self, request: streams_pb2.WatchMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[streams_pb2.WatchMemoriesResponse]:
        user_id = _user(request.parent)

        async def ready() -> None:
            await context.send_initial_metadata(())

        async for message in feed.watch(
            self.engine.store.pool, self.listener, self.watch_settings, user_id, request, ready
        ):
            yield message

    async def ExportMemories(
        self, request: streams_pb2.ExportMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[streams_pb2.ExportMemoriesResponse]:
        user_id = _user(request.parent)
        async for message in transfer.export(self.engine.store.pool, user_id, request):
            yield message

    async def ImportMemories(
        self,
        request_iterator: AsyncIterator[streams_pb2.ImportMemoriesRequest],
        context: grpc.aio.ServicerContext,
    ) -> streams_pb2.ImportMemoriesResponse:
        caller = _caller()
        importer = transfer.Importer(
            self.engine.settings,
            self.engine.store,
            self.engine.embedder,
            caller.actor,
            caller.request_id,
        )
        return await importer.run(request_iterator, _user)

    async def GetOperation(
        self, request: operation_pb2.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> operation_pb2.Operation:
        user_id, operation_id = operations.parse_operation_name(request.name)
        if not current_principal().can_reach(user_id):
            raise operations.operation_not_found(request.name)
        return await self.engine.get_operation(user_id, operation_id)
