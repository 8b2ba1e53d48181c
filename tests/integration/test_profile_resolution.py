"""Profile resolves booking travellers to customers over the real broker and database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.kit.contracts.bookings import BookingChangedV1, FlightSegmentV1, TripStartedV1
from services.kit.contracts.customers import CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.profile.bootstrap import build_definition
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv

pytestmark = pytest.mark.integration


async def test_new_traveller_becomes_customer_with_snapshot_and_resolved_booking(env: TestEnv) -> None:
    created = builders.booking_created()
    async with env.running(build_definition(env.settings(ProfileSettings))):
        await env.publish("booking.events.v1", created)
        resolved = await env.events(
            "profile.bookings.v1",
            until=lambda evs: any(e.payload.booking_id == created.payload.booking_id for e in evs),
        )
    booking = next(e for e in resolved if e.payload.booking_id == created.payload.booking_id)
    assert isinstance(booking.payload, ResolvedBookingV1)
    assert booking.payload.kind == "created"
    assert booking.correlation_id == created.correlation_id
    customer_id = booking.payload.customer_id
    snapshots = await env.events(
        "profile.customers.v1",
        until=lambda evs: any(getattr(e.payload, "customer_id", None) == customer_id for e in evs),
    )
    snap = [
        e.payload
        for e in snapshots
        if isinstance(e.payload, CustomerSnapshotV1) and e.payload.customer_id == customer_id
    ][-1]
    assert snap.email == created.payload.traveller.email
    assert snap.phone == (created.payload.traveller.phone or "").replace(" ", "")
    assert snap.display_name == "Ann Lee"
    assert snap.company_name == "Globex GmbH"


async def test_same_email_from_another_source_resolves_to_same_customer(env: TestEnv) -> None:
    first = builders.booking_created(source_system="hotel-desk")
    again = builders.booking_created(
        source_system="car-desk",
        traveller=builders.traveller(email=first.payload.traveller.email.upper(), phone=None, given_name="ANN"),
    )
    async with env.running(build_definition(env.settings(ProfileSettings))):
        await env.publish("booking.events.v1", first)
        await env.publish("booking.events.v1", again)
        wanted = {first.payload.booking_id, again.payload.booking_id}
        resolved = await env.events(
            "profile.bookings.v1", until=lambda evs: wanted <= {e.payload.booking_id for e in evs}
        )
    ids = {e.payload.customer_id for e in resolved if e.payload.booking_id in wanted}
    assert len(ids) == 1


async def test_a_bookings_events_handled_in_one_batch_leave_its_latest_itinerary(env: TestEnv) -> None:
    # After a crash (or under load) a booking's whole history can arrive in one batch: created, moved
    # a day, started, completed. The trip events carry no segments; the booking keeps the itinerary
    # of the latest event that had one (found by the fault harness: the summary came out empty, or
    # the first itinerary instead of the changed one).
    created = builders.booking_created()
    flight, hotel = created.payload.segments
    assert isinstance(flight, FlightSegmentV1)
    day = timedelta(days=1)
    moved = flight.model_copy(update={"departure_at": flight.departure_at + day, "arrival_at": flight.arrival_at + day})
    changed = Envelope.new(
        BookingChangedV1(**{**created.payload.model_dump(), "segments": (moved, hotel)}, change_reason="moved"),
        producer=created.producer,
        subject_id=created.subject_id,
        caused_by=created,
    )
    p = created.payload
    ref = {"source_system": p.source_system, "booking_id": p.booking_id,
           "source_traveller_id": p.source_traveller_id, "traveller": p.traveller}  # fmt: skip
    started = Envelope.new(TripStartedV1(**ref), producer=created.producer, subject_id=created.subject_id)
    completed = builders.trip_completed(created)
    for event in (created, changed, started, completed):  # all on the broker before profile starts
        await env.publish("booking.events.v1", event)
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        await env.events(
            "profile.bookings.v1",
            until=lambda evs: any(e.payload.source_event_id == str(completed.event_id) for e in evs),
        )
        async with runtime.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, summary FROM bookings WHERE source_system = $1 AND booking_id = $2",
                p.source_system,
                p.booking_id,
            )
    assert row is not None
    assert row["status"] == "trip_completed"
    summary = row["summary"] if isinstance(row["summary"], dict) else json.loads(row["summary"])
    assert summary["segments"][0]["departure_at"] == moved.departure_at.isoformat().replace("+00:00", "Z")
