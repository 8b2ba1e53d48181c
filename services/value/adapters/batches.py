"""Set-based SQL of the value service: one statement per step for a whole batch of bookings or evaluations.

Rows are locked in key order (booking keys: the rows, then the advisory locks of those not stored yet;
then subjects' advisory locks), so two workers whose batches overlap queue behind each other instead of
deadlocking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.kit.contracts.value import AccountManagerV1
from services.kit.redirects import MAX_REDIRECTS, follow_redirects
from services.value.adapters.repository import Subject, fact_from_row
from services.value.domain.bookings import BookingFact
from services.value.domain.money import Rate
from services.value.domain.tiers import Tier


async def lock(conn: asyncpg.Connection, subject: Subject, ids: Sequence[str]) -> None:
    """Serialise evaluations of these customers or companies (consumers, the review job, the API): the
    same advisory locks one evaluation takes, taken in key order in one statement."""
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtextextended($1 || k, 0)))"
        " FROM (SELECT k FROM unnest($2::text[]) AS k ORDER BY k) AS s",
        f"value:{subject}:",
        sorted(ids),
    )


async def bookings_for_update(
    conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], BookingFact]:
    """The stored facts of these bookings, locked in key order; the keys not stored yet are locked too.

    Locking a row that does not exist locks nothing: two events of a new booking resolved to two
    travellers (so on two partitions) would each fold from nothing and the later commit would replace
    the other's fact. A missing key's advisory lock makes the second wait, then read the first's row.
    """
    ordered = sorted(set(keys))
    found = await _locked_bookings(conn, ordered)
    if missing := [k for k in ordered if k not in found]:
        await conn.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended('value:booking:' || s || chr(31) || b, 0)))"
            " FROM (SELECT s, b FROM unnest($1::text[], $2::text[]) AS k(s, b) ORDER BY s, b) AS o",
            [s for s, _ in missing],
            [b for _, b in missing],
        )
        found.update(await _locked_bookings(conn, missing))
    return found


async def _locked_bookings(
    conn: asyncpg.Connection, ordered: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], BookingFact]:
    rows = await conn.fetch(
        "SELECT b.* FROM bookings b JOIN unnest($1::text[], $2::text[]) AS k(s, b_id)"
        " ON b.source_system = k.s AND b.booking_id = k.b_id"
        " ORDER BY b.source_system, b.booking_id FOR UPDATE OF b",
        [s for s, _ in ordered],
        [b for _, b in ordered],
    )
    return {(r["source_system"], r["booking_id"]): fact_from_row(r) for r in rows}


async def save_bookings(conn: asyncpg.Connection, facts: Sequence[tuple[BookingFact, str]]) -> None:
    """Insert or replace booking facts, each with the customer id profile resolved it to."""
    if not facts:
        return
    await conn.executemany(
        """
        INSERT INTO bookings AS b (source_system, booking_id, customer_id, resolved_customer_id, company_id, status,
                                   starts_at, amounts, first_event_at, last_event_at, last_kind, last_event_id,
                                   data_order)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, resolved_customer_id = EXCLUDED.resolved_customer_id,
               company_id = EXCLUDED.company_id, status = EXCLUDED.status, starts_at = EXCLUDED.starts_at,
               amounts = EXCLUDED.amounts, first_event_at = EXCLUDED.first_event_at,
               last_event_at = EXCLUDED.last_event_at, last_kind = EXCLUDED.last_kind,
               last_event_id = EXCLUDED.last_event_id, data_order = EXCLUDED.data_order
        """,
        [
            (
                f.source_system,
                f.booking_id,
                f.customer_id,
                resolved,
                f.company_id,
                f.status,
                f.starts_at,
                {c: str(a) for c, a in f.amounts.items()},
                f.first_event_at,
                f.last_event_at,
                f.last_kind,
                f.last_event_id,
                None if f.data_order is None else [f.data_order[0].isoformat(), *f.data_order[1:]],
            )
            for f, resolved in facts
        ],
    )


async def facts_of(conn: asyncpg.Connection, subject: Subject, ids: Sequence[str]) -> dict[str, list[BookingFact]]:
    """The ledgers of several customers or companies, by id (missing ids have no bookings)."""
    column = "customer_id" if subject == "customer" else "company_id"
    rows = await conn.fetch(f"SELECT * FROM bookings WHERE {column} = ANY($1::text[])", list(ids))
    out: dict[str, list[BookingFact]] = {}
    for r in rows:
        out.setdefault(r[column], []).append(fact_from_row(r))
    return out


async def view_customers(conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """For each id the shared customer view knows: its current id (merges followed) and golden record.

    One read per hop for all ids, as `services.kit.view.lookup` does for one."""
    snapshots: dict[str, dict[str, Any]] = {}

    async def read(wanted: list[str]) -> dict[str, str | None]:
        rows = await conn.fetch(
            "SELECT customer_id, snapshot, redirect_to FROM customer_view"
            " WHERE kind = 'customer' AND customer_id = ANY($1::text[])",
            wanted,
        )
        snapshots.update((r["customer_id"], r["snapshot"] or {}) for r in rows)
        return {r["customer_id"]: r["redirect_to"] for r in rows}

    followed = await follow_redirects(ids, read, max_hops=MAX_REDIRECTS)
    return {asked: (at, snapshots[at]) for asked, f in followed.items() if (at := f.found) is not None}


@dataclass(frozen=True)
class Current:
    """A subject's last published value and the account managers that apply, read together."""

    snapshot: dict[str, Any] | None
    tier: Tier | None
    version: int
    manager: AccountManagerV1 | None  # own, else (a traveller) the company's, marked inherited


def _manager(r: asyncpg.Record, prefix: str, *, inherited: bool) -> AccountManagerV1 | None:
    if r[f"{prefix}kind"] is None:
        return None
    return AccountManagerV1(
        kind=r[f"{prefix}kind"], id=r[f"{prefix}id"], assigned_by=r[f"{prefix}by"], assigned_at=r[f"{prefix}at"],
        inherited_from_company=inherited,
    )  # fmt: skip


_MANAGER_COLUMNS = (
    "{a}.manager_kind AS {p}kind, {a}.manager_id AS {p}id, {a}.assigned_by AS {p}by, {a}.assigned_at AS {p}at"
)


async def current_customers(conn: asyncpg.Connection, companies: Mapping[str, str | None]) -> dict[str, Current]:
    """Travellers' current values with their own and their company's managers (`companies`: id -> company)."""
    ids = sorted(companies)
    rows = await conn.fetch(
        f"""
        SELECT k.id, v.snapshot, v.tier, v.version, {_MANAGER_COLUMNS.format(a="m", p="m_")},
               {_MANAGER_COLUMNS.format(a="cm", p="c_")}
          FROM unnest($1::text[], $2::text[]) AS k(id, company)
          LEFT JOIN customer_value v ON v.customer_id = k.id
          LEFT JOIN account_managers m ON m.subject = 'customer' AND m.subject_id = k.id
          LEFT JOIN account_managers cm ON cm.subject = 'company' AND cm.subject_id = k.company
        """,
        ids,
        [companies[i] for i in ids],
    )
    return {
        r["id"]: Current(
            r["snapshot"],
            r["tier"],
            r["version"] or 0,
            _manager(r, "m_", inherited=False) or _manager(r, "c_", inherited=True),
        )
        for r in rows
    }


async def current_companies(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Current]:
    rows = await conn.fetch(
        f"""
        SELECT k.id, v.snapshot, v.tier, v.version, {_MANAGER_COLUMNS.format(a="m", p="m_")}
          FROM unnest($1::text[]) AS k(id)
          LEFT JOIN company_value v ON v.company_id = k.id
          LEFT JOIN account_managers m ON m.subject = 'company' AND m.subject_id = k.id
        """,
        sorted(ids),
    )
    return {r["id"]: Current(r["snapshot"], r["tier"], r["version"] or 0, _manager(r, "m_", inherited=False))
            for r in rows}  # fmt: skip


async def company_names(conn: asyncpg.Connection, latest_traveller: Mapping[str, str]) -> dict[str, str]:
    """Companies' names as profile publishes them on a traveller's golden record (`latest_traveller`:
    company -> the traveller of its newest booking)."""
    rows = await conn.fetch(
        "SELECT customer_id, snapshot->>'company_name' AS name FROM customer_view"
        " WHERE kind = 'customer' AND customer_id = ANY($1::text[])",
        sorted(set(latest_traveller.values())),
    )
    names = {r["customer_id"]: r["name"] for r in rows if isinstance(r["name"], str)}
    return {c: names[t] for c, t in latest_traveller.items() if t in names}


@dataclass(frozen=True)
class ValueRow:
    subject_id: str
    snapshot: dict[str, Any]
    company_id: str | None
    bookings: int  # ledger size (companies)


async def save_values(conn: asyncpg.Connection, subject: Subject, rows: Sequence[ValueRow]) -> None:
    if not rows:
        return
    args = [
        (
            r.subject_id,
            r.snapshot["version"],
            r.snapshot["tier"],
            r.snapshot["churn"]["stage"],
            r.snapshot["churn"]["risk"],
            r.snapshot["rfm"]["frequency"],
            Decimal(str(r.snapshot["rfm"]["monetary"])),
            r.snapshot,
            datetime.fromisoformat(r.snapshot["updated_at"]),
            r.company_id if subject == "customer" else r.bookings,
        )
        for r in rows
    ]
    table, key, last = (
        ("customer_value", "customer_id", "company_id")
        if subject == "customer"
        else ("company_value", "company_id", "bookings")
    )
    await conn.executemany(
        f"""
        INSERT INTO {table} ({key}, version, tier, stage, risk, frequency, monetary, snapshot, updated_at, {last})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT ({key}) DO UPDATE
           SET version = EXCLUDED.version, tier = EXCLUDED.tier, stage = EXCLUDED.stage, risk = EXCLUDED.risk,
               frequency = EXCLUDED.frequency, monetary = EXCLUDED.monetary, snapshot = EXCLUDED.snapshot,
               updated_at = EXCLUDED.updated_at, {last} = EXCLUDED.{last}
        """,
        args,
    )


async def add_history(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Tier changes: (subject, subject_id, from_tier, to_tier, reason, frequency, monetary, currency, at)."""
    if rows:
        await conn.executemany(
            "INSERT INTO tier_history (subject, subject_id, from_tier, to_tier, reason, frequency, monetary, currency,"
            " changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            rows,
        )


async def set_next_reviews(conn: asyncpg.Connection, subject: Subject, due: Mapping[str, datetime | None]) -> None:
    """After evaluations: each next review is when value would next change by itself, or none."""
    gone = sorted(i for i, at in due.items() if at is None)
    if gone:
        await conn.execute("DELETE FROM reviews WHERE subject = $1 AND subject_id = ANY($2::text[])", subject, gone)
    kept = sorted((i, at) for i, at in due.items() if at is not None)
    if kept:
        await conn.execute(
            """
            INSERT INTO reviews (subject, subject_id, due_at)
            SELECT $1, k, d FROM unnest($2::text[], $3::timestamptz[]) AS t(k, d)
            ON CONFLICT (subject, subject_id) DO UPDATE SET due_at = EXCLUDED.due_at
            """,
            subject, [i for i, _ in kept], [at for _, at in kept],
        )  # fmt: skip


async def schedule_companies(
    conn: asyncpg.Connection, ids: Sequence[str], *, now: datetime, delay_seconds: float, per_bookings: int
) -> None:
    """Make each company's review due after `delay_seconds`, longer in proportion for a company whose
    ledger holds more than `per_bookings` bookings (an earlier due review stays)."""
    if not ids:
        return
    await conn.execute(
        """
        INSERT INTO reviews AS r (subject, subject_id, due_at)
        SELECT 'company', k, $2::timestamptz
               + make_interval(secs => $3 * greatest(1.0, coalesce(v.bookings, 0)::float8 / $4))
          FROM unnest($1::text[]) AS k LEFT JOIN company_value v ON v.company_id = k
        ON CONFLICT (subject, subject_id) DO UPDATE SET due_at = least(r.due_at, EXCLUDED.due_at)
        """,
        sorted(ids), now, delay_seconds, float(per_bookings),
    )  # fmt: skip


async def rates_version(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT version FROM fx_rates_version"))


async def all_rates(conn: asyncpg.Connection) -> list[Rate]:
    rows = await conn.fetch("SELECT currency, valid_from, rate FROM fx_rates")
    return [Rate(r["currency"], r["valid_from"], r["rate"]) for r in rows]
