"""Feedback on the real broker and database: one survey per trip, the invitation's real status, unknown ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.feedback.bootstrap import build_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.service_layer.trip_surveys import settle_open_trips
from services.feedback.settings import FeedbackSettings
from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, Segment
from services.kit.contracts.customers import BookingKind, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.kit.db import connection
from tests.harness import TestEnv, wait_until
from tests.integration.test_feedback_service import Feedback

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
BOOKINGS = "profile.bookings.v1"


@pytest.fixture(scope="module")
async def feedback(env: TestEnv) -> AsyncIterator[Feedback]:
    settings = env.settings(FeedbackSettings, public_base_url="https://feedback.example.test")
    async with env.running(build_definition(settings)) as runtime:
        app = create_feedback_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://feedback.test") as c:
            yield Feedback(runtime, c, settings)


def cid() -> str:
    return f"cus_{uuid.uuid4().hex[:12]}"


def flight(departs: datetime, origin: str = "FRA", destination: str = "JFK") -> FlightSegmentV1:
    return FlightSegmentV1(
        carrier="LH", flight_number="400", origin=origin, destination=destination,
        departure_at=departs, arrival_at=departs + timedelta(hours=8, minutes=40),
    )  # fmt: skip


def hotel(check_in: date, nights: int = 3) -> HotelSegmentV1:
    return HotelSegmentV1(
        hotel_name="Marriott Marquis", city="New York", country="US", check_in=check_in,
        check_out=check_in + timedelta(days=nights),
    )  # fmt: skip


def car(pickup: datetime, days: int = 3) -> CarSegmentV1:
    return CarSegmentV1(
        vendor="ZE", pickup_location="JFK", dropoff_location="JFK", pickup_at=pickup,
        dropoff_at=pickup + timedelta(days=days),
    )  # fmt: skip


def event(
    customer_id: str, source: str, booking_id: str, kind: BookingKind, segments: tuple[Segment, ...] = ()
) -> Envelope[ResolvedBookingV1]:
    payload = ResolvedBookingV1(
        customer_id=customer_id, kind=kind, source_event_id=str(uuid.uuid4()), source_system=source,
        booking_id=booking_id, segments=segments, occurred_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


async def invitations_of(env: TestEnv, customer_id: str, *, at_least: int = 1) -> list[Envelope[Any]]:
    def mine(events: list[Envelope[Any]]) -> list[Envelope[Any]]:
        return [e for e in events if isinstance(e.payload, SurveyInvitedV1) and e.payload.customer_id == customer_id]

    return mine(await env.events("feedback.surveys.v1", until=lambda es: len(mine(es)) >= at_least))


async def surveys_in_db(feedback: Feedback, customer_id: str) -> int:
    async with connection(feedback.runtime.pool) as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM surveys WHERE customer_id = $1", customer_id)
    return count


async def test_a_flight_hotel_and_car_trip_gets_one_survey(env: TestEnv, feedback: Feedback) -> None:
    """Three booking systems, one trip: the demo feed's order (each booking created, then completed)."""
    traveller = cid()
    # At 08:00, so the flight leaves before the hotel's check-in (15:00) whatever the time of day the test runs.
    departs = (datetime.now(UTC) - timedelta(days=6)).replace(hour=8, minute=0, second=0, microsecond=0)
    parts: list[tuple[str, str, tuple[Segment, ...]]] = [
        ("flight-desk", f"FL-{uuid.uuid4().hex[:6]}", (flight(departs),)),
        ("hotel-desk", f"HO-{uuid.uuid4().hex[:6]}", (hotel(departs.date()),)),
        ("car-desk", f"CA-{uuid.uuid4().hex[:6]}", (car(departs + timedelta(hours=10)),)),
    ]
    for source, booking_id, segments in parts:
        await env.publish(BOOKINGS, event(traveller, source, booking_id, "created", segments))
        await env.publish(BOOKINGS, event(traveller, source, booking_id, "trip_completed"))
    # A later, separate trip of the same traveller still gets its own survey (and marks the end of the batch).
    later = f"FL-{uuid.uuid4().hex[:6]}"
    await env.publish(
        BOOKINGS, event(traveller, "flight-desk", later, "created", (flight(departs + timedelta(days=8)),))
    )
    await env.publish(BOOKINGS, event(traveller, "flight-desk", later, "trip_completed"))

    invited = await invitations_of(env, traveller, at_least=2)
    assert [e.payload.booking_id for e in invited] == [parts[0][1], later]
    assert await surveys_in_db(feedback, traveller) == 2

    r = await feedback.http.get(f"/v1/customers/{traveller}/surveys", headers=AGENT)
    assert r.status_code == 200, r.text
    by_anchor = {s["booking_id"]: s for s in r.json()["items"]}
    covered = by_anchor[parts[0][1]]["bookings"]
    assert covered[0]["booking_id"] == parts[0][1], "in order of travel: the flight out first"
    assert sorted(b["booking_id"] for b in covered) == sorted(p[1] for p in parts)
    assert by_anchor[parts[0][1]]["invitation_status"] == "planned"


async def test_a_trip_waits_for_its_open_parts(env: TestEnv, feedback: Feedback) -> None:
    """The flight home completed but the hotel has not ended: the survey waits for the hotel (or its end)."""
    traveller = cid()
    departs = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    flight_id, hotel_id = f"FL-{uuid.uuid4().hex[:6]}", f"HO-{uuid.uuid4().hex[:6]}"
    await env.publish(BOOKINGS, event(traveller, "hotel-desk", hotel_id, "created", (hotel(departs.date(), 5),)))
    await env.publish(BOOKINGS, event(traveller, "flight-desk", flight_id, "created", (flight(departs),)))
    await env.publish(BOOKINGS, event(traveller, "flight-desk", flight_id, "trip_completed"))

    async def completed() -> bool:
        async with connection(feedback.runtime.pool) as conn:
            status = await conn.fetchval("SELECT status FROM trips WHERE booking_id = $1", flight_id)
        return bool(status == "completed")

    await wait_until(completed)
    assert await surveys_in_db(feedback, traveller) == 0

    # The hotel never reports completion: once it ended `trip_settle` ago, the settle job surveys the trip.
    s = feedback.settings
    soon = datetime.now(UTC) + timedelta(days=1)
    args = {"public_base_url": s.public_base_url, "ttl": s.survey_ttl, "settle": s.trip_settle, "limit": 500}
    assert await settle_open_trips(feedback.runtime.pool, now=soon, **args) == 0
    assert await surveys_in_db(feedback, traveller) == 0
    later = datetime.now(UTC) + timedelta(days=4) + s.trip_settle
    assert await settle_open_trips(feedback.runtime.pool, now=later, **args) >= 1
    [invited] = await invitations_of(env, traveller)
    assert invited.payload.booking_id == flight_id
    assert await settle_open_trips(feedback.runtime.pool, now=later, **args) == 0, "one survey per trip"
    assert await surveys_in_db(feedback, traveller) == 1


async def test_the_survey_list_tells_held_invitations_from_sent_ones(env: TestEnv, feedback: Feedback) -> None:
    traveller, quiet = cid(), cid()
    departs = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    for customer_id in (traveller, quiet):
        booking_id = f"FL-{uuid.uuid4().hex[:6]}"
        await env.publish(BOOKINGS, event(customer_id, "flight-desk", booking_id, "created", (flight(departs),)))
        await env.publish(BOOKINGS, event(customer_id, "flight-desk", booking_id, "trip_completed"))
    [invited] = await invitations_of(env, traveller)
    [suppressed_invitation] = await invitations_of(env, quiet)

    def report(payload: Any, customer_id: str) -> Envelope[Any]:
        return Envelope.new(payload, producer="notifications", subject_id=customer_id)

    held_until = datetime.now(UTC) + timedelta(hours=6)
    common = {"customer_id": traveller, "channel": "email", "template": "survey_invitation"}
    cause = str(invited.event_id)
    held = DeliveryHeldV1(delivery_id="dlv_1", purpose="service", reason="quiet_hours", held_until=held_until,
                          time_zone="Asia/Tokyo", cause_event_id=cause, **common)  # fmt: skip
    await env.publish("notifications.deliveries.v1", report(held, traveller))

    async def status(customer_id: str, wanted: str) -> dict[str, Any] | None:
        r = await feedback.http.get(f"/v1/customers/{customer_id}/surveys", headers=AGENT)
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        return item if item["invitation_status"] == wanted else None

    item = await wait_until(lambda: status(traveller, "held"))
    assert datetime.fromisoformat(item["invitation_held_until"]) == held_until
    assert item["invitation_detail"] == "quiet hours (Asia/Tokyo)"

    sent = DeliverySentV1(delivery_id="dlv_1", purpose="service", sent_at=held_until, cause_event_id=cause, **common)
    await env.publish("notifications.deliveries.v1", report(sent, traveller))
    await wait_until(lambda: status(traveller, "sent"))
    # A hold reported late (another partition after a merge) does not undo the sending.
    await env.publish("notifications.deliveries.v1", report(held, traveller))
    failed = DeliveryFailedV1(
        delivery_id="dlv_2", customer_id=quiet, channel="email", template="survey_invitation",
        reason="no consent for service messages by email", permanent=False, failed_at=datetime.now(UTC),
        status="suppressed", reason_code="no_consent", cause_event_id=str(suppressed_invitation.event_id),
    )  # fmt: skip
    await env.publish("notifications.deliveries.v1", report(failed, quiet))
    item = await wait_until(lambda: status(quiet, "suppressed"))
    assert item["invitation_detail"] == "no consent for service messages by email"
    assert await status(traveller, "sent") is not None


async def test_unknown_customers_are_404_for_feedback(env: TestEnv, feedback: Feedback) -> None:
    stranger, booked = cid(), cid()
    r = await feedback.http.get(f"/v1/customers/{stranger}/surveys", headers=AGENT)
    assert (r.status_code, r.json()["type"]) == (404, "/problems/unknown-customer")
    assert "try again shortly" in r.json()["detail"]
    r = await feedback.http.post("/v1/cases", json={"customer_id": stranger, "subject": "Refund"}, headers=AGENT)
    assert (r.status_code, r.json()["type"]) == (404, "/problems/unknown-customer")
    async with connection(feedback.runtime.pool) as conn:
        assert not await conn.fetchval("SELECT count(*) FROM cases WHERE customer_id = $1", stranger)

    # Known from a booking, before (or without) the customer's snapshot.
    departs = datetime.now(UTC) + timedelta(days=9)
    await env.publish(
        BOOKINGS, event(booked, "flight-desk", f"FL-{uuid.uuid4().hex[:6]}", "created", (flight(departs),))
    )

    async def listed() -> bool:
        r = await feedback.http.get(f"/v1/customers/{booked}/surveys", headers=AGENT)
        return r.status_code == 200

    await wait_until(listed)
    r = await feedback.http.post("/v1/cases", json={"customer_id": booked, "subject": "Seat"}, headers=AGENT)
    assert r.status_code == 201, r.text
