"""SQL for API keys."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

KEY_COLUMNS = "id, role, users, label, create_time, last_use_time, revoke_time"


class KeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self, key_id: str, secret_hash: bytes, role: str, users: Sequence[str], label: str
    ) -> asyncpg.Record:
        row: asyncpg.Record = await self.pool.fetchrow(
            "INSERT INTO api_keys (id, secret_hash, role, users, label) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}",
            key_id,
            secret_hash,
            role,
            list(users),
            label,
        )
        return row

    async def find_active(self, key_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            "SELECT id, secret_hash, role, users FROM api_keys "
            "WHERE id = $1 AND revoke_time IS NULL",
            key_id,
        )
        return row

    async def touch(self, key_id: str) -> None:
        """Note that the key was just verified (see migration 0010 for how precise)."""
        await self.pool.execute("UPDATE api_keys SET last_use_time = now() WHERE id = $1", key_id)

    async def ever_held(self) -> bool:
        """Whether this database has ever held an API key (revoked and deleted ones count)."""
        found: bool = await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM auth_state)")
        return found

    async def get(self, key_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1", key_id
        )
        return row

    async def all(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY create_time, id"
        )
        return rows

    async def page(
        self, *, after: tuple[object, str] | None, limit: int, show_revoked: bool
    ) -> list[asyncpg.Record]:
        """Keys oldest first, after the (create_time, id) of the previous page's last."""
        where = ["true" if show_revoked else "revoke_time IS NULL"]
        args: list[object] = []
        if after is not None:
            where.append("(create_time, id) > ($1, $2)")
            args += list(after)
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE {' AND '.join(where)} "
            f"ORDER BY create_time, id LIMIT {int(limit)}",
            *args,
        )
        return rows

    async def revoke(self, key_id: str) -> bool:
        status: str = await self.pool.execute(
            "UPDATE api_keys SET revoke_time = now() WHERE id = $1 AND revoke_time IS NULL", key_id
        )
        return status.endswith(" 1")
