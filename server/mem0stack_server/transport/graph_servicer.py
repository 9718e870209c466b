"""GraphService over gRPC: resolve names, check the caller may reach the user, delegate.

As in MemoryService, an entity of a user the key cannot reach is NOT_FOUND and a parent
it cannot reach is PERMISSION_DENIED. Without graph memory every method is
FAILED_PRECONDITION (GRAPH_DISABLED).
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from mem0stack.v1 import graph_pb2, graph_service_pb2_grpc
from mem0stack.v1 import graph_service_pb2 as gsvc
from mem0stack_server.app.graph.service import GraphService, entity_not_found, graph_disabled
from mem0stack_server.domain.graph.names import parse_entity_name, parse_status_name
from mem0stack_server.domain.names import parse_parent
from mem0stack_server.transport.interceptors import current_principal


def _user(parent: str, field: str = "parent") -> str:
    user_id = parse_parent(parent, field)
    current_principal().require_user(user_id)
    return user_id


def _entity(name: str) -> tuple[str, str]:
    user_id, entity_id = parse_entity_name(name)
    if not current_principal().can_reach(user_id):
        raise entity_not_found(name)
    return user_id, entity_id


class GraphServicer(graph_service_pb2_grpc.GraphServiceServicer):
    """Thin transport layer over GraphService (graph/service.py)."""

    def __init__(self, service: GraphService | None) -> None:
        self._service = service

    @property
    def service(self) -> GraphService:
        if self._service is None:
            raise graph_disabled()
        return self._service

    async def ListEntities(
        self, request: gsvc.ListEntitiesRequest, context: grpc.aio.ServicerContext
    ) -> gsvc.ListEntitiesResponse:
        user_id = _user(request.parent)
        return await self.service.list_entities(user_id, request)

    async def GetEntity(
        self, request: gsvc.GetEntityRequest, context: grpc.aio.ServicerContext
    ) -> gsvc.GetEntityResponse:
        user_id, entity_id = _entity(request.name)
        return await self.service.get_entity(user_id, entity_id, request)

    async def DeleteEntity(
        self, request: gsvc.DeleteEntityRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        user_id, entity_id = _entity(request.name)
        return await self.service.delete_entity(user_id, entity_id, request.name)

    async def ListRelations(
        self, request: gsvc.ListRelationsRequest, context: grpc.aio.ServicerContext
    ) -> gsvc.ListRelationsResponse:
        user_id = _user(request.parent)
        return await self.service.list_relations(user_id, request)

    async def GetGraphStatus(
        self, request: gsvc.GetGraphStatusRequest, context: grpc.aio.ServicerContext
    ) -> graph_pb2.GraphStatus:
        user_id = parse_status_name(request.name)
        current_principal().require_user(user_id)
        return await self.service.status(user_id)
