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
from services.feedback.entrypoints.api import create_feedback_app
from services.kit.contracts.bookings import BookingChangedV1, FlightSegmentV1, HotelSegmentV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.runtime import ServiceRuntime
from services.notifications.entrypoints.api import create_notifications_app
from services.preferences.entrypoints.api import create_preferences_app
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


async def test_a_delay_reaches_the_traveller_in_quiet_hours_at_once_and_opens_a_case(
    env: TestEnv, smtp: SmtpServer, sink: ChannelSink, system: dict[str, ServiceRuntime]
) -> None:
    person = builders.traveller(given_name="Jonas", family_name="Okafor")
    assert person.email is not None
    created = builders.booking_created(traveller=person)
    await env.publish("booking.events.v1", created)
    customer_id = await customer_of(system, person.email)

    # The traveller texts first and is in quiet hours all day (a service message would wait for the morning).
    async with client(system["preferences"], create_preferences_app, "http://preferences") as preferences:
        body = {"values": {"comms.channels": ["sms", "email"], "comms.consent.service": True}, "source": "stated"}
        r = await preferences.put(f"/v1/customers/{customer_id}/preferences", json=body, headers=AGENT)
        assert r.status_code == 200, r.text
    async with client(system["notifications"], create_notifications_app, "http://notifications") as notifications:
        quiet = {"enabled": True, "start": "00:00", "end": "23:59:59"}

        async def quiet_set() -> bool:  # once notifications knows the traveller
            r = await notifications.put(f"/v1/customers/{customer_id}/quiet-hours", json=quiet, headers=AGENT)
            assert r.status_code in (200, 404), r.text
            return r.status_code == 200

        await wait_until(quiet_set)

        async def may_text() -> bool:
            r = await notifications.get(f"/v1/customers/{customer_id}/consents", headers=AGENT)
            return any(c["purpose"] == "service" and c["channel"] == "sms" and c["allowed"]
                       for c in r.json().get("effective", []))  # fmt: skip

        await wait_until(may_text, timeout=90)

    [flight, *rest] = created.payload.segments
    assert isinstance(flight, FlightSegmentV1)
    later = flight.model_copy(update={"departure_at": flight.departure_at + timedelta(hours=3),
                                      "arrival_at": flight.arrival_at + timedelta(hours=3)})  # fmt: skip
    changed_payload = BookingChangedV1(
        **(created.payload.model_dump() | {"segments": [later, *rest]}), change_reason="Flight delayed by the carrier"
    )
    changed = Envelope.new(changed_payload, producer=created.producer, subject_id=created.subject_id)
    await env.publish("booking.events.v1", changed)

    text = await sink.wait_for(lambda m: m.kind == "sms" and "Disruption to your booking" in m.form.get("Body", ""))
    assert created.payload.booking_id in text.form["Body"]
    assert "Flight delayed by the carrier" in text.form["Body"]

    async with client(system["feedback"], create_feedback_app, "http://feedback") as feedback:

        async def case() -> dict[str, Any] | None:
            r = await feedback.get("/v1/cases", params={"customer_id": customer_id}, headers=AGENT)
            items = [c for c in r.json().get("items", []) if c["subject"].startswith("Disruption on")]
            return items[0] if items else None

        opened = await wait_until(case, timeout=90)
    assert opened["priority"] == "high"
    assert "Flight delayed by the carrier" in opened["subject"]

    async with client(system["trips"], create_trips_app, "http://trips") as trips:
        [trip] = await trips_of(trips, customer_id)

        async def recorded() -> dict[str, Any] | None:
            r = await trips.get(f"/v1/trips/{trip['trip_id']}", headers=AGENT)
            entries = r.json()["timeline"]
            alerted = any(e["summary"] == "Message journey_disruption sent by sms" for e in entries)
            return r.json() if alerted and {"booking.changed", "case.opened"} <= {e["kind"] for e in entries} else None

        detail = await wait_until(recorded, timeout=90)
    change = next(e for e in detail["timeline"] if e["kind"] == "booking.changed")
    assert change["detail"]["reason"] == "Flight delayed by the carrier"
    assert any(c["field"] == "departure_at" for c in change["detail"]["changes"])
    [run] = [j for j in detail["journeys"] if j["journey"] == "disruption"]
    assert (run["status"], run["journey_version"]) == ("done", 1)


async def answer(env: TestEnv, feedback: httpx.AsyncClient, customer_id: str, csat: int, comment: str) -> str:
    def invited(events: list[Envelope[Any]]) -> bool:
        return any(isinstance(e.payload, SurveyInvitedV1) and e.subject_id == customer_id for e in events)

    events = await env.events("feedback.surveys.v1", until=invited, timeout=60)
    [invitation] = [e.payload for e in events if isinstance(e.payload, SurveyInvitedV1) and e.subject_id == customer_id]
    token = builders.survey_link(invitation).rsplit("/surveys/", 1)[1]
    r = await feedback.post(f"/v1/surveys/{token}/answers", json={"csat": csat, "comment": comment})
    assert r.status_code == 201, r.text
    return invitation.survey_id


async def completed_trip(env: TestEnv, person: Any) -> None:
    """A flight and a hotel booked at two desks for one journey, both completed."""
    departed = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    parts = {
        "flight-desk": FlightSegmentV1(carrier="LH", flight_number="400", origin="FRA", destination="JFK",
                                       departure_at=departed, arrival_at=departed + timedelta(hours=8)),
        "hotel-desk": HotelSegmentV1(hotel_name="Marquis", city="New York", country="US", check_in=departed.date(),
                                     check_out=departed.date() + timedelta(days=3)),
    }  # fmt: skip
    for source, segment in parts.items():
        booking = builders.booking_created(source_system=source, traveller=person, segments=[segment])
        await env.publish("booking.events.v1", booking)
        await env.publish("booking.events.v1", builders.trip_completed(booking))


async def test_one_survey_per_trip_then_thanks_or_an_apology_and_a_call_back(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    unhappy, happy = (builders.traveller(given_name=g, family_name="Brandt") for g in ("Ida", "Ole"))
    assert unhappy.email is not None
    assert happy.email is not None
    await completed_trip(env, unhappy)
    await completed_trip(env, happy)
    unhappy_id, happy_id = await customer_of(system, unhappy.email), await customer_of(system, happy.email)
    async with client(system["feedback"], create_feedback_app, "http://feedback") as feedback:
        survey_id = await answer(env, feedback, unhappy_id, 1, "Flight delayed, bag lost")
        await answer(env, feedback, happy_id, 5, "All fine")
        apology = await smtp.wait_for(
            lambda m: unhappy.email in str(m["To"]) and "sorry" in str(m["Subject"]), timeout=90
        )
        assert "call you back" in text_of(apology)
        await smtp.wait_for(lambda m: happy.email in str(m["To"]) and "Thank you" in str(m["Subject"]), timeout=90)

        async def called_back() -> dict[str, Any] | None:
            r = await feedback.get("/v1/cases", params={"customer_id": unhappy_id}, headers=AGENT)
            for item in r.json().get("items", []):
                detail = (await feedback.get(f"/v1/cases/{item['case_id']}", headers=AGENT)).json()
                if any("Call-back task" in str(h) for h in detail["history"]):
                    return dict(detail)
            return None

        case = await wait_until(called_back, timeout=90)
    assert case["survey_id"] == survey_id, "the task joined the case the low score opened"
    assert mails(smtp, happy.email, "sorry") == []
    assert mails(smtp, unhappy.email, "Thank you for your feedback") == []

    async with client(system["trips"], create_trips_app, "http://trips") as trips:
        [trip] = await trips_of(trips, unhappy_id)

        async def whole() -> dict[str, Any] | None:
            r = await trips.get(f"/v1/trips/{trip['trip_id']}", headers=AGENT)
            kinds = {e["kind"] for e in r.json()["timeline"]}
            wanted = {"booking.created", "booking.trip_completed", "survey.invited", "survey.answered", "case.opened",
                      "message.sent"}  # fmt: skip
            return r.json() if wanted <= kinds else None

        detail = await wait_until(whole, timeout=90)
    assert detail["status"] == "completed"
    assert {b["source_system"] for b in detail["bookings"]} == {"flight-desk", "hotel-desk"}
    invitations = [m for m in smtp.messages if unhappy.email in str(m["To"]) and "/surveys/" in text_of(m)]
    assert len(invitations) == 1, "one survey for the trip"
