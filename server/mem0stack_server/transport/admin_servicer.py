"""AdminService over gRPC: admin keys only, then delegate to the use cases."""

from __future__ import annotations

import grpc

from mem0stack.v1 import admin_pb2, admin_service_pb2_grpc
from mem0stack.v1 import admin_service_pb2 as svc
from mem0stack_server.app.api_keys import ApiKeys
from mem0stack_server.app.erasure import Erasure
from mem0stack_server.app.server_status import ServerStatus
from mem0stack_server.app.users import Users
from mem0stack_server.domain.errors import permission_denied
from mem0stack_server.domain.names import parse_parent
from mem0stack_server.transport.interceptors import current_principal


def _require_admin() -> str:
    """The caller's key id, if it is an admin key; else PERMISSION_DENIED."""
    principal = current_principal()
    if not principal.is_admin:
        raise permission_denied("the AdminService needs an admin API key")
    return principal.key_id


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, keys: ApiKeys, users: Users, erasure: Erasure, status: ServerStatus) -> None:
        self.keys = keys
        self.users = users
        self.erasure = erasure
        self.status = status

    async def CreateApiKey(
        self, request: svc.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> svc.CreateApiKeyResponse:
        _require_admin()
        return await self.keys.create(request)

    async def GetApiKey(
        self, request: svc.GetApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ApiKey:
        _require_admin()
        return await self.keys.get(request.name)

    async def ListApiKeys(
        self, request: svc.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListApiKeysResponse:
        _require_admin()
        return await self.keys.list(request)

    async def RevokeApiKey(
        self, request: svc.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ApiKey:
        _require_admin()
        return await self.keys.revoke(request.name)

    async def ListUsers(
        self, request: svc.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListUsersResponse:
        _require_admin()
        return await self.users.list(request)

    async def GetUserUsage(
        self, request: svc.GetUserUsageRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.UserUsage:
        _require_admin()
        return await self.users.usage(request)

    async def EraseUser(
        self, request: svc.EraseUserRequest, context: grpc.aio.ServicerContext
    ) -> svc.EraseUserResponse:
        actor = _require_admin()
        user_id = parse_parent(request.name, "name")
        erased = await self.erasure.erase(user_id, actor=actor)
        return svc.EraseUserResponse(memories=erased.memories, rows=erased.rows)

    async def GetServerStatus(
        self, request: svc.GetServerStatusRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ServerStatus:
        _require_admin()
        return await self.status.status()
