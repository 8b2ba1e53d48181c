"""Agents' corrections of golden fields over the API: normalised like source data, refused when
invalid (with the error on the value), withdrawn so the sources speak again, all in the history."""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
BOOKING_SYSTEM = {"X-API-Key": "dev-booking-system-key"}


def surname() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=9)).capitalize()


@pytest.fixture(scope="module")
async def service(env: TestEnv) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
            yield runtime, client


async def _traveller(client: httpx.AsyncClient, **traveller: Any) -> str:
    family = surname()
    body = {"source_system": "crm", "source_id": f"C-{family}", "traveller": {"family_name": family, **traveller}}
    r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
    assert r.status_code == 200, r.text
    customer_id: str = r.json()["customer_id"]
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
