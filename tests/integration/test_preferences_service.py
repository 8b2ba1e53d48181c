"""The preferences service over the real broker and database: bookings in, snapshots out, API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.preferences import PreferenceChangedV1, PreferenceSnapshotV1
from services.kit.runtime import ServiceRuntime
from services.preferences.bootstrap import build_definition
from services.preferences.entrypoints.api import create_preferences_app
from services.preferences.settings import PreferencesSettings
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}


def flight(
    *, seat: str = "3C", hours: float = 1.5, days: int = 10, cabin: str = "economy", **kw: Any
) -> FlightSegmentV1:
    dep = datetime(2026, 3, 1, 8, 0, tzinfo=UTC) + timedelta(days=days)
    values: dict[str, Any] = {
        "carrier": "LH", "flight_number": "100", "origin": "FRA", "destination": "MUC", "departure_at": dep,
        "arrival_at": dep + timedelta(hours=hours), "cabin": cabin, "seat": seat,
    }  # fmt: skip
    values.update(kw)
    return FlightSegmentV1(**values)


def resolved(
    customer_id: str,
    *segments: Any,
    company_id: str | None = None,
    kind: str = "created",
    booking_id: str | None = None,
) -> Envelope[ResolvedBookingV1]:
    payload = ResolvedBookingV1(
        customer_id=customer_id,
        company_id=company_id,
        kind=kind,  # type: ignore[arg-type]  # test data: a literal of BookingKind
        source_event_id=str(uuid.uuid4()),
        source_system="acme-gds",
        booking_id=booking_id or f"BK-{uuid.uuid4().hex[:8]}",
        segments=segments,
        occurred_at=datetime.now(UTC),
    )
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


def new_customer() -> str:
    return f"cus_{uuid.uuid4().hex}"


def latest_snapshot(events: list[Envelope[Any]], customer_id: str) -> PreferenceSnapshotV1 | None:
    snaps = [
        e.payload
        for e in events
        if isinstance(e.payload, PreferenceSnapshotV1) and e.payload.customer_id == customer_id
    ]
    return max(snaps, key=lambda s: s.version) if snaps else None


def prefs_of(snapshot: PreferenceSnapshotV1) -> dict[str, Any]:
    return {p.key: p for p in snapshot.preferences}


@asynccontextmanager
async def api(runtime: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    """The service's HTTP API over a runtime that is already running (workers included)."""
    app = create_preferences_app(runtime, False)
    app.state.runtime = runtime
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://preferences") as client:
        yield client


async def test_bookings_become_inferred_preferences_on_the_snapshot_topic(env: TestEnv) -> None:
    cid = new_customer()
    bookings = [
        resolved(cid, flight(seat="3C", days=1), company_id="com_acme"),
        resolved(cid, flight(seat="14D", days=2)),
        resolved(
            cid,
            flight(seat="2A", hours=9, days=3, cabin="business", meal="VGML", origin="FRA", destination="JFK"),
            HotelSegmentV1(hotel_name="Marriott Marquis", chain_code="MC", city="New York", country="US",
                           check_in=datetime(2026, 3, 4).date(), check_out=datetime(2026, 3, 6).date(), star_rating=4,
                           room_type="Deluxe King non-smoking"),
            CarSegmentV1(vendor="ZE", pickup_location="JFK", dropoff_location="JFK",
                         pickup_at=datetime(2026, 3, 4, 9, tzinfo=UTC), dropoff_at=datetime(2026, 3, 6, 9, tzinfo=UTC),
                         car_class="CDAR"),
            RailSegmentV1(operator="Amtrak", origin="New York", destination="Boston",
                          departure_at=datetime(2026, 3, 5, 9, tzinfo=UTC),
                          arrival_at=datetime(2026, 3, 5, 13, tzinfo=UTC),
                          travel_class="business"),
        ),
    ]  # fmt: skip
    settings = env.settings(PreferencesSettings)
    async with env.running(build_definition(settings)) as runtime:
        for b in bookings:
            await env.publish("profile.bookings.v1", b)

        def complete(evs: list[Envelope[Any]]) -> bool:
            snap = latest_snapshot(evs, cid)
            return snap is not None and "rail.class" in prefs_of(snap)

        snapshots = await env.events("preferences.snapshots.v1", until=complete)
        snap = latest_snapshot(snapshots, cid)
        assert snap is not None
        prefs = prefs_of(snap)
        assert prefs["air.seat.short_haul"].value == "aisle"
        assert prefs["air.seat.short_haul"].source == "inferred"
        assert prefs["air.seat.short_haul"].evidence_count == 2
        assert prefs["air.seat.long_haul"].value == "window"
        assert prefs["air.cabin.long_haul"].value == "business"
        assert prefs["hotel.chains.preferred"].value == ["MC"]
        assert prefs["hotel.star_min"].value == 4
        assert prefs["hotel.bed_type"].value == "king"
        assert prefs["hotel.smoking"].value == "non_smoking"
        assert prefs["car.class"].value == "compact"
        assert prefs["car.transmission"].value == "automatic"
        assert prefs["car.vendors.preferred"].value == ["ZE"]
        assert prefs["rail.class"].value == "business"
        assert "air.meal" not in prefs, "sensitive preferences never go on the shared topic"
        assert snap.company_id == "com_acme"
        assert snap.last_event_at is not None

        changes = await env.events(
            "preferences.changes.v1",
            until=lambda evs: any(
                isinstance(e.payload, PreferenceChangedV1) and e.payload.customer_id == cid for e in evs
            ),
        )
        changed = [e for e in changes if isinstance(e.payload, PreferenceChangedV1) and e.payload.customer_id == cid]
        assert "air.seat.short_haul" in {k for e in changed for k in e.payload.changed_keys}
        assert changed[0].correlation_id in {b.correlation_id for b in bookings}

        async with api(runtime) as client:
            r = await client.get(f"/v1/customers/{cid}/preferences", headers=AGENT)
            assert r.status_code == 200, r.text
            body = r.json()
            by_key = {p["key"]: p for p in body["preferences"]}
            assert by_key["air.seat.short_haul"]["value"] == "aisle"
            assert "air.meal" in body["redacted_keys"]
            assert "air.meal" not in by_key

            r = await client.get(f"/v1/customers/{cid}/preferences?include_sensitive=true", headers=AGENT)
            assert r.status_code == 403
            assert r.headers["content-type"].startswith("application/problem+json")

            r = await client.get(f"/v1/customers/{cid}/preferences?include_sensitive=true", headers=SUPERVISOR)
            assert r.status_code == 200
            assert {p["key"]: p["value"] for p in r.json()["preferences"]}["air.meal"] == "VGML"

            r = await client.get(f"/v1/customers/{new_customer()}/preferences", headers=AGENT)
            assert r.status_code == 404
            assert r.json()["type"] == "/problems/unknown-customer"
            assert (await client.get(f"/v1/customers/{cid}/preferences")).status_code == 401

        conn = await env.admin_connect()
        try:
            audited = await conn.fetchval(
                "SELECT count(*) FROM preferences.audit_log"
                " WHERE subject_id = $1 AND action = 'preferences.sensitive.read'",
                cid,
            )
        finally:
            await conn.close()
        assert audited == 1


async def test_redelivered_booking_changes_nothing(env: TestEnv) -> None:
    cid = new_customer()
    booking = resolved(cid, flight(seat="3C"))
    async with env.running(build_definition(env.settings(PreferencesSettings))):
        await env.publish("profile.bookings.v1", booking)
        await env.publish("profile.bookings.v1", booking)
        marker = resolved(cid, flight(seat="4C", days=20))
        await env.publish("profile.bookings.v1", marker)

        def settled(evs: list[Envelope[Any]]) -> bool:
            snap = latest_snapshot(evs, cid)
            return snap is not None and prefs_of(snap)["air.seat.short_haul"].evidence_count >= 2

        snapshots = await env.events("preferences.snapshots.v1", until=settled)
    snap = latest_snapshot(snapshots, cid)
    assert snap is not None
    assert prefs_of(snap)["air.seat.short_haul"].evidence_count == 2
