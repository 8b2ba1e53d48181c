"""Connections from the service's pool, typed as the connections the adapters take."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import asyncpg


@asynccontextmanager
async def connection(pool: asyncpg.Pool, *, transaction: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, optionally inside a transaction that commits when the block ends cleanly."""
    async with pool.acquire() as proxy:
        conn = cast(asyncpg.Connection, proxy)  # the pool's proxy forwards every Connection method
        if not transaction:
            yield conn
            return
        async with conn.transaction():
            yield conn
