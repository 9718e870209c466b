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
from mem0stack_server.app import transfer, watch
from mem0stack_server.app.adding import AddMemories
from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.app.memories import Memories
from mem0stack_server.app.operations import (
    Operations,
    operation_not_found,
    parse_operation_name,
)
from mem0stack_server.app.search import Search
from mem0stack_server.app.serving import ServingState
from mem0stack_server.config import Settings
from mem0stack_server.context import request_id_var
from mem0stack_server.domain.errors import not_found
from mem0stack_server.domain.names import MemoryName, parse_memory_name, parse_parent
from mem0stack_server.domain.records import Caller
from mem0stack_server.obs import tracing
from mem0stack_server.store.events import EventStore, FeedListener
from mem0stack_server.store.memories import MemoryStore
from mem0stack_server.transport.interceptors import current_principal


def _user(parent: str, field: str = "parent") -> str:
    user_id = parse_parent(parent, field)
    current_principal().require_user(user_id)
    tracing.annotate(user_hash=tracing.user_hash(user_id))
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
    """Thin transport layer over the application's use cases."""

    def __init__(
        self,
        settings: Settings,
        *,
        memories: Memories,
        search: Search,
        add: AddMemories,
        operations: Operations,
        events: EventStore,
        listener: FeedListener,
        store: MemoryStore,
        embeddings: Embeddings,
        serving: ServingState,
    ) -> None:
        self.settings = settings
        self.memories = memories
        self.search = search
        self.add = add
        self.operations = operations
        self.events = events
        self.listener = listener
        self.store = store
        self.embeddings = embeddings
        self.serving = serving
        self.watch_settings = watch.WatchSettings(
            checkpoint_s=settings.watch_checkpoint_s, queue_size=settings.watch_queue_size
        )

    async def CreateMemory(
        self, request: svc.CreateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.Memory:
        user_id = _user(request.parent)
        return await self.memories.create(user_id, request, _caller(request.request_id))

    async def BatchCreateMemories(
        self, request: svc.BatchCreateMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.BatchCreateMemoriesResponse:
        user_id = _user(request.parent)
        return await self.memories.batch_create(user_id, request, _caller(request.request_id))

    async def AddMemories(
        self, request: svc.AddMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.AddMemoriesResponse:
        user_id = _user(request.parent)
        return await self.add.add(user_id, request, _caller(request.request_id))

    async def GetMemory(
        self, request: svc.GetMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.Memory:
        return await self.memories.get(_memory(request.name))

    async def ListMemories(
        self, request: svc.ListMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListMemoriesResponse:
        return await self.memories.list(_user(request.parent), request)

    async def SearchMemories(
        self, request: svc.SearchMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.SearchMemoriesResponse:
        return await self.search.search(_user(request.parent), request)

    async def UpdateMemory(
        self, request: svc.UpdateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.Memory:
        name = _memory(request.memory.name, "memory.name")
        return await self.memories.update(name, request, _caller(request.request_id))

    async def DeleteMemory(
        self, request: svc.DeleteMemoryRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        name = _memory(request.name)
        return await self.memories.delete(name, request, _caller(request.request_id))

    async def BatchDeleteMemories(
        self, request: svc.BatchDeleteMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.BatchDeleteMemoriesResponse:
        user_id = _user(request.parent)
        return await self.memories.batch_delete(user_id, request, _caller(request.request_id))

    async def ListMemoryRevisions(
        self, request: svc.ListMemoryRevisionsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListMemoryRevisionsResponse:
        return await self.memories.revisions(_memory(request.name), request)

    async def WatchMemories(
        self, request: streams_pb2.WatchMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[streams_pb2.WatchMemoriesResponse]:
        user_id = _user(request.parent)

        async def ready() -> None:
            await context.send_initial_metadata(())

        async for message in watch.watch(
            self.events,
            self.listener,
            self.watch_settings,
            user_id,
            request,
            ready,
            self.serving.interrupted,
        ):
            yield message

    async def ExportMemories(
        self, request: streams_pb2.ExportMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[streams_pb2.ExportMemoriesResponse]:
        user_id = _user(request.parent)
        async for message in transfer.export(self.store, user_id, request, self.serving.refusal):
            yield message

    async def ImportMemories(
        self,
        request_iterator: AsyncIterator[streams_pb2.ImportMemoriesRequest],
        context: grpc.aio.ServicerContext,
    ) -> streams_pb2.ImportMemoriesResponse:
        caller = _caller()
        importer = transfer.Importer(
            self.settings, self.store, self.embeddings, caller.actor, caller.request_id
        )
        return await importer.run(request_iterator, _user)

    async def GetOperation(
        self, request: operation_pb2.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> operation_pb2.Operation:
        user_id, operation_id = parse_operation_name(request.name)
        if not current_principal().can_reach(user_id):
            raise operation_not_found(request.name)
        return await self.operations.get(user_id, operation_id)
