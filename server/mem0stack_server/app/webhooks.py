"""Webhooks: register, read, change and delete them, and list their deliveries.

Who may reach which webhook is decided by the transport (from the caller's key and the
name); this module checks the values and talks to the store. Deliveries are made by
:mod:`mem0stack_server.app.webhook_delivery`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf import empty_pb2

from mem0stack.v1 import webhook_pb2
from mem0stack.v1 import webhook_service_pb2 as svc
from mem0stack_server.domain.convert import timestamp
from mem0stack_server.domain.errors import Code, DomainError, Reason, invalid
from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.domain.ids import new_memory_id
from mem0stack_server.domain.pagination import decode_token, encode_token, fingerprint
from mem0stack_server.domain.validation import Validator, masked_paths
from mem0stack_server.domain.webhooks import (
    EVENT_TYPES,
    WebhookName,
    check_url,
    delivery_name,
    new_secret,
    webhook_name,
)
from mem0stack_server.store.filter_sql import compile_filter
from mem0stack_server.store.sql import Params
from mem0stack_server.store.webhooks import WebhookStore

_UPDATABLE = ("url", "event_types", "filter", "disabled")


def webhook_not_found(name: str) -> DomainError:
    """NOT_FOUND for a webhook the caller cannot see, whether or not it exists."""
    return DomainError(
        Code.NOT_FOUND, Reason.WEBHOOK_NOT_FOUND, f"webhook {name!r} not found", name=name
    )


class Webhooks:
    """The webhook use cases behind WebhookService."""

    def __init__(self, store: WebhookStore) -> None:
        self.store = store

    async def create(
        self, user_id: str | None, req: svc.CreateWebhookRequest
    ) -> webhook_pb2.Webhook:
        w = req.webhook
        url = check_url(w.url)
        event_types = _event_types(w.event_types)
        _check_filter(w.filter)
        row = await self.store.create(
            new_memory_id(),
            user_id,
            url=url,
            event_types=event_types,
            filter_text=w.filter,
            disabled=w.disabled,
            secret=new_secret(),
        )
        return _webhook(row, with_secret=True)

    async def get(self, name: WebhookName) -> webhook_pb2.Webhook:
        return _webhook(await self._row(name))

    async def list(
        self, user_id: str | None, req: svc.ListWebhooksRequest
    ) -> svc.ListWebhooksResponse:
        size = Validator.page_size(req.page_size)
        query = fingerprint("webhooks", user_id)
        key = decode_token(req.page_token, query, 2)
        after = None
        if key is not None:
            try:
                after = (_parse_time(key[0]), uuid.UUID(key[1]))
            except (TypeError, ValueError):
                raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed") from None
        rows = await self.store.page(user_id, after, size + 1)
        page = rows[:size]
        token = ""
        if len(rows) > size:
            last = page[-1]
            token = encode_token(query, [last["create_time"].isoformat(), str(last["id"])])
        return svc.ListWebhooksResponse(
            webhooks=[_webhook(row) for row in page], next_page_token=token
        )

    async def update(self, name: WebhookName, req: svc.UpdateWebhookRequest) -> webhook_pb2.Webhook:
        w = req.webhook
        paths = _update_paths(req)
        changes: dict[str, Any] = {}
        if "url" in paths:
            changes["url"] = check_url(w.url)
        if "event_types" in paths:
            changes["event_types"] = _event_types(w.event_types)
        if "filter" in paths:
            _check_filter(w.filter)
            changes["filter"] = w.filter
        if "disabled" in paths:
            changes["disabled"] = w.disabled
        await self._row(name)  # the same NOT_FOUND for another user's webhook
        if not changes:
            return await self.get(name)
        row = await self.store.update(name.webhook_id, changes)
        if row is None:
            raise webhook_not_found(str(name))
        return _webhook(row)

    async def delete(self, name: WebhookName) -> empty_pb2.Empty:
        await self._row(name)
        if not await self.store.delete(name.webhook_id):
            raise webhook_not_found(str(name))
        return empty_pb2.Empty()

    async def deliveries(
        self, name: WebhookName, req: svc.ListWebhookDeliveriesRequest
    ) -> svc.ListWebhookDeliveriesResponse:
        size = Validator.page_size(req.page_size)
        await self._row(name)
        query = fingerprint("webhook-deliveries", str(name))
        key = decode_token(req.page_token, query, 1)
        if key is not None and not isinstance(key[0], int):
            raise invalid(Reason.INVALID_PAGE_TOKEN, "page_token", "is malformed")
        rows = await self.store.deliveries(name.webhook_id, key[0] if key else None, size + 1)
        page = rows[:size]
        token = encode_token(query, [page[-1]["seq"]]) if len(rows) > size else ""
        return svc.ListWebhookDeliveriesResponse(
            deliveries=[_delivery(name, row) for row in page], next_page_token=token
        )

    async def _row(self, name: WebhookName) -> asyncpg.Record:
        row = await self.store.get(name.webhook_id)
        if row is None or row["user_id"] != name.user_id:
            raise webhook_not_found(str(name))
        return row


def _event_types(values: Any) -> list[str]:
    names = []
    for i, value in enumerate(values):
        if value == webhook_pb2.Webhook.EVENT_TYPE_UNSPECIFIED:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                f"webhook.event_types[{i}]",
                f"must be one of {', '.join(EVENT_TYPES)}",
            )
        names.append(webhook_pb2.Webhook.EventType.Name(value))
    return sorted(set(names))


def _check_filter(text: str) -> None:
    # Compiled now only to check it: a filter naming an unknown field must fail here, not
    # at every delivery.
    compile_filter(parse_filter(text), Params())


def _update_paths(req: svc.UpdateWebhookRequest) -> set[str]:
    """AIP-134: the mask's paths, or every updatable field set in the webhook."""
    w = req.webhook
    masked = masked_paths(req.update_mask.paths, _UPDATABLE)
    if masked is not None:
        return masked
    paths = set()
    if w.url:
        paths.add("url")
    if w.event_types:
        paths.add("event_types")
    if w.filter:
        paths.add("filter")
    if w.disabled:
        paths.add("disabled")
    return paths


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    return datetime.fromisoformat(value)


def _webhook(row: asyncpg.Record, *, with_secret: bool = False) -> webhook_pb2.Webhook:
    return webhook_pb2.Webhook(
        name=webhook_name(row["user_id"], row["id"]),
        url=row["url"],
        event_types=[webhook_pb2.Webhook.EventType.Value(t) for t in row["event_types"]],
        filter=row["filter"],
        disabled=row["disabled"],
        secret=row["secret"] if with_secret else "",
        create_time=timestamp(row["create_time"]),
        update_time=timestamp(row["update_time"]),
    )


def _delivery(name: WebhookName, row: asyncpg.Record) -> webhook_pb2.WebhookDelivery:
    state = webhook_pb2.WebhookDelivery.State.Value(row["state"])
    return webhook_pb2.WebhookDelivery(
        name=delivery_name(name.user_id, name.webhook_id, row["seq"]),
        event_type=webhook_pb2.Webhook.EventType.Value(row["event"])
        if row["event"] in EVENT_TYPES
        else webhook_pb2.Webhook.EVENT_TYPE_UNSPECIFIED,
        memory=row["payload"].get("memory", {}).get("name", ""),
        cursor=row["payload"].get("cursor", ""),
        state=state,
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_time=timestamp(row["next_attempt_time"])
        if row["state"] == "PENDING"
        else None,
        change_time=timestamp(row["change_time"]),
        complete_time=timestamp(row["complete_time"]),
    )
