"""The value service on the real broker and database: bookings to tiers, snapshots, the view, the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.kit.contracts.bookings import FlightSegmentV1
from services.kit.contracts.customers import BookingKind, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.value import CustomerValueSnapshotV1, TierChangedV1
from services.kit.db import connection
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.settings import ServiceSettings
from services.kit.view import customer_view_consumer, lookup, lookup_company
from services.value.bootstrap import build_definition
from services.value.entrypoints.api import create_value_app
from services.value.service_layer.handlers import recompute_all
from services.value.settings import ValueSettings
from tests.harness import TestEnv, wait_until

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
PROBLEM_JSON = "application/problem+json"


@dataclass
class Value:
    runtime: ServiceRuntime
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def value(env: TestEnv) -> AsyncIterator[Value]:
    settings = env.settings(ValueSettings, gold_trips=3, silver_trips=2, company_delay_seconds=0.1)
    async with env.running(build_definition(settings)) as runtime:
        app = create_value_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://value.test") as client:
            yield Value(runtime, client)


def booking(
    kind: BookingKind, *, customer_id: str, booking_id: str, company_id: str | None = "globex",
    price: str | None = "1200.00", currency: str = "EUR", days_ago: int = 20,
) -> Envelope[ResolvedBookingV1]:  # fmt: skip
    departure = datetime.now(UTC) - timedelta(days=days_ago)
    segments = (
        (
            FlightSegmentV1(
                carrier="LH",
                flight_number="400",
                origin="FRA",
                destination="JFK",
                departure_at=departure,
                arrival_at=departure + timedelta(hours=8),
            ),
        )
        if kind != "cancelled"
        else ()
    )
    payload = ResolvedBookingV1(
        customer_id=customer_id, company_id=company_id, kind=kind, source_event_id=str(uuid.uuid4()),
        source_system="acme-gds", booking_id=booking_id, segments=segments,
        total_price=Decimal(price) if price and kind != "cancelled" else None,
        currency=currency if price and kind != "cancelled" else None, occurred_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


async def snapshot_of(value: Value, customer_id: str) -> dict[str, Any] | None:
    async with connection(value.runtime.pool) as conn:
        row = await conn.fetchrow("SELECT snapshot FROM customer_value WHERE customer_id = $1", customer_id)
    return None if row is None else row["snapshot"]


async def test_bookings_raise_a_tier_a_cancellation_lowers_it_and_each_change_is_published(
    env: TestEnv, value: Value
) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    for n in range(3):
        await env.publish("profile.bookings.v1", booking("created", customer_id=cid, booking_id=f"{cid}-{n}"))
    gold = await wait_until(lambda: _tier_is(value, cid, "gold"))
    assert gold["rfm"]["frequency"] == 3
    assert gold["rfm"]["monetary"] == "3600.00"
    await env.publish("profile.bookings.v1", booking("cancelled", customer_id=cid, booking_id=f"{cid}-1"))
    silver = await wait_until(lambda: _tier_is(value, cid, "silver"))
    assert silver["version"] > gold["version"]

    def tier_changes(events: list[Envelope[Any]]) -> list[TierChangedV1]:
        return [e.payload for e in events if isinstance(e.payload, TierChangedV1) and e.payload.subject_id == cid]

    changes = tier_changes(await env.events("value.changes.v1", until=lambda evs: len(tier_changes(evs)) >= 3))
    assert [(c.from_tier, c.to_tier) for c in changes][-1] == ("gold", "silver")
    assert "2 trips" in changes[-1].reason
    assert f"booking acme-gds:{cid}-1 cancelled" in changes[-1].reason
    snapshots = await env.events(
        "value.customers.v1",
        until=lambda evs: any(
            isinstance(e.payload, CustomerValueSnapshotV1)
            and e.payload.customer_id == cid
            and e.payload.tier == "silver"
            for e in evs
        ),
    )
    assert all(e.subject_id == e.payload.customer_id for e in snapshots)

    response = await value.http.get(f"/v1/customers/{cid}/value", headers=AGENT)
    assert response.status_code == 200
    body = response.json()
    assert body["value"]["tier"] == "silver"
    assert [h["to_tier"] for h in body["history"]] == ["silver", "gold", "silver"]  # newest first
    async with connection(value.runtime.pool) as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'value.read' AND subject_id = $1", cid
        )
    assert audited == 1


async def _tier_is(value: Value, cid: str, tier: str) -> dict[str, Any] | None:
    snap = await snapshot_of(value, cid)
    return snap if snap is not None and snap["tier"] == tier else None


async def test_spend_without_a_rate_is_flagged_until_the_operator_loads_one(env: TestEnv, value: Value) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    await env.publish("profile.bookings.v1", booking("created", customer_id=cid, booking_id=f"{cid}-0", currency="CHF",
                                                     price="1000.00"))  # fmt: skip
    snap = await wait_until(lambda: snapshot_of(value, cid))
    assert (snap["rfm"]["frequency"], snap["rfm"]["monetary"]) == (1, "0")
    assert snap["rfm"]["unconverted_currencies"] == ["CHF"]
    day = (datetime.now(UTC) - timedelta(days=400)).date().isoformat()
    rates = {"rates": [{"currency": "CHF", "valid_from": day, "rate": "1.05"}]}
    response = await value.http.put("/v1/rates", headers=SUPERVISOR, json=rates)
    assert response.status_code == 200, response.text
    assert response.json()["customers_to_review"] >= 1
    converted = await wait_until(lambda: _where(value, cid, lambda s: s["rfm"]["unconverted_trips"] == 0))
    assert converted["rfm"]["monetary"] == "1050.00"
    refused = await value.http.put("/v1/rates", headers=AGENT,
                                   json={"rates": [{"currency": "CHF", "valid_from": day, "rate": "1"}]})  # fmt: skip
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)


async def test_a_load_naming_a_currency_and_day_twice_keeps_the_last_rate(value: Value) -> None:
    # The load is one statement now (10,000 single upserts timed out); the same key twice in one
    # statement would be an error, so the last one wins, as loading them in order did.
    day = "2001-02-03"
    rates = [{"currency": "NOK", "valid_from": day, "rate": rate} for rate in ("0.09", "0.10", "0.11")]
    rates.append({"currency": "SEK", "valid_from": day, "rate": "0.12"})
    response = await value.http.put("/v1/rates", headers=SUPERVISOR, json={"rates": rates})
    assert response.status_code == 200, response.text
    listed = (await value.http.get("/v1/rates", headers=AGENT)).json()["rates"]
    stored = {(r["currency"], r["valid_from"]): Decimal(r["rate"]) for r in listed}
    assert stored[("NOK", day)] == Decimal("0.11")
    assert stored[("SEK", day)] == Decimal("0.12")


async def _where(value: Value, cid: str, check: Any) -> dict[str, Any] | None:
    snap = await snapshot_of(value, cid)
    return snap if snap is not None and check(snap) else None


async def test_account_managers_are_assigned_by_supervisors_and_published_with_the_value(
    env: TestEnv, value: Value
) -> None:
    company = f"co-{uuid.uuid4().hex[:8]}"
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    await env.publish("profile.bookings.v1", booking("created", customer_id=cid, booking_id=f"{cid}-0",
                                                     company_id=company))  # fmt: skip
    await wait_until(lambda: snapshot_of(value, cid))
    await wait_until(lambda: value.http.get(f"/v1/companies/{company}/value", headers=AGENT))
    denied = await value.http.put(f"/v1/companies/{company}/account-manager", headers=AGENT, json={"id": "anna"})
    assert denied.status_code == 403
    unknown = await value.http.put("/v1/companies/nobody/account-manager", headers=SUPERVISOR, json={"id": "anna"})
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/unknown-company")
    done = await value.http.put(f"/v1/companies/{company}/account-manager", headers=SUPERVISOR,
                                json={"kind": "agent", "id": "anna"})  # fmt: skip
    assert done.status_code == 200, done.text
    inherited = await wait_until(lambda: _where(value, cid, lambda s: s["account_manager"] is not None))
    assert inherited["account_manager"]["id"] == "anna"
    assert inherited["account_manager"]["inherited_from_company"] is True
    own = await value.http.put(f"/v1/customers/{cid}/account-manager", headers=SUPERVISOR,
                               json={"kind": "team", "id": "key-accounts"})  # fmt: skip
    assert own.status_code == 200
    snap = await snapshot_of(value, cid)
    assert snap is not None
    assert snap["account_manager"]["kind"] == "team"
    listed = await value.http.get("/v1/customers", headers=AGENT, params={"account_manager": "key-accounts"})
    assert [i["customer_id"] for i in listed.json()["items"]] == [cid]
    company_page = (await value.http.get(f"/v1/companies/{company}/value", headers=AGENT)).json()
    assert company_page["value"]["account_manager"]["id"] == "anna"
    assert [t["customer_id"] for t in company_page["travellers"]] == [cid]
    async with connection(value.runtime.pool) as conn:
        actions = await conn.fetch("SELECT action FROM audit_log WHERE action LIKE 'account_manager.%'")
    assert len(actions) >= 2


async def test_lists_filter_by_tier_and_at_risk_and_recompute_gives_the_live_result(env: TestEnv, value: Value) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    for n, days in enumerate((330, 300, 270, 240)):  # every 30 days, the last 240 days ago: lapsed
        await env.publish("profile.bookings.v1", booking("created", customer_id=cid, booking_id=f"{cid}-{n}",
                                                         days_ago=days))  # fmt: skip
    lapsed = await wait_until(lambda: _where(value, cid, lambda s: s["churn"]["stage"] == "lapsed"
                                             and s["rfm"]["frequency"] == 4))  # fmt: skip
    assert "usually every 30 days" in lapsed["churn"]["reason"]
    at_risk = await value.http.get("/v1/customers", headers=AGENT, params={"at_risk": "true", "limit": 200})
    assert cid in [i["customer_id"] for i in at_risk.json()["items"]]
    gold = await value.http.get("/v1/customers", headers=AGENT, params={"tier": "gold", "limit": 200})
    assert cid in [i["customer_id"] for i in gold.json()["items"]]
    bad = await value.http.get("/v1/customers", headers=AGENT, params={"tier": "platinum"})
    assert bad.status_code == 422
    before = await snapshot_of(value, cid)
    config = value.runtime.definition.extras["config"]
    assert before is not None
    await recompute_all(value.runtime.pool, config=config, now=datetime.fromisoformat(before["updated_at"]))
    after = await snapshot_of(value, cid)
    assert after == before  # nothing changed: no new version


async def test_another_services_view_reads_value_snapshots(env: TestEnv, value: Value) -> None:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    company = f"co-{uuid.uuid4().hex[:8]}"

    class ReaderSettings(ServiceSettings):
        service_name: str = "feedback"

    reader = ServiceDefinition(
        settings=env.settings(ReaderSettings), migrations="services.feedback.migrations",
        consumers=[customer_view_consumer(include_preferences=False, include_value=True)],
    )  # fmt: skip
    await env.publish("profile.customers.v1", Envelope.new(
        CustomerSnapshotV1(customer_id=cid, version=1, display_name="Ada Value", updated_at=datetime.now(UTC)),
        producer="profile", subject_id=cid))  # fmt: skip
    await env.publish("profile.bookings.v1", booking("created", customer_id=cid, booking_id=f"{cid}-0",
                                                     company_id=company))  # fmt: skip
    async with env.running(reader) as runtime:

        async def seen() -> Any:
            async with connection(runtime.pool) as conn:
                return await lookup(conn, "value", cid) and await lookup_company(conn, company)

        company_entry = await wait_until(seen)
        async with connection(runtime.pool) as conn:
            entry = await lookup(conn, "value", cid)
    assert entry is not None
    assert entry.snapshot["tier"] == "regular"
    assert company_entry.snapshot["travellers"] == 1
