"""WebhookService over gRPC: resolve names, check the caller may reach them, delegate.

A webhook of a user is reached as that user's memories are: a key that cannot reach the
user gets NOT_FOUND for the webhook (and PERMISSION_DENIED for the parent). Webhooks of all
users need an admin key.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from mem0stack.v1 import webhook_pb2, webhook_service_pb2_grpc
from mem0stack.v1 import webhook_service_pb2 as svc
from mem0stack_server.app.webhooks import Webhooks, webhook_not_found
from mem0stack_server.domain.errors import permission_denied
from mem0stack_server.domain.webhooks import (
    WebhookName,
    parse_webhook_name,
    parse_webhook_parent,
)
from mem0stack_server.transport.interceptors import current_principal


def _parent(value: str) -> str | None:
    user_id = parse_webhook_parent(value)
    principal = current_principal()
    if user_id is None:
        if not principal.is_admin:
            raise permission_denied("only an admin key may manage the webhooks of all users")
    else:
        principal.require_user(user_id)
    return user_id


def _name(value: str, field: str = "name") -> WebhookName:
    name = parse_webhook_name(value, field)
    principal = current_principal()
    if name.user_id is None:
        if not principal.is_admin:
            raise permission_denied("only an admin key may manage the webhooks of all users")
    elif not principal.can_reach(name.user_id):
        raise webhook_not_found(value)
    return name


class WebhookServicer(webhook_service_pb2_grpc.WebhookServiceServicer):
    """Thin transport layer over the webhook use cases."""

    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    async def CreateWebhook(
        self, request: svc.CreateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.Webhook:
        return await self.webhooks.create(_parent(request.parent), request)

    async def GetWebhook(
        self, request: svc.GetWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.Webhook:
        return await self.webhooks.get(_name(request.name))

    async def ListWebhooks(
        self, request: svc.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWebhooksResponse:
        return await self.webhooks.list(_parent(request.parent), request)

    async def UpdateWebhook(
        self, request: svc.UpdateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhook_pb2.Webhook:
        return await self.webhooks.update(_name(request.webhook.name, "webhook.name"), request)

    async def DeleteWebhook(
        self, request: svc.DeleteWebhookRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        return await self.webhooks.delete(_name(request.name))

    async def ListWebhookDeliveries(
        self, request: svc.ListWebhookDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWebhookDeliveriesResponse:
        return await self.webhooks.deliveries(_name(request.parent, "parent"), request)
