"""Source authority: a record in a booking system's name comes only from that system's key.

With the development keys (the booking-system key is registered for the demo's systems, crm among
them): agents and supervisors write no source records (they correct fields, recorded as theirs), a
booking system writes only as the systems it is registered for, an admin as any (audited).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.kit.contracts.envelope import encode_envelope
from services.kit.settings import DEV_API_KEYS
from services.profile.bootstrap import build_definition
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

KEYS = {role: {"X-API-Key": f"dev-{role}-key"} for role in ("agent", "supervisor", "ops", "booking-system", "admin")}


@pytest.fixture(scope="module")
async def client(env: TestEnv) -> AsyncIterator[httpx.AsyncClient]:
    settings = env.settings(ProfileSettings, api_keys=list(DEV_API_KEYS))
    async with env.running(build_definition(settings)) as runtime:
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as c:
            yield c


def _record(system: str, source_id: str, email: str, family: str) -> dict[str, Any]:
    traveller = {"given_name": "Priya", "family_name": family, "email": email}
    return {"source_system": system, "source_id": source_id, "traveller": traveller}


async def _golden_email(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/customers/{customer_id}", headers=KEYS["admin"])
    assert r.status_code == 200, r.text
    email: dict[str, Any] = r.json()["fields"]["email"]
    return email


async def _audit(env: TestEnv, action: str, principal: str) -> list[dict[str, Any]]:
    conn = await env.admin_connect()
    try:
        rows = await conn.fetch(
            "SELECT principal, subject_id, detail FROM profile.audit_log WHERE action = $1 AND principal = $2",
            action,
            principal,
        )
    finally:
        await conn.close()
    return [
        {**dict(r), "detail": json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]} for r in rows
    ]


async def test_an_agent_cannot_rewrite_a_golden_email_as_the_booking_system(client: httpx.AsyncClient) -> None:
    family = f"Raman{uuid.uuid4().hex[:6]}"
    email = f"{family.lower()}@globex.example"
    r = await client.post(
        "/v1/source-records", json=_record("crm", f"crm-{family}", email, family), headers=KEYS["booking-system"]
    )
    assert r.status_code == 200, r.text
    customer_id = r.json()["customer_id"]

    # The attack: the same record, restated with an attacker's address, in the booking system's name.
    forged = _record("crm", f"crm-{family}", "attacker@evil.example", family)
    for role in ("agent", "supervisor", "ops"):
        r = await client.post("/v1/source-records", json=forged, headers=KEYS[role])
        assert r.status_code == 403, f"{role}: {r.status_code} {r.text}"
        assert r.headers["content-type"] == "application/problem+json"
    golden = await _golden_email(client, customer_id)
    assert (golden["value"], golden["source_system"], golden["source_id"]) == (email, "crm", f"crm-{family}")

    # An agent's change goes through a correction, shown as the agent's own.
    r = await client.patch(
        f"/v1/customers/{customer_id}/fields", json={"field": "email", "value": "new@globex.example"},
        headers=KEYS["agent"],
    )  # fmt: skip
    assert r.status_code == 200, r.text
    golden = await _golden_email(client, customer_id)
    assert (golden["value"], golden["source_system"], golden["source_id"]) == (
        "new@globex.example", "agent", "dev-agent"
    )  # fmt: skip


async def test_a_booking_system_writes_only_as_the_systems_it_is_registered_for(client: httpx.AsyncClient) -> None:
    family = f"Okafor{uuid.uuid4().hex[:6]}"
    other = _record("legacy-desk", f"ld-{family}", f"{family.lower()}@globex.example", family)
    r = await client.post("/v1/source-records", json=other, headers=KEYS["booking-system"])
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "legacy-desk" in r.json()["detail"]
    # Nor may anyone write as "agent": that name marks agents' corrections.
    r = await client.post("/v1/source-records", json={**other, "source_system": "agent"}, headers=KEYS["admin"])
    assert r.status_code == 403, r.text

    # A file with one row of another system is refused whole.
    csv_text = (
        "source_system,source_id,full_name,email\n"
        f"crm,imp-1-{family},Ada {family},ada.{family.lower()}@globex.example\n"
        f"legacy-desk,imp-2-{family},Bea {family},bea.{family.lower()}@globex.example\n"
    )
    r = await client.post(
        "/v1/source-records/import", params={"format": "csv"}, content=csv_text.encode(),
        headers=KEYS["booking-system"],
    )  # fmt: skip
    assert r.status_code == 403, r.text
    # ... and a row without a system of its own takes the default, which is checked too.
    r = await client.post(
        "/v1/source-records/import", params={"format": "csv", "source_system": "legacy-desk"},
        content=f"source_id,full_name\nimp-3-{family},Cy {family}\n".encode(), headers=KEYS["booking-system"],
    )  # fmt: skip
    assert r.status_code == 403, r.text
    r = await client.get("/v1/customers", params={"q": family}, headers=KEYS["admin"])
    assert r.json()["items"] == [], "nothing of a refused file was imported"
    registered = csv_text.replace("legacy-desk", "web").encode()
    r = await client.post(
        "/v1/source-records/import", params={"format": "csv"}, content=registered, headers=KEYS["booking-system"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["records"] == 2

    # Booking events over HTTP: the payload's system and the key it is filed under.
    event = builders.booking_created(source_system="legacy-desk")
    body = json.loads(encode_envelope(event))
    r = await client.post("/v1/booking-events", json=body, headers=KEYS["booking-system"])
    assert r.status_code == 403, r.text
    mine = json.loads(encode_envelope(builders.booking_created(source_system="crm")))
    r = await client.post(
        "/v1/booking-events", json={**mine, "subject_id": "legacy-desk:B1"}, headers=KEYS["booking-system"]
    )
    assert r.status_code == 422, r.text
    r = await client.post("/v1/booking-events", json=mine, headers=KEYS["booking-system"])
    assert r.status_code == 202, r.text


async def test_an_admin_may_write_as_any_system_and_is_audited(env: TestEnv, client: httpx.AsyncClient) -> None:
    family = f"Lindqvist{uuid.uuid4().hex[:6]}"
    record = _record("legacy-desk", f"ld-{family}", f"{family.lower()}@globex.example", family)
    r = await client.post("/v1/source-records", json=record, headers=KEYS["admin"])
    assert r.status_code == 200, r.text
    rows = await _audit(env, "source_record.upsert", "dev-admin")
    mine = [row for row in rows if row["subject_id"] == r.json()["customer_id"]]
    assert [row["detail"]["acting_as"] for row in mine] == [["legacy-desk"]]

    event = builders.booking_created(source_system="legacy-desk")
    r = await client.post("/v1/booking-events", json=json.loads(encode_envelope(event)), headers=KEYS["admin"])
    assert r.status_code == 202, r.text
    rows = await _audit(env, "booking_event.accept", "dev-admin")
    assert [row["detail"]["acting_as"] for row in rows if row["detail"]["event_id"] == str(event.event_id)] == [
        ["legacy-desk"]
    ]
