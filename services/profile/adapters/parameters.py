"""Stored versions of the match model's parameters, and the sample of records they are learned from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg


async def active_version(conn: asyncpg.Connection) -> str | None:
    """The active version's name (one index lookup: the resolver asks once per batch)."""
    value = await conn.fetchval("SELECT version FROM match_parameters WHERE active")
    return str(value) if value is not None else None


async def load(conn: asyncpg.Connection, version: str) -> dict[str, Any] | None:
    data = await conn.fetchval("SELECT parameters FROM match_parameters WHERE version = $1", version)
    return dict(data) if data is not None else None


async def store(
    conn: asyncpg.Connection,
    *,
    version: str,
    parameters: dict[str, Any],
    estimated_at: datetime,
    record_count: int,
    problems: Sequence[str],
) -> None:
    await conn.execute(
        "INSERT INTO match_parameters (version, parameters, estimated_at, record_count, problems)"
        " VALUES ($1, $2, $3, $4, $5)",
        version,
        parameters,
        estimated_at,
        record_count,
        list(problems),
    )


async def activate(conn: asyncpg.Connection, version: str, *, now: datetime) -> bool:
    """Make `version` the one active version (False: no such version)."""
    async with conn.transaction():
        exists = await conn.fetchval("SELECT 1 FROM match_parameters WHERE version = $1 FOR UPDATE", version)
        if exists is None:
            return False
        await conn.execute("UPDATE match_parameters SET active = false WHERE active AND version <> $1", version)
        await conn.execute(
            "UPDATE match_parameters SET active = true, activated_at = $2 WHERE version = $1 AND NOT active",
            version,
            now,
        )
    return True


async def deactivate_all(conn: asyncpg.Connection) -> None:
    """Back to the built-in version."""
    await conn.execute("UPDATE match_parameters SET active = false WHERE active")


async def versions(conn: asyncpg.Connection, *, limit: int = 20) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT version, estimated_at, record_count, problems, active, activated_at FROM match_parameters"
        " ORDER BY estimated_at DESC, version DESC LIMIT $1",
        limit,
    )
    return [dict(r) for r in rows]


async def last_estimated_at(conn: asyncpg.Connection) -> datetime | None:
    value = await conn.fetchval("SELECT max(estimated_at) FROM match_parameters")
    return value if isinstance(value, datetime) else None


async def record_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM source_records"))


async def sample_features(conn: asyncpg.Connection, *, size: int, seed: int) -> list[dict[str, Any]]:
    """The match features of up to `size` stored records, the same ones for the same seed and store."""
    rows = await conn.fetch(
        "SELECT features FROM source_records ORDER BY md5($2::text || source_system || ':' || source_id) LIMIT $1",
        size,
        str(seed),
    )
    return [dict(r["features"]) for r in rows]
