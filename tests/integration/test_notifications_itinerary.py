"""Notifications and the itinerary: where the traveller is, what a change changed, held messages, unknown ids.

On the real broker, database and an SMTP server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from services.kit.contracts.bookings import FlightSegmentV1
from services.kit.contracts.customers import BookingKind, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.notifications import DeliveryHeldV1
from services.kit.runtime import ServiceRuntime
from services.notifications.adapters import consents as consents_repo
from services.notifications.adapters import repository as repo
from services.notifications.bootstrap import build_definition
from services.notifications.entrypoints.api import create_notifications_app
from services.notifications.settings import NotificationsSettings
from tests.harness import SmtpServer, TestEnv, wait_until
from tests.integration.test_notifications_service import (
    BOOKINGS,
    CUSTOMERS,
    DELIVERIES,
    SURVEYS,
    customer_id,
    delivery_rows,
    link_of,
    snapshot,
    survey,
    text_of,
)

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
# Airports around the world: whatever the time, it is night at some and day at others.
AIRPORTS = {"FRA": "Europe/Berlin", "JFK": "America/New_York", "LAX": "America/Los_Angeles", "NRT": "Asia/Tokyo",
            "SYD": "Australia/Sydney", "DXB": "Asia/Dubai", "DEL": "Asia/Kolkata", "GRU": "America/Sao_Paulo",
            "HNL": "Pacific/Honolulu", "SIN": "Asia/Singapore"}  # fmt: skip


def _hour_at(code: str, now: datetime) -> float:
    local = now.astimezone(ZoneInfo(AIRPORTS[code]))
    return local.hour + local.minute / 60


def night_and_day(now: datetime) -> tuple[str, str]:
    """An airport where it is deep in the night (01:00-05:00) and one where it is day (09:00-18:00)."""
    night = next(code for code in AIRPORTS if 1 <= _hour_at(code, now) < 5)
    day = next(code for code in AIRPORTS if 9 <= _hour_at(code, now) < 18)
    return night, day


def flight_booking(
    cid: str, *, origin: str, destination: str, departs: datetime, booking_id: str | None = None,
    kind: BookingKind = "created", reason: str | None = None, number: str = "400",
) -> Envelope[ResolvedBookingV1]:  # fmt: skip
    payload = ResolvedBookingV1(
        customer_id=cid,
        kind=kind,
        source_event_id=str(uuid.uuid4()),
        source_system="acme-gds",
        booking_id=booking_id or f"ACME-{uuid.uuid4().hex[:6].upper()}",
        segments=(
            FlightSegmentV1(
                carrier="LH",
                flight_number=number,
                origin=origin,
                destination=destination,
                departure_at=departs,
                arrival_at=departs + timedelta(hours=2),
            ),
        ),
        occurred_at=datetime.now(UTC),
        reason=reason,
    )
    return Envelope.new(payload, producer="profile", subject_id=cid)


@asynccontextmanager
async def notifications(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    # Each message on its own: these tests are about quiet hours, not digests.
    s = env.settings(NotificationsSettings, smtp_port=smtp.port, dispatch_poll_seconds=0.2, digest_window_seconds=0)
    async with env.running(build_definition(s)) as runtime:
        app = create_notifications_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
            yield runtime, client


async def _held(runtime: ServiceRuntime, cid: str) -> list[asyncpg.Record]:
    return [r for r in await delivery_rows(runtime, cid) if r["hold_reason"] == "quiet_hours"]


async def test_a_change_email_shows_the_reason_and_what_changed(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    departs = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
    async with notifications(env, smtp):
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(BOOKINGS, flight_booking(cid, origin="FRA", destination="JFK", departs=departs,
                                                   booking_id="ACME-CHG2"))  # fmt: skip
        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "confirmed" in str(m["Subject"]))
        changed = flight_booking(
            cid, origin="FRA", destination="JFK", departs=departs + timedelta(hours=4), booking_id="ACME-CHG2",
            kind="changed", reason="Flight LH 400 was cancelled by the airline", number="402",
        )  # fmt: skip
        await env.publish(BOOKINGS, changed)
        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "changed" in str(m["Subject"]))
        text = text_of(msg)
        assert "Reason: Flight LH 400 was cancelled by the airline" in text
        assert "  - Before: Flight LH 400: FRA → JFK, departs Tue 1 Dec 2026, 10:15 local time in Frankfurt" in text
        assert "    Now:    Flight LH 402: FRA → JFK, departs Tue 1 Dec 2026, 14:15 local time in Frankfurt" in text

        cancelled = flight_booking(cid, origin="FRA", destination="JFK", departs=departs, booking_id="ACME-CHG2",
                                   kind="cancelled", reason="Trip no longer needed")  # fmt: skip
        payload = cancelled.payload.model_copy(update={"segments": ()})  # cancellations carry no segments
        await env.publish(BOOKINGS, Envelope.new(payload, producer="profile", subject_id=cid))
        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "cancelled" in str(m["Subject"]))
        assert "Reason: Trip no longer needed" in text_of(msg)
        assert "Flight LH 402: FRA → JFK" in text_of(msg), "the cancelled parts, as last booked"


async def test_quiet_hours_apply_where_the_trip_puts_the_traveller(env: TestEnv, smtp: SmtpServer) -> None:
    """At home it is day; the traveller landed an hour ago where it is night: the survey waits."""
    cid = customer_id()
    now = datetime.now(UTC)
    night, day = night_and_day(now)
    async with notifications(env, smtp) as (runtime, client):
        await env.publish(CUSTOMERS, snapshot(cid, time_zone=AIRPORTS[day]))
        await env.publish(
            BOOKINGS, flight_booking(cid, origin=day, destination=night, departs=now - timedelta(hours=3))
        )
        invitation = survey(cid)
        await env.publish(SURVEYS, invitation)

        [row] = await wait_until(lambda: _held(runtime, cid))
        assert row["status"] == "pending"
        local_end = row["next_attempt_at"].astimezone(ZoneInfo(AIRPORTS[night]))
        assert (local_end.hour, local_end.minute) == (7, 0), "the window ends at 07:00 where the traveller is"
        events = await env.events(
            DELIVERIES, until=lambda es: any(getattr(e.payload, "delivery_id", "") == row["delivery_id"] for e in es)
        )
        [held] = [e.payload for e in events if getattr(e.payload, "delivery_id", "") == row["delivery_id"]]
        assert isinstance(held, DeliveryHeldV1)
        assert held.time_zone == AIRPORTS[night]
        assert held.cause_event_id == str(invitation.event_id)

        # Switching quiet hours off decides the held message again: it goes now.
        r = await client.put(f"/v1/customers/{cid}/quiet-hours", json={"enabled": False, "start": "22:00",
                                                                      "end": "07:00"}, headers=AGENT)  # fmt: skip
        assert r.status_code == 200, r.text
        msg = await smtp.wait_for(lambda m: m["X-Itinera-Delivery-Id"] == row["delivery_id"])
        assert link_of(invitation) in text_of(msg)


async def test_an_agent_sends_a_held_message_now(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    now = datetime.now(UTC)
    async with notifications(env, smtp) as (runtime, client):
        async with repo.connect(runtime.pool) as conn:
            start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time()
            await consents_repo.upsert_quiet_hours(
                conn, customer_id=cid, enabled=True, start=start, end=end, updated_by="t"
            )
        await env.publish(CUSTOMERS, snapshot(cid, time_zone="UTC"))
        await env.publish(SURVEYS, survey(cid))
        [row] = await wait_until(lambda: _held(runtime, cid))

        r = await client.post(f"/v1/deliveries/{row['delivery_id']}/send-now",
                              headers={"X-API-Key": "dev-booking-system-key"})  # fmt: skip
        assert r.status_code == 403
        r = await client.post(f"/v1/deliveries/{row['delivery_id']}/send-now", headers=AGENT)
        assert r.status_code == 200, r.text
        assert r.json()["send_now_by"] == "dev-agent"
        await smtp.wait_for(lambda m: m["X-Itinera-Delivery-Id"] == row["delivery_id"])
        async with repo.connect(runtime.pool) as conn:
            audited = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'delivery.send_now' AND subject_id = $1", cid
            )
        assert audited == 1

        async def sent() -> bool:
            return [r["status"] for r in await delivery_rows(runtime, cid)] == ["sent"]

        await wait_until(sent)
        r = await client.post(f"/v1/deliveries/{row['delivery_id']}/send-now", headers=AGENT)
        assert r.status_code == 409
        assert r.json()["type"] == "/problems/delivery-not-held"
        r = await client.post("/v1/deliveries/dlv_nope/send-now", headers=AGENT)
        assert r.status_code == 404


async def test_unknown_customers_are_404_known_ones_are_not(env: TestEnv, smtp: SmtpServer) -> None:
    stranger, viewed, booked = customer_id(), customer_id(), customer_id()
    grant = {"purpose": "marketing", "channel": "email", "granted": True}
    quiet = {"start": "23:00", "end": "06:00"}
    async with notifications(env, smtp) as (runtime, client):
        for method, path, body in (
            ("GET", "consents", None), ("PUT", "consents", grant), ("GET", "quiet-hours", None),
            ("PUT", "quiet-hours", quiet),
        ):  # fmt: skip
            r = await client.request(method, f"/v1/customers/{stranger}/{path}", json=body, headers=AGENT)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["type"] == "/problems/unknown-customer"
            assert "try again shortly" in r.json()["detail"]
        async with repo.connect(runtime.pool) as conn:
            assert not await conn.fetchval("SELECT count(*) FROM consents WHERE customer_id = $1", stranger)

        # Known from the customer view, or from a booking whose snapshot is still on its way.
        await env.publish(CUSTOMERS, snapshot(viewed))
        await env.publish(BOOKINGS, flight_booking(booked, origin="FRA", destination="JFK",
                                                   departs=datetime.now(UTC) + timedelta(days=5)))  # fmt: skip

        async def answered(cid: str) -> Any:
            r = await client.get(f"/v1/customers/{cid}/consents", headers=AGENT)
            return r.json() if r.status_code == 200 else None

        assert (await wait_until(lambda: answered(viewed)))["customer_id"] == viewed
        assert (await wait_until(lambda: answered(booked)))["customer_id"] == booked
        r = await client.put(f"/v1/customers/{booked}/quiet-hours", json=quiet, headers=AGENT)
        assert r.status_code == 200
        assert (r.json()["start"], r.json()["end"]) == ("23:00:00", "06:00:00")
        assert time(23) == time.fromisoformat(r.json()["start"])
