"""Profile's work queues on the real broker and database: data-quality tasks by tier, company and
account manager (tasks route to the traveller's account manager, from the value snapshot in
profile's customer view), and suspected duplicates by tier."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.value import AccountManagerV1, ChurnV1, CustomerValueSnapshotV1, RfmV1
from services.kit.db import connection
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from tests.harness import TestEnv, wait_until
from tests.integration.test_profile_reviews import AGENT, name, post_record, three_alike


async def managed(env: TestEnv, runtime: ServiceRuntime, customer_id: str, tier: str, manager: str) -> None:
    """The value service's snapshot of a traveller with an account manager, as profile's view receives it."""
    now = datetime.now(UTC)
    snapshot = CustomerValueSnapshotV1(
        customer_id=customer_id, version=1, tier=tier, tier_label=tier.title(),  # type: ignore[arg-type]
        rfm=RfmV1(recency_days=3, frequency=14, monetary=Decimal("30000"), currency="EUR", window_days=365,
                  r_score=5, f_score=5, m_score=5),
        churn=ChurnV1(risk="low", stage="active", reason="travels as usual"),
        account_manager=AccountManagerV1(kind="agent", id=manager, assigned_by="sup", assigned_at=now),
        updated_at=now,
    )  # fmt: skip
    await env.publish("value.customers.v1", Envelope.new(snapshot, producer="value", subject_id=customer_id))

    async def arrived() -> bool:
        async with connection(runtime.pool) as conn:
            return await lookup(conn, "value", customer_id) is not None

    await wait_until(arrived)


async def conflicted(client: httpx.AsyncClient) -> str:
    """A traveller two systems disagree about (date of birth): an open data-quality task."""
    given, family = name(), name()
    email = f"{given}.{family}@example.com".lower()
    a = await post_record(client, "crm", f"A-{family}", given_name=given, family_name=family, email=email,
                          date_of_birth="1980-01-02")  # fmt: skip
    b = await post_record(client, "hr", f"B-{family}", given_name=given, family_name=family, email=email,
                          date_of_birth="1981-03-04")  # fmt: skip
    assert a == b
    return a


async def tasks(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/queues/quality-tasks", params={"limit": 100, **params}, headers=AGENT)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_quality_tasks_route_to_the_account_manager_and_filter_by_tier(
    env: TestEnv,
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    maria = f"maria-{uuid.uuid4().hex[:6]}"
    mine, other = await conflicted(client), await conflicted(client)
    await managed(env, runtime, mine, "gold", maria)

    [task] = await tasks(client, account_manager=maria)
    assert task["customer_id"] == mine
    assert task["kind"] == "conflict:date_of_birth"
    assert task["account_manager"] == maria
    assert task["tier"] == "gold"
    assert await tasks(client, account_manager=f"nobody-{uuid.uuid4().hex[:6]}") == []

    gold = {t["customer_id"] for t in await tasks(client, tier="gold")}
    regular = {t["customer_id"] for t in await tasks(client, tier="regular")}
    assert mine in gold
    assert mine not in regular
    assert other in regular  # no value snapshot yet: the lowest tier
    assert other not in gold


async def test_suspected_duplicates_queue_matches_a_pair_by_either_travellers_tier(
    env: TestEnv,
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    a, b, c = await three_alike(client)
    await managed(env, runtime, a, "silver", f"tom-{uuid.uuid4().hex[:6]}")

    async def pairs(**params: Any) -> set[frozenset[str]]:
        r = await client.get("/v1/queues/reviews", params={"limit": 100, **params}, headers=AGENT)
        assert r.status_code == 200, r.text
        return {frozenset((i["customer_id"], i["candidate_id"])) for i in r.json()["items"]} & {
            frozenset(p) for p in ((a, b), (a, c), (b, c))
        }

    # A pair is one item of work: it is in a tier's queue when either traveller is of that tier.
    assert await pairs(tier="silver") == {frozenset((a, b)), frozenset((a, c))}
    assert await pairs(tier="regular") == {frozenset((a, b)), frozenset((a, c)), frozenset((b, c))}
    assert await pairs(tier="gold") == set()
