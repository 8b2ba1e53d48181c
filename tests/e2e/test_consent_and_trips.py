"""What the traveller and the agent see, through all four services on the real broker, database and SMTP.

- An opt-out of service emails suppresses the survey and leaves the address deliverable: the
  booking-change email after consent is given again goes out.
- A trip booked in three systems (flight, hotel, car) gets one survey, and the agent's survey
  list tells what became of its invitation.
"""

from __future__ import annotations

import email.message
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.feedback.entrypoints.api import create_feedback_app
from services.kit.contracts.bookings import BookingChangedV1, CarSegmentV1, FlightSegmentV1, HotelSegmentV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.notifications import DeliveryFailedV1
from services.kit.runtime import ServiceRuntime
from services.notifications.entrypoints.api import create_notifications_app
from services.profile.entrypoints.api import create_profile_app
from tests import builders
from tests.e2e.system import four_services
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

AGENT = {"X-API-Key": "dev-agent-key"}


@pytest.fixture(scope="module")
async def system(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """All four services running on this session's database and topics."""
    async with four_services(env, smtp) as runtimes:
        yield runtimes


def client(runtime: ServiceRuntime, create_app: Any, base_url: str) -> httpx.AsyncClient:
    app = create_app(runtime, workers=False)
    app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def text_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, email.message.EmailMessage)
    return str(part.get_content())


async def customer_of(system: dict[str, ServiceRuntime], address: str) -> str:
    async with client(system["profile"], create_profile_app, "http://profile") as profile:

        async def found() -> str | None:
            r = await profile.get("/v1/customers", params={"email": address}, headers=AGENT)
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            return str(items[0]["customer_id"]) if items else None

        return await wait_until(found)


async def test_an_opt_out_suppresses_the_survey_and_leaves_the_address_deliverable(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    created = builders.booking_created(traveller=builders.traveller(given_name="Lena", family_name="Vogt"))
    address = created.payload.traveller.email
    assert address is not None
    await env.publish("booking.events.v1", created)
    confirmation = await smtp.wait_for(lambda m: address in str(m["To"]) and "confirmed" in str(m["Subject"]))
    assert "local time in Frankfurt am Main (CET" in text_of(confirmation), "the airport's own zone, named"
    customer_id = await customer_of(system, address)

    async with client(system["notifications"], create_notifications_app, "http://notifications") as notifications:
        # The agent unticks "service / email" for the traveller.
        withdraw = {"purpose": "service", "channel": "email", "granted": False, "source": "phone call"}
        r = await notifications.put(f"/v1/customers/{customer_id}/consents", json=withdraw, headers=AGENT)
        assert r.status_code == 200, r.text

        await env.publish("booking.events.v1", builders.trip_completed(created))

        async def suppressed_survey() -> dict[str, Any] | None:
            r = await notifications.get(
                "/v1/deliveries", params={"customer_id": customer_id, "status": "suppressed"}, headers=AGENT
            )
            items = [d for d in r.json()["items"] if d["template"] == "survey_invitation"]
            return items[0] if items else None

        survey = await wait_until(suppressed_survey)
        assert "no consent" in survey["last_error"]
        events = await env.events(
            "notifications.deliveries.v1",
            until=lambda es: any(getattr(e.payload, "delivery_id", "") == survey["delivery_id"] for e in es),
        )
        [report] = [e.payload for e in events if getattr(e.payload, "delivery_id", "") == survey["delivery_id"]]
        assert isinstance(report, DeliveryFailedV1)
        assert (report.status, report.reason_code, report.address_failed) == ("suppressed", "no_consent", False)

        # The agent's survey list says suppressed, not sent.
        async with client(system["feedback"], create_feedback_app, "http://feedback") as feedback:

            async def surveyed() -> dict[str, Any] | None:
                r = await feedback.get(f"/v1/customers/{customer_id}/surveys", headers=AGENT)
                items = r.json()["items"] if r.status_code == 200 else []
                return items[0] if items and items[0]["invitation_status"] == "suppressed" else None

            await wait_until(surveyed)

        # Consent given again; the booking changes: the change email reaches the same address.
        grant = {**withdraw, "granted": True}
        r = await notifications.put(f"/v1/customers/{customer_id}/consents", json=grant, headers=AGENT)
        assert r.status_code == 200, r.text
    changed_payload = BookingChangedV1(**created.payload.model_dump(), change_reason="Schedule change")
    changed = Envelope.new(changed_payload, producer=created.producer, subject_id=created.subject_id)
    await env.publish("booking.events.v1", changed)
    change = await smtp.wait_for(lambda m: address in str(m["To"]) and "has changed" in str(m["Subject"]))
    assert created.payload.booking_id in str(change["Subject"])
    assert "Your travel plans themselves are unchanged." in text_of(change)

    async with client(system["profile"], create_profile_app, "http://profile") as profile:
        r = await profile.get(f"/v1/customers/{customer_id}/view", headers=AGENT)
        assert r.status_code == 200, r.text
        assert "email-undeliverable" not in str(r.json()), "an opt-out says nothing about the address"


async def test_a_flight_hotel_and_car_trip_gets_one_survey(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    person = builders.traveller(given_name="Omar", family_name="Haddad")
    assert person.email is not None
    departs = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    parts = {
        "flight-desk": FlightSegmentV1(
            carrier="LH", flight_number="400", origin="FRA", destination="JFK", departure_at=departs,
            arrival_at=departs + timedelta(hours=8, minutes=40),
        ),
        "hotel-desk": HotelSegmentV1(
            hotel_name="Marriott Marquis", city="New York", country="US", check_in=departs.date(),
            check_out=departs.date() + timedelta(days=3),
        ),
        "car-desk": CarSegmentV1(
            vendor="ZE", pickup_location="JFK", dropoff_location="JFK", pickup_at=departs + timedelta(hours=10),
            dropoff_at=departs + timedelta(days=3),
        ),
    }  # fmt: skip
    for source, segment in parts.items():
        booking = builders.booking_created(source_system=source, traveller=person, segments=[segment])
        await env.publish("booking.events.v1", booking)
        await env.publish("booking.events.v1", builders.trip_completed(booking))

    def surveys() -> list[email.message.EmailMessage]:
        return [m for m in smtp.messages if person.email in str(m["To"]) and "/surveys/" in text_of(m)]

    await smtp.wait_for(lambda m: person.email in str(m["To"]) and "/surveys/" in text_of(m))
    customer_id = await customer_of(system, person.email)
    async with client(system["feedback"], create_feedback_app, "http://feedback") as feedback:

        async def sent_with_three_bookings() -> list[dict[str, Any]] | None:
            r = await feedback.get(f"/v1/customers/{customer_id}/surveys", headers=AGENT)
            items = r.json()["items"] if r.status_code == 200 else []
            done = items and items[0]["invitation_status"] == "sent" and len(items[0]["bookings"]) == 3
            return items if done else None

        [only] = await wait_until(sent_with_three_bookings)
    assert {b["source_system"] for b in only["bookings"]} == set(parts)
    assert len(surveys()) == 1
