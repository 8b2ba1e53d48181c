"""Booking systems that cannot speak Kafka post the same envelope over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from services.kit.contracts.envelope import encode_envelope
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def client(env: TestEnv) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(build_definition(env.settings(ProfileSettings, max_body_bytes=64_000)))
    await runtime.start(workers=False, create_topics=False)
    app = create_profile_app(runtime, workers=False)
    app.state.runtime = runtime
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as c:
            yield c
    finally:
        await runtime.stop()


def _body(event: object) -> dict[str, object]:
    return json.loads(encode_envelope(event))  # type: ignore[arg-type]  # any envelope


async def test_valid_event_is_put_on_the_booking_topic(env: TestEnv, client: httpx.AsyncClient) -> None:
    event = builders.booking_created(source_system="legacy-desk")
    r = await client.post("/v1/booking-events", json=_body(event), headers={"X-API-Key": "dev-booking-system-key"})
    assert r.status_code == 202, r.text
    assert r.json()["event_id"] == str(event.event_id)
    on_topic = await env.events("booking.events.v1", until=lambda evs: any(e.event_id == event.event_id for e in evs))
    mine = next(e for e in on_topic if e.event_id == event.event_id)
    assert mine == event


async def test_invalid_event_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    body = _body(builders.booking_created())
    body["payload"]["segments"][0]["departure_at"] = "tomorrow"  # type: ignore[index]  # nested JSON
    r = await client.post("/v1/booking-events", json=body, headers={"X-API-Key": "dev-booking-system-key"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "departure_at" in r.json()["detail"]


async def test_non_booking_event_is_refused(client: httpx.AsyncClient) -> None:
    from services.kit.contracts.customers import CustomerCreatedV1
    from services.kit.contracts.envelope import Envelope

    other = Envelope.new(
        CustomerCreatedV1(customer_id="c", source_system="s", source_record_id="r"), producer="x", subject_id="c"
    )
    r = await client.post("/v1/booking-events", json=_body(other), headers={"X-API-Key": "dev-booking-system-key"})
    assert r.status_code == 422
    assert "not a booking event" in r.json()["detail"]


async def test_agents_may_not_inject_bookings_and_anonymous_callers_are_401(client: httpx.AsyncClient) -> None:
    body = _body(builders.booking_created())
    assert (
        await client.post("/v1/booking-events", json=body, headers={"X-API-Key": "dev-agent-key"})
    ).status_code == 403
    assert (await client.post("/v1/booking-events", json=body)).status_code == 401


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = _body(builders.booking_created())
    body["padding"] = "x" * 70_000
    r = await client.post("/v1/booking-events", json=body, headers={"X-API-Key": "dev-booking-system-key"})
    assert r.status_code == 413
