"""PostgreSQL persistence of travellers' consent decisions and quiet hours (asyncpg, inside the caller's
transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import cast

import asyncpg

from services.notifications.domain.model import Channel, ConsentRecord, Purpose, QuietHours


async def consents_for(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> list[ConsentRecord]:
    """Explicit consent decisions recorded under any of `customer_ids` (a customer and its merged ids)."""
    rows = await conn.fetch(
        "SELECT purpose, channel, granted, updated_at FROM consents WHERE customer_id = ANY($1::text[])",
        list(customer_ids),
    )
    return [
        ConsentRecord(cast(Purpose, r["purpose"]), cast(Channel, r["channel"]), r["granted"], r["updated_at"])
        for r in rows
    ]


async def list_consents(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT purpose, channel, granted, source, updated_by, updated_at FROM consents"
        " WHERE customer_id = $1 ORDER BY purpose, channel",
        customer_id,
    )


async def upsert_consent(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    purpose: Purpose,
    channel: Channel,
    granted: bool,
    source: str | None,
    updated_by: str,
) -> None:
    await conn.execute(
        """
        INSERT INTO consents (customer_id, purpose, channel, granted, source, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (customer_id, purpose, channel) DO UPDATE
           SET granted = EXCLUDED.granted, source = EXCLUDED.source, updated_by = EXCLUDED.updated_by,
               updated_at = now()
        """,
        customer_id,
        purpose,
        channel,
        granted,
        source,
        updated_by,
    )


async def quiet_hours_for(
    conn: asyncpg.Connection, customer_ids: Sequence[str]
) -> tuple[QuietHours | None, datetime | None]:
    """The first customer's own quiet hours among `customer_ids` (in that order) and when they were set."""
    rows = await conn.fetch(
        "SELECT customer_id, enabled, start_local, end_local, updated_at FROM quiet_hours"
        " WHERE customer_id = ANY($1::text[])",
        list(customer_ids),
    )
    by_id = {r["customer_id"]: r for r in rows}
    for cid in customer_ids:
        r = by_id.get(cid)
        if r is not None:
            return QuietHours(start=r["start_local"], end=r["end_local"], enabled=r["enabled"]), r["updated_at"]
    return None, None


async def get_quiet_hours(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT enabled, start_local, end_local, updated_by, updated_at FROM quiet_hours WHERE customer_id = $1",
        customer_id,
    )


async def upsert_quiet_hours(
    conn: asyncpg.Connection, *, customer_id: str, enabled: bool, start: time, end: time, updated_by: str
) -> None:
    await conn.execute(
        """
        INSERT INTO quiet_hours (customer_id, enabled, start_local, end_local, updated_by)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (customer_id) DO UPDATE
           SET enabled = EXCLUDED.enabled, start_local = EXCLUDED.start_local, end_local = EXCLUDED.end_local,
               updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        customer_id,
        enabled,
        start,
        end,
        updated_by,
    )
