"""Each user's activity per day (searches, LLM tokens), counted off the calls' path.

Calls only add to counters in memory; every few seconds one statement adds them to
``usage_daily``. A server that dies loses at most those seconds of figures, which is the
price of never adding a database round trip to a search. If the database is away the
counts are kept and added on a later flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from mem0stack_server.llm.client import Usage
from mem0stack_server.store.usage import DayCounts, UsageStore

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 2.0


@dataclass
class _Counts:
    searches: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_calls: int = 0


class UsageMeter:
    def __init__(self, store: UsageStore, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.store = store
        self.flush_every_s = flush_every_s
        self._pending: defaultdict[tuple[str, date], _Counts] = defaultdict(_Counts)
        self._task: asyncio.Task[None] | None = None

    def searched(self, user_id: str) -> None:
        self._pending[user_id, _today()].searches += 1

    def used_llm(self, user_id: str, usage: Usage) -> None:
        if usage.calls == 0:
            return
        counts = self._pending[user_id, _today()]
        counts.llm_prompt_tokens += usage.prompt_tokens
        counts.llm_completion_tokens += usage.completion_tokens
        counts.llm_calls += usage.calls

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_loop(), name="usage-flush")

    async def stop(self) -> None:
        """Write what is counted, then end the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception:
            log.warning("could not write the last usage figures", exc_info=True)

    async def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(_Counts)
        if not pending:
            return
        rows = [
            DayCounts(
                user_id,
                day,
                c.searches,
                c.llm_prompt_tokens,
                c.llm_completion_tokens,
                c.llm_calls,
            )
            for (user_id, day), c in pending.items()
        ]
        try:
            await self.store.add(rows)
        except BaseException:
            for key, c in pending.items():  # keep them for the next flush
                mine = self._pending[key]
                mine.searches += c.searches
                mine.llm_prompt_tokens += c.llm_prompt_tokens
                mine.llm_completion_tokens += c.llm_completion_tokens
                mine.llm_calls += c.llm_calls
            raise

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every_s)
            try:
                await self.flush()
            except Exception:
                log.warning("could not write usage figures; retrying", exc_info=True)


def _today() -> date:
    return datetime.now(UTC).date()
