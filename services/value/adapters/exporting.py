"""What value holds about a traveller, for the export (GDPR art. 15/20): the booking ledger, the current
value, tier history, account manager and scheduled re-evaluations."""

from __future__ import annotations

import asyncpg

from services.kit.exporting import Section, section


async def collect(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """Every section value exports for the traveller's ids."""
    ledger = await conn.fetch(
        "SELECT source_system, booking_id, customer_id, resolved_customer_id, company_id, status, starts_at, amounts,"
        " last_kind, last_event_id, first_event_at, last_event_at FROM bookings"
        " WHERE customer_id = ANY($1::text[]) OR resolved_customer_id = ANY($1::text[])"
        " ORDER BY first_event_at, source_system, booking_id",
        ids,
    )
    current = await conn.fetch(
        "SELECT customer_id, company_id, version, tier, stage, risk, frequency, monetary, snapshot, updated_at"
        " FROM customer_value WHERE customer_id = ANY($1::text[]) ORDER BY customer_id",
        ids,
    )
    tiers = await conn.fetch(
        "SELECT subject_id AS customer_id, from_tier, to_tier, reason, frequency, monetary, currency, changed_at"
        " FROM tier_history WHERE subject = 'customer' AND subject_id = ANY($1::text[]) ORDER BY changed_at, id",
        ids,
    )
    companies = sorted({r["company_id"] for r in [*current, *ledger] if r["company_id"]})
    managers = await conn.fetch(
        "SELECT subject, subject_id, manager_kind, manager_id, assigned_by, assigned_at FROM account_managers"
        " WHERE (subject = 'customer' AND subject_id = ANY($1::text[]))"
        "    OR (subject = 'company' AND subject_id = ANY($2::text[])) ORDER BY subject DESC, assigned_at",
        ids,
        companies,
    )
    reviews = await conn.fetch(
        "SELECT subject_id AS customer_id, due_at FROM reviews WHERE subject = 'customer'"
        " AND subject_id = ANY($1::text[]) ORDER BY due_at",
        ids,
    )
    return [
        section("ledger", ledger, table="bookings", times=("first_event_at", "last_event_at"),
                topic="profile.bookings.v1", note="one fact per booking; amounts by currency as decimal strings"),
        section("value", current, table="customer_value", times=("updated_at",), topic="value.customers.v1",
                source_field=None, note="tier, stage, churn risk and RFM as last evaluated (snapshot as published)"),
        section("tier_history", tiers, table="tier_history", times=("changed_at",), topic="value.changes.v1",
                source_field=None),
        section("account_managers", managers, table="account_managers", times=("assigned_at",), source_field=None,
                note="the traveller's own account manager (subject customer) and their company's (subject company), "
                     "which applies when they have none of their own"),
        section("scheduled_reviews", reviews, table="reviews", times=("due_at",), source_field=None,
                note="when the traveller's value is next re-evaluated (a trip leaving the window, a cadence overdue)"),
    ]  # fmt: skip
