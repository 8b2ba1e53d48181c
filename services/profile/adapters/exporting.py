"""What profile holds about a traveller, for the export (GDPR art. 15/20): every row keyed to their ids."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.kit.exporting import MAX_REDIRECT_HOPS, Section, section

PASSPORT_NOTE = (
    "passport numbers are never stored: passport_hash is a keyed hash (HMAC-SHA256) of the number, and raw is the "
    "record as received without the number; the number's one-typo variants are kept as keyed hashes for matching "
    "(normalized.passport_variants says they are held); national identity, known-traveller and "
    "redress numbers are kept only as keyed hashes too: normalized.sealed says which are held, not their hashes"
)


def _record(row: asyncpg.Record) -> dict[str, Any]:
    """A source record for the export: which sensitive numbers it holds, never their hashes."""
    out = dict(row)
    normalized = dict(out.get("normalized") or {})
    if isinstance(normalized.get("sealed"), dict):
        normalized["sealed"] = dict.fromkeys(sorted(normalized["sealed"]), "held")
        out["normalized"] = normalized
    if normalized.get("passport_variants"):
        normalized["passport_variants"] = "held"
        out["normalized"] = normalized
    return out


async def traveller_ids(conn: asyncpg.Connection, customer_id: str, also: list[str]) -> list[str] | None:
    """The traveller's ids: the current customer the id was merged into (first), every id merged into
    it, and the `also` ids profile knows; None when profile knows no such customer."""
    current = customer_id
    for _ in range(MAX_REDIRECT_HOPS):
        row = await conn.fetchrow("SELECT merged_into FROM customers WHERE customer_id = $1", current)
        if row is None:
            return None if current == customer_id else [customer_id]
        if row["merged_into"] is None:
            break
        current = row["merged_into"]
    rows = await conn.fetch(
        """
        WITH RECURSIVE absorbed(id) AS (
            SELECT customer_id FROM customers WHERE customer_id = ANY($1::text[])
            UNION
            SELECT c.customer_id FROM customers c JOIN absorbed a ON c.merged_into = a.id
        )
        SELECT id FROM absorbed
        """,
        [current, *also],
    )
    return list(dict.fromkeys([current, customer_id, *sorted(r["id"] for r in rows)]))


def _golden_sources(customers: list[asyncpg.Record]) -> set[str]:
    return {
        str(f["source_system"])
        for c in customers
        for f in (c["golden"] or {}).values()
        if isinstance(f, dict) and f.get("source_system")
    }


def _emails(customers: list[asyncpg.Record], records: list[asyncpg.Record]) -> list[str]:
    found: set[str] = set()
    for c in customers:
        for name in ("email", "secondary_email"):
            field = (c["golden"] or {}).get(name)
            if isinstance(field, dict) and isinstance(field.get("value"), str):
                found.add(field["value"])
    for r in records:
        email = (r["normalized"] or {}).get("email")
        if isinstance(email, str):
            found.add(email)
    return sorted(found)


def _review(row: asyncpg.Record) -> dict[str, Any]:
    # The evidence compares this traveller with another person: the other side's values are theirs.
    out = dict(row)
    out["evidence"] = [
        {k: e.get(k) for k in ("field", "level", "weight")} for e in (row["evidence"] or {}).get("evidence", [])
    ] if isinstance(row["evidence"], dict) else []  # fmt: skip
    return out


async def collect(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """Every section profile exports for the traveller's ids."""
    customers = await conn.fetch(
        "SELECT customer_id, status, merged_into, version, golden, company_id, quality, created_at, updated_at"
        " FROM customers WHERE customer_id = ANY($1::text[]) ORDER BY created_at",
        ids,
    )
    companies = await conn.fetch(
        "SELECT company_id, name, country, email_domain, created_at FROM companies"
        " WHERE company_id = ANY($1::text[]) ORDER BY company_id",
        sorted({c["company_id"] for c in customers if c["company_id"]}),
    )
    records = await conn.fetch(
        "SELECT source_system, source_id, customer_id, raw, normalized, stated_at, problems, passport_hash,"
        " match_rule, match_score, match_evidence, matched_to, features, first_seen, last_seen"
        " FROM source_records WHERE customer_id = ANY($1::text[]) ORDER BY first_seen, source_system, source_id",
        ids,
    )
    keys = await conn.fetch(
        "SELECT h.key_hash, h.source_system, h.source_id FROM blocking_key_hashes h"
        " JOIN source_records s USING (source_system, source_id) WHERE s.customer_id = ANY($1::text[])"
        " ORDER BY h.source_system, h.source_id, h.key_hash",
        ids,
    )
    bookings = await conn.fetch(
        "SELECT source_system, booking_id, customer_id, traveller_source_id, status, summary, updated_at"
        " FROM bookings WHERE customer_id = ANY($1::text[]) ORDER BY updated_at, source_system, booking_id",
        ids,
    )
    history = await conn.fetch(
        "SELECT id, customer_id, at, change, actor, detail FROM customer_history"
        " WHERE customer_id = ANY($1::text[]) ORDER BY at, id",
        ids,
    )
    merges = await conn.fetch(
        "SELECT merge_id, survivor_id, absorbed_id, reason, actor, status, merged_at, undone_at, undone_by,"
        " pre_state, reviews FROM merges WHERE survivor_id = ANY($1::text[]) OR absorbed_id = ANY($1::text[])"
        " ORDER BY merged_at",
        ids,
    )
    corrections = await conn.fetch(
        "SELECT customer_id, field, value, actor, at FROM corrections WHERE customer_id = ANY($1::text[])"
        " ORDER BY at, field",
        ids,
    )
    reviews = await conn.fetch(
        "SELECT review_id, customer_id, candidate_id, source_system, source_id, score, evidence, status,"
        " decided_by, decided_at, merge_id, created_at FROM review_queue"
        " WHERE customer_id = ANY($1::text[]) OR candidate_id = ANY($1::text[]) ORDER BY created_at",
        ids,
    )
    apart = await conn.fetch(
        "SELECT customer_a, customer_b, decided_by, decided_at FROM distinct_pairs"
        " WHERE customer_a = ANY($1::text[]) OR customer_b = ANY($1::text[]) ORDER BY decided_at",
        ids,
    )
    tasks = await conn.fetch(
        "SELECT task_id, customer_id, kind, detail, status, created_at, resolved_at FROM quality_tasks"
        " WHERE customer_id = ANY($1::text[]) ORDER BY created_at, task_id",
        ids,
    )
    undeliverable = await conn.fetch(
        "SELECT email, reason, at FROM undeliverable_emails WHERE email = ANY($1::text[]) ORDER BY at",
        _emails(customers, records),
    )
    return [
        section("customers", customers, table="customers", times=("created_at", "updated_at"), source_field=None,
                source_systems=_golden_sources(customers),
                note="the golden record: each field with the source system and record it came from and when it "
                     "was last stated; merged ids point to the current one (merged_into)"),
        section("companies", companies, table="companies", times=("created_at",), source_field=None,
                note="the company the traveller travels for"),
        section("source_records", [_record(r) for r in records], table="source_records",
                times=("first_seen", "last_seen"), topic="booking.events.v1", note=PASSPORT_NOTE),
        section("match_key_hashes", keys, table="blocking_key_hashes",
                note="hashes of the match keys (name, email, phone forms) each source record is found by"),
        section("bookings", bookings, table="bookings", times=("updated_at",), topic="booking.events.v1"),
        section("history", history, table="customer_history", times=("at",), source_field=None),
        section("merges", merges, table="merges", times=("merged_at", "undone_at"), source_field=None,
                note="pre_state is the absorbed customer as it was before the merge"),
        section("corrections", corrections, table="corrections", times=("at",), source_field=None,
                note="golden-record fields an agent corrected"),
        section("review_items", [_review(r) for r in reviews], table="review_queue",
                times=("created_at", "decided_at"),
                note="suspected duplicates; the evidence shows each field's comparison level, not the other "
                     "traveller's values"),
        section("kept_apart", apart, table="distinct_pairs", times=("decided_at",), source_field=None,
                note="customers an agent decided are different people"),
        section("quality_tasks", tasks, table="quality_tasks", times=("created_at", "resolved_at"),
                source_field=None),
        section("undeliverable_emails", undeliverable, table="undeliverable_emails", times=("at",),
                source_field=None, note="the traveller's addresses a mail server refused"),
    ]  # fmt: skip
