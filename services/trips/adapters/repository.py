"""SQL of trips, their bookings, timeline and surveys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.kit.db import fetch_locked_or_lock_key


@dataclass(frozen=True)
class StoredBooking:
    source_system: str
    booking_id: str
    customer_id: str
    trip_id: str
    status: str
    trip_reference: str | None
    segments: list[dict[str, Any]]
    starts_at: datetime | None
    ends_at: datetime | None
    occurred_at: datetime


def _booking(r: asyncpg.Record) -> StoredBooking:
    return StoredBooking(
        r["source_system"], r["booking_id"], r["customer_id"], r["trip_id"], r["status"], r["trip_reference"],
        list(r["segments"]), r["starts_at"], r["ends_at"], r["occurred_at"],
    )  # fmt: skip


async def lock_customer(conn: asyncpg.Connection, customer_id: str) -> None:
    """Grouping reads and changes a traveller's trips: one booking of theirs at a time."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('trips:' || $1))", customer_id)


async def booking(conn: asyncpg.Connection, source_system: str, booking_id: str) -> StoredBooking | None:
    r = await conn.fetchrow(
        "SELECT * FROM bookings WHERE source_system = $1 AND booking_id = $2", source_system, booking_id
    )
    return None if r is None else _booking(r)


async def booking_for_update(conn: asyncpg.Connection, source_system: str, booking_id: str) -> StoredBooking | None:
    """The booking, locked; a booking not stored yet is locked by its key.

    The traveller's lock does not cover a booking whose events name two travellers (re-resolved or
    merged, so on two partitions), and locking a row that does not exist locks nothing: each would
    group the booking from nothing (two trips) and the later commit would replace the other's state.
    The key's advisory lock makes the second wait, then read the first's row.
    """
    select = "SELECT * FROM bookings WHERE source_system = $1 AND booking_id = $2 FOR UPDATE"
    r = await fetch_locked_or_lock_key(conn, select, source_system, booking_id, space="trips.booking")
    return None if r is None else _booking(r)


async def bookings_of_trips(conn: asyncpg.Connection, trip_ids: Sequence[str]) -> list[StoredBooking]:
    rows = await conn.fetch(
        "SELECT * FROM bookings WHERE trip_id = ANY($1::text[]) ORDER BY starts_at NULLS LAST, source_system,"
        " booking_id",
        list(trip_ids),
    )
    return [_booking(r) for r in rows]


async def save_booking(conn: asyncpg.Connection, b: StoredBooking) -> None:
    await conn.execute(
        """
        INSERT INTO bookings (source_system, booking_id, customer_id, trip_id, status, trip_reference, segments,
                              starts_at, ends_at, occurred_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, trip_id = EXCLUDED.trip_id, status = EXCLUDED.status,
               trip_reference = EXCLUDED.trip_reference, segments = EXCLUDED.segments,
               starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, occurred_at = EXCLUDED.occurred_at
        """,
        b.source_system, b.booking_id, b.customer_id, b.trip_id, b.status, b.trip_reference, b.segments,
        b.starts_at, b.ends_at, b.occurred_at,
    )  # fmt: skip


async def live_trips(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """The traveller's trips that were not merged into another."""
    return list(
        await conn.fetch(
            "SELECT * FROM trips WHERE customer_id = $1 AND merged_into IS NULL ORDER BY trip_id", customer_id
        )
    )


async def trip(conn: asyncpg.Connection, trip_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM trips WHERE trip_id = $1", trip_id)


async def create_trip(conn: asyncpg.Connection, *, trip_id: str, customer_id: str, company_id: str | None,
                      trip_reference: str | None) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO trips (trip_id, customer_id, company_id, trip_reference, status, version)"
        " VALUES ($1, $2, $3, $4, 'planned', 0) ON CONFLICT (trip_id) DO NOTHING",
        trip_id, customer_id, company_id, trip_reference,
    )  # fmt: skip


async def update_trip(
    conn: asyncpg.Connection, *, trip_id: str, customer_id: str, company_id: str | None, trip_reference: str | None,
    status: str, starts_at: datetime | None, ends_at: datetime | None, merged_into: str | None = None,
) -> asyncpg.Record:  # fmt: skip
    row = await conn.fetchrow(
        """
        UPDATE trips SET customer_id = $2, company_id = coalesce($3, company_id),
                         trip_reference = coalesce(trip_reference, $4), status = $5, starts_at = $6, ends_at = $7,
                         merged_into = $8, version = version + 1, updated_at = now()
         WHERE trip_id = $1
        RETURNING *
        """,
        trip_id, customer_id, company_id, trip_reference, status, starts_at, ends_at, merged_into,
    )  # fmt: skip
    assert row is not None
    return row


async def move_to_trip(conn: asyncpg.Connection, *, from_trip: str, to_trip: str) -> None:
    """A merge: the bookings, timeline, surveys and runs of `from_trip` now belong to `to_trip`."""
    for table in ("bookings", "timeline", "surveys"):
        await conn.execute(f"UPDATE {table} SET trip_id = $2 WHERE trip_id = $1", from_trip, to_trip)


async def add_entry(
    conn: asyncpg.Connection, *, trip_id: str, at: datetime, kind: str, summary: str,
    detail: dict[str, Any] | None = None, event_id: UUID | None = None,
) -> bool:  # fmt: skip
    """One timeline entry; False when its event was recorded before."""
    done = await conn.fetchval(
        "INSERT INTO timeline (trip_id, at, kind, summary, detail, event_id) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING true",
        trip_id, at, kind, summary, detail or {}, event_id,
    )  # fmt: skip
    return bool(done)


async def trip_of_event(conn: asyncpg.Connection, event_id: UUID) -> str | None:
    """The trip of the timeline entry recorded for an event (a message's cause)."""
    found: str | None = await conn.fetchval("SELECT t.trip_id FROM timeline t WHERE t.event_id = $1", event_id)
    return found


async def timeline(conn: asyncpg.Connection, trip_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT at, kind, summary, detail FROM timeline WHERE trip_id = $1 ORDER BY at, entry_id", trip_id
        )
    )


async def current_trip(conn: asyncpg.Connection, trip_id: str) -> str:
    """Follow merges to the trip that holds `trip_id`'s bookings now."""
    current = trip_id
    for _ in range(20):
        merged: str | None = await conn.fetchval("SELECT merged_into FROM trips WHERE trip_id = $1", current)
        if merged is None:
            return current
        current = merged
    return current


async def save_survey(
    conn: asyncpg.Connection, *, survey_id: str, source_system: str, booking_id: str, trip_id: str | None,
    invited_at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO surveys (survey_id, source_system, booking_id, trip_id, invited_at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (survey_id) DO NOTHING",
        survey_id, source_system, booking_id, trip_id, invited_at,
    )  # fmt: skip


async def survey(conn: asyncpg.Connection, survey_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM surveys WHERE survey_id = $1 FOR UPDATE", survey_id)


async def park_answer(conn: asyncpg.Connection, survey_id: str, answer: dict[str, Any]) -> None:
    """An answer to a survey whose booking is not here yet: handled when the booking comes."""
    await conn.execute("UPDATE surveys SET answer = $2 WHERE survey_id = $1", survey_id, answer)


async def claim_surveys(
    conn: asyncpg.Connection, *, source_system: str, booking_id: str, trip_id: str
) -> list[asyncpg.Record]:
    """Surveys of this booking that waited for it: they belong to `trip_id` now."""
    return list(
        await conn.fetch(
            "UPDATE surveys SET trip_id = $3 WHERE source_system = $1 AND booking_id = $2 AND trip_id IS NULL"
            " RETURNING survey_id, invited_at, answer",
            source_system, booking_id, trip_id,
        )
    )  # fmt: skip


async def trip_of_survey(conn: asyncpg.Connection, survey_id: str) -> str | None:
    found: str | None = await conn.fetchval("SELECT trip_id FROM surveys WHERE survey_id = $1", survey_id)
    return found


async def trips_of_customers(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM trips WHERE customer_id = ANY($1::text[]) AND merged_into IS NULL"
            " ORDER BY starts_at DESC NULLS LAST, trip_id LIMIT 200",
            list(customer_ids),
        )
    )
