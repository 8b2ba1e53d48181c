"""SQL of an erasure in the feedback schema."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def erase_customers(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """Remove the travellers' trips, surveys (answers and comments) and cases with their history."""
    ids = list(ids)
    history = await conn.fetch(
        "DELETE FROM case_history h USING cases c WHERE h.case_id = c.case_id AND c.customer_id = ANY($1::text[])"
        " RETURNING 1",
        ids,
    )
    cases = await conn.fetch("DELETE FROM cases WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    surveys = await conn.fetch("DELETE FROM surveys WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    trips = await conn.fetch("DELETE FROM trips WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    return {"case_history": len(history), "cases": len(cases), "surveys": len(surveys), "trips": len(trips)}
