"""Messages held on purpose: deciding them again, and agents letting them go now (asyncpg, caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notifications.adapters.repository import DELIVERY_COLUMNS
from services.notifications.domain.digest import IN_DIGEST


async def wake_held(conn: asyncpg.Connection, customer_ids: Sequence[str], *, reasons: Sequence[str]) -> int:
    """Make deliveries held for `reasons` for these customers due now, to be decided again; returns how many."""
    if not customer_ids:
        return 0
    woken: int = await conn.fetchval(
        """
        WITH woken AS (
            UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
             WHERE (customer_id = ANY($1::text[]) OR resolved_customer_id = ANY($1::text[]))
               AND status = 'pending' AND hold_reason = ANY($2::text[]) AND next_attempt_at > now()
            RETURNING 1
        )
        SELECT count(*) FROM woken
        """,
        list(customer_ids),
        list(reasons),
    )
    if woken:
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return woken


async def release_held(
    conn: asyncpg.Connection, delivery_id: str, *, reasons: Sequence[str], actor: str
) -> asyncpg.Record | None:
    """Let a pending delivery held for one of `reasons` go now, past quiet hours; None when it is not so held."""
    row = await conn.fetchrow(
        f"""
        UPDATE deliveries
           SET next_attempt_at = now(), send_now_by = $3, send_now_at = now(), updated_at = now(),
               -- out of its digest: the dispatcher takes it on its own (the digest goes without it)
               hold_reason = CASE WHEN hold_reason = $4 THEN NULL ELSE hold_reason END
         WHERE delivery_id = $1 AND status = 'pending' AND hold_reason = ANY($2::text[])
        RETURNING {DELIVERY_COLUMNS}
        """,  # only the constant column list is interpolated
        delivery_id,
        list(reasons),
        actor,
        IN_DIGEST,
    )
    if row is not None:
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return row
