"""One booking through all four services, over the real broker, database and SMTP server.

BookingCreatedV1 → profile resolves the traveller and publishes the customer snapshot →
preferences records what the booking reveals and publishes its snapshot → notifications
emails a confirmation → TripCompletedV1 → feedback creates a survey invitation →
notifications emails it. An agent reads the 360° view (profile + preferences) over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.kit.runtime import ServiceRuntime
from services.preferences.entrypoints.api import create_preferences_app
from services.profile.entrypoints.api import create_profile_app
from tests import builders
from tests.e2e.system import four_services
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def system(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """All four services running on this session's database and topics."""
    async with four_services(env, smtp) as runtimes:
        yield runtimes


async def test_booking_flows_through_all_four_services(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    created = builders.booking_created(traveller=builders.traveller(given_name="Mei", family_name="Chen"))
    booking_id = created.payload.booking_id
    recipient = created.payload.traveller.email
    assert recipient is not None
    await env.publish("booking.events.v1", created)

    # notifications: a confirmation email arrives at the real SMTP server
    confirmation = await smtp.wait_for(lambda m: booking_id in str(m["Subject"]) and recipient in str(m["To"]))
    body = confirmation.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "LH 400" in text or "LH400" in text
    assert "FRA" in text
    assert "JFK" in text

    # profile + preferences: an agent reads the 360° view over HTTP
    app = create_profile_app(system["profile"], workers=False)
    app.state.runtime = system["profile"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
        found = await client.get("/v1/customers", params={"email": recipient}, headers={"X-API-Key": "dev-agent-key"})
        assert found.status_code == 200, found.text
        customer_id = found.json()["items"][0]["customer_id"]

        async def view_with_preferences() -> dict[str, object] | None:
            r = await client.get(f"/v1/customers/{customer_id}/view", headers={"X-API-Key": "dev-agent-key"})
            assert r.status_code == 200, r.text
            body = r.json()
            return body if body["preferences"] else None

        view = await wait_until(view_with_preferences)
        assert view["customer"]["fields"]["display_name"]["value"] == "Mei Chen"
        prefs = {p["key"]: p for p in view["preferences"]["preferences"]}
        assert any(k.startswith("air.cabin") for k in prefs), prefs.keys()
        assert any(k.startswith("hotel.chain") for k in prefs), prefs.keys()

        denied = await client.get(f"/v1/customers/{customer_id}", headers={"X-API-Key": "dev-booking-system-key"})
        assert denied.status_code == 403
        anonymous = await client.get(f"/v1/customers/{customer_id}")
        assert anonymous.status_code == 401

    # feedback + notifications: the trip completes and the survey invitation is emailed
    await env.publish("booking.events.v1", builders.trip_completed(created))
    survey = await smtp.wait_for(lambda m: recipient in str(m["To"]) and "/surveys/" in _text(m))
    assert "/surveys/" in _text(survey)


async def test_the_traveller_confirms_an_inferred_preference_from_the_email(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    # Two trips of one traveller (same email, two booking systems' ids): preferences infers her
    # seat, cabin, airline... from two bookings each, asks to confirm, and notifications emails
    # one question (at most one a week) with its answer link.
    person = builders.traveller(given_name="Ines", family_name="Moreau")
    for _ in range(2):
        await env.publish("booking.events.v1", builders.booking_created(traveller=person))
    assert person.email is not None
    question = await smtp.wait_for(lambda m: person.email in str(m["To"]) and "/confirmations/" in _text(m))
    assert question["Subject"] == "A quick question about your travel preferences"
    link = next(word for word in _text(question).split() if word.startswith("http://preferences/confirmations/"))

    app = create_preferences_app(system["preferences"], workers=False)
    app.state.runtime = system["preferences"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://preferences") as client:
        page = await client.get(link, headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert 'value="yes"' in page.text
        asked = (await client.get(link.replace("/confirmations/", "/v1/confirmations/"))).json()
        assert asked["key"] == "air.seat.long_haul"  # of the questions, the one worth asking first
        answered = await client.post(link, data={"answer": "yes"}, headers={"Accept": "text/html"})
        assert answered.status_code == 303

        customer_id = await _customer_id_of(system, person.email)
        r = await client.get(f"/v1/customers/{customer_id}/preferences", headers={"X-API-Key": "dev-agent-key"})
        assert r.status_code == 200, r.text
        confirmed = {p["key"]: p for p in r.json()["preferences"]}[asked["key"]]
        assert (confirmed["value"], confirmed["source"]) == (asked["value"], "stated")
    [sent] = [m for m in smtp.messages if person.email in str(m["To"]) and "/confirmations/" in _text(m)]
    assert sent is question


async def _customer_id_of(system: dict[str, ServiceRuntime], email: str) -> str:
    app = create_profile_app(system["profile"], workers=False)
    app.state.runtime = system["profile"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
        found = await client.get("/v1/customers", params={"email": email}, headers={"X-API-Key": "dev-agent-key"})
        assert found.status_code == 200, found.text
        customer_id: str = found.json()["items"][0]["customer_id"]
        return customer_id


async def test_malformed_event_is_dead_lettered_and_the_next_booking_still_flows(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    good = builders.booking_created()
    await env.publish("booking.events.v1", b'{"event_type": "booking.created"}', key=good.subject_id)
    schema_invalid = builders.booking_created()
    raw = schema_invalid.model_dump(mode="json")
    raw["payload"]["segments"][0]["origin"] = "not-an-airport"
    import json

    await env.publish("booking.events.v1", json.dumps(raw).encode(), key=good.subject_id)
    await env.publish("booking.events.v1", good)
    await smtp.wait_for(lambda m: good.payload.booking_id in str(m["Subject"]))
    letters = await env.read_topic("profile.deadletters.v1", until=lambda rs: len(rs) >= 2)
    reasons = [h["dlq.error"].decode() for _, _, h in letters]
    assert any("invalid envelope" in r for r in reasons)
    assert any("origin" in r for r in reasons)


def _text(message: object) -> str:
    from email.message import EmailMessage

    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
