"""The privacy service on the real broker and database: erasure requests, who may make them, progress."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import ERASURE_STEPS, ErasureRequestedV1, ErasureStepDoneV1
from services.kit.db import connection
from services.kit.erasure import erasure_topic
from services.kit.runtime import ServiceRuntime
from services.privacy.bootstrap import build_definition
from services.privacy.entrypoints import cli
from services.privacy.entrypoints.api import create_privacy_app
from services.privacy.settings import PrivacySettings
from tests.harness import TestEnv, wait_until

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": "dev-admin-key"}


@pytest.fixture(scope="module")
async def privacy(env: TestEnv) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    async with env.running(build_definition(env.settings(PrivacySettings))) as runtime:
        app = create_privacy_app(runtime, False)
        app.state.runtime = runtime
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://privacy") as client:
            yield runtime, client


def _step(erasure_id: str, service: str, rows: int = 3) -> Envelope[ErasureStepDoneV1]:
    done = ErasureStepDoneV1(
        erasure_id=erasure_id, service=service, customer_ids=2, rows={"things": rows}, completed_at=datetime.now(UTC)
    )
    return Envelope.new(done, producer=service, subject_id=erasure_id)


async def test_only_an_admin_may_ask_and_a_reason_is_required(
    privacy: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = privacy
    # The session's database is shared: other tests' erasures are there too.
    async with connection(runtime.pool) as conn:
        before = await conn.fetchval("SELECT count(*) FROM erasures")
    body = {"customer_id": "cus_1", "reason": "data-subject-request"}
    for role in ("agent", "supervisor", "ops"):
        r = await client.post("/v1/erasures", json=body, headers={"X-API-Key": f"dev-{role}-key"})
        assert r.status_code == 403, role
    assert (await client.post("/v1/erasures", json=body)).status_code == 401
    missing = await client.post("/v1/erasures", json={"customer_id": "cus_1"}, headers=ADMIN)
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    unknown_reason = await client.post("/v1/erasures", json={**body, "reason": "because"}, headers=ADMIN)
    assert unknown_reason.status_code == 422
    too_long = await client.post("/v1/erasures", json={**body, "note": "x" * 501}, headers=ADMIN)
    assert too_long.status_code == 422
    async with connection(runtime.pool) as conn:
        assert await conn.fetchval("SELECT count(*) FROM erasures") == before  # none was recorded
    assert (await client.get("/v1/erasures", headers={"X-API-Key": "dev-agent-key"})).status_code == 403
    assert (await client.get("/v1/erasures/era_nope", headers=ADMIN)).status_code == 404


async def test_a_request_is_published_recorded_without_the_id_and_completed_by_every_step(
    env: TestEnv, privacy: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, client = privacy
    customer_id = f"cus_{uuid.uuid4().hex}"
    r = await client.post(
        "/v1/erasures", json={"customer_id": customer_id, "reason": "consent-withdrawn", "note": "ticket 88"},
        headers=ADMIN,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    erasure = r.json()
    erasure_id = erasure["erasure_id"]
    assert r.headers["location"] == f"/v1/erasures/{erasure_id}"
    assert (erasure["status"], erasure["requested_by"], erasure["reason"]) == ("in_progress", "dev-admin",
                                                                               "consent-withdrawn")  # fmt: skip
    assert [s["service"] for s in erasure["steps"]] == list(ERASURE_STEPS)
    assert {s["status"] for s in erasure["steps"]} == {"pending"}

    def requested(events: list[Envelope[Any]]) -> list[ErasureRequestedV1]:
        return [e.payload for e in events if isinstance(e.payload, ErasureRequestedV1) and e.subject_id == erasure_id]

    [published] = requested(await env.events("privacy.erasures.v1", until=lambda evs: bool(requested(evs))))
    assert (published.customer_id, published.reason, published.requested_by) == (
        customer_id, "consent-withdrawn", "dev-admin"
    )  # fmt: skip
    async with connection(runtime.pool) as conn:
        stored = [str(dict(r)) for r in await conn.fetch("SELECT * FROM erasures")]
        stored += [str(dict(r)) for r in await conn.fetch("SELECT * FROM audit_log")]
    assert stored
    assert all(customer_id not in row for row in stored)  # a digest names the traveller, not the id

    # Found by the id asked for (through its digest), not by another.
    found = await client.get("/v1/erasures", params={"customer_id": customer_id}, headers=ADMIN)
    assert [e["erasure_id"] for e in found.json()["items"]] == [erasure_id]
    other = await client.get("/v1/erasures", params={"customer_id": "cus_other"}, headers=ADMIN)
    assert other.json()["items"] == []

    for service in ERASURE_STEPS[:-1]:
        await env.publish(erasure_topic(service), _step(erasure_id, service))
    await env.publish(erasure_topic("profile"), _step(erasure_id, "profile", rows=99))  # reported again

    async def steps_done(count: int) -> dict[str, Any] | None:
        body = (await client.get(f"/v1/erasures/{erasure_id}", headers=ADMIN)).json()
        return body if sum(s["status"] == "done" for s in body["steps"]) >= count else None

    partial = await wait_until(lambda: steps_done(len(ERASURE_STEPS) - 1), timeout=60)
    assert partial["status"] == "in_progress"
    last = ERASURE_STEPS[-1]
    await env.publish(erasure_topic(last), _step(erasure_id, last))
    done = await wait_until(lambda: steps_done(len(ERASURE_STEPS)), timeout=60)
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    steps = {s["service"]: s for s in done["steps"]}
    assert steps["profile"]["rows"] == {"things": 3}  # the first report stands
    async with connection(runtime.pool) as conn:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE subject_id = $1 ORDER BY id", erasure_id
        )]  # fmt: skip
    assert actions == ["erasure.request", *["erasure.step_done"] * len(ERASURE_STEPS), "erasure.completed"]


async def test_the_command_line_asks_as_the_api_does(
    env: TestEnv, privacy: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    _, client = privacy
    customer_id = f"cus_{uuid.uuid4().hex}"
    erasure_id = await cli.erase(
        env.settings(PrivacySettings), customer_id=customer_id, reason="legal-obligation", note="court order 12",
        by="dpo",
    )  # fmt: skip
    shown = (await client.get(f"/v1/erasures/{erasure_id}", headers=ADMIN)).json()
    assert (shown["requested_by"], shown["reason"], shown["status"]) == ("cli:dpo", "legal-obligation", "in_progress")
    assert (await cli.show(env.settings(PrivacySettings), erasure_id) or {})["erasure_id"] == erasure_id

    def requested(events: list[Envelope[Any]]) -> list[ErasureRequestedV1]:
        return [e.payload for e in events if isinstance(e.payload, ErasureRequestedV1) and e.subject_id == erasure_id]

    [published] = requested(await env.events("privacy.erasures.v1", until=lambda evs: bool(requested(evs))))
    assert published.customer_id == customer_id
