"""Agents' corrections of golden fields (asyncpg, inside the caller's transaction).

A correction to no value is stored as JSON null (a Python None would bind as SQL NULL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.profile.domain.model import Correction


async def corrections_of(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, list[Correction]]:
    rows = await conn.fetch(
        "SELECT customer_id, field, value, actor, at FROM corrections WHERE customer_id = ANY($1::text[])", list(ids)
    )
    out: dict[str, list[Correction]] = {}
    for r in rows:
        out.setdefault(r["customer_id"], []).append(Correction(r["field"], r["value"], r["actor"], r["at"]))
    return out


async def corrections_by_field(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """One customer's corrections, in field order."""
    return await conn.fetch(
        "SELECT field, value, actor, at FROM corrections WHERE customer_id = $1 ORDER BY field", customer_id
    )


async def delete_all(conn: asyncpg.Connection, customer_id: str) -> None:
    await conn.execute("DELETE FROM corrections WHERE customer_id = $1", customer_id)


async def replace_all(conn: asyncpg.Connection, customer_id: str, corrections: Sequence[Mapping[str, Any]]) -> None:
    """A customer's corrections become `corrections` (the first of each field wins)."""
    await delete_all(conn, customer_id)
    seen: set[str] = set()
    for c in corrections:
        if c["field"] in seen:  # the survivor's own correction of a field wins over the absorbed one's
            continue
        seen.add(c["field"])
        await conn.execute(
            "INSERT INTO corrections (customer_id, field, value, actor, at)"
            " VALUES ($1, $2, COALESCE($3::jsonb, 'null'::jsonb), $4, $5)",
            customer_id,
            c["field"],
            c["value"],
            c["actor"],
            datetime.fromisoformat(c["at"]),
        )


async def upsert(
    conn: asyncpg.Connection, *, customer_id: str, field: str, value: Any, actor: str, at: datetime
) -> None:
    """Record a correction; a later correction of the same field replaces it."""
    await conn.execute(
        "INSERT INTO corrections (customer_id, field, value, actor, at)"
        " VALUES ($1, $2, COALESCE($3::jsonb, 'null'::jsonb), $4, $5)"
        " ON CONFLICT (customer_id, field) DO UPDATE"
        " SET value = EXCLUDED.value, actor = EXCLUDED.actor, at = EXCLUDED.at",
        customer_id,
        field,
        value,
        actor,
        at,
    )


async def withdraw(conn: asyncpg.Connection, customer_id: str, field: str) -> asyncpg.Record | None:
    """Delete a correction; returns its value and who made it (None: there was none)."""
    return await conn.fetchrow(
        "DELETE FROM corrections WHERE customer_id = $1 AND field = $2 RETURNING value, actor", customer_id, field
    )
