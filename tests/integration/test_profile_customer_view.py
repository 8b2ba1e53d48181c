"""What the one customer view says is true, on the real database: itineraries, partial records,
deliverability (issue: what the customer view says is true)."""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from services.kit.contracts.envelope import Envelope
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition, profile_config
from services.profile.entrypoints.api import create_profile_app
from services.profile.service_layer.handlers import handle_booking_events
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}


def surname() -> str:
    """A family name no other test uses (so tests sharing the database never match each other)."""
    return "".join(random.choices(string.ascii_lowercase, k=9)).capitalize()


@pytest.fixture(scope="module")
async def service(env: TestEnv) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
            yield runtime, client


async def one_batch(runtime: ServiceRuntime, events: Sequence[Envelope[Any]]) -> None:
    """Handle events as the booking consumer handles one fetched batch: one call, one transaction."""
    settings = runtime.settings
    assert isinstance(settings, ProfileSettings)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await handle_booking_events(conn, events, config=profile_config(settings))


async def customer_of(runtime: ServiceRuntime, event: Envelope[Any]) -> str:
    async with runtime.pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT customer_id FROM source_records WHERE source_system = $1 AND source_id = $2",
            event.payload.source_system,
            event.payload.source_traveller_id,
        )
    assert isinstance(value, str)
    return value


async def test_a_trip_created_and_completed_in_one_batch_keeps_its_itinerary(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    created = builders.booking_created(traveller=builders.traveller(family_name=surname()))
    await one_batch(runtime, [created, builders.trip_completed(created)])
    view = (await client.get(f"/v1/customers/{await customer_of(runtime, created)}/view", headers=AGENT)).json()
    [booking] = view["bookings"]
    assert booking["status"] == "trip_completed"
    kinds = [s["kind"] for s in booking["summary"]["segments"]]
    assert kinds == ["flight", "hotel"]
    assert booking["summary"]["segments"][0]["destination"] == "JFK"
