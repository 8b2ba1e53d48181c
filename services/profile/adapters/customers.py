"""Customers, their golden records, quality tasks and undeliverable addresses
(asyncpg, inside the caller's transaction)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.redirects import follow_one
from services.profile.adapters.rows import json_texts, stated_times
from services.profile.domain.model import StoredRecord


async def lock_customers(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, asyncpg.Record]:
    """Row-lock customers in id order (no deadlocks with merges); returns their rows as `customer_rows` does."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into, version, golden, company_id, quality FROM customers"
        " WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR UPDATE",
        ids,
    )
    return {r["customer_id"]: r for r in rows}


async def insert_customers(conn: asyncpg.Connection, rows: Sequence[tuple[str, str | None, datetime]]) -> None:
    if rows:
        await conn.execute(
            "INSERT INTO customers (customer_id, company_id, created_at, updated_at, version)"
            " SELECT id, co, at, at, 0 FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(id, co, at)",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )


def _customer_columns(rows: Sequence[dict[str, Any]]) -> tuple[list[Any], ...]:
    """Customer rows as the parameter arrays of the insert and the update: id, golden (JSON text),
    company, version, quality (JSON text), time, search document (None: unchanged)."""
    return (
        [r["customer_id"] for r in rows],
        json_texts(r["golden"] for r in rows),
        [r["company_id"] for r in rows],
        [r["version"] for r in rows],
        json_texts(r["quality"] for r in rows),
        [r["at"] for r in rows],
        [r.get("search_doc") for r in rows],
    )


async def insert_customers_full(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new customers with their golden record, company, version and quality in one statement."""
    if rows:
        await conn.execute(
            "INSERT INTO customers (customer_id, golden, company_id, version, quality, created_at, updated_at,"
            " search_doc)"
            " SELECT id, golden::jsonb, co, v, q::jsonb, at, at, doc"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::text[])"
            " AS t(id, golden, co, v, q, at, doc)",
            *_customer_columns(rows),
        )


async def customer_rows(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into, version, golden, company_id, quality FROM customers"
        " WHERE customer_id = ANY($1::text[])",
        list(ids),
    )
    return {r["customer_id"]: r for r in rows}


async def records_of(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, list[tuple[StoredRecord, int]]]:
    """Each customer's source records (normalised fields, last seen) with their count of invalid values."""
    rows = await conn.fetch(
        "SELECT customer_id, source_system, source_id, normalized, last_seen, problems, stated_at FROM source_records"
        " WHERE customer_id = ANY($1::text[])",
        list(ids),
    )
    out: dict[str, list[tuple[StoredRecord, int]]] = {}
    for r in rows:
        rec = StoredRecord(
            r["source_system"], r["source_id"], r["normalized"], r["last_seen"], stated_times(r["stated_at"])
        )
        out.setdefault(r["customer_id"], []).append((rec, len(r["problems"] or {})))
    return out


async def undeliverable(conn: asyncpg.Connection, emails: Sequence[str]) -> set[str]:
    if not emails:
        return set()
    rows = await conn.fetch("SELECT email FROM undeliverable_emails WHERE email = ANY($1::text[])", list(emails))
    return {r["email"] for r in rows}


async def mark_undeliverable(conn: asyncpg.Connection, *, email: str, reason: str, at: datetime) -> None:
    """Mark an address undeliverable (a bounce): the latest reason wins."""
    await conn.execute(
        "INSERT INTO undeliverable_emails (email, reason, at) VALUES ($1, $2, $3)"
        " ON CONFLICT (email) DO UPDATE SET reason = EXCLUDED.reason, at = EXCLUDED.at",
        email,
        reason,
        at,
    )


async def clear_undeliverable(conn: asyncpg.Connection, email: str) -> str | None:
    """Remove an address's undeliverable mark; returns the reason it had (None: it had none)."""
    reason: str | None = await conn.fetchval(
        "DELETE FROM undeliverable_emails WHERE email = $1 RETURNING reason", email
    )
    return reason


async def save_customers(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write recomputed golden records (version already decided by the caller)."""
    if not rows:
        return
    await conn.execute(
        """
        UPDATE customers c
           SET golden = t.golden::jsonb, company_id = t.company_id, version = t.version, quality = t.quality::jsonb,
               updated_at = t.at, search_doc = COALESCE(t.doc, c.search_doc)
          FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::text[])
               AS t(id, golden, company_id, version, quality, at, doc)
         WHERE c.customer_id = t.id
        """,
        *_customer_columns(rows),
    )


async def sync_quality_tasks(conn: asyncpg.Connection, tasks: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Open tasks for new problems and resolve tasks whose problem went away, for the given customers."""
    if not tasks:
        return
    ids = list(tasks)
    cus, kinds, details = [], [], []
    for cid, by_kind in tasks.items():
        for kind, detail in by_kind.items():
            cus.append(cid)
            kinds.append(kind)
            details.append(detail)
    await conn.execute(
        """
        UPDATE quality_tasks q SET status = 'resolved', resolved_at = now()
         WHERE q.customer_id = ANY($1::text[]) AND q.status = 'open'
           AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS t(c, k)
                            WHERE t.c = q.customer_id AND t.k = q.kind)
        """,
        ids,
        cus,
        kinds,
    )
    if cus:
        await conn.execute(
            "INSERT INTO quality_tasks (customer_id, kind, detail)"
            " SELECT c, k, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, k, d)"
            " ON CONFLICT (customer_id, kind) WHERE status = 'open' DO UPDATE SET detail = EXCLUDED.detail",
            cus,
            kinds,
            json_texts(details),
        )


async def insert_quality_tasks(conn: asyncpg.Connection, tasks: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Open the quality tasks of customers that have none yet (new customers)."""
    cus, kinds, details = [], [], []
    for cid, by_kind in tasks.items():
        for kind, detail in by_kind.items():
            cus.append(cid)
            kinds.append(kind)
            details.append(detail)
    if cus:
        await conn.execute(
            "INSERT INTO quality_tasks (customer_id, kind, detail)"
            " SELECT c, k, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, k, d)"
            " ON CONFLICT (customer_id, kind) WHERE status = 'open' DO NOTHING",
            cus,
            kinds,
            json_texts(details),
        )


async def get_customer(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT c.customer_id, c.status, c.merged_into, c.version, c.golden, c.company_id, c.created_at, c.updated_at,
               c.quality, co.name AS company_name,
               (SELECT count(*) FROM source_records s WHERE s.customer_id = c.customer_id) AS source_record_count
          FROM customers c LEFT JOIN companies co USING (company_id)
         WHERE c.customer_id = $1
        """,
        customer_id,
    )


async def follow_redirects(conn: asyncpg.Connection, customer_id: str, *, max_hops: int = 20) -> str | None:
    """The active customer an id stands for now (itself, or the survivor of merges); None if unknown."""
    return (await follow_one(customer_id, functools.partial(merged_into, conn), max_hops=max_hops)).found


async def merged_into(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, str | None]:
    """Where each known customer redirects: its survivor if merged, else None."""
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into FROM customers WHERE customer_id = ANY($1::text[])", list(ids)
    )
    return {r["customer_id"]: (r["merged_into"] or None) if r["status"] == "merged" else None for r in rows}


async def state_row(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record | None:
    """A customer's row as merges and unmerges read it (None: unknown)."""
    return await conn.fetchrow(
        "SELECT customer_id, status, merged_into, version, golden, company_id FROM customers WHERE customer_id = $1",
        customer_id,
    )


async def mark_merged(conn: asyncpg.Connection, customer_id: str, *, into: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE customers SET status = 'merged', merged_into = $2, updated_at = $3 WHERE customer_id = $1",
        customer_id,
        into,
        at,
    )


async def restore(
    conn: asyncpg.Connection,
    customer_id: str,
    *,
    status: str,
    merged_into: str | None,
    golden: dict[str, Any],
    company_id: str | None,
    version: int,
    at: datetime,
) -> None:
    """Put a customer back as it was before a merge (an unmerge)."""
    await conn.execute(
        "UPDATE customers SET status = $2, merged_into = $3, golden = $4, company_id = $5, version = $6,"
        " updated_at = $7 WHERE customer_id = $1",
        customer_id,
        status,
        merged_into,
        golden,
        company_id,
        version,
        at,
    )


async def resolve_open_quality_tasks(conn: asyncpg.Connection, customer_id: str, *, at: datetime) -> None:
    await conn.execute(
        "UPDATE quality_tasks SET status = 'resolved', resolved_at = $2 WHERE customer_id = $1 AND status = 'open'",
        customer_id,
        at,
    )


async def version_of(conn: asyncpg.Connection, customer_id: str) -> int:
    version: int = await conn.fetchval("SELECT version FROM customers WHERE customer_id = $1", customer_id)
    return version
