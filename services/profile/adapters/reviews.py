"""The review queue and the pairs agents declared different people (asyncpg, caller's transaction).

Resolution opens items (`insert_reviews`) and skips pairs declared distinct (`distinct_pairs`).
A merge closes the open items between the two customers and moves the absorbed customer's
items to the survivor; undoing it puts every one of them back as it was. At most one item of a
pair of customers is open at a time (either way round: migration 0006's index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.profile.adapters.rows import json_texts

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


async def distinct_pairs(conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (sorted) customer pairs an agent declared different people."""
    if not pairs:
        return set()
    rows = await conn.fetch(
        "SELECT d.customer_a, d.customer_b FROM distinct_pairs d"
        " JOIN unnest($1::text[], $2::text[]) AS p(a, b) ON d.customer_a = p.a AND d.customer_b = p.b",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return {(r["customer_a"], r["customer_b"]) for r in rows}


async def insert_reviews(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Open review items; a pair with an open item already keeps one, with the better-scored evidence.

    At most one row per pair of customers (either way round) in `rows`."""
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO review_queue (review_id, customer_id, candidate_id, source_system, source_id, score, evidence)
        SELECT rid, cus, cand, sys, id, score, ev::jsonb
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::real[], $7::text[])
               AS t(rid, cus, cand, sys, id, score, ev)
         ORDER BY LEAST(cus, cand), GREATEST(cus, cand)
        ON CONFLICT ((LEAST(customer_id, candidate_id)), (GREATEST(customer_id, candidate_id))) WHERE status = 'open'
        DO UPDATE SET customer_id = EXCLUDED.customer_id, candidate_id = EXCLUDED.candidate_id,
                      source_system = EXCLUDED.source_system, source_id = EXCLUDED.source_id,
                      score = EXCLUDED.score, evidence = EXCLUDED.evidence
                WHERE EXCLUDED.score > review_queue.score
                   OR (EXCLUDED.score = review_queue.score
                       AND (EXCLUDED.source_system, EXCLUDED.source_id)
                           < (review_queue.source_system, review_queue.source_id))
        """,
        [r["review_id"] for r in rows],
        [r["customer_id"] for r in rows],
        [r["candidate_id"] for r in rows],
        [r["source_system"] for r in rows],
        [r["source_id"] for r in rows],
        [r["score"] for r in rows],
        json_texts(r["evidence"] for r in rows),
    )


async def lock_review(conn: asyncpg.Connection, review_id: str) -> asyncpg.Record | None:
    """A review item, row-locked (None: no such item)."""
    return await conn.fetchrow("SELECT * FROM review_queue WHERE review_id = $1 FOR UPDATE", review_id)


async def decide(
    conn: asyncpg.Connection, review_id: str, *, status: str, actor: str, at: datetime, merge_id: str | None
) -> None:
    await conn.execute(
        "UPDATE review_queue SET status = $2, decided_by = $3, decided_at = $4, merge_id = $5 WHERE review_id = $1",
        review_id,
        status,
        actor,
        at,
        merge_id,
    )


async def declare_distinct(conn: asyncpg.Connection, a: str, b: str, *, actor: str | None) -> None:
    """Remember that customers `a` < `b` are different people (resolution never links them again)."""
    await conn.execute(
        "INSERT INTO distinct_pairs (customer_a, customer_b, decided_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        a,
        b,
        actor,
    )
