"""SQL for API keys."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


class KeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self, key_id: str, secret_hash: bytes, role: str, users: Sequence[str], label: str
    ) -> None:
        await self.pool.execute(
            "INSERT INTO api_keys (id, secret_hash, role, users, label) "
            "VALUES ($1, $2, $3, $4, $5)",
            key_id,
            secret_hash,
            role,
            list(users),
            label,
        )

    async def find_active(self, key_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            "SELECT id, secret_hash, role, users FROM api_keys "
            "WHERE id = $1 AND revoke_time IS NULL",
            key_id,
        )
        return row

    async def ever_held(self) -> bool:
        """Whether this database has ever held an API key (revoked and deleted ones count)."""
        found: bool = await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM auth_state)")
        return found

    async def list(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.pool.fetch(
            "SELECT id, role, users, label, create_time, revoke_time FROM api_keys "
            "ORDER BY create_time"
        )
        return rows

    async def revoke(self, key_id: str) -> bool:
        status: str = await self.pool.execute(
            "UPDATE api_keys SET revoke_time = now() WHERE id = $1 AND revoke_time IS NULL", key_id
        )
        return status.endswith(" 1")
