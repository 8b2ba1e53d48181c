"""Bookings to a tier visible in another service: profile → value → feedback's customer view, then a gold
traveller's case in feedback gets the tighter SLA and goes to the account manager a supervisor assigned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime

import httpx
import pytest

from services.feedback.bootstrap import build_definition as feedback_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.settings import FeedbackSettings
from services.kit.db import connection
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.profile.bootstrap import build_definition as profile_definition
from services.profile.settings import ProfileSettings
from services.value.bootstrap import build_definition as value_definition
from services.value.entrypoints.api import create_value_app
from services.value.settings import ValueSettings
from tests import builders
from tests.harness import TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def system(env: TestEnv) -> AsyncIterator[dict[str, ServiceRuntime]]:
    definitions = {
        "profile": profile_definition(env.settings(ProfileSettings)),
        "value": value_definition(env.settings(ValueSettings, gold_trips=2, silver_trips=1)),
        "feedback": feedback_definition(env.settings(FeedbackSettings)),
    }
    async with AsyncExitStack() as stack:
        yield {name: await stack.enter_async_context(env.running(d)) for name, d in definitions.items()}


def client(runtime: ServiceRuntime, app_factory: object) -> httpx.AsyncClient:
    app = app_factory(runtime, workers=False)  # type: ignore[operator]  # an AppFactory
    app.state.runtime = runtime
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_a_gold_tier_reaches_feedback_and_routes_the_travellers_case(
    env: TestEnv, system: dict[str, ServiceRuntime]
) -> None:
    traveller = builders.traveller(given_name="Gustav", family_name="Goldmann")
    first = builders.booking_created(traveller=traveller, traveller_id="T-gold-1")
    second = builders.booking_created(traveller=traveller, traveller_id="T-gold-1")
    await env.publish("booking.events.v1", first)
    await env.publish("booking.events.v1", second)

    async def gold_in_feedback() -> dict[str, object] | None:
        # This traveller's customer, by its own email: other tests of the session share the database.
        async with connection(system["feedback"].pool) as conn:
            rows = await conn.fetch(
                "SELECT customer_id FROM customer_view WHERE kind = 'customer' AND snapshot->>'email' = $1",
                traveller.email,
            )
            for r in rows:
                entry = await lookup(conn, "value", r["customer_id"])
                if entry is not None and entry.snapshot["tier"] == "gold":
                    return entry.snapshot
        return None

    snapshot = await wait_until(gold_in_feedback)
    customer_id = str(snapshot["customer_id"])
    assert snapshot["rfm"]["frequency"] == 2  # type: ignore[index]

    async with client(system["value"], create_value_app) as value_api:
        assigned = await value_api.put(
            f"/v1/customers/{customer_id}/account-manager",
            headers={"X-API-Key": "dev-supervisor-key"},
            json={"kind": "agent", "id": "anna.keller"},
        )
        assert assigned.status_code == 200, assigned.text

    async def manager_in_feedback() -> bool:
        async with connection(system["feedback"].pool) as conn:
            entry = await lookup(conn, "value", customer_id)
        return entry is not None and entry.snapshot["account_manager"] is not None

    await wait_until(manager_in_feedback)
    async with client(system["feedback"], create_feedback_app) as feedback_api:
        opened = await feedback_api.post(
            "/v1/cases",
            headers={"X-API-Key": "dev-agent-key"},
            json={"customer_id": customer_id, "subject": "Lost luggage", "kind": "complaint", "priority": "normal"},
        )
        assert opened.status_code == 201, opened.text
        case = opened.json()
    assert case["assignee"] == "anna.keller"
    opened_at = datetime.fromisoformat(case["opened_at"])
    # Normal priority answers within 24 h; a gold traveller's case within half of it (gold_sla_factor 0.5).
    assert (datetime.fromisoformat(case["first_response_due"]) - opened_at).total_seconds() == 12 * 3600
