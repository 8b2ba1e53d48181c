"""Listing customers without a criterion is a bulk read: capped, and audited with what it returned."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

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
CAP = 3


@pytest.fixture(scope="module")
async def client(env: TestEnv) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(build_definition(env.settings(ProfileSettings, unfiltered_list_cap=CAP)))
    await runtime.start(workers=False, create_topics=False)
    app = create_profile_app(runtime, workers=False)
    app.state.runtime = runtime
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as c:
            yield c
    finally:
        await runtime.stop()


async def test_an_unfiltered_listing_is_capped_and_audited_as_a_bulk_read(
    env: TestEnv, client: httpx.AsyncClient
) -> None:
    for i in range(CAP + 2):
        family = f"Bulk{uuid.uuid4().hex[:8]}"
        person = {"given_name": "Ola", "family_name": family, "email": f"{family.lower()}@example.com"}
        record = {"source_system": "crm", "source_id": f"bulk-{i}-{family}", "traveller": person}
        assert (await client.post("/v1/source-records", json=record, headers=BOOKING_SYSTEM)).status_code == 200

    cid = str(uuid.uuid4())
    r = await client.get("/v1/customers", params={"limit": 2}, headers={**AGENT, "X-Correlation-ID": cid})
    assert r.status_code == 200
    assert len(r.json()["items"]) == 2
    assert r.json()["next_offset"] == 2
    last = await client.get("/v1/customers", params={"limit": 50, "offset": 2}, headers=AGENT)
    assert len(last.json()["items"]) == CAP - 2, "the page stops at the cap"
    assert last.json()["next_offset"] is None
    beyond = await client.get("/v1/customers", params={"offset": CAP}, headers=AGENT)
    assert beyond.status_code == 422
    assert beyond.json()["type"] == "/problems/unfiltered-listing-capped"
    # A search is not capped that way.
    found = await client.get("/v1/customers", params={"q": "Ola"}, headers=AGENT)
    assert found.status_code == 200

    conn = await env.admin_connect()
    try:
        row = await conn.fetchrow("SELECT action, detail FROM profile.audit_log WHERE correlation_id = $1", cid)
    finally:
        await conn.close()
    assert row is not None
    assert row["action"] == "customer.bulk_read"
    assert sorted(json.loads(row["detail"])["customer_ids"]) == sorted(i["customer_id"] for i in r.json()["items"])
