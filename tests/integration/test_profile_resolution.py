"""Profile resolves booking travellers to customers over the real broker and database."""

from __future__ import annotations

import pytest

from services.kit.contracts.customers import CustomerSnapshotV1, ResolvedBookingV1
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
