"""The preferences service over the real broker and database: bookings in, snapshots out, API."""

from __future__ import annotations

import json
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
from services.kit.contracts.preferences import (
    PreferenceChangedV1,
    PreferenceConfirmationRequestedV1,
    PreferenceSnapshotV1,
)
from services.kit.dates import long_date
from services.kit.runtime import ServiceRuntime
from services.preferences.bootstrap import build_definition
from services.preferences.entrypoints.api import create_preferences_app
from services.preferences.service_layer import commands, handlers, publishing
from services.preferences.settings import PreferencesSettings
from tests import builders
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
            assert by_key["air.meal"]["value"] == {"redacted": "special-category"}  # the kit's one shape
            assert "VGML" not in r.text

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


async def test_agent_edits_policy_conflicts_confirmations_and_audit(env: TestEnv) -> None:
    cid, company = new_customer(), f"com_{uuid.uuid4().hex[:8]}"
    async with env.running(build_definition(env.settings(PreferencesSettings, policy_refresh_interval=0.2))) as runtime:
        # Three aisle seats and one window seat: a low-confidence inference worth asking about.
        for day, seat in enumerate(["3C", "3D", "4C", "5A"]):
            await env.publish("profile.bookings.v1", resolved(cid, flight(seat=seat, days=day), company_id=company))
        changes = await env.events(
            "preferences.changes.v1",
            until=lambda evs: any(
                isinstance(e.payload, PreferenceConfirmationRequestedV1)
                and e.payload.customer_id == cid
                and e.payload.key == "air.seat.short_haul"
                for e in evs
            ),
        )
        ask = next(
            e.payload
            for e in changes
            if isinstance(e.payload, PreferenceConfirmationRequestedV1)
            and e.payload.customer_id == cid
            and e.payload.key == "air.seat.short_haul"
        )
        assert ask.value == "aisle"
        assert "aisle" in ask.question

        async with api(runtime) as client:
            r = await client.put(
                f"/v1/customers/{cid}/preferences",
                headers=AGENT,
                json={"values": {"air.airlines.preferred": ["ZZ"], "hotel.star_min": 9}},
            )
            assert r.status_code == 422
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "unknown airline code 'ZZ'" in r.json()["detail"]

            r = await client.put(
                f"/v1/customers/{cid}/preferences", headers=AGENT, json={"values": {"needs.dietary": ["vegan"]}}
            )
            assert r.status_code == 403

            r = await client.put(
                f"/v1/customers/{cid}/preferences",
                headers=AGENT,
                json={"source": "stated", "values": {"air.cabin.medium_haul": "business", "comms.language": "de"}},
            )
            assert r.status_code == 200, r.text
            by_key = {p["key"]: p for p in r.json()["preferences"]}
            assert (by_key["air.cabin.medium_haul"]["value"], by_key["air.cabin.medium_haul"]["source"]) == (
                "business",
                "stated",
            )

            r = await client.put(
                f"/v1/companies/{company}/policy",
                headers=AGENT,
                json={"cabin_rules": [{"min_hours": 0, "max_cabin": "economy"}]},
            )
            assert r.status_code == 403
            r = await client.put(
                f"/v1/companies/{company}/policy", headers=ADMIN, json={"hotel_max_star": 9, "blocked_airlines": ["ZZ"]}
            )
            assert r.status_code == 422
            assert {e["field"] for e in r.json()["errors"]} >= {"hotel_max_star", "blocked_airlines"}
            r = await client.put(
                f"/v1/companies/{company}/policy",
                headers=ADMIN,
                json={
                    "cabin_rules": [
                        {"min_hours": 0, "max_cabin": "economy"},
                        {"min_hours": 6, "max_cabin": "business"},
                    ],
                    "advance_booking_days": 14,
                },
            )
            assert r.status_code == 200, r.text
            assert r.json()["version"] == 1

            r = await client.get(f"/v1/customers/{cid}/preferences/effective", headers=AGENT)
            assert r.status_code == 200
            body = r.json()
            effective = {p["key"]: p for p in body["preferences"]}
            assert effective["air.cabin.medium_haul"]["value"] == "economy"
            assert effective["air.cabin.medium_haul"]["source"] == "policy"
            assert effective["policy.advance_booking_days"]["value"] == 14
            assert [c["message"] for c in body["conflicts"]] == [
                "prefers business on medium-haul flights; policy allows economy under 6 h"
            ]

            # The policy job re-resolves the traveller and publishes the conflict on the snapshot topic.
            def with_conflict(evs: list[Envelope[Any]]) -> bool:
                snap = latest_snapshot(evs, cid)
                return snap is not None and snap.policy_version == 1 and bool(snap.conflicts)

            snap = latest_snapshot(await env.events("preferences.snapshots.v1", until=with_conflict), cid)
            assert snap is not None
            assert snap.conflicts[0].key == "air.cabin.medium_haul"

            r = await client.get(f"/v1/customers/{cid}/preferences/explain?key=air.seat.short_haul", headers=AGENT)
            assert r.status_code == 200
            explained = r.json()["explanations"][0]
            assert (explained["inferred_value"], explained["evidence_count"], explained["observed_count"]) == (
                "aisle",
                3,
                4,
            )
            assert len(explained["evidence"]) == 4
            assert sum(e["supports"] for e in explained["evidence"]) == 3

            r = await client.post(
                f"/v1/customers/{cid}/preferences/confirmations/{ask.request_id}",
                headers=AGENT,
                json={"accepted": True},
            )
            assert r.status_code == 200, r.text
            confirmed = {p["key"]: p for p in r.json()["preferences"]}["air.seat.short_haul"]
            assert (confirmed["value"], confirmed["source"]) == ("aisle", "stated")
            r = await client.post(
                f"/v1/customers/{cid}/preferences/confirmations/{ask.request_id}",
                headers=AGENT,
                json={"accepted": True},
            )
            assert r.status_code == 409

            r = await client.delete(f"/v1/customers/{cid}/preferences/comms.language", headers=AGENT)
            assert r.status_code == 204
            r = await client.delete(f"/v1/customers/{cid}/preferences/comms.language", headers=AGENT)
            assert r.status_code == 404
            specs = {s["key"]: s for s in (await client.get("/v1/preferences/catalogue", headers=AGENT)).json()}
            assert (specs["air.meal"]["code_table"], specs["hotel.chains.preferred"]["code_table"]) == (
                "meals",
                "hotel_chains",
            )
            names = (await client.get("/v1/preferences/codes", headers=AGENT)).json()
            assert (names["meals"]["AVML"], names["car_vendors"]["ZE"], names["hotel_chains"]["MC"]) == (
                "Asian vegetarian",
                "Hertz",
                "Marriott Hotels",
            )
            assert names["airlines"]["LH"] == "Lufthansa"

    conn = await env.admin_connect()
    try:
        actions = {
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM preferences.audit_log WHERE subject_id = $1 OR detail->>'company_id' = $2",
                cid,
                company,
            )
        }
    finally:
        await conn.close()
    assert {"preferences.write", "policy.write", "preferences.confirmation", "preferences.clear"} <= actions


async def test_an_inference_is_confirmed_or_rejected_without_a_pending_question(env: TestEnv) -> None:
    cid, other = new_customer(), new_customer()
    async with env.running(build_definition(env.settings(PreferencesSettings))) as runtime:
        # Aisle three times out of four (asked about); economy, LH and a vegetarian meal every time (not asked).
        for day, seat in enumerate(["3C", "3D", "4C", "5A"]):
            await env.publish("profile.bookings.v1", resolved(cid, flight(seat=seat, days=day, meal="VGML")))
        await env.publish("profile.bookings.v1", resolved(other, flight(seat="2A", hours=8, days=30)))
        changes = await env.events(
            "preferences.changes.v1",
            until=lambda evs: any(
                isinstance(e.payload, PreferenceConfirmationRequestedV1) and e.payload.customer_id == cid for e in evs
            ),
        )
        ask = next(
            e.payload
            for e in changes
            if isinstance(e.payload, PreferenceConfirmationRequestedV1) and e.payload.customer_id == cid
        )
        assert (ask.key, ask.value) == ("air.seat.short_haul", "aisle")
        await env.events("preferences.snapshots.v1", until=lambda evs: latest_snapshot(evs, other) is not None)

        async with api(runtime) as client:
            base = f"/v1/customers/{cid}/preferences"
            r = await client.post(f"/v1/customers/{new_customer()}/preferences/air.seat.short_haul/confirm",
                                  headers=AGENT, json={"accepted": True})  # fmt: skip
            assert r.status_code == 404
            assert r.json()["type"] == "/problems/unknown-customer"
            r = await client.post(f"{base}/air.seat.long_haul/confirm", headers=AGENT, json={"accepted": True})
            assert r.status_code == 409
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"] == "/problems/nothing-inferred"
            r = await client.post(f"{base}/air.wings/confirm", headers=AGENT, json={"accepted": True})
            assert r.status_code == 422
            r = await client.post(
                f"{base}/air.seat.long_haul/confirm", headers=AGENT, json={"accepted": True, "value": "roof"}
            )
            assert r.status_code == 422
            assert r.json()["errors"][0]["field"] == "air.seat.long_haul"
            r = await client.post(f"{base}/air.meal/confirm", headers=AGENT, json={"accepted": True})
            assert r.status_code == 403
            r = await client.post(f"{base}/air.seat.short_haul/confirm", json={"accepted": True})
            assert r.status_code == 401

            # Rejected: no longer used, and the question the service sent about it is answered.
            r = await client.post(f"{base}/air.seat.short_haul/confirm", headers=AGENT, json={"accepted": False})
            assert r.status_code == 200, r.text
            assert "air.seat.short_haul" not in {p["key"] for p in r.json()["preferences"]}
            asked = (await client.get(f"{base}/confirmations", headers=AGENT)).json()
            assert [(c["request_id"], c["status"]) for c in asked] == [(ask.request_id, "declined")]
            r = await client.get(f"{base}/explain?key=air.seat.short_haul", headers=AGENT)
            assert r.json()["explanations"][0]["declined"] == ["aisle"]

            # Accepted: the inferred value becomes explicit, agent-set unless the traveller said so.
            r = await client.post(f"{base}/air.cabin.short_haul/confirm", headers=AGENT, json={"accepted": True})
            assert r.status_code == 200, r.text
            cabin = {p["key"]: p for p in r.json()["preferences"]}["air.cabin.short_haul"]
            assert (cabin["value"], cabin["source"]) == ("economy", "agent")
            r = await client.post(
                f"{base}/air.airlines.preferred/confirm",
                headers=AGENT,
                json={"accepted": True, "value": ["lh"], "source": "stated"},
            )
            assert r.status_code == 200, r.text
            airlines = {p["key"]: p for p in r.json()["preferences"]}["air.airlines.preferred"]
            assert (airlines["value"], airlines["source"]) == (["LH"], "stated")
            # A sensitive key: supervisors only, and its value stays out of the audit log.
            r = await client.post(f"{base}/air.meal/confirm", headers=SUPERVISOR, json={"accepted": True})
            assert r.status_code == 200, r.text
            meal = {p["key"]: p for p in r.json()["preferences"]}["air.meal"]
            assert (meal["value"], meal["source"], meal["sensitive"]) == ("VGML", "agent", True)

            def confirmed(evs: list[Envelope[Any]]) -> bool:
                snap = latest_snapshot(evs, cid)
                return (
                    snap is not None
                    and prefs_of(snap).get("air.airlines.preferred") is not None
                    and (prefs_of(snap)["air.airlines.preferred"].source == "stated")
                )

            snap = latest_snapshot(await env.events("preferences.snapshots.v1", until=confirmed), cid)
            assert snap is not None
            published = prefs_of(snap)
            assert published["air.cabin.short_haul"].source == "agent"
            assert "air.seat.short_haul" not in published
            assert "air.meal" not in published

            # Through a merge: the absorbed id's inference is confirmed on the survivor.
            async with runtime.pool.acquire() as conn, conn.transaction():
                await handlers.merge_customers(conn, absorbed_id=other, survivor_id=cid, caused_by=None,
                                               now=datetime.now(UTC))  # fmt: skip
            r = await client.post(
                f"/v1/customers/{other}/preferences/air.seat.long_haul/confirm", headers=AGENT, json={"accepted": True}
            )
            assert r.status_code == 200, r.text
            assert (r.json()["customer_id"], r.json()["requested_id"]) == (cid, other)
            seat = {p["key"]: p for p in r.json()["preferences"]}["air.seat.long_haul"]
            assert (seat["value"], seat["source"]) == ("window", "agent")

    conn = await env.admin_connect()
    try:
        audited = await conn.fetch(
            "SELECT detail FROM preferences.audit_log WHERE subject_id = $1 AND action = 'preferences.confirm'", cid
        )
    finally:
        await conn.close()
    details = [json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"] for r in audited]
    assert len(details) == 5
    assert {d["key"] for d in details if "value" not in d} == {"air.meal"}


async def test_the_traveller_answers_a_question_through_its_link(env: TestEnv) -> None:
    cid = new_customer()
    async with env.running(build_definition(env.settings(PreferencesSettings))) as runtime:
        # Two alike flights: the seat, cabin, airline, stops and departure time are each inferred
        # from two bookings, with confidence low enough to ask about.
        for day, seat in enumerate(["3C", "3D"]):
            await env.publish("profile.bookings.v1", resolved(cid, flight(seat=seat, days=day)))

        def asks(evs: list[Envelope[Any]]) -> list[PreferenceConfirmationRequestedV1]:
            return [
                e.payload
                for e in evs
                if isinstance(e.payload, PreferenceConfirmationRequestedV1) and e.payload.customer_id == cid
            ]

        changes = await env.events("preferences.changes.v1", until=lambda evs: len(asks(evs)) >= 5)
        by_key = {a.key: a for a in asks(changes)}
        seat, other, cabin = (
            by_key["air.seat.short_haul"],
            by_key["air.airlines.preferred"],
            by_key["air.cabin.short_haul"],
        )
        seat_token, other_token, cabin_token = (builders.answer_token(q) for q in (seat, other, cabin))
        assert seat.expires_at is not None
        assert timedelta(days=29) < seat.expires_at - datetime.now(UTC) <= timedelta(days=30)
        conn = await env.admin_connect()
        try:  # only the token's digest is stored
            stored = await conn.fetchrow(
                "SELECT * FROM preferences.confirmation_requests WHERE request_id = $1", uuid.UUID(seat.request_id)
            )
        finally:
            await conn.close()
        assert stored["token_hash"] == publishing.token_digest(seat_token)
        assert seat_token.encode() not in json.dumps(dict(stored), default=str).encode()

        html = {"Accept": "text/html"}
        page_url = f"/confirmations/{seat_token}"
        async with api(runtime) as client:
            r = await client.get(page_url, headers=html)
            assert r.status_code == 200
            assert "aisle" in r.text
            assert 'name="answer" value="yes"' in r.text
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["cache-control"] == "no-store"
            assert seat.questions["de"] == "Sitzplatz auf Kurzstreckenflügen: Ist „Gang“ richtig für Sie?"
            # A browser that prefers German gets the page in German.
            r = await client.get(page_url, headers={**html, "Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
            assert (r.status_code, r.headers["content-language"]) == (200, "de")
            assert '<html lang="de">' in r.text
            assert "Sitzplatz auf Kurzstreckenflügen: Ist „Gang“ richtig für Sie?" in r.text
            assert "Ja, das stimmt" in r.text
            assert f"bis zum {long_date(seat.expires_at, 'de')}." in r.text  # the date as the email spells it
            r = await client.get(page_url, headers={**html, "Accept-Language": "fr, de;q=0.5, en;q=0.7"})
            assert (r.headers["content-language"], "is aisle right for you?" in r.text) == ("en", True)

            # No agent key needed: the link is the credential. Yes makes it a stated preference.
            r = await client.post(page_url, data={"answer": "yes"}, headers=html)
            assert r.status_code == 303
            assert r.headers["location"] == page_url
            r = await client.get(page_url, headers=html)
            assert r.status_code == 200
            assert "We have your answer (yes)" in r.text
            r = await client.get(page_url, headers={**html, "Accept-Language": "de"})
            assert "Wir haben Ihre Antwort (ja)" in r.text
            r = await client.get(f"/v1/customers/{cid}/preferences", headers=AGENT)
            by_key = {p["key"]: p for p in r.json()["preferences"]}
            assert (by_key["air.seat.short_haul"]["value"], by_key["air.seat.short_haul"]["source"]) == (
                "aisle",
                "stated",
            )
            # The same button pressed again changes nothing; the JSON twin says it was answered.
            assert (await client.post(page_url, data={"answer": "no"}, headers=html)).status_code == 303
            r = await client.post(f"/v1/confirmations/{seat_token}", json={"accepted": False})
            assert r.status_code == 409
            assert r.headers["content-type"].startswith("application/problem+json")
            r = await client.get(f"/v1/confirmations/{seat_token}")
            assert (r.status_code, r.json()["status"], r.json()["value"]) == (200, "accepted", "aisle")
            assert r.json()["questions"]["de"] == seat.questions["de"]

            # The other question, answered no as JSON by a tool: declined, no longer used.
            r = await client.post(f"/v1/confirmations/{other_token}", json={"accepted": False})
            assert (r.status_code, r.json()["status"]) == (200, "declined")
            r = await client.get(f"/v1/customers/{cid}/preferences/confirmations", headers=AGENT)
            listed = {c["request_id"]: c for c in r.json()}
            assert listed[seat.request_id]["status"] == "accepted"
            assert listed[seat.request_id]["answered_by"] == commands.TRAVELLER_LINK
            assert listed[seat.request_id]["link_expires_at"] is not None
            assert listed[other.request_id]["status"] == "declined"

            # Unknown, malformed and expired links.
            r = await client.get("/confirmations/" + "x" * 32, headers=html)
            assert r.status_code == 404
            assert "text/html" in r.headers["content-type"]
            r = await client.get("/v1/confirmations/not a token")
            assert r.status_code == 404
            assert r.headers["content-type"].startswith("application/problem+json")
            r = await client.post("/confirmations/" + "x" * 32, data={"answer": "maybe"}, headers=html)
            assert r.status_code == 422

        # A question whose link has expired cannot be answered any more.
        conn = await env.admin_connect()
        try:
            await conn.execute(
                "UPDATE preferences.confirmation_requests SET expires_at = now() - interval '1 minute'"
                " WHERE request_id = $1",
                uuid.UUID(cabin.request_id),
            )
        finally:
            await conn.close()
        async with api(runtime) as client:
            r = await client.get(f"/confirmations/{cabin_token}", headers=html)
            assert r.status_code == 410
            assert "expired" in r.text
            r = await client.get(f"/confirmations/{cabin_token}", headers={**html, "Accept-Language": "de"})
            assert "Dieser Link ist abgelaufen." in r.text
            r = await client.post(f"/v1/confirmations/{cabin_token}", json={"accepted": True})
            assert r.status_code == 410
            assert r.json()["type"].endswith("/problems/question-closed")

        conn = await env.admin_connect()
        try:  # the traveller's answers are audited
            rows = await conn.fetch(
                "SELECT principal, role, detail FROM preferences.audit_log"
                " WHERE subject_id = $1 AND action = 'preferences.confirmation'",
                cid,
            )
        finally:
            await conn.close()
        assert sorted(json.loads(r["detail"])["accepted"] for r in rows) == [False, True]
        assert {r["role"] for r in rows} == {"traveller"}
