"""The read side of the profile API: what its routes show, one query each (asyncpg, no writes).

Writes and the reads that decide them live in the repositories by aggregate (`identity`,
`customers`, `companies`, `reviews`, ...); these are the pages and views agents look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

# --- customers --------------------------------------------------------------------------------


async def recent_active_customers(conn: asyncpg.Connection, *, limit: int, offset: int) -> list[str]:
    """Active customers, most recently updated first (the listing without a search criterion)."""
    rows = await conn.fetch(
        "SELECT customer_id FROM customers WHERE status = 'active' ORDER BY updated_at DESC, customer_id"
        " LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    return [r["customer_id"] for r in rows]


async def customer_summaries(conn: asyncpg.Connection, ids: Sequence[str]) -> list[asyncpg.Record]:
    """Name, email, phone and company of the active customers among `ids` (in no particular order)."""
    return await conn.fetch(
        """
        SELECT c.customer_id, c.golden->'display_name'->>'value' AS display_name,
               c.golden->'email'->>'value' AS email, c.golden->'phone'->>'value' AS phone, co.name AS company_name
          FROM customers c LEFT JOIN companies co USING (company_id)
         WHERE c.customer_id = ANY($1::text[]) AND c.status = 'active'
        """,
        ids,
    )


async def source_records_page(
    conn: asyncpg.Connection, customer_id: str, *, limit: int, offset: int
) -> list[asyncpg.Record]:
    """A customer's source records, most recently seen first."""
    return await conn.fetch(
        "SELECT * FROM source_records WHERE customer_id = $1 ORDER BY last_seen DESC, source_system, source_id"
        " LIMIT $2 OFFSET $3",
        customer_id,
        limit,
        offset,
    )


async def history_page(
    conn: asyncpg.Connection, customer_id: str, requested_id: str, *, limit: int, offset: int
) -> list[asyncpg.Record]:
    """Changes of a customer and of the id it was asked for (merged into it), newest first."""
    return await conn.fetch(
        "SELECT at, change, actor, detail FROM customer_history WHERE customer_id = $1 OR customer_id = $2"
        " ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4",
        customer_id,
        requested_id,
        limit,
        offset,
    )


async def recent_bookings(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """A customer's 20 most recently updated bookings."""
    return await conn.fetch(
        "SELECT source_system, booking_id, status, summary, updated_at FROM bookings"
        " WHERE customer_id = $1 ORDER BY updated_at DESC LIMIT 20",
        customer_id,
    )


async def open_quality_tasks(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """A customer's open data-quality tasks, oldest first."""
    return await conn.fetch(
        "SELECT * FROM quality_tasks WHERE customer_id = $1 AND status = 'open' ORDER BY created_at",
        customer_id,
    )


async def quality_tasks_page(
    conn: asyncpg.Connection, *, status: str, kind: str | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    """Data-quality tasks of one status (and kind, if given), oldest first."""
    return await conn.fetch(
        "SELECT * FROM quality_tasks WHERE status = $1 AND ($2::text IS NULL OR kind = $2)"
        " ORDER BY created_at, task_id LIMIT $3 OFFSET $4",
        status,
        kind,
        limit,
        offset,
    )


# --- matching ---------------------------------------------------------------------------------


async def record_link(conn: asyncpg.Connection, source_system: str, source_id: str) -> asyncpg.Record | None:
    """How a source record was linked to its customer: rule, score, the record it matched and the evidence."""
    return await conn.fetchrow(
        "SELECT customer_id, match_rule, match_score, matched_to, match_evidence FROM source_records"
        " WHERE source_system = $1 AND source_id = $2",
        source_system,
        source_id,
    )


async def records_with_features(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> list[asyncpg.Record]:
    """The source records of the customers with their stored match features."""
    return await conn.fetch(
        "SELECT customer_id, source_system, source_id, features FROM source_records"
        " WHERE customer_id = ANY($1::text[])",
        list(customer_ids),
    )


# --- review queue -----------------------------------------------------------------------------


async def reviews_page(conn: asyncpg.Connection, *, status: str, limit: int, offset: int) -> list[asyncpg.Record]:
    """Review items of one status, highest score first."""
    return await conn.fetch(
        "SELECT * FROM review_queue WHERE status = $1 ORDER BY score DESC, created_at, review_id LIMIT $2 OFFSET $3",
        status,
        limit,
        offset,
    )


async def review(conn: asyncpg.Connection, review_id: str) -> asyncpg.Record | None:
    """One review item (None: no such item)."""
    return await conn.fetchrow("SELECT * FROM review_queue WHERE review_id = $1", review_id)


# --- companies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanyRow:
    """A corporate account as the API shows it."""

    company_id: str
    name: str
    aliases: list[str]
    domains: list[str]
    customer_count: int


async def company_ids_page(
    conn: asyncpg.Connection, *, name_key: str | None, domain: str | None, limit: int, offset: int
) -> list[str]:
    """Companies with an alias starting with `name_key` and an email domain `domain` (either may be None)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT c.company_id, c.name FROM companies c
          LEFT JOIN company_aliases a USING (company_id) LEFT JOIN company_domains d USING (company_id)
         WHERE ($1::text IS NULL OR a.alias_key = $1 OR a.alias_key LIKE $1 || '%')
           AND ($2::text IS NULL OR d.domain = lower($2))
         ORDER BY c.name, c.company_id LIMIT $3 OFFSET $4
        """,
        name_key,
        domain,
        limit,
        offset,
    )
    return [r["company_id"] for r in rows]


async def company(conn: asyncpg.Connection, company_id: str) -> CompanyRow | None:
    """One corporate account with its aliases, domains and number of active travellers (None: unknown)."""
    row = await conn.fetchrow("SELECT company_id, name FROM companies WHERE company_id = $1", company_id)
    if row is None:
        return None
    aliases = await conn.fetch("SELECT alias FROM company_aliases WHERE company_id = $1 ORDER BY alias", company_id)
    domains = await conn.fetch("SELECT domain FROM company_domains WHERE company_id = $1 ORDER BY domain", company_id)
    count = await conn.fetchval(
        "SELECT count(*) FROM customers WHERE company_id = $1 AND status = 'active'", company_id
    )
    return CompanyRow(
        company_id=row["company_id"],
        name=row["name"],
        aliases=[a["alias"] for a in aliases],
        domains=[d["domain"] for d in domains],
        customer_count=count,
    )
