"""SQL for the secret that signs page tokens and stream cursors (one row, made once)."""

from __future__ import annotations

import secrets

import asyncpg

SECRET_BYTES = 32


async def token_secret(pool: asyncpg.Pool) -> bytes:
    """This deployment's token secret; the first caller ever generates and stores it.

    Replicas starting together race harmlessly: one insert wins, every one reads it.
    """
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO token_secret (secret) VALUES ($1) ON CONFLICT DO NOTHING",
            secrets.token_bytes(SECRET_BYTES),
        )
        secret: bytes = await conn.fetchval("SELECT secret FROM token_secret")
    return secret
