"""What the customer view says stays true across all four services, over the real broker,
database and SMTP server (issue: what the customer view says is true).

A traveller opts out of service emails; her trip completes and the survey invitation is
suppressed (her choice), which says nothing about her address: the next booking-change email
still reaches her.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.kit.contracts.bookings import BookingChangedV1, TravellerV1, booking_subject
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


def client_of(runtime: ServiceRuntime, app: Any, name: str) -> httpx.AsyncClient:
    app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")


async def test_an_opt_out_suppresses_the_survey_and_the_next_booking_email_still_arrives(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    unique = uuid.uuid4().hex[:8]
    person = TravellerV1(
        given_name="Ilse", family_name=f"Opt{unique}", email=f"ilse.{unique}@globex.example", phone="+49 30 5550199"
    )
    created = builders.booking_created(traveller=person)
    booking_id = created.payload.booking_id
    await env.publish("booking.events.v1", created)
    await smtp.wait_for(lambda m: booking_id in str(m["Subject"]) and "confirmed" in str(m["Subject"]))

    profile = client_of(system["profile"], create_profile_app(system["profile"], workers=False), "profile")
    notifications = client_of(
        system["notifications"], create_notifications_app(system["notifications"], workers=False), "notifications"
    )
    async with profile, notifications:
        found = await profile.get("/v1/customers", params={"email": person.email}, headers=AGENT)
        [customer] = found.json()["items"]
        customer_id = customer["customer_id"]
        # The traveller unticks "service / email".
        r = await notifications.put(
            f"/v1/customers/{customer_id}/consents",
            json={"purpose": "service", "channel": "email", "granted": False},
            headers=AGENT,
        )
        assert r.status_code == 200, r.text

        # The trip completes: the survey invitation is suppressed (her choice)...
        await env.publish("booking.events.v1", builders.trip_completed(created))
        deliveries = await env.events(
            "notifications.deliveries.v1",
            until=lambda evs: any(
                isinstance(e.payload, DeliveryFailedV1) and e.payload.customer_id == customer_id for e in evs
            ),
            timeout=60,
        )
        suppressed = next(
            e for e in deliveries if isinstance(e.payload, DeliveryFailedV1) and e.payload.customer_id == customer_id
        )
        assert suppressed.payload.reason.startswith("no consent")
        # ...and once profile has read that, her address is still deliverable.
        await wait_until(lambda: handled(system["profile"], suppressed))
        view = (await profile.get(f"/v1/customers/{customer_id}", headers=AGENT)).json()
        assert view["quality"]["email_deliverable"] is True

    # The booking changes: the transactional email reaches her.
    changed = BookingChangedV1(
        **created.payload.model_dump(exclude={"segments"}),
        segments=created.payload.segments[:1],
        change_reason="hotel cancelled by the traveller",
    )
    await env.publish(
        "booking.events.v1",
        Envelope.new(changed, producer="acme-gds", subject_id=booking_subject("acme-gds", booking_id)),
    )
    message = await smtp.wait_for(lambda m: booking_id in str(m["Subject"]) and "changed" in str(m["Subject"]))
    assert person.email in str(message["To"])
    assert not any("/surveys/" in text_of(m) for m in smtp.messages if person.email in str(m["To"]))


async def handled(runtime: ServiceRuntime, event: Envelope[Any]) -> bool:
    """Whether a consumer of the service has handled (and committed) the event."""
    async with runtime.pool.acquire() as conn:
        found = await conn.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", event.event_id)
    return bool(found)


def text_of(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""
