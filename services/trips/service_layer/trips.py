"""Resolved bookings into trips: grouping, the trip's state and timeline, and the journeys they trigger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.consumer import PermanentError
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.trips import TripBookingV1, TripUpdatedV1, trip_instant
from services.kit.outbox import enqueue
from services.trips.adapters import repository as repo
from services.trips.adapters import runs
from services.trips.adapters.repository import StoredBooking
from services.trips.domain.definitions import JourneyDefinition
from services.trips.domain.facts import compare, delay_minutes, reason_kind
from services.trips.domain.grouping import Span, TripFacts, booking_span, group_booking, trip_span, trip_status
from services.trips.service_layer import activity, engine

log = logging.getLogger(__name__)
PRODUCER = "trips"
TRIPS_TOPIC = "trips.trips.v1"

_STATUS = {
    "created": "active", "changed": "active", "cancelled": "cancelled",
    "trip_started": "in_progress", "trip_completed": "completed",
}  # fmt: skip
_SUMMARY = {
    "created": "Booked", "changed": "Changed", "cancelled": "Cancelled",
    "trip_started": "Trip started", "trip_completed": "Trip completed",
}  # fmt: skip


def _span(row: Mapping[str, Any] | asyncpg.Record) -> Span | None:
    start, end = row["starts_at"], row["ends_at"]
    return Span(start, end) if start is not None and end is not None else None


async def handle_resolved_booking(
    conn: asyncpg.Connection, event: Envelope[Any], *, definitions: Mapping[str, JourneyDefinition], now: datetime
) -> None:
    """Group the booking into its trip, record it on the trip's timeline, publish the trip, start journeys."""
    p = event.payload
    if not isinstance(p, ResolvedBookingV1):
        raise PermanentError(f"expected ResolvedBookingV1, got {type(p).__name__}")
    await repo.lock_customer(conn, p.customer_id)
    previous = await repo.booking_for_update(conn, p.source_system, p.booking_id)
    segments: list[dict[str, Any]] = p.model_dump(mode="json")["segments"] or (previous.segments if previous else [])
    span = booking_span(segments)
    created_trip = False
    if previous is None:
        trips = await repo.live_trips(conn, p.customer_id)
        grouping = group_booking(
            source_system=p.source_system, booking_id=p.booking_id, reference=p.trip_reference, span=span,
            trips=[TripFacts(r["trip_id"], r["trip_reference"], _span(r)) for r in trips],
        )  # fmt: skip
        trip_id, merged = grouping.trip_id, grouping.merged
        if grouping.create:
            await repo.create_trip(
                conn, trip_id=trip_id, customer_id=p.customer_id, company_id=p.company_id,
                trip_reference=p.trip_reference,
            )  # fmt: skip
            created_trip = True
    else:
        trip_id, merged = await repo.current_trip(conn, previous.trip_id), ()
    stale = previous is not None and previous.occurred_at > p.occurred_at
    if not stale:
        await repo.save_booking(
            conn,
            StoredBooking(
                p.source_system, p.booking_id, p.customer_id, trip_id, _STATUS[p.kind],
                p.trip_reference or (previous.trip_reference if previous else None), segments,
                span.start if span else None, span.end if span else None, p.occurred_at,
            ),
        )  # fmt: skip
    before = await repo.trip(conn, trip_id)
    for other in merged:
        await _merge(conn, event, other, into=trip_id, now=now)
    await activity.claim_surveys(conn, source_system=p.source_system, booking_id=p.booking_id, trip_id=trip_id,
                                 definitions=definitions, cause=event, now=now)  # fmt: skip
    await publish_trip(conn, event, trip_id, customer_id=p.customer_id, company_id=p.company_id,
                       reference=p.trip_reference, now=now)  # fmt: skip
    old_segments = previous.segments if previous is not None else []
    changes = compare(old_segments, segments) if p.kind == "changed" else compare(old_segments, [])
    detail: dict[str, Any] = {"source_system": p.source_system, "booking_id": p.booking_id, "kind": p.kind}
    if p.reason:
        detail["reason"] = p.reason
    if p.kind in ("changed", "cancelled") and old_segments:
        detail["changes"] = changes
    summary = f"{_SUMMARY[p.kind]}: {p.source_system}:{p.booking_id}" + (f" ({p.reason})" if p.reason else "")
    await repo.add_entry(
        conn, trip_id=trip_id, at=p.occurred_at, kind=f"booking.{p.kind}", summary=summary, detail=detail,
        event_id=event.event_id,
    )  # fmt: skip
    if stale:
        return
    facts: dict[str, Any] = {
        "trip_id": trip_id, "customer_id": p.customer_id, "source_system": p.source_system,
        "booking_id": p.booking_id,
    }  # fmt: skip
    if created_trip:
        await engine.trigger(conn, definitions, event="trip.planned", key=trip_id, facts=facts, cause=event, now=now)
    elif p.kind in ("changed", "cancelled"):
        facts |= {
            "reason": p.reason, "reason_kind": reason_kind(p.reason), "has_reason": bool(p.reason),
            "changes": changes, "delay_minutes": delay_minutes(old_segments, segments) if p.kind == "changed" else None,
        }  # fmt: skip
        await engine.trigger(
            conn, definitions, event=f"booking.{p.kind}", key=p.source_event_id, facts=facts, cause=event, now=now
        )
    # The trip now starts at another time (a departure moved, a booking joined or left): waits counted
    # back from its first departure are counted again.
    after = await repo.trip(conn, trip_id)
    if merged or before is None or after is None or before["starts_at"] != after["starts_at"]:
        await engine.reschedule(conn, definitions, trip_id=trip_id, now=now)


async def _merge(conn: asyncpg.Connection, event: Envelope[Any], other: str, *, into: str, now: datetime) -> None:
    """A booking joined two trips: `other` merges into `into` (bookings, timeline, surveys and runs move)."""
    await repo.move_to_trip(conn, from_trip=other, to_trip=into)
    await runs.end_merged(conn, from_trip=other, to_trip=into)
    row = await repo.trip(conn, other)
    assert row is not None
    await repo.update_trip(
        conn, trip_id=other, customer_id=row["customer_id"], company_id=row["company_id"],
        trip_reference=row["trip_reference"], status="merged", starts_at=row["starts_at"], ends_at=row["ends_at"],
        merged_into=into,
    )  # fmt: skip
    await _publish(conn, event, other, now=now)
    await repo.add_entry(conn, trip_id=into, at=now, kind="trip.merged", summary=f"Trip {other} joined this trip")
    log.info("trip %s merged into %s", other, into)


async def publish_trip(
    conn: asyncpg.Connection, event: Envelope[Any], trip_id: str, *, customer_id: str, company_id: str | None,
    reference: str | None, now: datetime,
) -> None:  # fmt: skip
    """Recompute the trip's dates and status from its bookings, store and publish them."""
    bookings = await repo.bookings_of_trips(conn, [trip_id])
    live = [b for b in bookings if b.status != "cancelled"] or bookings
    span = trip_span(_span({"starts_at": b.starts_at, "ends_at": b.ends_at}) for b in live)
    await repo.update_trip(
        conn, trip_id=trip_id, customer_id=customer_id, company_id=company_id, trip_reference=reference,
        status=trip_status(b.status for b in bookings), starts_at=span.start if span else None,
        ends_at=span.end if span else None,
    )  # fmt: skip
    await _publish(conn, event, trip_id, now=now)


async def _publish(conn: asyncpg.Connection, event: Envelope[Any], trip_id: str, *, now: datetime) -> None:
    row = await repo.trip(conn, trip_id)
    assert row is not None
    bookings = await repo.bookings_of_trips(conn, [trip_id])
    payload = TripUpdatedV1(
        trip_id=trip_id, customer_id=row["customer_id"], company_id=row["company_id"], version=row["version"],
        status=row["status"], trip_reference=row["trip_reference"], starts_at=row["starts_at"],
        ends_at=row["ends_at"], merged_into=row["merged_into"], updated_at=trip_instant(now),
        bookings=tuple(
            TripBookingV1(
                source_system=b.source_system, booking_id=b.booking_id, status=b.status,
                kinds=tuple(sorted({str(s.get("kind")) for s in b.segments})), starts_at=b.starts_at,
                ends_at=b.ends_at,
            )
            for b in bookings
        ),
    )  # fmt: skip
    await enqueue(
        conn, topic=TRIPS_TOPIC, envelope=Envelope.new(payload, producer=PRODUCER, subject_id=trip_id, caused_by=event)
    )
