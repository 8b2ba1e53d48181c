"""PostgreSQL persistence of trips (bookings travelling together), survey invitations and known customers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.feedback.domain.surveys import Invitation, InvitationStatus
from services.feedback.domain.trips import Booking, TripStatus

# A trip is looked for among the customer's bookings that travel at most this long before the anchor.
_TRIP_REACH = timedelta(days=90)


async def lock_customer_trips(conn: asyncpg.Connection, customer_id: str) -> None:
    """Serialise trip decisions of one customer (two bookings completing at once give one survey)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('feedback.trips:' || $1))", customer_id)


def _booking(row: asyncpg.Record) -> Booking:
    return Booking(
        source_system=row["source_system"],
        booking_id=row["booking_id"],
        status=TripStatus(row["status"]),
        start=row["span_start"],
        end=row["span_end"],
        survey_id=row["survey_id"],
        last_event_at=row["last_event_at"],
    )


async def booking(conn: asyncpg.Connection, source_system: str, booking_id: str) -> Booking | None:
    row = await conn.fetchrow(
        "SELECT source_system, booking_id, status, span_start, span_end, survey_id, last_event_at FROM trips"
        " WHERE source_system = $1 AND booking_id = $2",
        source_system,
        booking_id,
    )
    return None if row is None else _booking(row)


async def bookings_near(conn: asyncpg.Connection, customer_ids: Sequence[str], since: datetime) -> list[Booking]:
    """The customers' bookings that travel after `since` minus the reach of a trip."""
    rows = await conn.fetch(
        "SELECT source_system, booking_id, status, span_start, span_end, survey_id, last_event_at FROM trips"
        " WHERE customer_id = ANY($1::text[]) AND span_end >= $2",
        list(customer_ids),
        since - _TRIP_REACH,
    )
    return [_booking(r) for r in rows]


async def cover(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]], survey_id: str) -> None:
    """Record that `survey_id` asks about these bookings."""
    await conn.executemany(
        "UPDATE trips SET survey_id = $3, updated_at = now() WHERE source_system = $1 AND booking_id = $2"
        " AND survey_id IS NULL",
        [(s, b, survey_id) for s, b in keys],
    )


AwaitingKey = tuple[datetime, str, str]


async def awaiting_survey(
    conn: asyncpg.Connection, *, since: datetime, after: AwaitingKey | None, limit: int
) -> list[tuple[AwaitingKey, str]]:
    """Completed bookings whose trip has no survey yet, a page at a time: ((updated_at, source system,
    booking id), customer id), after the key `after`."""
    rows = await conn.fetch(
        "SELECT updated_at, source_system, booking_id, customer_id FROM trips"
        " WHERE status = 'completed' AND survey_id IS NULL AND updated_at >= $1"
        "   AND ($2::timestamptz IS NULL OR (updated_at, source_system, booking_id) > ($2, $3, $4))"
        " ORDER BY updated_at, source_system, booking_id LIMIT $5",
        since,
        after[0] if after else None,
        after[1] if after else "",
        after[2] if after else "",
        limit,
    )
    return [((r["updated_at"], r["source_system"], r["booking_id"]), r["customer_id"]) for r in rows]


async def survey_trip_summaries(conn: asyncpg.Connection, survey_id: str) -> list[dict[str, Any]]:
    """The route-and-dates summaries of the bookings a survey asks about, in order of travel."""
    rows = await conn.fetch(
        "SELECT summary FROM trips WHERE survey_id = $1 ORDER BY span_start NULLS LAST, booking_id", survey_id
    )
    return [dict(r["summary"] or {}) for r in rows]


async def survey_bookings(conn: asyncpg.Connection, survey_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    rows = await conn.fetch(
        "SELECT survey_id, source_system, booking_id FROM trips WHERE survey_id = ANY($1::text[])"
        " ORDER BY span_start NULLS LAST, booking_id",
        list(survey_ids),
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        out.setdefault(r["survey_id"], []).append((r["source_system"], r["booking_id"]))
    return out


# Invitations


async def invitation_for_update(conn: asyncpg.Connection, event_id: uuid.UUID) -> tuple[str, Invitation] | None:
    """The survey invited by this SurveyInvitedV1 event, and its invitation as recorded."""
    row = await conn.fetchrow(
        "SELECT survey_id, invitation_status, invitation_status_at, invitation_held_until, invitation_detail"
        " FROM surveys WHERE invitation_event_id = $1 FOR UPDATE",
        event_id,
    )
    if row is None:
        return None
    invitation = Invitation(
        InvitationStatus(row["invitation_status"]),
        row["invitation_status_at"],
        row["invitation_held_until"],
        row["invitation_detail"],
    )
    return row["survey_id"], invitation


async def save_invitation(conn: asyncpg.Connection, survey_id: str, invitation: Invitation) -> None:
    await conn.execute(
        "UPDATE surveys SET invitation_status = $2, invitation_status_at = $3, invitation_held_until = $4,"
        " invitation_detail = $5 WHERE survey_id = $1",
        survey_id,
        invitation.status.value,
        invitation.at,
        invitation.held_until,
        invitation.detail,
    )


async def customer_known(conn: asyncpg.Connection, customer_id: str) -> bool:
    """Whether this service has heard of the customer: in the shared view, or from its own records."""
    known: bool = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM customer_view WHERE kind = 'customer' AND customer_id = $1)
            OR EXISTS (SELECT 1 FROM trips WHERE customer_id = $1)
            OR EXISTS (SELECT 1 FROM surveys WHERE customer_id = $1)
            OR EXISTS (SELECT 1 FROM cases WHERE customer_id = $1)
        """,
        customer_id,
    )
    return known
