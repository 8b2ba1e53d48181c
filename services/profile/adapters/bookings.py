"""Bookings as the profile service keeps them: whose they are, and a summary (asyncpg, caller's transaction)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import asyncpg

from services.profile.adapters.rows import json_texts


async def upsert_bookings(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO bookings (source_system, booking_id, customer_id, status, summary, traveller_source_id, updated_at)
        SELECT sys, id, cus, st, summ::jsonb, tr, at
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
               AS t(sys, id, cus, st, summ, tr, at)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status,
               summary = CASE WHEN EXCLUDED.summary = '{}'::jsonb THEN bookings.summary ELSE EXCLUDED.summary END,
               traveller_source_id = EXCLUDED.traveller_source_id, updated_at = EXCLUDED.updated_at
        """,
        [r["source_system"] for r in rows],
        [r["booking_id"] for r in rows],
        [r["customer_id"] for r in rows],
        [r["status"] for r in rows],
        json_texts(r["summary"] for r in rows),
        [r["traveller_source_id"] for r in rows],
        [r["at"] for r in rows],
    )


async def bookings_of(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """A customer's bookings (source system, booking id)."""
    return await conn.fetch("SELECT source_system, booking_id FROM bookings WHERE customer_id = $1", customer_id)


async def move_bookings(conn: asyncpg.Connection, bookings: Collection[tuple[str, str]], *, to: str) -> None:
    if bookings:
        await conn.execute(
            "UPDATE bookings b SET customer_id = $3 FROM unnest($1::text[], $2::text[]) AS k(sys, id)"
            " WHERE b.source_system = k.sys AND b.booking_id = k.id",
            [r[0] for r in bookings],
            [r[1] for r in bookings],
            to,
        )


async def move_bookings_of_record(
    conn: asyncpg.Connection, source_system: str, traveller_source_id: str, *, owner: str, to: str
) -> None:
    """Move the bookings that came with a source record (of `owner`) to another customer."""
    await conn.execute(
        "UPDATE bookings SET customer_id = $3"
        " WHERE source_system = $1 AND traveller_source_id = $2 AND customer_id = $4",
        source_system,
        traveller_source_id,
        to,
        owner,
    )
