"""Feedback's work queues, dashboard figures and next best actions on the real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.value import ChurnV1, CustomerValueSnapshotV1, RfmV1
from services.kit.db import connection
from services.kit.view import lookup
from tests.harness import TestEnv, wait_until
from tests.integration.test_feedback_service import (  # noqa: F401 (the module's fixture, used by name)
    AGENT,
    OPS,
    Feedback,
    a_completed_trip,
    feedback,
    new_id,
)

pytestmark = pytest.mark.integration


async def a_tier(env: TestEnv, fb: Feedback, customer_id: str, company_id: str, tier: str) -> None:
    """The value service's snapshot of a traveller, as feedback's customer view receives it."""
    now = datetime.now(UTC)
    snapshot = CustomerValueSnapshotV1(
        customer_id=customer_id, version=1, company_id=company_id, tier=tier, tier_label=tier.title(),  # type: ignore[arg-type]
        rfm=RfmV1(recency_days=3, frequency=14, monetary=Decimal("30000"), currency="EUR", window_days=365,
                  r_score=5, f_score=5, m_score=5),
        churn=ChurnV1(risk="low", stage="active", reason="travels as usual"), updated_at=now,
    )  # fmt: skip
    await env.publish("value.customers.v1", Envelope.new(snapshot, producer="value", subject_id=customer_id))

    async def arrived() -> bool:
        async with connection(fb.runtime.pool) as conn:
            return await lookup(conn, "value", customer_id) is not None

    await wait_until(arrived)


async def test_low_scores_queue_by_tier_and_company_and_follow_up(env: TestEnv, feedback: Feedback) -> None:  # noqa: F811
    gold_company, other_company = new_id("com"), new_id("com")
    gold = await a_completed_trip(env, company_id=gold_company)
    plain = await a_completed_trip(env, company_id=other_company)
    happy = await a_completed_trip(env, company_id=gold_company)
    await a_tier(env, feedback, gold.customer_id, gold_company, "gold")
    # A detractor without a comment opens no case: only the queue remembers it.
    for survey, answer in ((gold, {"nps": 2}), (plain, {"csat": 2, "nps": 5}), (happy, {"csat": 5, "nps": 10})):
        r = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json=answer)
        assert r.status_code in (200, 201), r.text

    by_company = await feedback.http.get("/v1/queues/low-scores", params={"company_id": gold_company}, headers=AGENT)
    assert by_company.status_code == 200, by_company.text
    page = by_company.json()
    assert [i["survey_id"] for i in page["items"]] == [gold.survey_id]
    assert page["total"] == 1
    assert page["items"][0]["tier"] == "gold"
    assert page["items"][0]["current_customer_id"] == gold.customer_id

    gold_only = await feedback.http.get("/v1/queues/low-scores", params={"tier": "gold", "limit": 200}, headers=AGENT)
    ids = {i["survey_id"] for i in gold_only.json()["items"]}
    assert gold.survey_id in ids
    assert plain.survey_id not in ids
    regular = await feedback.http.get(
        "/v1/queues/low-scores", params={"tier": "regular", "company_id": other_company}, headers=AGENT
    )
    assert [i["survey_id"] for i in regular.json()["items"]] == [plain.survey_id]

    # Following up takes it off the queue, once; a happy answer has nothing to follow up.
    done = await feedback.http.post(f"/v1/surveys/{gold.survey_id}/follow-up", json={"note": "called"}, headers=AGENT)
    assert done.status_code == 200, done.text
    assert done.json()["followed_up_by"] == "dev-agent"
    again = await feedback.http.post(f"/v1/surveys/{gold.survey_id}/follow-up", headers=AGENT)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    happy_up = await feedback.http.post(f"/v1/surveys/{happy.survey_id}/follow-up", headers=AGENT)
    assert happy_up.status_code == 409
    unknown = await feedback.http.post("/v1/surveys/nope/follow-up", headers=AGENT)
    assert unknown.status_code == 404
    after = await feedback.http.get("/v1/queues/low-scores", params={"company_id": gold_company}, headers=AGENT)
    assert after.json()["items"] == []
    assert after.json()["total"] == 0


async def test_case_queues_mine_unassigned_late_with_filters(env: TestEnv, feedback: Feedback) -> None:  # noqa: F811
    company = new_id("com")
    a = await a_completed_trip(env, company_id=company)
    b = await a_completed_trip(env, company_id=company)
    await a_tier(env, feedback, a.customer_id, company, "silver")
    mine = await feedback.http.post(
        "/v1/cases", json={"customer_id": a.customer_id, "subject": "Refund", "assignee": "dev-agent"}, headers=AGENT
    )
    loose = await feedback.http.post("/v1/cases", json={"customer_id": b.customer_id, "subject": "Seat"}, headers=AGENT)
    assert mine.status_code == 201, mine.text
    assert loose.status_code == 201, loose.text

    async def queue(name: str, **params: str) -> list[str]:
        r = await feedback.http.get("/v1/queues/cases", params={"queue": name, "company_id": company, **params},
                                    headers=AGENT)  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(r.json()["items"])
        return [i["case_id"] for i in r.json()["items"]]

    assert await queue("mine") == [mine.json()["case_id"]]
    assert await queue("unassigned") == [loose.json()["case_id"]]
    assert await queue("active", tier="silver") == [mine.json()["case_id"]]
    assert await queue("late") == []  # nothing is past its deadline yet

    # An escalation makes a case late; the case's answer carries who it is about.
    async with connection(feedback.runtime.pool) as conn:
        await conn.execute("UPDATE cases SET escalated = true WHERE case_id = $1", loose.json()["case_id"])
    assert await queue("late") == [loose.json()["case_id"]]
    r = await feedback.http.get("/v1/queues/cases", params={"queue": "escalated", "company_id": company}, headers=AGENT)
    item = r.json()["items"][0]
    assert item["current_customer_id"] == b.customer_id
    assert item["tier"] == "regular"

    bad = await feedback.http.get("/v1/queues/cases", params={"queue": "everything"}, headers=AGENT)
    assert bad.status_code == 422
    refused = await feedback.http.get("/v1/queues/cases", headers=OPS)
    assert refused.status_code == 403


async def test_score_breakdown_breaches_and_next_actions(env: TestEnv, feedback: Feedback) -> None:  # noqa: F811
    company = new_id("com")
    unhappy = await a_completed_trip(env, company_id=company)
    await a_tier(env, feedback, unhappy.customer_id, company, "gold")
    r = await feedback.http.post(f"/v1/surveys/{unhappy.token}/answers", json={"csat": 1, "comment": "Lost bag"})
    assert r.status_code in (200, 201), r.text

    breakdown = await feedback.http.get(
        "/v1/scores/breakdown", params={"by": "company", "company_id": company}, headers=OPS
    )
    assert breakdown.status_code == 200, breakdown.text
    groups = breakdown.json()["groups"]
    assert [g["key"] for g in groups] == [company]
    assert groups[0]["csat"]["responses"] == 1
    assert groups[0]["csat"]["average"] == 1.0
    month = await feedback.http.get("/v1/scores/breakdown", params={"by": "month", "company_id": company}, headers=OPS)
    assert [g["key"] for g in month.json()["groups"]] == [datetime.now(UTC).strftime("%Y-%m")]
    assert (await feedback.http.get("/v1/scores/breakdown", headers=AGENT)).status_code == 403
    naive = await feedback.http.get("/v1/scores/breakdown", params={"from": "2026-01-01T00:00:00"}, headers=OPS)
    assert naive.status_code == 422

    # The low score opened a case: the breach report counts it (nothing missed yet) under gold.
    breaches = await feedback.http.get("/v1/sla/breaches", headers=OPS)
    assert breaches.status_code == 200, breaches.text
    by_company = {g["key"]: g for g in breaches.json()["by_company"]}
    assert by_company[company]["cases"] == 1
    assert by_company[company]["breached"] == 0

    actions = await feedback.http.get(f"/v1/customers/{unhappy.customer_id}/next-actions", headers=AGENT)
    assert actions.status_code == 200, actions.text
    items = actions.json()["items"]
    assert [a["kind"] for a in items] == ["follow_up_low_score"]
    assert items[0]["priority"] == "high"
    assert "satisfaction 1/5" in items[0]["reason"]
    assert items[0]["facts"]["survey_id"] == unhappy.survey_id

    company_actions = await feedback.http.get(f"/v1/companies/{company}/next-actions", headers=AGENT)
    assert [a["customer_id"] for a in company_actions.json()["items"]] == [unhappy.customer_id]
    unknown = await feedback.http.get("/v1/customers/cus-nobody/next-actions", headers=AGENT)
    assert unknown.status_code == 404
