"""SQL of an erasure in the preferences schema."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def erase_customers(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """Remove the travellers' preferences (stated, inferred, evidence), their confirmation questions and hotel
    stays."""
    ids = list(ids)
    questions = await conn.fetch(
        "DELETE FROM confirmation_requests WHERE customer_id = ANY($1::text[]) RETURNING 1", ids
    )
    await conn.execute("UPDATE customers SET merged_into = NULL WHERE merged_into = ANY($1::text[])", ids)
    customers = await conn.fetch("DELETE FROM customers WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    # The hotel stays behind hotel suggestions, and when each of their bookings was last stated.
    stays = await conn.fetch(
        "DELETE FROM hotel_stays WHERE customer_id = ANY($1::text[]) RETURNING source_system, booking_id", ids
    )
    await conn.execute(
        "DELETE FROM hotel_stay_bookings b USING unnest($1::text[], $2::text[]) AS s(source_system, booking_id)"
        " WHERE b.source_system = s.source_system AND b.booking_id = s.booking_id",
        [r["source_system"] for r in stays],
        [r["booking_id"] for r in stays],
    )
    return {"confirmation_requests": len(questions), "customers": len(customers), "hotel_stays": len(stays)}
