"""Two writers of one new customer's preferences at once, on the real database.

A booking's inferences and an agent's stated preferences for a customer the service has never seen
used to race: each transaction locked nothing (there was no row yet), built a fresh customer in
memory and upserted it, so the later commit erased the earlier one's values. The stated consent of
a traveller whose first booking was still in flight was lost that way (and with it their texts).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.db import apply_migrations, create_pool
from services.preferences.adapters import repository as repo
from services.preferences.service_layer import commands, handlers
from services.preferences.settings import PreferencesSettings
from tests.harness import TestEnv
from tests.integration.test_preferences_service import flight

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def pool(env: TestEnv) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the preferences schema, migrated as the service migrates it."""
    settings = env.settings(PreferencesSettings)
    p = await create_pool(settings)
    await apply_migrations(
        p, schema=settings.db_schema, packages=["services.kit.migrations", "services.preferences.migrations"]
    )
    try:
        yield p
    finally:
        await p.close()


def booking(customer_id: str) -> Envelope[ResolvedBookingV1]:
    payload = ResolvedBookingV1(
        customer_id=customer_id, kind="created", source_event_id=str(uuid.uuid4()), source_system="acme-gds",
        booking_id=f"BK-{uuid.uuid4().hex[:8]}", segments=[flight(seat="3C")], occurred_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


async def stated(conn: asyncpg.Connection, customer_id: str) -> None:
    async with conn.transaction():
        await commands.set_preferences(
            conn, customer_id, {"comms.consent.service": True}, source="stated", actor="dev-agent"
        )


async def test_a_stated_preference_and_a_first_booking_in_flight_both_survive(pool: asyncpg.Pool) -> None:
    cid = f"cus_{uuid.uuid4().hex}"
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await handlers.handle_resolved_bookings(first, [booking(cid)])
            agent = asyncio.create_task(stated(second, cid))  # while the booking's transaction is open
            await asyncio.sleep(0.5)
        await asyncio.wait_for(agent, timeout=30)
        row = await repo.load(first, cid)
    assert row is not None
    assert "comms.consent.service" in row.prefs.explicit, "the agent's stated consent was lost"
    assert row.prefs.observations, "the booking's observations were lost"
    assert row.version == 2


async def test_a_first_booking_does_not_erase_what_an_agent_stated_meanwhile(pool: asyncpg.Pool) -> None:
    cid = f"cus_{uuid.uuid4().hex}"
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await commands.set_preferences(
                first, cid, {"comms.consent.service": True}, source="stated", actor="dev-agent"
            )

            async def book() -> None:
                async with second.transaction():
                    await handlers.handle_resolved_bookings(second, [booking(cid)])

            worker = asyncio.create_task(book())
            await asyncio.sleep(0.5)
        await asyncio.wait_for(worker, timeout=30)
        row = await repo.load(first, cid)
    assert row is not None
    assert "comms.consent.service" in row.prefs.explicit
    assert row.prefs.observations
    assert row.version == 2
