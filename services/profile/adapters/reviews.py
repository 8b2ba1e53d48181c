"""The review queue around merges (asyncpg, inside the caller's transaction).

A merge closes the open items between the two customers and moves the absorbed customer's
items to the survivor; undoing it puts every one of them back as it was. At most one item of a
pair of customers is open at a time (either way round: migration 0006's index).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

MergeReviews = dict[str, list[str]]  # superseded | moved_customer | moved_candidate -> review ids


async def close_for_merge(
    conn: asyncpg.Connection, *, survivor_id: str, absorbed_id: str, at: datetime
) -> MergeReviews:
    """Supersede the items between the two customers, and those of the absorbed customer whose other
    customer has an item with the survivor already; move the rest to the survivor. Returns what changed."""
    superseded = await conn.fetch(
        "UPDATE review_queue SET status = 'superseded', decided_at = $3 WHERE status = 'open'"
        " AND ((customer_id = $1 AND candidate_id = $2) OR (customer_id = $2 AND candidate_id = $1))"
        " RETURNING review_id",
        absorbed_id,
        survivor_id,
        at,
    )
    duplicates = await conn.fetch(
        """
        UPDATE review_queue r SET status = 'superseded', decided_at = $3
         WHERE r.status = 'open' AND $1 IN (r.customer_id, r.candidate_id)
           AND EXISTS (
                SELECT 1 FROM review_queue o
                 WHERE o.status = 'open' AND $2 IN (o.customer_id, o.candidate_id)
                   AND (CASE WHEN o.customer_id = $2 THEN o.candidate_id ELSE o.customer_id END)
                     = (CASE WHEN r.customer_id = $1 THEN r.candidate_id ELSE r.customer_id END))
        RETURNING r.review_id
        """,
        absorbed_id,
        survivor_id,
        at,
    )
    moved_customer = await conn.fetch(
        "UPDATE review_queue SET customer_id = $2 WHERE status = 'open' AND customer_id = $1 RETURNING review_id",
        absorbed_id,
        survivor_id,
    )
    moved_candidate = await conn.fetch(
        "UPDATE review_queue SET candidate_id = $2 WHERE status = 'open' AND candidate_id = $1 RETURNING review_id",
        absorbed_id,
        survivor_id,
    )
    return {
        "superseded": sorted(r["review_id"] for r in [*superseded, *duplicates]),
        "moved_customer": sorted(r["review_id"] for r in moved_customer),
        "moved_candidate": sorted(r["review_id"] for r in moved_candidate),
    }


async def reopen_after_undo(
    conn: asyncpg.Connection,
    *,
    merge_id: str,
    survivor_id: str,
    absorbed_id: str,
    changes: Mapping[str, list[str]] | None,
) -> list[asyncpg.Record]:
    """Undo a merge's changes to the queue: moved items go back to the absorbed customer, and the
    items it closed (the one accepted for it, superseded ones) are open again, unless their pair has
    an open item by now. Returns the reopened items (review id, customer, candidate).

    Merges recorded before their review changes were (no `changes`) reopen the item accepted for them.
    """
    changes = changes or {}
    await conn.execute(
        "UPDATE review_queue SET customer_id = $2"
        " WHERE review_id = ANY($1::text[]) AND status = 'open' AND customer_id = $3",
        changes.get("moved_customer", []),
        absorbed_id,
        survivor_id,
    )
    await conn.execute(
        "UPDATE review_queue SET candidate_id = $2"
        " WHERE review_id = ANY($1::text[]) AND status = 'open' AND candidate_id = $3",
        changes.get("moved_candidate", []),
        absorbed_id,
        survivor_id,
    )
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        UPDATE review_queue r SET status = 'open', decided_by = NULL, decided_at = NULL, merge_id = NULL
         WHERE ((r.review_id = ANY($1::text[]) AND r.status = 'superseded')
                OR (r.status = 'accepted' AND r.merge_id = $2))
           AND NOT EXISTS (
                SELECT 1 FROM review_queue o
                 WHERE o.status = 'open'
                   AND LEAST(o.customer_id, o.candidate_id) = LEAST(r.customer_id, r.candidate_id)
                   AND GREATEST(o.customer_id, o.candidate_id) = GREATEST(r.customer_id, r.candidate_id))
        RETURNING r.review_id, r.customer_id, r.candidate_id
        """,
        changes.get("superseded", []),
        merge_id,
    )
    return rows
