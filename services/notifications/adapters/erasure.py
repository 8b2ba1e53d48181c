"""SQL of an erasure in the notifications schema."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def erase_customers(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """Remove the travellers' messages (sent or waiting: none goes out after this), consents, quiet hours
    itineraries, alerts to staff about them and webhook posts about them."""
    ids = list(ids)
    deliveries = await conn.fetch(
        "DELETE FROM deliveries WHERE customer_id = ANY($1::text[]) OR resolved_customer_id = ANY($1::text[])"
        " RETURNING 1",
        ids,
    )
    consents = await conn.fetch("DELETE FROM consents WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    quiet = await conn.fetch("DELETE FROM quiet_hours WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    bookings = await conn.fetch("DELETE FROM bookings WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    alerts = await conn.fetch("DELETE FROM staff_alerts WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    posts = await conn.fetch("DELETE FROM webhook_deliveries WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    return {
        "deliveries": len(deliveries), "consents": len(consents), "quiet_hours": len(quiet), "bookings": len(bookings),
        "staff_alerts": len(alerts), "webhook_deliveries": len(posts),
    }  # fmt: skip
