"""SQL of an erasure in the profile schema: the links between ids, what the traveller left, and its removal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from services.profile.domain.erasure import Links

SourceKey = tuple[str, str]


async def links_around(conn: asyncpg.Connection, ids: Sequence[str]) -> Links:
    """The links (merges in force, undone merges, splits) that touch these ids."""
    ids = list(ids)
    redirects = await conn.fetch(
        "SELECT customer_id, merged_into FROM customers WHERE merged_into IS NOT NULL"
        " AND (customer_id = ANY($1::text[]) OR merged_into = ANY($1::text[]))",
        ids,
    )
    merges = await conn.fetch(
        "SELECT survivor_id, absorbed_id, status FROM merges"
        " WHERE survivor_id = ANY($1::text[]) OR absorbed_id = ANY($1::text[])",
        ids,
    )
    splits = await conn.fetch(
        "SELECT detail->>'from' AS origin, detail->>'to' AS part FROM customer_history"
        " WHERE customer_id = ANY($1::text[]) AND change = 'record-split-off'",
        ids,
    )
    same = {(r["customer_id"], r["merged_into"]) for r in redirects}
    same |= {(r["absorbed_id"], r["survivor_id"]) for r in merges if r["status"] == "active"}
    came_from = {(r["survivor_id"], r["absorbed_id"]) for r in merges if r["status"] == "undone"}
    came_from |= {(r["origin"], r["part"]) for r in splits if r["origin"] and r["part"]}
    return Links(frozenset(same), frozenset(came_from))


async def known_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> list[str]:
    rows = await conn.fetch("SELECT customer_id FROM customers WHERE customer_id = ANY($1::text[])", list(ids))
    return sorted(r["customer_id"] for r in rows)


async def records_of(conn: asyncpg.Connection, ids: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT source_system, source_id, features, raw FROM source_records WHERE customer_id = ANY($1::text[])"
        " ORDER BY source_system, source_id",
        list(ids),
    )


async def bookings_of(conn: asyncpg.Connection, ids: Sequence[str]) -> list[SourceKey]:
    rows = await conn.fetch(
        "SELECT source_system, booking_id FROM bookings WHERE customer_id = ANY($1::text[])", list(ids)
    )
    return [(r["source_system"], r["booking_id"]) for r in rows]


async def goldens_of(conn: asyncpg.Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT golden FROM customers WHERE customer_id = ANY($1::text[])", list(ids))
    golden_rows = [dict(r["golden"] or {}) for r in rows]
    corrections = await conn.fetch(
        "SELECT field, value FROM corrections WHERE customer_id = ANY($1::text[])", list(ids)
    )
    return golden_rows + [{c["field"]: c["value"]} for c in corrections]


async def erase(
    conn: asyncpg.Connection,
    *,
    ids: Sequence[str],
    records: Sequence[SourceKey],
    frequency_tokens: Mapping[str, int],
    emails: Sequence[str],
) -> dict[str, int]:
    """Remove every row of these customers and records; returns rows removed per table."""
    ids = list(ids)
    systems, sources = [r[0] for r in records], [r[1] for r in records]
    counts: dict[str, int] = {}

    async def run(table: str, sql: str, *args: Any) -> None:
        counts[table] = counts.get(table, 0) + len(await conn.fetch(sql + " RETURNING 1", *args))

    await run(
        "blocking_key_hashes",
        "DELETE FROM blocking_key_hashes t USING unnest($1::text[], $2::text[]) AS k(sys, id)"
        " WHERE t.source_system = k.sys AND t.source_id = k.id",
        systems, sources,
    )  # fmt: skip
    await run(
        "review_queue",
        "DELETE FROM review_queue t WHERE t.customer_id = ANY($3::text[]) OR t.candidate_id = ANY($3::text[])"
        " OR EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS k(sys, id)"
        "            WHERE t.source_system = k.sys AND t.source_id = k.id)",
        systems, sources, ids,
    )  # fmt: skip
    await run("source_records", "DELETE FROM source_records WHERE customer_id = ANY($1::text[])", ids)
    await run("bookings", "DELETE FROM bookings WHERE customer_id = ANY($1::text[])", ids)
    await run("corrections", "DELETE FROM corrections WHERE customer_id = ANY($1::text[])", ids)
    await run("quality_tasks", "DELETE FROM quality_tasks WHERE customer_id = ANY($1::text[])", ids)
    await run("customer_history", "DELETE FROM customer_history WHERE customer_id = ANY($1::text[])", ids)
    await run("merges", "DELETE FROM merges WHERE survivor_id = ANY($1::text[]) OR absorbed_id = ANY($1::text[])", ids)
    await run(
        "distinct_pairs",
        "DELETE FROM distinct_pairs WHERE customer_a = ANY($1::text[]) OR customer_b = ANY($1::text[])",
        ids,
    )
    await run("undeliverable_emails", "DELETE FROM undeliverable_emails WHERE email = ANY($1::text[])", list(emails))
    if frequency_tokens:
        ordered = sorted(frequency_tokens)  # the resolver's order: no deadlock on shared rows
        await run(
            "value_frequencies",
            "UPDATE value_frequencies f SET count = f.count - d.n FROM unnest($1::text[], $2::bigint[]) AS d(token, n)"
            " WHERE f.token = d.token",
            ordered, [frequency_tokens[t] for t in ordered],
        )  # fmt: skip
        # A name part no stored record has any more would still name the traveller.
        await conn.execute("DELETE FROM value_frequencies WHERE token = ANY($1::text[]) AND count <= 0", ordered)
    await conn.execute("UPDATE customers SET merged_into = NULL WHERE merged_into = ANY($1::text[])", ids)
    await run("customers", "DELETE FROM customers WHERE customer_id = ANY($1::text[])", ids)
    return {table: n for table, n in counts.items() if n}
