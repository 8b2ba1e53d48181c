"""Identity resolution end to end on the real broker and database: every path records arrive by,
duplicates and races, review queue, merge/unmerge/split, corrections, bounces, search, roles and audit."""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1, CustomerUnmergedV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.notifications import DeliveryFailedV1
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition
from services.profile.entrypoints.cli import run_import
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv, wait_until

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
BOOKING_SYSTEM = {"X-API-Key": "dev-booking-system-key"}


def surname() -> str:
    """A family name no other test uses (so tests sharing the database never match each other)."""
    return "".join(random.choices(string.ascii_lowercase, k=9)).capitalize()


async def _customer_of(runtime: ServiceRuntime, system: str, source_id: str) -> str | None:
    async with runtime.pool.acquire() as conn:
        value: str | None = await conn.fetchval(
            "SELECT customer_id FROM source_records WHERE source_system = $1 AND source_id = $2", system, source_id
        )
        return value


async def _post_record(client: httpx.AsyncClient, system: str, source_id: str, **traveller: Any) -> dict[str, Any]:
    company = traveller.pop("company", None)
    body: dict[str, Any] = {"source_system": system, "source_id": source_id, "traveller": traveller}
    if company:
        body["company"] = {"name": company}
    r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_same_booking_delivered_twice_changes_nothing(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, _ = service
    created = builders.booking_created(traveller=builders.traveller(family_name=surname()))
    await env.publish("booking.events.v1", created)
    await env.publish("booking.events.v1", created)
    sentinel = builders.booking_created(traveller=builders.traveller(family_name=surname()))
    await env.publish("booking.events.v1", sentinel, key=created.subject_id)  # same partition, after the duplicate
    await wait_until(
        lambda: _customer_of(runtime, sentinel.payload.source_system, sentinel.payload.source_traveller_id)
    )
    resolved = await env.events(
        "profile.bookings.v1", until=lambda evs: any(e.payload.booking_id == sentinel.payload.booking_id for e in evs)
    )
    assert sum(1 for e in resolved if e.payload.booking_id == created.payload.booking_id) == 1
    async with runtime.pool.acquire() as conn:
        customers = await conn.fetchval(
            "SELECT count(DISTINCT customer_id) FROM source_records WHERE source_system = $1 AND source_id = $2",
            created.payload.source_system,
            created.payload.source_traveller_id,
        )
        bookings = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE booking_id = $1", created.payload.booking_id
        )
    assert customers == 1
    assert bookings == 1


async def test_two_bookings_of_a_new_traveller_on_two_partitions_make_one_customer(env: TestEnv) -> None:
    family = surname()
    # No shared strong identifier: only the blocking-key locks make the two workers converge.
    first = builders.booking_created(
        source_system="gds-a",
        traveller=builders.traveller(given_name="Henrietta", family_name=family, email=None, phone="+49 30 5550101"),
    )
    second = builders.booking_created(
        source_system="gds-b",
        traveller=builders.TravellerV1(
            full_name=f"{family.upper()}/HENRIETTA MRS",
            date_of_birth="12.04.1985",
            email=f"h.{family.lower()}@globex.example",
        ),
    )
    definition = build_definition(env.settings(ProfileSettings))
    async with AsyncExitStack() as stack:
        # Two worker processes' worth of runtimes in one consumer group: each owns some partitions.
        a = await stack.enter_async_context(env.running(definition))
        await stack.enter_async_context(env.running(build_definition(env.settings(ProfileSettings))))
        await asyncio.gather(
            env.publish("booking.events.v1", first, partition=0),
            env.publish("booking.events.v1", second, partition=1),
        )
        ids = await wait_until(
            lambda: _both(
                a, [("gds-a", first.payload.source_traveller_id), ("gds-b", second.payload.source_traveller_id)]
            ),
            timeout=60,
        )
    assert ids[0] == ids[1]


async def _both(runtime: ServiceRuntime, keys: list[tuple[str, str]]) -> list[str] | None:
    found = [await _customer_of(runtime, s, i) for s, i in keys]
    return None if None in found else [f for f in found if f]


async def test_fuzzy_duplicate_from_another_source_links_with_explainable_evidence(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, client = service
    family = surname()
    first = builders.booking_created(
        source_system="hotel-desk",
        traveller=builders.traveller(given_name="William", family_name=family, date_of_birth="1975-03-09"),
    )
    second = builders.booking_created(
        source_system="car-desk",
        traveller=builders.TravellerV1(full_name=f"Bill {family}", date_of_birth="09.03.1975", phone="+49 171 7654321"),
    )
    await env.publish("booking.events.v1", first)
    await wait_until(lambda: _customer_of(runtime, "hotel-desk", first.payload.source_traveller_id))
    await env.publish("booking.events.v1", second)
    second_id = await wait_until(lambda: _customer_of(runtime, "car-desk", second.payload.source_traveller_id))
    assert second_id == await _customer_of(runtime, "hotel-desk", first.payload.source_traveller_id)

    r = await client.get(f"/v1/source-records/car-desk/{second.payload.source_traveller_id}/explain", headers=AGENT)
    assert r.status_code == 200, r.text
    explained = r.json()
    assert explained["match_rule"] == "probabilistic"
    assert explained["matched_to"] == {"source_system": "hotel-desk", "source_id": first.payload.source_traveller_id}
    levels = {e["field"]: e["level"] for e in explained["evidence"]["evidence"]}
    assert levels["given_name"] == "nickname"
    assert levels["date_of_birth"] == "exact"
    assert explained["match_score"] >= explained["evidence"]["thresholds"]["upper"]


async def test_review_queue_accept_merges_and_the_absorbed_id_redirects(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, client = service
    family = surname()
    a = await _post_record(client, "crm", f"A-{family}", given_name="Ingrid", family_name=family, nationality="AT")
    b = await _post_record(client, "web", f"B-{family}", given_name="Ingrid", family_name=family, nationality="Austria")
    assert b["rule"] == "new:review"
    assert b["review_candidate"] == a["customer_id"]
    page = (await client.get("/v1/reviews", params={"limit": 100}, headers=AGENT)).json()
    review = next(i for i in page["items"] if i["source_id"] == f"B-{family}")
    assert review["candidate_id"] == a["customer_id"]
    assert any(e["field"] == "family_name" for e in review["evidence"]["evidence"])

    denied = await client.post(
        f"/v1/reviews/{review['review_id']}/decision", json={"decision": "accept"}, headers=AGENT
    )
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    r = await client.post(
        f"/v1/reviews/{review['review_id']}/decision", json={"decision": "accept"}, headers=SUPERVISOR
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    redirected = (await client.get(f"/v1/customers/{b['customer_id']}", headers=AGENT)).json()
    assert redirected["customer_id"] == a["customer_id"]
    assert redirected["requested_id"] == b["customer_id"]
    assert redirected["source_record_count"] == 2
    again = await client.post(
        f"/v1/reviews/{review['review_id']}/decision", json={"decision": "reject"}, headers=SUPERVISOR
    )
    assert again.status_code == 409


async def _state(runtime: ServiceRuntime, customer_id: str) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, version, golden FROM customers WHERE customer_id = $1", customer_id)
        records = await conn.fetch(
            "SELECT source_system, source_id FROM source_records WHERE customer_id = $1", customer_id
        )
    assert row is not None
    return {
        "status": row["status"],
        "version": row["version"],
        "golden": {k: v["value"] for k, v in row["golden"].items()},
        "records": sorted((r["source_system"], r["source_id"]) for r in records),
    }


async def test_merge_then_unmerge_restores_the_exact_state_and_publishes_it(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, client = service
    fa, fb = surname(), surname()
    a = await _post_record(
        client, "crm", f"M1-{fa}", given_name="Olga", family_name=fa, email=f"olga@{fa.lower()}.example"
    )
    await _post_record(
        client, "gds", f"M2-{fa}", full_name=f"Olga {fa}", email=f"olga@{fa.lower()}.example", phone="+43 660 1234567"
    )
    b = await _post_record(client, "crm", f"M3-{fb}", given_name="Olga", family_name=fb, date_of_birth="1970-02-02")
    before_a, before_b = await _state(runtime, a["customer_id"]), await _state(runtime, b["customer_id"])
    assert len(before_a["records"]) == 2

    denied = await client.post(
        "/v1/merges", json={"survivor_id": a["customer_id"], "absorbed_id": b["customer_id"]}, headers=AGENT
    )
    assert denied.status_code == 403
    r = await client.post(
        "/v1/merges", json={"survivor_id": a["customer_id"], "absorbed_id": b["customer_id"]}, headers=SUPERVISOR
    )
    assert r.status_code == 201, r.text
    merge_id = r.json()["merge_id"]
    merged = await _state(runtime, a["customer_id"])
    assert merged["records"] == sorted(before_a["records"] + before_b["records"])
    assert (await _state(runtime, b["customer_id"]))["status"] == "merged"

    r = await client.post(f"/v1/merges/{merge_id}/undo", headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    after_a, after_b = await _state(runtime, a["customer_id"]), await _state(runtime, b["customer_id"])
    for before, after in ((before_a, after_a), (before_b, after_b)):
        assert after["records"] == before["records"]
        assert after["golden"] == before["golden"]
        assert after["status"] == "active"
        assert after["version"] > before["version"]
    assert (await client.post(f"/v1/merges/{merge_id}/undo", headers=SUPERVISOR)).status_code == 409

    def published(evs: list[Envelope[Any]]) -> bool:
        restored = [
            e.payload
            for e in evs
            if isinstance(e.payload, CustomerSnapshotV1) and e.payload.customer_id == b["customer_id"]
        ]
        redirects = [
            e for e in evs if isinstance(e.payload, CustomerRedirectV1) and e.payload.customer_id == b["customer_id"]
        ]
        return bool(redirects) and any(s.version > before_b["version"] for s in restored)

    await env.events("profile.customers.v1", until=published)
    changes = await env.events(
        "profile.customer-events.v1",
        until=lambda evs: any(
            isinstance(e.payload, CustomerUnmergedV1) and e.payload.merge_id == merge_id for e in evs
        ),
    )
    assert any(e.event_type == "customer.merged" and e.payload.merge_id == merge_id for e in changes)
    history = (await client.get(f"/v1/customers/{b['customer_id']}/history", headers=AGENT)).json()["items"]
    assert {"merged-into", "restored"} <= {h["change"] for h in history}


async def test_split_moves_one_record_and_its_bookings_to_a_new_customer(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, client = service
    family = surname()
    email = f"pat@{family.lower()}.example"
    first = builders.booking_created(
        source_system="gds", traveller=builders.traveller(given_name="Pat", family_name=family, email=email)
    )
    wrong = builders.booking_created(
        source_system="rail", traveller=builders.traveller(given_name="Patricia", family_name=family, email=email)
    )
    await env.publish("booking.events.v1", first)
    await env.publish("booking.events.v1", wrong)
    cid = await wait_until(lambda: _customer_of(runtime, "rail", wrong.payload.source_traveller_id))
    # The two events may sit on different partitions: wait for both.
    assert cid == await wait_until(lambda: _customer_of(runtime, "gds", first.payload.source_traveller_id))
    r = await client.post(
        f"/v1/customers/{cid}/split",
        json={"source_system": "rail", "source_id": wrong.payload.source_traveller_id},
        headers=SUPERVISOR,
    )
    assert r.status_code == 200, r.text
    new_id = r.json()["new_customer_id"]
    assert await _customer_of(runtime, "rail", wrong.payload.source_traveller_id) == new_id
    async with runtime.pool.acquire() as conn:
        owner = await conn.fetchval("SELECT customer_id FROM bookings WHERE booking_id = $1", wrong.payload.booking_id)
    assert owner == new_id
    # The split record arriving again stays where the agent put it.
    await env.publish(
        "booking.events.v1",
        builders.booking_created(
            source_system="rail", traveller_id=wrong.payload.source_traveller_id, traveller=wrong.payload.traveller
        ),
    )
    await asyncio.sleep(1)
    assert await _customer_of(runtime, "rail", wrong.payload.source_traveller_id) == new_id


async def test_permanent_bounce_marks_email_undeliverable_in_the_snapshot(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, client = service
    created = builders.booking_created(traveller=builders.traveller(family_name=surname()))
    await env.publish("booking.events.v1", created)
    cid = await wait_until(
        lambda: _customer_of(runtime, created.payload.source_system, created.payload.source_traveller_id)
    )
    failed = DeliveryFailedV1(
        delivery_id=f"dlv_{uuid.uuid4().hex}",
        customer_id=cid,
        channel="email",
        template="booking-confirmation",
        reason="550 5.1.1 mailbox unknown",
        permanent=True,
        failed_at=datetime.now(UTC),
    )
    await env.publish("notifications.deliveries.v1", Envelope.new(failed, producer="notifications", subject_id=cid))
    snapshots = await env.events(
        "profile.customers.v1",
        until=lambda evs: any(
            isinstance(e.payload, CustomerSnapshotV1)
            and e.payload.customer_id == cid
            and not e.payload.email_deliverable
            for e in evs
        ),
    )
    assert any(isinstance(e.payload, CustomerSnapshotV1) and e.payload.customer_id == cid for e in snapshots)
    tasks = (await client.get(f"/v1/customers/{cid}/quality", headers=AGENT)).json()
    assert "email-undeliverable" in {t["kind"] for t in tasks}
    customer = (await client.get(f"/v1/customers/{cid}", headers=AGENT)).json()
    assert customer["quality"]["email_deliverable"] is False


async def test_http_source_record_resent_updates_and_never_shows_the_passport(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    family = surname()
    first = await _post_record(
        client,
        "hr",
        f"E-{family}",
        given_name="Zoe",
        family_name=family,
        passport_number="C01X00T47",
        phone="0301234599",
    )
    again = await _post_record(
        client,
        "hr",
        f"E-{family}",
        given_name="Zoe",
        family_name=family,
        passport_number="C01X00T47",
        phone="+49 30 7654321",
    )
    assert again["customer_id"] == first["customer_id"]
    assert again["rule"] == "source-link"
    records = (await client.get(f"/v1/customers/{first['customer_id']}/source-records", headers=AGENT)).json()["items"]
    assert len(records) == 1
    assert records[0]["normalized"]["phone"] == "+49307654321"
    # Stored as "(hashed)"; even that a passport number was sent is an admin's to see.
    assert records[0]["received"]["passport_number"] == {"redacted": "secret-identifier"}
    assert "C01X00T47" not in str(records) + str(
        (await client.get(f"/v1/customers/{first['customer_id']}", headers=AGENT)).json()
    )
    async with runtime.pool.acquire() as conn:
        audits = await conn.fetch(
            "SELECT action FROM audit_log WHERE subject_id = $1 AND action LIKE 'customer.%'", first["customer_id"]
        )
        stored = await conn.fetchval(
            "SELECT raw::text || normalized::text FROM source_records WHERE source_id = $1", f"E-{family}"
        )
    assert {"customer.source_records.read", "customer.read"} <= {a["action"] for a in audits}
    assert "C01X00T47" not in stored
    unknown = await client.get("/v1/customers/cus_nope", headers=AGENT)
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "/problems/unknown-customer"


async def test_search_by_fuzzy_name_email_phone_loyalty_and_company(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, client = service
    family = surname()
    company = f"{family} Logistics GmbH"
    made = await _post_record(
        client,
        "crm",
        f"S-{family}",
        given_name="Søren",
        family_name=family,
        email=f"Soren@{family.lower()}.example",
        phone="+45 32 12 34 56",
        loyalty_numbers=[{"programme": "BA", "number": "8765 4321"}],
        company=company,
    )
    cid = made["customer_id"]

    async def found(**params: str) -> list[str]:
        r = await client.get("/v1/customers", params=params, headers=AGENT)
        assert r.status_code == 200, r.text
        return [i["customer_id"] for i in r.json()["items"]]

    assert cid in await found(q=f"{family.upper()}, Soren")
    assert cid in await found(q=f"soeren {family}")
    assert cid in await found(email=f"soren@{family.lower()}.EXAMPLE")
    assert cid in await found(phone="+4532123456")
    assert cid in await found(loyalty="BAEC:87654321")
    assert cid in await found(company=f"{family.upper()} LOGISTICS")
    assert cid not in await found(q=f"soren {family}", email="someone@else.example")
    companies = (await client.get("/v1/companies", params={"q": f"{family} logistics"}, headers=AGENT)).json()["items"]
    assert companies
    assert companies[0]["customer_count"] == 1


async def test_agent_correction_wins_and_is_audited(service: tuple[ServiceRuntime, httpx.AsyncClient]) -> None:
    runtime, client = service
    family = surname()
    made = await _post_record(
        client, "crm", f"C-{family}", given_name="Jon", family_name=family, date_of_birth="1980-01-01"
    )
    r = await client.patch(
        f"/v1/customers/{made['customer_id']}/fields",
        json={"field": "date_of_birth", "value": "1981-01-01"},
        headers=AGENT,
    )
    assert r.status_code == 200, r.text
    field = r.json()["fields"]["date_of_birth"]
    assert (field["value"], field["source_system"], field["rule"]) == ("1981-01-01", "agent", "agent-correction")
    bad = await client.patch(
        f"/v1/customers/{made['customer_id']}/fields", json={"field": "passport", "value": "x"}, headers=AGENT
    )
    assert bad.status_code == 422
    async with runtime.pool.acquire() as conn:
        actions = {
            r["action"]
            for r in await conn.fetch("SELECT action FROM audit_log WHERE subject_id = $1", made["customer_id"])
        }
    assert {"customer.correct", "source_record.upsert"} <= actions


async def _traveller(client: httpx.AsyncClient, **traveller: Any) -> str:
    family = surname()
    made = await _post_record(client, "crm", f"C-{family}", family_name=family, **traveller)
    customer_id: str = made["customer_id"]
    return customer_id


async def test_corrections_are_normalised_like_source_data(service: tuple[ServiceRuntime, httpx.AsyncClient]) -> None:
    _, client = service
    cid = await _traveller(client, given_name="Ann", email="ann@old.example")
    for field, value, stored in [
        ("email", "  Ann.Lee@New.EXAMPLE ", "ann.lee@new.example"),
        ("phone", "+49 (30) 901820", "+4930901820"),
        ("date_of_birth", "30.11.1979", "1979-11-30"),
        ("nationality", "Deutschland", "DE"),
        ("language", "en_gb", "en-GB"),
        ("given_name", "  Anna   Maria ", "Anna Maria"),
    ]:
        r = await client.patch(f"/v1/customers/{cid}/fields", json={"field": field, "value": value}, headers=AGENT)
        assert r.status_code == 200, r.text
        assert r.json()["fields"][field]["value"] == stored, field


@pytest.mark.parametrize("value", [None, "   "])
async def test_a_correction_to_no_value_clears_the_field(
    service: tuple[ServiceRuntime, httpx.AsyncClient], value: str | None
) -> None:
    # An agent's word that the traveller has no phone is a correction like any other (it answered 500).
    _, client = service
    cid = await _traveller(client, given_name="Cy", phone="+49 30 901820")
    r = await client.patch(f"/v1/customers/{cid}/fields", json={"field": "phone", "value": value}, headers=AGENT)
    assert r.status_code == 200, r.text
    phone = r.json()["fields"].get("phone")
    assert phone is None or phone["value"] is None, phone
    again = (await client.get(f"/v1/customers/{cid}", headers=AGENT)).json()["fields"].get("phone")
    assert again == phone


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("email", "ann at example", "not a valid email address"),
        ("phone", "12", "not a valid phone number"),
        ("date_of_birth", "31.02.1980", "date of birth"),
        ("date_of_birth", "2999-01-01", "implausible"),
        ("nationality", "Atlantis", "not a known country"),
        ("language", "klingon", "unknown language"),
    ],
)
async def test_an_invalid_correction_is_refused_on_the_value(
    service: tuple[ServiceRuntime, httpx.AsyncClient], field: str, value: str, says: str
) -> None:
    _, client = service
    cid = await _traveller(client, given_name="Bo", email="bo@example.com")
    before = (await client.get(f"/v1/customers/{cid}", headers=AGENT)).json()
    r = await client.patch(f"/v1/customers/{cid}/fields", json={"field": field, "value": value}, headers=AGENT)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    [error] = r.json()["errors"]
    assert error["field"] == "value"
    assert says in error["message"]
    after = (await client.get(f"/v1/customers/{cid}", headers=AGENT)).json()
    assert after["version"] == before["version"], "a refused correction changes nothing"


async def test_a_withdrawn_correction_lets_the_sources_speak_again(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    cid = await _traveller(client, given_name="Cy", email="cy@source.example")
    r = await client.patch(
        f"/v1/customers/{cid}/fields", json={"field": "email", "value": "cy@agent.example"}, headers=AGENT
    )
    assert r.json()["fields"]["email"]["value"] == "cy@agent.example"

    r = await client.delete(f"/v1/customers/{cid}/fields/email", headers=AGENT)
    assert r.status_code == 200, r.text
    email = r.json()["fields"]["email"]
    assert (email["value"], email["source_system"]) == ("cy@source.example", "crm")

    again = await client.delete(f"/v1/customers/{cid}/fields/email", headers=AGENT)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"
    unknown_field = await client.delete(f"/v1/customers/{cid}/fields/passport", headers=AGENT)
    assert unknown_field.status_code == 422
    unknown_customer = await client.delete("/v1/customers/cus_unknown/fields/email", headers=AGENT)
    assert unknown_customer.status_code == 404
    anonymous = await client.delete(f"/v1/customers/{cid}/fields/email")
    assert anonymous.status_code == 401

    history = (await client.get(f"/v1/customers/{cid}/history", headers=AGENT)).json()
    changes = [h["change"] for h in (history["items"] if isinstance(history, dict) else history)]
    assert "corrected" in changes
    assert "correction-withdrawn" in changes
    async with runtime.pool.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'customer.correction.withdraw' AND subject_id = $1", cid
        )
    assert audited == 1


async def test_upload_and_bulk_import_resolve_like_the_stream(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient], tmp_path: Path
) -> None:
    runtime, client = service
    fa, fb = surname(), surname()
    csv_text = (
        "source_system,source_id,full_name,email,phone,date_of_birth,loyalty,company_name\n"
        f"legacy,U1-{fa},{fa.upper()}/ANNA MS,anna@{fa.lower()}.example,,1979-11-30,LH:992001234567890,Initech Inc.\n"
        f"legacy,U2-{fa},Anna {fa},,+49 89 1234567,30.11.1979,,INITECH\n"
        f"legacy,U3-{fb},Bo {fb},,,not a date,,\n"
        "legacy,,nobody,,,,,\n"
    )
    r = await client.post(
        "/v1/source-records/import", params={"format": "csv"}, content=csv_text.encode(), headers=BOOKING_SYSTEM
    )
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["records"], summary["customers_created"], summary["rejected"]) == (3, 2, 1)
    assert await _customer_of(runtime, "legacy", f"U1-{fa}") == await _customer_of(runtime, "legacy", f"U2-{fa}")

    fc = surname()
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text(
        f'{{"source_system": "import", "source_id": "J1-{fc}", "full_name": "{fc.upper()}/MEI", '
        '"date_of_birth": "1990-05-05"}\n'
        f'{{"source_system": "import", "source_id": "J2-{fc}", "given_name": "Mei", "family_name": "{fc}", '
        '"date_of_birth": "1990-05-05"}\n',
        encoding="utf-8",
    )
    result = await run_import(
        jsonl,
        fmt="jsonl",
        source_system=None,
        settings=env.settings(ProfileSettings),
        batch_size=1,
        show_progress=False,
    )
    assert result.records == 2
    j1 = await _customer_of(runtime, "import", f"J1-{fc}")
    assert j1 is not None
    assert j1 == await _customer_of(runtime, "import", f"J2-{fc}")
    snapshots = await env.events(
        "profile.customers.v1",
        until=lambda evs: any(
            isinstance(e.payload, CustomerSnapshotV1)
            and e.payload.customer_id == j1
            and e.payload.source_record_count == 2
            for e in evs
        ),
    )
    snap = [e.payload for e in snapshots if isinstance(e.payload, CustomerSnapshotV1) and e.payload.customer_id == j1][
        -1
    ]
    assert snap.date_of_birth is not None
    assert snap.version == 2
