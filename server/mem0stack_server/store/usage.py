"""SQL for each user's activity per day (``usage_daily``, migration 0010) and the users'
summaries the admin pages list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg


@dataclass(frozen=True)
class DayCounts:
    """What to add to one user's figures of one day."""

    user_id: str
    day: date
    searches: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_calls: int = 0


class UsageStore:
    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    async def add(self, rows: Sequence[DayCounts]) -> None:
        """Add to the counters, creating a user's day on its first activity."""
        await self.pool.executemany(
            """INSERT INTO usage_daily AS u (user_id, day, searches, llm_prompt_tokens,
                                             llm_completion_tokens, llm_calls)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (user_id, day) DO UPDATE SET
                   searches = u.searches + excluded.searches,
                   llm_prompt_tokens = u.llm_prompt_tokens + excluded.llm_prompt_tokens,
                   llm_completion_tokens =
                       u.llm_completion_tokens + excluded.llm_completion_tokens,
                   llm_calls = u.llm_calls + excluded.llm_calls""",
            [
                (
                    r.user_id,
                    r.day,
                    r.searches,
                    r.llm_prompt_tokens,
                    r.llm_completion_tokens,
                    r.llm_calls,
                )
                for r in rows
            ],
            timeout=self.timeout_s,
        )

    async def days(self, user_id: str, first: date, last: date) -> list[asyncpg.Record]:
        """One row per day from ``first`` to ``last`` (UTC), zeros where nothing happened."""
        rows: list[asyncpg.Record] = await self.pool.fetch(
            """WITH days AS (
                   SELECT d::date AS day FROM generate_series($2::date, $3::date, '1 day') d
               ),
               created AS (
                   SELECT (create_time AT TIME ZONE 'UTC')::date AS day, count(*) AS n
                   FROM memories
                   WHERE user_id = $1 AND create_time >= ($2::date AT TIME ZONE 'UTC')
                   GROUP BY 1
               )
               SELECT days.day,
                      coalesce(created.n, 0) AS memories_created,
                      coalesce(u.searches, 0) AS searches,
                      coalesce(u.llm_prompt_tokens, 0) AS llm_prompt_tokens,
                      coalesce(u.llm_completion_tokens, 0) AS llm_completion_tokens,
                      coalesce(u.llm_calls, 0) AS llm_calls
               FROM days
               LEFT JOIN created ON created.day = days.day
               LEFT JOIN usage_daily u ON u.user_id = $1 AND u.day = days.day
               ORDER BY days.day""",
            user_id,
            first,
            last,
            timeout=self.timeout_s,
        )
        return rows

    async def users(self, *, prefix: str, after: str | None, limit: int) -> list[asyncpg.Record]:
        """Users with memories, by id: counts, last change and last recorded access.

        The distinct ids come from the (user_id, ...) index in order, so a page reads the
        memories of its own users only, however many users there are.
        """
        rows: list[asyncpg.Record] = await self.pool.fetch(
            """WITH page AS (
                   SELECT DISTINCT user_id FROM memories
                   WHERE user_id > $1 AND starts_with(user_id, $2)
                   ORDER BY user_id LIMIT $3
               )
               SELECT page.user_id, c.active, c.total, c.last_change, a.last_access
               FROM page
               CROSS JOIN LATERAL (
                   SELECT count(*) FILTER (WHERE state = 'ACTIVE') AS active,
                          count(*) AS total,
                          max(update_time) AS last_change
                   FROM memories m WHERE m.user_id = page.user_id
               ) c
               LEFT JOIN LATERAL (
                   SELECT time AS last_access FROM access_log l
                   WHERE l.user_id = page.user_id ORDER BY id DESC LIMIT 1
               ) a ON true
               ORDER BY page.user_id""",
            after or "",
            prefix,
            limit,
            timeout=self.timeout_s,
        )
        return rows
