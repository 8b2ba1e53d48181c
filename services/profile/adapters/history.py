"""Each customer's history of changes (asyncpg, inside the caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.profile.adapters.rows import json_texts


async def add_history(
    conn: asyncpg.Connection, *, customer_id: str, change: str, actor: str | None, detail: dict[str, Any]
) -> None:
    await add_history_many(conn, [(customer_id, change, actor, detail)])


async def add_history_many(
    conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str | None, dict[str, Any]]]
) -> None:
    if rows:
        await conn.execute(
            "INSERT INTO customer_history (customer_id, change, actor, detail)"
            " SELECT c, ch, a, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(c, ch, a, d)",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            json_texts(r[3] for r in rows),
        )
