"""The webhook worker: POSTs the change feed's events to each webhook, in the background.

Every server runs one worker. Each poll it leases webhooks no other server is working on
(:meth:`~mem0stack_server.store.webhooks.WebhookStore.claim`), and for each one, in its own
task: copies the feed's new matching events into deliveries, then sends the oldest pending
delivery, and the next, while the lease lasts. A webhook's deliveries go out one at a time
in feed order, so each user's changes arrive in commit order; a delivery that fails is
retried with doubling waits, and the ones after it wait too, until it succeeds or the retry
period ends (then it is FAILED and the next one goes). Writes never wait for any of this:
they only append to the feed, as they always do.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx2
from google.protobuf import json_format

from mem0stack_server.app.watch import memory_from_snapshot, watch_cursor_scope
from mem0stack_server.domain.errors import DomainError
from mem0stack_server.domain.filter import parse_filter
from mem0stack_server.domain.tokens import encode_cursor
from mem0stack_server.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff_s,
    delivery_name,
    sign,
    webhook_name,
)
from mem0stack_server.obs import metrics
from mem0stack_server.store.webhooks import NewDelivery, WebhookStore

log = logging.getLogger(__name__)

#: Feed events read per webhook per lease.
PAGE = 500
_PRUNE_EVERY_S = 3600.0
_ERROR_CHARS = 300


@dataclass(frozen=True)
class DeliverySettings:
    poll_s: float
    timeout_s: float
    retry_s: float
    backoff_initial_s: float
    backoff_max_s: float
    concurrency: int
    retention: timedelta

    @property
    def lease_s(self) -> float:
        # Long enough for several sends; a send always ends (timeout) well inside it.
        return max(30.0, 6 * self.timeout_s)


class WebhookWorker:
    """Delivers every webhook's changes; start it once per server."""

    def __init__(self, store: WebhookStore, settings: DeliverySettings) -> None:
        self.store = store
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(settings.timeout_s), follow_redirects=False
        )
        self._active: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._active.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("webhook worker cannot reach the database: %s", exc)
            await asyncio.sleep(self.settings.poll_s)

    async def _poll(self) -> None:
        free = self.settings.concurrency - len(self._active)
        if free > 0:
            for row in await self.store.claim(self.owner, self.settings.lease_s, free):
                key: uuid.UUID = row["id"]
                task = asyncio.create_task(self._work(row), name=f"webhook-{key}")
                self._active[key] = task
                task.add_done_callback(functools.partial(self._finished, key))
        metrics.WEBHOOK_PENDING.set(await self.store.pending())
        if time.monotonic() - self._last_prune > _PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            await self.store.prune(datetime.now(UTC) - self.settings.retention)

    def _finished(self, key: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._active.pop(key, None)

    async def _work(self, webhook: asyncpg.Record) -> None:
        """Copy new events, then send while the lease lasts; always give the lease back."""
        ends = time.monotonic() + self.settings.lease_s - self.settings.timeout_s - 5.0
        try:
            await self._copy_events(webhook)
            while time.monotonic() < ends:
                head = await self.store.head(webhook["id"])
                if head is None or not head["due"]:
                    break
                await self._send(webhook, head)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("webhook %s: database error: %s", webhook["id"], exc)
        except DomainError as exc:  # a stored filter this server can no longer compile
            log.error("webhook %s cannot be delivered: %s", webhook["id"], exc)
        finally:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.shield(self.store.release(webhook["id"], self.owner))

    async def _copy_events(self, webhook: asyncpg.Record) -> None:
        rows, xmin = await self.store.new_events(
            webhook["user_id"],
            webhook["position"],
            webhook["position_xmin"],
            webhook["event_types"],
            parse_filter(webhook["filter"]),
            PAGE,
        )
        position = webhook["position"]
        found = []
        for row in rows:
            position = max(position, row["seq"])
            if row["matches"]:
                found.append(_delivery_of(webhook, row))
        # A full page may have left events unread behind its last one: keep the old horizon.
        horizon = xmin if len(rows) < PAGE else webhook["position_xmin"]
        await self.store.record(webhook["id"], self.owner, found, position, horizon)

    async def _send(self, webhook: asyncpg.Record, delivery: asyncpg.Record) -> None:
        body = json.dumps(delivery["payload"], separators=(",", ":"), ensure_ascii=False).encode()
        sent_at = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "mem0stack-webhooks",
            SIGNATURE_HEADER: sign(webhook["secret"], sent_at, body),
            TIMESTAMP_HEADER: str(sent_at),
            DELIVERY_HEADER: delivery["payload"]["delivery"],
            EVENT_HEADER: delivery["event"],
        }
        started = time.perf_counter()
        error = ""
        try:
            response = await self._client.post(webhook["url"], content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx2.TimeoutException:
            error = f"timed out after {self.settings.timeout_s:g} s"
        except httpx2.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        metrics.WEBHOOK_DELIVERY_SECONDS.observe(time.perf_counter() - started)
        if not error:
            metrics.WEBHOOK_DELIVERIES.labels("succeeded").inc()
            await self.store.succeeded(webhook["id"], delivery["seq"])
            return
        age = (datetime.now(UTC) - delivery["create_time"]).total_seconds()
        if age >= self.settings.retry_s:
            metrics.WEBHOOK_DELIVERIES.labels("gave_up").inc()
            log.warning(
                "webhook delivery given up",
                extra={"webhook": str(webhook["id"]), "seq": delivery["seq"], "error": error},
            )
            await self.store.failed(webhook["id"], delivery["seq"], error, None)
            return
        metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
        wait = backoff_s(
            delivery["attempts"] + 1,
            self.settings.backoff_initial_s,
            self.settings.backoff_max_s,
        )
        await self.store.failed(webhook["id"], delivery["seq"], error, wait)


def _delivery_of(webhook: asyncpg.Record, row: asyncpg.Record) -> NewDelivery:
    """The delivery of one feed event, with the body it will carry."""
    memory = memory_from_snapshot(row["snapshot"])
    payload: dict[str, Any] = {
        "webhook": webhook_name(webhook["user_id"], webhook["id"]),
        "delivery": delivery_name(webhook["user_id"], webhook["id"], row["seq"]),
        "type": row["event"],
        "memory": json_format.MessageToDict(memory),
        "cursor": encode_cursor(watch_cursor_scope(row["user_id"]), row["seq"]),
        "change_time": row["create_time"].isoformat().replace("+00:00", "Z"),
    }
    return NewDelivery(
        seq=row["seq"],
        user_id=row["user_id"],
        memory_id=row["memory_id"],
        event=row["event"],
        payload=payload,
        change_time=row["create_time"],
    )
