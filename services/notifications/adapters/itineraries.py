"""PostgreSQL persistence of the itineraries notifications has seen (asyncpg, in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.kit.db import fetch_locked_or_lock_key

# Marks start at most this long before they matter; see `zones.STAY_LIMIT` and the quiet-hours horizon.
_LOOKAHEAD = timedelta(days=3)


@dataclass(frozen=True)
class StoredBooking:
    customer_id: str
    status: str
    segments: list[dict[str, Any]]
    source_event_id: str
    occurred_at: datetime


async def booking_for_update(conn: asyncpg.Connection, source_system: str, booking_id: str) -> StoredBooking | None:
    """The booking's stored state, locked; a booking not stored yet is locked by its key.

    Locking a row that does not exist locks nothing: two events of a new booking resolved to two
    travellers (so on two partitions) would each start from nothing and the later commit would
    replace the other's state. The key's advisory lock makes the second wait, then read the first's row.
    """
    select = (
        "SELECT customer_id, status, segments, source_event_id, occurred_at FROM bookings"
        " WHERE source_system = $1 AND booking_id = $2 FOR UPDATE"
    )
    row = await fetch_locked_or_lock_key(conn, select, source_system, booking_id, space="notifications.booking")
    if row is None:
        return None
    return StoredBooking(
        row["customer_id"], row["status"], list(row["segments"]), row["source_event_id"], row["occurred_at"]
    )


async def save_booking(
    conn: asyncpg.Connection,
    *,
    source_system: str,
    booking_id: str,
    customer_id: str,
    status: str,
    segments: list[dict[str, Any]],
    source_event_id: str,
    occurred_at: datetime,
    span: tuple[datetime, datetime] | None,
) -> None:
    """Insert or replace a booking's state."""
    await conn.execute(
        """
        INSERT INTO bookings (source_system, booking_id, customer_id, status, segments, source_event_id,
                              occurred_at, span_start, span_end)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, segments = EXCLUDED.segments,
               source_event_id = EXCLUDED.source_event_id, occurred_at = EXCLUDED.occurred_at,
               span_start = EXCLUDED.span_start, span_end = EXCLUDED.span_end, updated_at = now()
        """,
        source_system,
        booking_id,
        customer_id,
        status,
        segments,
        source_event_id,
        occurred_at,
        span[0] if span else None,
        span[1] if span else None,
    )


async def itineraries_around(
    conn: asyncpg.Connection, customer_ids: Sequence[str], now: datetime
) -> list[list[dict[str, Any]]]:
    """The (annotated) segments of the customers' active bookings that may place them from `now` on.

    Bookings of customers merged into them count too (their ids redirect to these in the view).
    """
    rows = await conn.fetch(
        """
        WITH RECURSIVE ids(id, depth) AS (
            SELECT unnest($1::text[]), 0
            UNION
            SELECT v.customer_id, i.depth + 1
              FROM customer_view v JOIN ids i ON v.redirect_to = i.id
             WHERE v.kind = 'customer' AND i.depth < 10
        )
        SELECT segments FROM bookings
         WHERE customer_id IN (SELECT id FROM ids) AND status = 'active'
           AND span_end > $2 AND span_start < $3
        """,
        list(customer_ids),
        now,
        now + _LOOKAHEAD,
    )
    return [list(r["segments"]) for r in rows]
