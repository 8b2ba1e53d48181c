"""Two events of one new booking handled at once, on the real database (feedback, notifications, trips).

Profile publishes a booking keyed by the traveller it resolved it to; when a booking is re-resolved
to another traveller (or its traveller merged) between two of its events, the two are on two
partitions and may be handled at the same moment. Each service kept the booking as one row that did
not exist yet: locking it locked nothing, each transaction built the booking from its own event,
and the later commit (here the older event) replaced what the newer one had recorded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.feedback.service_layer.handlers import SurveyConfig
from services.feedback.service_layer.handlers import handle_resolved_booking as feedback_booking
from services.feedback.settings import FeedbackSettings
from services.kit.contracts.bookings import FlightSegmentV1
from services.kit.contracts.customers import BookingKind, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.db import apply_migrations, create_pool
from services.kit.settings import ServiceSettings
from services.notifications.adapters.places import AirportDirectory
from services.notifications.service_layer.planning import booking_handler
from services.notifications.settings import NotificationsSettings
from services.trips.adapters.definitions import load_definitions
from services.trips.service_layer.trips import handle_resolved_booking as trips_booking
from services.trips.settings import TripsSettings
from tests.harness import TestEnv
from tests.integration.waiting import until_blocked

pytestmark = pytest.mark.integration

DEPARTS = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
Handler = Callable[[asyncpg.Connection, Envelope[ResolvedBookingV1]], Awaitable[None]]


async def _pool(settings: ServiceSettings, service: str) -> asyncpg.Pool:
    pool = await create_pool(settings)
    await apply_migrations(
        pool, schema=settings.db_schema, packages=["services.kit.migrations", f"services.{service}.migrations"]
    )
    return pool


@pytest.fixture(scope="module")
async def pools(env: TestEnv) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    made = {
        "feedback": await _pool(env.settings(FeedbackSettings), "feedback"),
        "notifications": await _pool(env.settings(NotificationsSettings), "notifications"),
        "trips": await _pool(env.settings(TripsSettings), "trips"),
    }
    try:
        yield made
    finally:
        for pool in made.values():
            await pool.close()


def event(
    kind: BookingKind, *, customer: str, booking: str, minutes: int, hours_later: int = 0
) -> Envelope[ResolvedBookingV1]:
    departs = DEPARTS + timedelta(hours=hours_later)
    segments = (
        (FlightSegmentV1(carrier="LH", flight_number="400", origin="FRA", destination="JFK", departure_at=departs,
                         arrival_at=departs + timedelta(hours=8)),) if kind != "cancelled" else ()
    )  # fmt: skip
    payload = ResolvedBookingV1(
        customer_id=customer, kind=kind, source_event_id=str(uuid.uuid4()), source_system="race-gds",
        booking_id=booking, segments=segments, occurred_at=DEPARTS - timedelta(days=10, minutes=-minutes),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=customer)


async def at_once(pool: asyncpg.Pool, handle: Handler, newer: Envelope[ResolvedBookingV1],
                  older: Envelope[ResolvedBookingV1]) -> None:  # fmt: skip
    """`newer` handled in a transaction still open while `older` is handled on another connection."""
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await handle(first, newer)

            async def late() -> None:
                async with second.transaction():
                    await handle(second, older)

            worker = asyncio.create_task(late())
            await until_blocked(pool, second, worker)
        await asyncio.wait_for(worker, timeout=30)


async def test_feedback_keeps_a_started_trip_started_when_its_creation_is_handled_at_once(
    pools: dict[str, asyncpg.Pool],
) -> None:
    pool, booking = pools["feedback"], f"BK-{uuid.uuid4().hex[:10]}"
    config = SurveyConfig(public_base_url="http://feedback.test", ttl=timedelta(days=30))

    async def handle(conn: asyncpg.Connection, e: Envelope[ResolvedBookingV1]) -> None:
        await feedback_booking(conn, e, config=config, now=datetime.now(UTC))

    started = event("trip_started", customer=f"cus_{uuid.uuid4().hex}", booking=booking, minutes=2)
    created = event("created", customer=f"cus_{uuid.uuid4().hex}", booking=booking, minutes=1)
    await at_once(pool, handle, started, created)
    status = await pool.fetchval(
        "SELECT status FROM trips WHERE source_system = 'race-gds' AND booking_id = $1", booking
    )
    assert status == "in_progress", "the older creation took the started trip back to booked"


async def test_notifications_keeps_a_cancelled_itinerary_cancelled_when_its_creation_is_handled_at_once(
    pools: dict[str, asyncpg.Pool],
) -> None:
    pool, booking = pools["notifications"], f"BK-{uuid.uuid4().hex[:10]}"
    handle = booking_handler(AirportDirectory())
    cancelled = event("cancelled", customer=f"cus_{uuid.uuid4().hex}", booking=booking, minutes=2)
    created = event("created", customer=f"cus_{uuid.uuid4().hex}", booking=booking, minutes=1)
    await at_once(pool, handle, cancelled, created)
    row = await pool.fetchrow(
        "SELECT status, segments FROM bookings WHERE source_system = 'race-gds' AND booking_id = $1", booking
    )
    assert row is not None
    assert row["status"] == "cancelled", "the older creation made the cancelled itinerary active again"


async def test_trips_groups_a_new_booking_once_when_two_of_its_events_are_handled_at_once(
    pools: dict[str, asyncpg.Pool],
) -> None:
    pool, booking = pools["trips"], f"BK-{uuid.uuid4().hex[:10]}"
    definitions = load_definitions(TripsSettings().journeys_dir)

    async def handle(conn: asyncpg.Connection, e: Envelope[ResolvedBookingV1]) -> None:
        await trips_booking(conn, e, definitions=definitions, now=datetime.now(UTC))

    before, after = f"cus_{uuid.uuid4().hex}", f"cus_{uuid.uuid4().hex}"
    changed = event("changed", customer=after, booking=booking, minutes=2, hours_later=3)
    created = event("created", customer=before, booking=booking, minutes=1)
    await at_once(pool, handle, changed, created)
    row = await pool.fetchrow(
        "SELECT customer_id, trip_id, starts_at FROM bookings WHERE source_system = 'race-gds' AND booking_id = $1",
        booking,
    )
    assert row is not None
    assert (row["customer_id"], row["starts_at"]) == (after, DEPARTS + timedelta(hours=3)), "the change was undone"
    trips = await pool.fetch("SELECT trip_id FROM trips WHERE customer_id = ANY($1::text[])", [before, after])
    assert [t["trip_id"] for t in trips] == [row["trip_id"]], "one booking made two trips"
