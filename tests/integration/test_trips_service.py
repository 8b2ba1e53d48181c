"""The trips service alone on the real broker and database: grouping, merges, the trip reference, trip
events, and surveys that reach it before their booking."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.kit.contracts.bookings import FlightSegmentV1, HotelSegmentV1
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyAnsweredV1, SurveyInvitedV1
from services.kit.contracts.trips import JourneyCaseRequestedV1, JourneyMessageRequestedV1, TripUpdatedV1
from services.kit.db import connection
from services.kit.runtime import ServiceRuntime
from services.trips.bootstrap import build_definition
from services.trips.settings import TripsSettings
from tests.harness import TestEnv, wait_until

pytestmark = pytest.mark.integration

SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)


@pytest.fixture(scope="module")
async def trips(env: TestEnv) -> AsyncIterator[ServiceRuntime]:
    async with env.running(build_definition(env.settings(TripsSettings, journey_interval_seconds=0.2))) as runtime:
        yield runtime


def flight(days: float, origin: str = "FRA", destination: str = "JFK") -> FlightSegmentV1:
    at = SOON + timedelta(days=days)
    return FlightSegmentV1(carrier="LH", flight_number="400", origin=origin, destination=destination,
                           departure_at=at, arrival_at=at + timedelta(hours=8))  # fmt: skip


def stay(days: float, nights: int) -> HotelSegmentV1:
    at = (SOON + timedelta(days=days)).date()
    return HotelSegmentV1(hotel_name="Marquis", city="New York", country="US", check_in=at,
                          check_out=at + timedelta(days=nights))  # fmt: skip


def resolved(cid: str, booking_id: str, segments: list[Any], *, kind: str = "created", source: str = "gds",
             reference: str | None = None) -> Envelope[ResolvedBookingV1]:  # fmt: skip
    payload = ResolvedBookingV1(
        customer_id=cid, kind=kind, source_event_id=str(uuid.uuid4()), source_system=source,  # type: ignore[arg-type]  # a BookingKind
        booking_id=booking_id, segments=tuple(segments), occurred_at=datetime.now(UTC), trip_reference=reference,
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=cid)


async def live_trips(trips: ServiceRuntime, cid: str) -> list[dict[str, Any]]:
    async with connection(trips.pool) as conn:
        rows = await conn.fetch(
            "SELECT t.trip_id, array_agg(b.booking_id ORDER BY b.booking_id) AS bookings FROM trips t"
            " JOIN bookings b USING (trip_id) WHERE t.customer_id = $1 AND t.merged_into IS NULL GROUP BY t.trip_id",
            cid,
        )
    return [dict(r) for r in rows]


async def test_a_late_hotel_merges_the_flights_out_and_home_into_one_trip_and_says_so(
    env: TestEnv, trips: ServiceRuntime
) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    await env.publish("profile.bookings.v1", resolved(cid, f"{cid}-out", [flight(0)]))
    await env.publish("profile.bookings.v1", resolved(cid, f"{cid}-home", [flight(4, "JFK", "FRA")]))
    await wait_until(lambda: _count(trips, cid, 2))
    await env.publish("profile.bookings.v1", resolved(cid, f"{cid}-hotel", [stay(0.5, 3)], source="hotel-desk"))
    [trip] = await wait_until(lambda: _count(trips, cid, 1))
    assert trip["bookings"] == sorted([f"{cid}-out", f"{cid}-home", f"{cid}-hotel"])

    def merged(events: list[Envelope[Any]]) -> bool:
        return any(isinstance(e.payload, TripUpdatedV1) and e.payload.customer_id == cid
                   and e.payload.merged_into == trip["trip_id"] for e in events)  # fmt: skip

    events = await env.events("trips.trips.v1", until=merged)
    last = [e.payload for e in events if isinstance(e.payload, TripUpdatedV1) and e.payload.trip_id == trip["trip_id"]]
    assert len(last[-1].bookings) == 3
    assert last[-1].status == "planned"


async def test_the_booking_systems_trip_reference_groups_bookings_on_other_dates(
    env: TestEnv, trips: ServiceRuntime
) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    await env.publish("profile.bookings.v1", resolved(cid, f"{cid}-a", [flight(0)], reference="TRIP-7"))
    await env.publish("profile.bookings.v1", resolved(cid, f"{cid}-b", [flight(30)], reference="TRIP-7"))
    await env.publish("profile.bookings.v1", resolved(cid, f"{cid}-c", [flight(0.2)], reference="TRIP-8"))

    async def grouped() -> list[dict[str, Any]] | None:
        found = await live_trips(trips, cid)
        return found if sum(len(t["bookings"]) for t in found) == 3 else None

    found = await wait_until(grouped)
    assert sorted(t["bookings"] for t in found) == [[f"{cid}-a", f"{cid}-b"], [f"{cid}-c"]]


async def test_a_survey_answered_before_its_booking_arrived_still_starts_the_post_trip_journey(
    env: TestEnv, trips: ServiceRuntime
) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    survey_id, booking_id = f"srv_{uuid.uuid4().hex[:10]}", f"{cid}-x"
    invited = SurveyInvitedV1(survey_id=survey_id, customer_id=cid, booking_id=booking_id, source_system="gds",
                              expires_at=datetime.now(UTC) + timedelta(days=30))  # fmt: skip
    answered = SurveyAnsweredV1(survey_id=survey_id, customer_id=cid, booking_id=booking_id, csat=1,
                                answered_at=datetime.now(UTC))  # fmt: skip
    for payload in (invited, answered):
        await env.publish("feedback.surveys.v1", Envelope.new(payload, producer="feedback", subject_id=cid))

    async def parked() -> bool:
        async with connection(trips.pool) as conn:
            return await conn.fetchval("SELECT answer IS NOT NULL FROM surveys WHERE survey_id = $1", survey_id) is True

    await wait_until(parked)
    await env.publish("profile.bookings.v1", resolved(cid, booking_id, [flight(-10)], kind="trip_completed"))

    def asked(events: list[Envelope[Any]]) -> bool:
        return sum(getattr(e.payload, "customer_id", None) == cid for e in events) >= 2

    events = await env.events("trips.journeys.v1", until=asked)
    mine = [e.payload for e in events if getattr(e.payload, "customer_id", None) == cid]
    [apology] = [p for p in mine if isinstance(p, JourneyMessageRequestedV1)]
    [callback] = [p for p in mine if isinstance(p, JourneyCaseRequestedV1)]
    assert (apology.template, apology.journey, apology.journey_version) == ("journey_apology", "post_trip", 1)
    assert (callback.action, callback.survey_id) == ("callback", survey_id)


async def _count(trips: ServiceRuntime, cid: str, n: int) -> list[dict[str, Any]] | None:
    found = await live_trips(trips, cid)
    return found if len(found) == n else None
