"""Trips and journeys through every service on the real broker, database, SMTP server and channel sink.

- pre-trip: a reminder 48 h before the first departure (local time), with what is known and missing;
  its wait survives a restart of the trips service and fires once;
- disruption: a change with a reason and a long delay reaches a traveller in their quiet hours at once
  (by SMS, their first channel), with old -> new, and opens a case for the account manager;
- post-trip: one survey for a flight and a hotel booked apart (one trip), a thank-you after a good
  answer, an apology and a call-back task on the low score's case after a bad one; the trip's timeline
  shows bookings, messages, the survey and the case.
"""

from __future__ import annotations

import email.message
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.local.sinks import ChannelSink
from services.kit.contracts.bookings import FlightSegmentV1, HotelSegmentV1
from services.kit.runtime import ServiceRuntime
from services.profile.entrypoints.api import create_profile_app
from services.trips.bootstrap import build_definition as trips_definition
from services.trips.domain.engine import local_hours_before
from services.trips.entrypoints.api import create_trips_app
from services.trips.settings import TripsSettings
from tests import builders
from tests.e2e.system import four_services
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

AGENT = {"X-API-Key": "dev-agent-key"}


@pytest.fixture(scope="module")
def sink() -> Iterator[ChannelSink]:
    server = ChannelSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def trips_settings(env: TestEnv) -> TripsSettings:
    return env.settings(TripsSettings, journey_interval_seconds=0.2)


@pytest.fixture(scope="module")
async def system(env: TestEnv, smtp: SmtpServer, sink: ChannelSink) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """The four services (texts to the channel sink) and the trips service."""
    async with four_services(env, smtp, sms_api_url=sink.url) as runtimes:
        runtimes["trips"] = await start_trips(env)
        try:
            yield runtimes
        finally:
            await runtimes["trips"].stop()  # the one running now (a test restarts it)


async def start_trips(env: TestEnv) -> ServiceRuntime:
    runtime = ServiceRuntime(trips_definition(trips_settings(env)))
    await runtime.start(workers=True, create_topics=False)
    await runtime.wait_assigned(timeout=30)
    return runtime


def client(runtime: ServiceRuntime, create_app: Any, base_url: str) -> httpx.AsyncClient:
    app = create_app(runtime, workers=False)
    app.state.runtime = runtime
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def text_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, email.message.EmailMessage)
    return str(part.get_content())


def mails(smtp: SmtpServer, address: str, subject: str) -> list[email.message.EmailMessage]:
    return [m for m in smtp.messages if address in str(m["To"]) and subject in str(m["Subject"])]


async def customer_of(system: dict[str, ServiceRuntime], address: str) -> str:
    async with client(system["profile"], create_profile_app, "http://profile") as profile:

        async def found() -> str | None:
            r = await profile.get("/v1/customers", params={"email": address}, headers=AGENT)
            items = r.json()["items"] if r.status_code == 200 else []
            return str(items[0]["customer_id"]) if items else None

        return str(await wait_until(found))


async def trips_of(trips: httpx.AsyncClient, customer_id: str) -> list[dict[str, Any]]:
    r = await trips.get(f"/v1/customers/{customer_id}/trips", headers=AGENT)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_reminder_48_hours_before_departure_survives_a_restart_and_comes_once(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    person = builders.traveller(given_name="Petra", family_name="Lindqvist")
    assert person.email is not None
    departs = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=48, seconds=25)
    flight = FlightSegmentV1(carrier="LH", flight_number="402", origin="FRA", destination="EWR", departure_at=departs,
                             arrival_at=departs + timedelta(hours=9), seat="3C")  # fmt: skip
    stay = HotelSegmentV1(hotel_name="Hotel Nord", city="Newark", country="US", check_in=departs.date(),
                          check_out=departs.date() + timedelta(days=2))  # fmt: skip
    booking = builders.booking_created(traveller=person, segments=[flight, stay])
    await env.publish("booking.events.v1", booking)
    customer_id = await customer_of(system, person.email)

    async with client(system["trips"], create_trips_app, "http://trips") as trips:

        async def waiting() -> dict[str, Any] | None:
            items = await trips_of(trips, customer_id)
            if not items:
                return None
            r = await trips.get(f"/v1/trips/{items[0]['trip_id']}", headers=AGENT)
            runs = [j for j in r.json()["journeys"] if j["journey"] == "pre_trip" and j["status"] == "waiting"]
            return r.json() if runs else None

        trip = await wait_until(waiting)
    [run] = [j for j in trip["journeys"] if j["journey"] == "pre_trip"]
    due = datetime.fromisoformat(run["due_at"])
    assert due == local_hours_before(departs, 48, ZoneInfo("Europe/Berlin")), "on Frankfurt's clock"

    # The trips service stops while the reminder waits and starts again: the wait is in PostgreSQL.
    await system["trips"].stop()
    system["trips"] = again = await start_trips(env)
    reminder = await smtp.wait_for(
        lambda m: person.email in str(m["To"]) and "Your trip starts soon" in str(m["Subject"]), timeout=90
    )
    text = text_of(reminder)
    assert "FRA → EWR" in text, text
    assert "(Europe/Berlin)" in text
    assert "LH402: 3C" in text, "the seat Itinera knows"
    assert "Still missing: a meal request, the hotel chain" in text, text
    async with client(again, create_trips_app, "http://trips") as trips:

        async def sent() -> list[dict[str, Any]] | None:
            r = await trips.get(f"/v1/trips/{trip['trip_id']}", headers=AGENT)
            entries = r.json()["timeline"]
            return entries if any(e["kind"] == "message.sent" and "journey_pre_trip" in e["summary"]
                                  for e in entries) else None  # fmt: skip

        entries = await wait_until(sent)
    assert [e["kind"] for e in entries][:2] == ["booking.created", "journey.started"]
    assert len(mails(smtp, person.email, "Your trip starts soon")) == 1
