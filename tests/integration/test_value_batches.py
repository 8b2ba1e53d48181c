"""The bookings batch handler against the real database: a batch gives what one-by-one handling gives,
and recomputing from the stored ledger gives what the live stream (in batches) gave."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.kit.contracts.bookings import FlightSegmentV1
from services.kit.contracts.customers import BookingKind, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.db import connection
from services.kit.runtime import ServiceRuntime
from services.value.bootstrap import build_definition
from services.value.service_layer.evaluation import ValueConfig, evaluate_customers
from services.value.service_layer.handlers import (
    handle_resolved_booking,
    handle_resolved_bookings,
    recompute_all,
    review_due,
)
from services.value.settings import ValueSettings
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def runtime(env: TestEnv) -> AsyncIterator[ServiceRuntime]:
    # The review job is left to the tests (they evaluate as of a fixed moment, the job as of now).
    settings = env.settings(ValueSettings, gold_trips=3, silver_trips=2, review_interval_seconds=3600)
    async with env.running(build_definition(settings)) as rt:
        yield rt


def _config(rt: ServiceRuntime) -> ValueConfig:
    config = rt.definition.extras["config"]
    assert isinstance(config, ValueConfig)
    return config


def booking(
    kind: BookingKind,
    *,
    customer: str,
    booking: str,
    company: str | None,
    days_ago: int,
    at: int,
    price: str = "900",
    currency: str = "EUR",
) -> Envelope[ResolvedBookingV1]:
    departure = NOW - timedelta(days=days_ago)
    live = kind != "cancelled"
    segments = (
        (FlightSegmentV1(carrier="LH", flight_number="400", origin="FRA", destination="JFK", departure_at=departure,
                         arrival_at=departure + timedelta(hours=8)),) if live else ()
    )  # fmt: skip
    payload = ResolvedBookingV1(
        customer_id=customer, company_id=company, kind=kind, source_event_id=str(uuid.uuid4()), source_system="gds",
        booking_id=booking, segments=segments, total_price=Decimal(price) if live else None,
        currency=currency if live else None, occurred_at=NOW - timedelta(days=400) + timedelta(minutes=at),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=customer)


def scenario(p: str) -> list[Envelope[ResolvedBookingV1]]:
    """Ids prefixed with `p`: three travellers, a company change, a cancellation, a booking re-resolved
    to another traveller, and one booked under an id the view redirects (merged)."""
    a, b, c, merged = f"{p}a", f"{p}b", f"{p}c", f"{p}old"
    return [
        booking("created", customer=a, booking=f"{p}1", company=f"{p}acme", days_ago=30, at=1),
        booking("created", customer=a, booking=f"{p}2", company=f"{p}acme", days_ago=20, at=2),
        booking("created", customer=b, booking=f"{p}3", company=f"{p}acme", days_ago=10, at=3),
        booking("created", customer=a, booking=f"{p}4", company=f"{p}globex", days_ago=5, at=4),  # gold
        booking("cancelled", customer=a, booking=f"{p}2", company=None, days_ago=0, at=5),  # back to silver
        booking("changed", customer=c, booking=f"{p}3", company=f"{p}acme", days_ago=9, at=6),  # b's booking to c
        booking("created", customer=merged, booking=f"{p}5", company=None, days_ago=3, at=7),  # lands on c
        booking("created", customer=c, booking=f"{p}6", company=None, days_ago=2, at=8),
    ]


async def _redirect(conn: asyncpg.Connection, absorbed: str, survivor: str) -> None:
    await conn.execute(
        "INSERT INTO customer_view (kind, customer_id, version, snapshot, redirect_to, occurred_at)"
        " VALUES ('customer', $1, 2, NULL, $2, $3), ('customer', $2, 1, $4, NULL, $3)",
        absorbed, survivor, NOW, {"customer_id": survivor, "company_id": None},
    )  # fmt: skip


async def _state(conn: asyncpg.Connection, p: str) -> dict[str, Any]:
    """What the ledger, the values and the history hold for ids prefixed `p`, with the prefix taken out."""

    def plain(value: Any) -> Any:
        return str(value).replace(p, "") if value is not None else None

    values = await conn.fetch(
        "SELECT customer_id AS id, snapshot FROM customer_value WHERE customer_id LIKE $1 || '%' ORDER BY 1", p
    )
    history = await conn.fetch(
        "SELECT subject_id, from_tier, to_tier, reason FROM tier_history WHERE subject_id LIKE $1 || '%' ORDER BY id",
        p,
    )
    ledger = await conn.fetch(
        "SELECT booking_id, customer_id, resolved_customer_id, company_id, status, amounts FROM bookings"
        " WHERE booking_id LIKE $1 || '%' ORDER BY 1",
        p,
    )
    reviews = await conn.fetch("SELECT subject, subject_id, due_at FROM reviews WHERE subject_id LIKE $1 || '%'", p)

    def snap(s: dict[str, Any]) -> dict[str, Any]:
        return {k: plain(v) if isinstance(v, str) else v for k, v in s.items() if k not in ("version", "updated_at")}

    return {
        "values": {plain(r["id"]): snap(r["snapshot"]) for r in values},
        "history": [tuple(plain(v) for v in r.values()) for r in history],
        "ledger": [tuple(plain(v) for v in r.values()) for r in ledger],
        "reviews": sorted((r["subject"], plain(r["subject_id"])) for r in reviews),
    }


async def test_a_batch_gives_what_one_by_one_handling_gives(runtime: ServiceRuntime) -> None:
    config = _config(runtime)
    async with connection(runtime.pool, transaction=True) as conn:
        for p in ("one_", "all_"):
            await _redirect(conn, f"{p}old", f"{p}c")
        for event in scenario("one_"):
            await handle_resolved_booking(conn, event, config=config, now=NOW)
        await handle_resolved_bookings(conn, scenario("all_"), config=config, now=NOW)
        one, batch = await _state(conn, "one_"), await _state(conn, "all_")
    assert batch == one
    assert [(h[1], h[2]) for h in batch["history"] if h[0] == "a"] == [
        ("regular", "silver"),
        ("silver", "gold"),
        ("gold", "silver"),
    ]
    assert batch["values"]["c"]["rfm"]["frequency"] == 3  # the re-resolved, the merged and its own
    assert batch["values"]["b"]["rfm"]["frequency"] == 0  # their only booking went to c


async def test_recomputing_from_the_ledger_gives_what_the_stream_in_batches_gave(runtime: ServiceRuntime) -> None:
    config = _config(runtime)
    rng = random.Random(20261102)
    p = "prop_"
    events: list[Envelope[ResolvedBookingV1]] = []
    for n in range(120):
        known = [e.payload.booking_id for e in events]
        kind: BookingKind = rng.choice(["created", "created", "changed", "cancelled"]) if known else "created"
        booking_id = f"{p}{n}" if kind == "created" else rng.choice(known)
        events.append(booking(
            kind, customer=f"{p}t{rng.randrange(6)}", booking=booking_id, company=f"{p}co{rng.randrange(2)}",
            days_ago=rng.randrange(0, 420), at=rng.randrange(0, 10_000), price=str(rng.randrange(100, 5000)),
        ))  # fmt: skip
    async with connection(runtime.pool, transaction=True) as conn:
        start = 0
        while start < len(events):  # batches of random sizes, as the broker hands them out
            size = rng.randrange(1, 25)
            await handle_resolved_bookings(conn, events[start : start + size], config=config, now=NOW)
            start += size
        live = await conn.fetch(
            "SELECT customer_id, version FROM customer_value WHERE customer_id LIKE $1 || '%' ORDER BY 1", p
        )
    await recompute_all(runtime.pool, config=config, now=NOW)
    async with connection(runtime.pool) as conn:
        recomputed = await conn.fetch(
            "SELECT customer_id, version FROM customer_value WHERE customer_id LIKE $1 || '%' ORDER BY 1", p
        )
    assert len(live) == 6
    assert recomputed == live  # nothing differed, so nothing was published again


async def _company_review(conn: asyncpg.Connection, company: str) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        "SELECT due_at FROM reviews WHERE subject = 'company' AND subject_id = $1", company
    )
    return due


async def test_a_company_is_evaluated_once_per_delay_and_a_large_one_waits_longer(runtime: ServiceRuntime) -> None:
    config = dataclasses.replace(_config(runtime), company_delay_bookings=10)
    delay = config.company_delay
    company = "big_co"
    async with connection(runtime.pool, transaction=True) as conn:
        for n in range(3):  # three batches of bookings: no company evaluation on the booking path
            batch = [
                booking("created", customer=f"big_t{n}_{i}", booking=f"big_{n}_{i}", company=company, days_ago=10,
                        at=n * 10 + i)
                for i in range(10)
            ]  # fmt: skip
            await handle_resolved_bookings(conn, batch, config=config, now=NOW + timedelta(seconds=n * 0.1))
        assert await conn.fetchval("SELECT count(*) FROM company_value WHERE company_id = $1", company) == 0
        assert await _company_review(conn, company) == NOW + delay  # the first booking's, kept
    assert (
        await review_due(runtime.pool, config=config, now=NOW + delay - timedelta(microseconds=1), batch_size=100) == 0
    )
    assert await review_due(runtime.pool, config=config, now=NOW + delay, batch_size=100) >= 1
    async with connection(runtime.pool, transaction=True) as conn:
        row = await conn.fetchrow("SELECT version, bookings FROM company_value WHERE company_id = $1", company)
        assert row is not None
        assert (row["version"], row["bookings"]) == (1, 30)
        later = NOW + timedelta(seconds=5)
        more = [booking("created", customer="big_t9", booking="big_9", company=company, days_ago=1, at=99)]
        await handle_resolved_bookings(conn, more, config=config, now=later)
        # 30 bookings in its ledger, 10 per delay: it waits three delays, not one
        assert await _company_review(conn, company) == later + 3 * delay


async def test_rates_loaded_by_another_process_reach_the_cached_table_at_the_next_evaluation(
    runtime: ServiceRuntime,
) -> None:
    config = _config(runtime)
    chf = booking("created", customer="fx_t", booking="fx_1", company=None, days_ago=5, at=1, price="1000",
                  currency="CHF")  # fmt: skip
    async with connection(runtime.pool, transaction=True) as conn:
        await handle_resolved_bookings(conn, [chf], config=config, now=NOW)
        snapshot = await conn.fetchval("SELECT snapshot FROM customer_value WHERE customer_id = 'fx_t'")
    assert snapshot["rfm"]["unconverted_currencies"] == ["CHF"]
    async with connection(runtime.pool, transaction=True) as conn:  # not through this process's handlers
        await conn.execute(
            "INSERT INTO fx_rates (currency, valid_from, rate, loaded_by) VALUES ('CHF', '2020-01-01', 1.05, 'sql')"
        )
    async with connection(runtime.pool, transaction=True) as conn:
        await evaluate_customers(conn, ["fx_t"], config=config, now=NOW)
        snapshot = await conn.fetchval("SELECT snapshot FROM customer_value WHERE customer_id = 'fx_t'")
    assert (snapshot["rfm"]["monetary"], snapshot["rfm"]["unconverted_currencies"]) == ("1050.00", [])
