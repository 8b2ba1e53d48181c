"""SQL of an erasure in the preferences schema."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def erase_customers(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """Remove the travellers' preferences (stated, inferred, evidence) and their confirmation questions."""
    ids = list(ids)
    questions = await conn.fetch(
        "DELETE FROM confirmation_requests WHERE customer_id = ANY($1::text[]) RETURNING 1", ids
    )
    await conn.execute("UPDATE customers SET merged_into = NULL WHERE merged_into = ANY($1::text[])", ids)
    customers = await conn.fetch("DELETE FROM customers WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    return {"confirmation_requests": len(questions), "customers": len(customers)}
