"""SQL of the value service: the booking ledger, rates, current values, history, managers, reviews."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

import asyncpg

from services.kit.contracts.value import AccountManagerV1
from services.value.domain.bookings import BookingFact
from services.value.domain.money import Rate

Subject = Literal["customer", "company"]


def fact_from_row(r: asyncpg.Record) -> BookingFact:
    order = r["data_order"]
    return BookingFact(
        source_system=r["source_system"], booking_id=r["booking_id"], customer_id=r["customer_id"],
        company_id=r["company_id"], status=r["status"], starts_at=r["starts_at"],
        amounts={c: Decimal(a) for c, a in r["amounts"].items()}, first_event_at=r["first_event_at"],
        last_event_at=r["last_event_at"], last_kind=r["last_kind"], last_event_id=r["last_event_id"],
        data_order=None if order is None else (datetime.fromisoformat(order[0]), int(order[1]), str(order[2])),
    )  # fmt: skip


async def facts_of(conn: asyncpg.Connection, subject: Subject, subject_id: str) -> list[BookingFact]:
    column = "customer_id" if subject == "customer" else "company_id"
    rows = await conn.fetch(f"SELECT * FROM bookings WHERE {column} = $1", subject_id)
    return [fact_from_row(r) for r in rows]


async def upsert_rates(conn: asyncpg.Connection, rates: Sequence[Rate], *, loaded_by: str) -> None:
    """One statement for the whole load (10,000 rates took seconds as single upserts). A currency
    and day named twice keep the last rate, as loading them one after another would: one
    `INSERT ... ON CONFLICT` may not update a row twice."""
    last = {(r.currency, r.valid_from): r for r in rates}
    await conn.execute(
        """
        INSERT INTO fx_rates (currency, valid_from, rate, loaded_by)
        SELECT currency, valid_from, rate, $4 FROM unnest($1::text[], $2::date[], $3::numeric[])
                                                AS t (currency, valid_from, rate)
        ON CONFLICT (currency, valid_from) DO UPDATE SET rate = EXCLUDED.rate, loaded_by = EXCLUDED.loaded_by,
                                                         loaded_at = now()
        """,
        [r.currency for r in last.values()],
        [r.valid_from for r in last.values()],
        [r.rate for r in last.values()],
        loaded_by,
    )


async def list_rates(conn: asyncpg.Connection) -> list[Rate]:
    rows = await conn.fetch("SELECT currency, valid_from, rate FROM fx_rates ORDER BY currency, valid_from")
    return [Rate(r["currency"], r["valid_from"], r["rate"]) for r in rows]


async def holders_of_currencies(conn: asyncpg.Connection, currencies: Sequence[str]) -> tuple[list[str], list[str]]:
    """Customers and companies with a booking priced in one of `currencies` (their spend may change)."""
    rows = await conn.fetch(
        "SELECT DISTINCT customer_id, company_id FROM bookings WHERE amounts ?| $1::text[]", list(currencies)
    )
    return sorted({r["customer_id"] for r in rows}), sorted({r["company_id"] for r in rows if r["company_id"]})


async def current_value(conn: asyncpg.Connection, subject: Subject, subject_id: str) -> asyncpg.Record | None:
    table, key = ("customer_value", "customer_id") if subject == "customer" else ("company_value", "company_id")
    return await conn.fetchrow(f"SELECT * FROM {table} WHERE {key} = $1", subject_id)


async def delete_customer(conn: asyncpg.Connection, customer_id: str) -> bool:
    """Forget a customer's value (erasure, or merged away); True if there was any."""
    await conn.execute("DELETE FROM reviews WHERE subject = 'customer' AND subject_id = $1", customer_id)
    await conn.execute("DELETE FROM account_managers WHERE subject = 'customer' AND subject_id = $1", customer_id)
    await conn.execute("DELETE FROM tier_history WHERE subject = 'customer' AND subject_id = $1", customer_id)
    return await conn.fetchval("DELETE FROM customer_value WHERE customer_id = $1 RETURNING true", customer_id) is True


async def erase_bookings(conn: asyncpg.Connection, customer_id: str) -> list[str]:
    rows = await conn.fetch(
        "DELETE FROM bookings WHERE customer_id = $1 OR resolved_customer_id = $1 RETURNING company_id", customer_id
    )
    return sorted({r["company_id"] for r in rows if r["company_id"]})


async def move_bookings(conn: asyncpg.Connection, *, from_id: str, to_id: str) -> None:
    await conn.execute("UPDATE bookings SET customer_id = $2 WHERE customer_id = $1", from_id, to_id)


async def restore_bookings(conn: asyncpg.Connection, *, restored_id: str) -> None:
    await conn.execute("UPDATE bookings SET customer_id = $1 WHERE resolved_customer_id = $1", restored_id)


async def history(conn: asyncpg.Connection, subject: Subject, subject_id: str, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT from_tier, to_tier, reason, frequency, monetary, currency, changed_at FROM tier_history"
        " WHERE subject = $1 AND subject_id = $2 ORDER BY changed_at DESC, id DESC LIMIT $3",
        subject, subject_id, limit,
    )  # fmt: skip


def _manager(r: asyncpg.Record, *, inherited: bool = False) -> AccountManagerV1:
    return AccountManagerV1(
        kind=r["manager_kind"], id=r["manager_id"], assigned_by=r["assigned_by"], assigned_at=r["assigned_at"],
        inherited_from_company=inherited,
    )  # fmt: skip


async def manager(conn: asyncpg.Connection, subject: Subject, subject_id: str) -> AccountManagerV1 | None:
    r = await conn.fetchrow(
        "SELECT * FROM account_managers WHERE subject = $1 AND subject_id = $2", subject, subject_id
    )
    return None if r is None else _manager(r)


async def set_manager(
    conn: asyncpg.Connection, subject: Subject, subject_id: str, new: AccountManagerV1 | None
) -> None:
    if new is None:
        await conn.execute("DELETE FROM account_managers WHERE subject = $1 AND subject_id = $2", subject, subject_id)
        return
    await conn.execute(
        """
        INSERT INTO account_managers (subject, subject_id, manager_kind, manager_id, assigned_by, assigned_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (subject, subject_id) DO UPDATE
           SET manager_kind = EXCLUDED.manager_kind, manager_id = EXCLUDED.manager_id,
               assigned_by = EXCLUDED.assigned_by, assigned_at = EXCLUDED.assigned_at
        """,
        subject, subject_id, new.kind, new.id, new.assigned_by, new.assigned_at,
    )  # fmt: skip


async def inherit_manager(conn: asyncpg.Connection, subject: Subject, subject_id: str, new: AccountManagerV1) -> None:
    """Give the subject `new` as its account manager unless it has one: also one assigned by a transaction
    still open (the insert waits for it), so a concurrent assignment is never replaced."""
    await conn.execute(
        "INSERT INTO account_managers (subject, subject_id, manager_kind, manager_id, assigned_by, assigned_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject, subject_id) DO NOTHING",
        subject, subject_id, new.kind, new.id, new.assigned_by, new.assigned_at,
    )  # fmt: skip


async def customers_of_company(conn: asyncpg.Connection, company_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT customer_id FROM customer_value WHERE company_id = $1"
        " UNION SELECT DISTINCT customer_id FROM bookings WHERE company_id = $1",
        company_id,
    )
    return sorted(r["customer_id"] for r in rows)


async def schedule(conn: asyncpg.Connection, subject: Subject, ids: Sequence[str], due_at: datetime) -> None:
    """Make a review of each id due at `due_at` at the latest (an earlier one stays)."""
    if not ids:
        return
    await conn.execute(
        """
        INSERT INTO reviews AS r (subject, subject_id, due_at) SELECT $1, unnest($2::text[]), $3
        ON CONFLICT (subject, subject_id) DO UPDATE SET due_at = least(r.due_at, EXCLUDED.due_at)
        """,
        subject, list(ids), due_at,
    )  # fmt: skip


async def take_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[tuple[Subject, str]]:
    """Due reviews, locked against other workers (SKIP LOCKED) and removed; the caller re-evaluates them."""
    rows = await conn.fetch(
        """
        DELETE FROM reviews WHERE (subject, subject_id) IN (
            SELECT subject, subject_id FROM reviews WHERE due_at <= $1 ORDER BY due_at LIMIT $2
               FOR UPDATE SKIP LOCKED)
        RETURNING subject, subject_id
        """,
        now,
        limit,
    )
    return sorted((r["subject"], r["subject_id"]) for r in rows)


async def all_subjects(conn: asyncpg.Connection) -> tuple[list[str], list[str]]:
    """Every customer and company with a booking or a value (for a full recompute)."""
    customers = await conn.fetch(
        "SELECT customer_id FROM bookings UNION SELECT customer_id FROM customer_value ORDER BY 1"
    )
    companies = await conn.fetch(
        "SELECT company_id FROM bookings WHERE company_id IS NOT NULL UNION SELECT company_id FROM company_value"
        " ORDER BY 1"
    )
    return [r[0] for r in customers], [r[0] for r in companies]
