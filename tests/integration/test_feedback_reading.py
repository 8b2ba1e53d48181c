"""Survey comments read on the real broker and database: cases from negative comments, topic trends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feedback.domain.reading import READER_VERSION
from services.feedback.service_layer import comment_reading
from services.kit.contracts.feedback import CaseChangedV1, SurveyAnsweredV1
from services.kit.db import connection
from tests.harness import TestEnv
from tests.integration.test_feedback_service import (  # the service fixture and its builders
    AGENT,
    OPS,
    Feedback,
    a_completed_trip,
    feedback,
    new_id,
)

pytestmark = pytest.mark.integration
__all__ = ["feedback"]


async def _answered_event(env: TestEnv, survey_id: str) -> SurveyAnsweredV1:
    events = await env.events(
        "feedback.surveys.v1",
        until=lambda evs: any(
            isinstance(e.payload, SurveyAnsweredV1) and e.payload.survey_id == survey_id for e in evs
        ),
    )
    return next(
        e.payload for e in events if isinstance(e.payload, SurveyAnsweredV1) and e.payload.survey_id == survey_id
    )


async def test_a_negative_chinese_comment_opens_a_case_with_its_topics(env: TestEnv, feedback: Feedback) -> None:
    survey = await a_completed_trip(env)

    answered = await feedback.http.post(
        f"/v1/surveys/{survey.token}/answers",
        json={"csat": 4, "nps": 8, "comment": "航班延误了五个小时，行李也丢了，没有人通知我们。"},
    )

    assert answered.status_code == 201, answered.text
    cases = await feedback.http.get("/v1/cases", params={"customer_id": survey.customer_id}, headers=AGENT)
    [case] = cases.json()["items"]
    assert case["survey_id"] == survey.survey_id
    assert case["kind"] == "complaint"
    assert case["reading"]["sentiment"] == "negative"
    assert set(case["reading"]["topics"]) == {"delay", "baggage"}
    assert case["priority"] in ("high", "urgent")  # a lost bag is urgent business whatever the scores say
    assert "baggage" in case["subject"]
    shown = await feedback.http.get(f"/v1/surveys/{survey.survey_id}", headers=AGENT)
    reading = shown.json()["reading"]
    assert (reading["language"], reading["sentiment"]) == ("zh", "negative")
    assert shown.json()["case_id"] == case["case_id"]
    published = await _answered_event(env, survey.survey_id)
    assert published.reading is not None
    assert (published.reading.language, published.reading.sentiment) == ("zh", "negative")
    assert set(published.reading.topics) == {"delay", "baggage"}


async def test_a_positive_german_comment_opens_no_case(env: TestEnv, feedback: Feedback) -> None:
    survey = await a_completed_trip(env)

    answered = await feedback.http.post(
        f"/v1/surveys/{survey.token}/answers",
        json={"csat": 5, "comment": "Das Hotel war wunderbar, sehr sauber, und der Flug war pünktlich."},
    )

    assert answered.status_code == 201, answered.text
    cases = await feedback.http.get("/v1/cases", params={"customer_id": survey.customer_id}, headers=AGENT)
    assert cases.json()["items"] == []
    reading = (await feedback.http.get(f"/v1/surveys/{survey.survey_id}", headers=AGENT)).json()["reading"]
    assert (reading["language"], reading["sentiment"]) == ("de", "positive")
    assert set(reading["topics"]) == {"hotel", "delay", "cleanliness"}


async def test_a_negative_comment_enriches_the_case_open_for_its_booking(env: TestEnv, feedback: Feedback) -> None:
    survey = await a_completed_trip(env)
    opened = await feedback.http.post(
        "/v1/cases",
        json={
            "customer_id": survey.customer_id,
            "subject": "Traveller called: the return flight was cancelled",
            "priority": "low",
            "source_system": "acme-gds",
            "booking_id": survey.booking_id,
        },
        headers=AGENT,
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    assert opened.json()["reading"]["survey_id"] is None  # read from the agent's subject

    answered = await feedback.http.post(
        f"/v1/surveys/{survey.token}/answers",
        json={"csat": 3, "comment": "Still no refund for the cancelled flight. Terrible, useless service."},
    )

    assert answered.status_code == 201, answered.text
    cases = (await feedback.http.get("/v1/cases", params={"customer_id": survey.customer_id}, headers=AGENT)).json()
    assert [c["case_id"] for c in cases["items"]] == [case_id]  # no second case
    case = (await feedback.http.get(f"/v1/cases/{case_id}", headers=AGENT)).json()
    assert case["reading"]["sentiment"] == "negative"
    assert {"refund", "cancellation"} <= set(case["reading"]["topics"])
    assert case["priority"] in ("high", "urgent")  # raised from low by the comment
    read = [h for h in case["history"] if h["action"] == "comment_read"]
    assert len(read) == 1
    assert read[0]["detail"]["survey_id"] == survey.survey_id
    shown = await feedback.http.get(f"/v1/surveys/{survey.survey_id}", headers=AGENT)
    assert shown.json()["case_id"] == case_id  # the survey leads to the case its comment went to
    changes = await env.events(
        "feedback.cases.v1",
        until=lambda evs: any(isinstance(e.payload, CaseChangedV1) and e.payload.case_id == case_id for e in evs),
    )
    changed = next(e.payload for e in changes if isinstance(e.payload, CaseChangedV1) and e.payload.case_id == case_id)
    assert changed.priority == case["priority"]


async def test_topic_trends_count_comments_per_month_topic_and_tier(env: TestEnv, feedback: Feedback) -> None:
    company_id = new_id("com")
    gold = await a_completed_trip(env, company_id=company_id)
    others = [await a_completed_trip(env, company_id=company_id) for _ in range(2)]
    elsewhere = await a_completed_trip(env, company_id=new_id("com"))
    for survey, comment in (
        (gold, "The hotel room was dirty and the staff were rude."),
        (others[0], "Das Hotel war wunderbar und sehr ruhig."),
        (others[1], "航班延误了三个小时。"),
        (elsewhere, "The hotel was awful."),
    ):
        response = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json={"csat": 3, "comment": comment})
        assert response.status_code == 201, response.text
    # The gold traveller's value snapshot, as the value service's would land in the customer view.
    async with connection(feedback.runtime.pool) as conn:
        await conn.execute(
            "INSERT INTO customer_view (kind, customer_id, version, snapshot, occurred_at)"
            " VALUES ('value', $1, 1, $2::json, now())",
            gold.customer_id,
            {"customer_id": gold.customer_id, "tier": "gold"},  # the pool encodes json
        )

    trends = await feedback.http.get("/v1/topics/trends", params={"company_id": company_id}, headers=OPS)

    assert trends.status_code == 200, trends.text
    [month] = trends.json()["months"]
    assert month["month"] == datetime.now(UTC).strftime("%Y-%m")
    assert month["comments"] == 3
    topics = {t["topic"]: t for t in month["topics"]}
    assert (topics["hotel"]["comments"], topics["hotel"]["negative"], topics["hotel"]["negative_share"]) == (2, 1, 0.5)
    assert (topics["delay"]["comments"], topics["delay"]["negative"]) == (1, 1)
    assert topics["hotel"]["share_of_comments"] == round(2 / 3, 4)

    only_gold = await feedback.http.get(
        "/v1/topics/trends", params={"company_id": company_id, "tier": "gold"}, headers=OPS
    )
    [gold_month] = only_gold.json()["months"]
    assert gold_month["comments"] == 1
    assert {t["topic"] for t in gold_month["topics"]} == {"hotel", "cleanliness"}
    refused = await feedback.http.get("/v1/topics/trends", headers=AGENT)
    assert refused.status_code == 403


async def test_comments_answered_before_reading_existed_are_read_by_the_command(
    env: TestEnv, feedback: Feedback
) -> None:
    survey = await a_completed_trip(env)
    answered = await feedback.http.post(
        f"/v1/surveys/{survey.token}/answers", json={"csat": 4, "comment": "Der Mietwagen war sauber und günstig."}
    )
    assert answered.status_code == 201, answered.text
    pool = feedback.runtime.pool
    async with connection(pool) as conn:  # as if answered before comment reading existed
        await conn.execute("DELETE FROM comment_readings WHERE survey_id = $1", survey.survey_id)

    read = await comment_reading.read_stored_comments(pool, reread=False, now=datetime.now(UTC))

    assert read >= 1
    reading = (await feedback.http.get(f"/v1/surveys/{survey.survey_id}", headers=AGENT)).json()["reading"]
    assert (reading["language"], reading["sentiment"], reading["topics"]) == (
        "de",
        "positive",
        ["price", "car", "cleanliness"],
    )
    async with connection(pool) as conn:  # an older reader's reading is read again only when asked
        await conn.execute("UPDATE comment_readings SET reader = 'reading-0' WHERE survey_id = $1", survey.survey_id)
    await comment_reading.read_stored_comments(pool, reread=False, now=datetime.now(UTC))
    async with connection(pool) as conn:
        assert (
            await conn.fetchval("SELECT reader FROM comment_readings WHERE survey_id = $1", survey.survey_id)
            == "reading-0"
        )
    await comment_reading.read_stored_comments(pool, reread=True, now=datetime.now(UTC))
    async with connection(pool) as conn:
        assert (
            await conn.fetchval("SELECT reader FROM comment_readings WHERE survey_id = $1", survey.survey_id)
            == READER_VERSION
        )


async def test_topic_trends_refuse_periods_they_cannot_answer(feedback: Feedback) -> None:
    for params in (
        {"from": "2026-05-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},  # backwards
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},  # more than three years
        {"to": "0001-01-02T00:00:00Z"},  # no year before it to default to
        {"from": "2026-01-01T00:00:00"},  # no time zone
    ):
        response = await feedback.http.get("/v1/topics/trends", params=params, headers=OPS)
        assert response.status_code == 422, (params, response.text)
