"""Merges: who absorbed whom, the state before, and the review items a merge closed (asyncpg, caller's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def insert_merge(
    conn: asyncpg.Connection,
    *,
    merge_id: str,
    survivor_id: str,
    absorbed_id: str,
    reason: str,
    actor: str | None,
    pre_state: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO merges (merge_id, survivor_id, absorbed_id, reason, actor, pre_state, merged_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        merge_id,
        survivor_id,
        absorbed_id,
        reason,
        actor,
        pre_state,
        at,
    )


async def set_merge_reviews(conn: asyncpg.Connection, merge_id: str, reviews: dict[str, list[str]]) -> None:
    """The review items a merge closed or moved (its undo puts them back)."""
    await conn.execute("UPDATE merges SET reviews = $2 WHERE merge_id = $1", merge_id, reviews)


async def lock_merge(conn: asyncpg.Connection, merge_id: str) -> asyncpg.Record | None:
    """A merge, row-locked (None: no such merge)."""
    return await conn.fetchrow("SELECT * FROM merges WHERE merge_id = $1 FOR UPDATE", merge_id)


async def mark_undone(conn: asyncpg.Connection, merge_id: str, *, actor: str | None, at: datetime) -> None:
    await conn.execute(
        "UPDATE merges SET status = 'undone', undone_at = $2, undone_by = $3 WHERE merge_id = $1", merge_id, at, actor
    )
