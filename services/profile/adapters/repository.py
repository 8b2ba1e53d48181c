"""PostgreSQL persistence of the profile service (asyncpg, inside the caller's transaction)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.profile.domain.model import FieldValue, Identifier, SourceRecord, StoredRecord


def _lock_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


async def lock_identities(conn: asyncpg.Connection, keys: Sequence[str]) -> None:
    """Serialise resolution of records sharing an identity, across partitions and processes.

    Sorted so that two transactions locking overlapping sets cannot deadlock.
    """
    for key in sorted({_lock_key(k) for k in keys}):
        await conn.execute("SELECT pg_advisory_xact_lock($1)", key)


async def customer_for_source(conn: asyncpg.Connection, source_system: str, source_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT customer_id FROM source_records WHERE source_system = $1 AND source_id = $2", source_system, source_id
    )


async def customers_by_identifiers(conn: asyncpg.Connection, identifiers: Sequence[Identifier]) -> list[tuple[str, str]]:
    """(customer_id, identifier kind) for active customers holding any of the identifiers."""
    if not identifiers:
        return []
    rows = await conn.fetch(
        """
        SELECT DISTINCT i.customer_id, i.kind
          FROM identifiers i JOIN customers c USING (customer_id)
         WHERE c.status = 'active' AND (i.kind, i.value) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        [i.kind for i in identifiers],
        [i.value for i in identifiers],
    )
    return [(r["customer_id"], r["kind"]) for r in rows]


async def create_customer(conn: asyncpg.Connection, customer_id: str, company_id: str | None) -> None:
    await conn.execute("INSERT INTO customers (customer_id, company_id) VALUES ($1, $2)", customer_id, company_id)


async def upsert_source_record(
    conn: asyncpg.Connection, record: SourceRecord, *, customer_id: str, match_rule: str, match_score: float | None
) -> None:
    await conn.execute(
        """
        INSERT INTO source_records (source_system, source_id, customer_id, raw, normalized, problems, passport_hash,
                                    match_rule, match_score, first_seen, last_seen)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
        ON CONFLICT (source_system, source_id) DO UPDATE
           SET raw = EXCLUDED.raw, normalized = EXCLUDED.normalized, problems = EXCLUDED.problems,
               passport_hash = COALESCE(EXCLUDED.passport_hash, source_records.passport_hash),
               last_seen = GREATEST(source_records.last_seen, EXCLUDED.last_seen)
        """,
        record.source_system,
        record.source_id,
        customer_id,
        dict(record.raw),
        record.normalized_fields(),
        record.problems(),
        record.passport_hash,
        match_rule,
        match_score,
        record.seen_at,
    )
    await conn.execute(
        "DELETE FROM identifiers WHERE source_system = $1 AND source_id = $2", record.source_system, record.source_id
    )
    ids = record.identifiers()
    if ids:
        await conn.executemany(
            "INSERT INTO identifiers (kind, value, source_system, source_id, customer_id) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING",
            [(i.kind, i.value, record.source_system, record.source_id, customer_id) for i in ids],
        )


async def stored_records(conn: asyncpg.Connection, customer_id: str) -> list[StoredRecord]:
    rows = await conn.fetch(
        "SELECT source_system, source_id, normalized, last_seen FROM source_records WHERE customer_id = $1", customer_id
    )
    return [StoredRecord(r["source_system"], r["source_id"], r["normalized"], r["last_seen"]) for r in rows]


async def get_customer(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT c.customer_id, c.status, c.merged_into, c.version, c.golden, c.company_id, c.created_at, c.updated_at,
               co.name AS company_name,
               (SELECT count(*) FROM source_records s WHERE s.customer_id = c.customer_id) AS source_record_count
          FROM customers c LEFT JOIN companies co USING (company_id)
         WHERE c.customer_id = $1
        """,
        customer_id,
    )


def golden_to_json(golden: dict[str, FieldValue]) -> dict[str, Any]:
    return {
        k: {"value": v.value, "source_system": v.source_system, "source_id": v.source_id, "last_seen": v.last_seen.isoformat()}
        for k, v in golden.items()
    }


async def save_golden(
    conn: asyncpg.Connection, customer_id: str, golden: dict[str, Any], company_id: str | None, now: datetime
) -> int:
    """Store a changed golden record; returns the new version."""
    version: int = await conn.fetchval(
        "UPDATE customers SET golden = $2, company_id = COALESCE($3, company_id), version = version + 1, updated_at = $4"
        " WHERE customer_id = $1 RETURNING version",
        customer_id,
        golden,
        company_id,
        now,
    )
    return version


async def find_or_create_company(
    conn: asyncpg.Connection, *, company_id: str, name: str, name_key: str, email_domain: str | None
) -> str:
    existing = await conn.fetchval("SELECT company_id FROM companies WHERE name_key = $1", name_key)
    if existing:
        return str(existing)
    row = await conn.fetchval(
        "INSERT INTO companies (company_id, name, name_key, email_domain) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (name_key) DO UPDATE SET email_domain = COALESCE(companies.email_domain, EXCLUDED.email_domain)"
        " RETURNING company_id",
        company_id,
        name,
        name_key,
        email_domain,
    )
    return str(row)


async def upsert_booking(
    conn: asyncpg.Connection, *, source_system: str, booking_id: str, customer_id: str, status: str, summary: dict[str, Any]
) -> None:
    await conn.execute(
        """
        INSERT INTO bookings (source_system, booking_id, customer_id, status, summary)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status,
               summary = CASE WHEN EXCLUDED.summary = '{}'::jsonb THEN bookings.summary ELSE EXCLUDED.summary END,
               updated_at = now()
        """,
        source_system,
        booking_id,
        customer_id,
        status,
        summary,
    )


async def add_history(
    conn: asyncpg.Connection, *, customer_id: str, change: str, actor: str | None, detail: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO customer_history (customer_id, change, actor, detail) VALUES ($1, $2, $3, $4)",
        customer_id,
        change,
        actor,
        detail,
    )
