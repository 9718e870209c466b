"""SQL for webhooks and their deliveries (``webhooks``, ``webhook_deliveries``).

Deliveries are made from the change feed (``memory_events``) in two steps, both done by
whichever server holds the webhook's lease: new events after the webhook's position are
copied into ``webhook_deliveries`` (one row per webhook and event, so a copy made twice is
one row), then the oldest pending delivery is sent. A lease is taken with ``FOR UPDATE
SKIP LOCKED`` and lasts a bounded time, so two replicas never work on one webhook at once
and a replica that dies only delays its webhooks until the lease runs out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from mem0stack_server.context import time_left
from mem0stack_server.domain.filter import Node
from mem0stack_server.store.filter_sql import compile_filter
from mem0stack_server.store.sql import Params

# scope_user is read as user_id: the user a webhook sees (None: every user).
WEBHOOK_COLUMNS = (
    "id, scope_user AS user_id, url, event_types, filter, disabled, secret, create_time, "
    "update_time"
)
DELIVERY_COLUMNS = (
    "webhook_id, seq, user_id, memory_id, event, payload, change_time, state, attempts, "
    "last_error, next_attempt_time, create_time, complete_time"
)


@dataclass(frozen=True)
class NewDelivery:
    """A change to deliver, as copied from the feed."""

    seq: int
    user_id: str
    memory_id: uuid.UUID
    event: str
    payload: dict[str, Any]
    change_time: datetime


class WebhookStore:
    """Queries over webhooks and deliveries, each bounded by the caller's deadline."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    def _t(self) -> float:
        return time_left(self.timeout_s)

    # The API's reads and writes.

    async def create(
        self,
        webhook_id: uuid.UUID,
        user_id: str | None,
        *,
        url: str,
        event_types: Sequence[str],
        filter_text: str,
        disabled: bool,
        secret: str,
    ) -> asyncpg.Record:
        # Deliveries start after the newest event now; the oldest running transaction is
        # remembered so events it commits later (with smaller seqs) are not missed.
        row: asyncpg.Record = await self.pool.fetchrow(
            f"""INSERT INTO webhooks (id, scope_user, url, event_types, filter, disabled, secret,
                                      position, position_xmin)
                VALUES ($1, $2, $3, $4, $5, $6, $7,
                        (SELECT coalesce(max(seq), 0) FROM memory_events),
                        pg_snapshot_xmin(pg_current_snapshot()))
                RETURNING {WEBHOOK_COLUMNS}""",
            webhook_id,
            user_id,
            url,
            list(event_types),
            filter_text,
            disabled,
            secret,
            timeout=self._t(),
        )
        return row

    async def get(self, webhook_id: uuid.UUID) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1",
            webhook_id,
            timeout=self._t(),
        )
        return row

    async def page(
        self, user_id: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[asyncpg.Record]:
        """Webhooks of ``user_id`` (None: of all users), oldest first, after a page key."""
        params = Params()
        where = ["scope_user IS NULL" if user_id is None else f"scope_user = {params.add(user_id)}"]
        if after is not None:
            where.append(f"(create_time, id) > ({params.add(after[0])}, {params.add(after[1])})")
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"""SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE {" AND ".join(where)}
                ORDER BY create_time, id LIMIT {params.add(limit)}""",
            *params,
            timeout=self._t(),
        )
        return rows

    async def update(self, webhook_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record | None:
        """Set the given columns (url, event_types, filter, disabled).

        A webhook enabled again starts after the newest event, like a new one: changes
        made while it was disabled are not delivered.
        """
        params = Params()
        sets = [f"{column} = {params.add(value)}" for column, value in changes.items()]
        if changes.get("disabled") is False:
            sets += [
                "position = CASE WHEN disabled THEN (SELECT coalesce(max(seq), 0) "
                "FROM memory_events) ELSE position END",
                "position_xmin = CASE WHEN disabled THEN "
                "pg_snapshot_xmin(pg_current_snapshot()) ELSE position_xmin END",
            ]
        sets.append("update_time = now()")
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"""UPDATE webhooks SET {", ".join(sets)} WHERE id = {params.add(webhook_id)}
                RETURNING {WEBHOOK_COLUMNS}""",
            *params,
            timeout=self._t(),
        )
        return row

    async def delete(self, webhook_id: uuid.UUID) -> bool:
        status: str = await self.pool.execute(
            "DELETE FROM webhooks WHERE id = $1", webhook_id, timeout=self._t()
        )
        return status.endswith(" 1")

    async def deliveries(
        self, webhook_id: uuid.UUID, before_seq: int | None, limit: int
    ) -> list[asyncpg.Record]:
        """A webhook's deliveries, newest first, before a page key."""
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"""SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
                WHERE webhook_id = $1 AND ($2::bigint IS NULL OR seq < $2)
                ORDER BY seq DESC LIMIT $3""",
            webhook_id,
            before_seq,
            limit,
            timeout=self._t(),
        )
        return rows

    # The delivery worker's.

    async def claim(self, owner: str, lease_s: float, limit: int) -> list[asyncpg.Record]:
        """Lease up to ``limit`` enabled webhooks that have work (a delivery due, or feed
        events to read) and that no server is working on, least recently worked on first.

        Idle webhooks are not leased, so an idle deployment costs one statement per poll.
        """
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"""UPDATE webhooks SET lease_owner = $1,
                                    lease_until = now() + $2 * interval '1 second'
                WHERE id IN (
                    SELECT w.id FROM webhooks AS w
                    WHERE NOT w.disabled AND w.lease_until < now()
                      AND (EXISTS (SELECT 1 FROM webhook_deliveries AS d
                                   WHERE d.webhook_id = w.id AND d.state = 'PENDING'
                                     AND d.next_attempt_time <= now())
                           OR EXISTS (SELECT 1 FROM memory_events AS e
                                      WHERE e.seq > w.position
                                        AND (w.scope_user IS NULL OR e.user_id = w.scope_user))
                           OR EXISTS (SELECT 1 FROM memory_events AS e
                                      WHERE e.xid >= w.position_xmin AND e.seq <= w.position
                                        AND (w.scope_user IS NULL OR e.user_id = w.scope_user)))
                    ORDER BY w.lease_until LIMIT $3 FOR UPDATE OF w SKIP LOCKED)
                RETURNING {WEBHOOK_COLUMNS}, position, position_xmin::text AS position_xmin""",
            owner,
            lease_s,
            limit,
        )
        return rows

    async def release(self, webhook_id: uuid.UUID, owner: str) -> None:
        await self.pool.execute(
            """UPDATE webhooks SET lease_owner = NULL, lease_until = now()
               WHERE id = $1 AND lease_owner = $2""",
            webhook_id,
            owner,
        )

    async def new_events(
        self,
        user_id: str | None,
        position: int,
        position_xmin: str,
        event_types: Sequence[str],
        node: Node | None,
        limit: int,
    ) -> tuple[list[asyncpg.Record], str]:
        """Events a webhook has not read, in seq order, with ``matches`` (type and filter),
        and the oldest transaction running before the read (the next ``position_xmin``).

        Besides the events after ``position``, those at or before it written by
        ``position_xmin`` or a later transaction are read again: they may have committed
        since the last read (a repeat is harmless, deliveries being unique).
        """
        params = Params()
        matches = compile_filter(node, params, column_prefix="m.").sql
        types = f"e.event = ANY({params.add(list(event_types))}::text[])" if event_types else "true"
        scope = "true" if user_id is None else f"e.user_id = {params.add(user_id)}"
        p_position = params.add(position)
        p_xmin = params.add(position_xmin)
        select = f"""SELECT e.seq, e.user_id, e.memory_id, e.event, e.snapshot, e.create_time,
                            coalesce({types} AND {matches}, false) AS matches
                     FROM memory_events AS e,
                          LATERAL jsonb_populate_record(NULL::memories, e.snapshot) AS m"""
        sql = f"""({select} WHERE {scope} AND e.seq > {p_position})
                  UNION ALL
                  ({select} WHERE {scope} AND e.seq <= {p_position}
                                AND e.xid >= {p_xmin}::text::xid8)
                  ORDER BY seq LIMIT {params.add(limit)}"""
        async with self.pool.acquire() as conn:
            xmin: str = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            rows: list[asyncpg.Record] = await conn.fetch(sql, *params)
        return rows, xmin

    async def record(
        self,
        webhook_id: uuid.UUID,
        owner: str,
        deliveries: Sequence[NewDelivery],
        position: int,
        position_xmin: str,
    ) -> None:
        """Store new deliveries and move the webhook's position, if it is still leased."""
        async with self.pool.acquire() as conn, conn.transaction():
            leased = await conn.fetchval(
                "SELECT true FROM webhooks WHERE id = $1 AND lease_owner = $2 FOR UPDATE",
                webhook_id,
                owner,
            )
            if not leased:
                return
            if deliveries:
                await conn.executemany(
                    """INSERT INTO webhook_deliveries
                           (webhook_id, seq, user_id, memory_id, event, payload, change_time)
                       VALUES ($1, $2, $3, $4, $5, $6, $7)
                       ON CONFLICT (user_id, webhook_id, seq) DO NOTHING""",
                    [
                        (
                            webhook_id,
                            d.seq,
                            d.user_id,
                            d.memory_id,
                            d.event,
                            d.payload,
                            d.change_time,
                        )
                        for d in deliveries
                    ],
                )
            await conn.execute(
                """UPDATE webhooks SET position = greatest(position, $2),
                                       position_xmin = $3::text::xid8
                   WHERE id = $1""",
                webhook_id,
                position,
                position_xmin,
            )

    async def head(self, webhook_id: uuid.UUID) -> asyncpg.Record | None:
        """The webhook's oldest pending delivery, with ``due``: whether it may be sent now."""
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"""SELECT {DELIVERY_COLUMNS}, next_attempt_time <= now() AS due
                FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'PENDING'
                ORDER BY seq LIMIT 1""",
            webhook_id,
        )
        return row

    async def succeeded(self, webhook_id: uuid.UUID, seq: int) -> None:
        await self.pool.execute(
            """UPDATE webhook_deliveries
               SET state = 'SUCCEEDED', attempts = attempts + 1, last_error = '',
                   complete_time = now()
               WHERE webhook_id = $1 AND seq = $2 AND state = 'PENDING'""",
            webhook_id,
            seq,
        )

    async def failed(
        self, webhook_id: uuid.UUID, seq: int, error: str, retry_in_s: float | None
    ) -> None:
        """Record a failed attempt: retry after ``retry_in_s``, or (None) give up."""
        await self.pool.execute(
            """UPDATE webhook_deliveries
               SET attempts = attempts + 1, last_error = $3,
                   state = CASE WHEN $4::float8 IS NULL THEN 'FAILED' ELSE 'PENDING' END,
                   complete_time = CASE WHEN $4::float8 IS NULL THEN now() END,
                   next_attempt_time = now() + coalesce($4::float8, 0) * interval '1 second'
               WHERE webhook_id = $1 AND seq = $2 AND state = 'PENDING'""",
            webhook_id,
            seq,
            error,
            retry_in_s,
        )

    async def pending(self) -> int:
        """Deliveries waiting for their first attempt or a retry, over every webhook."""
        count: int = await self.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'PENDING'"
        )
        return count

    async def prune(self, before: datetime) -> int:
        """Forget finished deliveries older than ``before``."""
        status: str = await self.pool.execute(
            "DELETE FROM webhook_deliveries WHERE state <> 'PENDING' AND create_time < $1",
            before,
        )
        return int(status.rsplit(" ", 1)[1])
