"""The feedback service on the real broker and database: trips to surveys, answers to cases, the API."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.feedback.bootstrap import build_definition
from services.feedback.domain.cases import CaseKind, Priority
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.service_layer import handlers
from services.feedback.settings import FeedbackSettings
from services.kit.contracts.bookings import FlightSegmentV1
from services.kit.contracts.customers import BookingKind, CustomerRedirectV1, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import CaseEscalatedV1, CaseOpenedV1, SurveyAnsweredV1, SurveyInvitedV1
from services.kit.db import connection
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from tests import builders
from tests.harness import TestEnv, wait_until

pytestmark = pytest.mark.integration

BASE_URL = "https://feedback.example.test"
AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
OPS = {"X-API-Key": "dev-ops-key"}
BOOKING_SYSTEM = {"X-API-Key": "dev-booking-system-key"}
PROBLEM_JSON = "application/problem+json"


@dataclass
class Feedback:
    runtime: ServiceRuntime
    http: httpx.AsyncClient
    settings: FeedbackSettings


@pytest.fixture(scope="module")
async def feedback(env: TestEnv) -> AsyncIterator[Feedback]:
    """The feedback service's runtime (consumers, relay, jobs) and an HTTP client on its app."""
    settings = env.settings(FeedbackSettings, public_base_url=BASE_URL)
    async with env.running(build_definition(settings)) as runtime:
        app = create_feedback_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://feedback.test") as client:
            yield Feedback(runtime, client, settings)


# --- builders and readers ----------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def resolved_booking(
    kind: BookingKind,
    *,
    customer_id: str,
    booking_id: str,
    company_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[ResolvedBookingV1]:
    """A booking event as profile re-publishes it on `profile.bookings.v1`."""
    departure = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    segments = (
        (
            FlightSegmentV1(
                carrier="LH",
                flight_number="400",
                origin="FRA",
                destination="JFK",
                departure_at=departure,
                arrival_at=departure + timedelta(hours=8, minutes=40),
            ),
        )
        if kind in ("created", "changed")
        else ()
    )
    payload = ResolvedBookingV1(
        customer_id=customer_id,
        company_id=company_id,
        kind=kind,
        source_event_id=str(uuid.uuid4()),
        source_system="acme-gds",
        booking_id=booking_id,
        segments=segments,
        occurred_at=occurred_at or datetime.now(UTC),
    )
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


async def invitations(env: TestEnv, *, until_booking: str) -> list[SurveyInvitedV1]:
    """Every invitation on the topic, read until the one for `until_booking` has arrived."""

    def invited(events: list[Envelope[Any]]) -> list[SurveyInvitedV1]:
        return [e.payload for e in events if isinstance(e.payload, SurveyInvitedV1)]

    events = await env.events(
        "feedback.surveys.v1", until=lambda evs: any(p.booking_id == until_booking for p in invited(evs))
    )
    return invited(events)


@dataclass(frozen=True)
class InvitedSurvey:
    survey_id: str
    token: str
    customer_id: str
    booking_id: str
    invitation: SurveyInvitedV1


async def a_completed_trip(
    env: TestEnv, *, customer_id: str | None = None, company_id: str | None = None
) -> InvitedSurvey:
    """Publish a booking and its completion; returns the survey it was invited to."""
    customer_id = customer_id or new_id("cus")
    booking_id = new_id("BK")
    await env.publish(
        "profile.bookings.v1",
        resolved_booking("created", customer_id=customer_id, booking_id=booking_id, company_id=company_id),
    )
    await env.publish(
        "profile.bookings.v1",
        resolved_booking("trip_completed", customer_id=customer_id, booking_id=booking_id, company_id=company_id),
    )
    invitation = next(i for i in await invitations(env, until_booking=booking_id) if i.booking_id == booking_id)
    token = builders.survey_link(invitation).rsplit("/surveys/", 1)[1]
    return InvitedSurvey(invitation.survey_id, token, invitation.customer_id, booking_id, invitation)


def token_of(record: tuple[bytes | None, bytes | None, dict[str, bytes]], invite: SurveyInvitedV1) -> bool:
    """Whether a raw record is the invitation's event."""
    return record[1] is not None and invite.survey_id.encode() in record[1]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- surveys from trips --------------------------------------------------------------------------


async def test_one_survey_per_completed_booking_even_when_completion_repeats(env: TestEnv, feedback: Feedback) -> None:
    customer_id, booking_id, sentinel = new_id("cus"), new_id("BK"), new_id("BK")
    created = resolved_booking("created", customer_id=customer_id, booking_id=booking_id, company_id="com-1")
    completed = resolved_booking("trip_completed", customer_id=customer_id, booking_id=booking_id)
    completed_again = resolved_booking("trip_completed", customer_id=customer_id, booking_id=booking_id)
    for event in (created, completed, completed, completed_again):  # the same event twice, then a new one
        await env.publish("profile.bookings.v1", event)
    # Same key, same partition: once the sentinel's invitation is out, everything before it was handled.
    await env.publish(
        "profile.bookings.v1", resolved_booking("trip_completed", customer_id=customer_id, booking_id=sentinel)
    )

    invites = [i for i in await invitations(env, until_booking=sentinel) if i.booking_id == booking_id]

    assert len(invites) == 1
    invite = invites[0]
    assert invite.customer_id == customer_id
    assert invite.source_system == "acme-gds"
    url = builders.survey_link(invite)
    assert url.startswith(f"{BASE_URL}/surveys/")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 40
    async with connection(feedback.runtime.pool) as conn:
        rows = await conn.fetch(
            "SELECT * FROM surveys WHERE source_system = 'acme-gds' AND booking_id = $1", booking_id
        )
        trip = await conn.fetchrow("SELECT * FROM trips WHERE booking_id = $1", booking_id)
    assert len(rows) == 1
    row = rows[0]
    assert row["survey_id"] == invite.survey_id
    assert row["customer_id"] == customer_id
    assert row["company_id"] == "com-1"
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()  # the token itself is not stored
    # The link is the traveller's credential: nothing on the topic shows it in clear.
    raw = await env.read_topic("feedback.surveys.v1", until=lambda rs: any(token_of(r, invite) for r in rs))
    assert not any(value is not None and token.encode() in value for _, value, _ in raw)
    assert row["expires_at"] - row["created_at"] == timedelta(days=14)
    assert row["expires_at"] == invite.expires_at
    assert trip is not None
    assert trip["status"] == "completed"
    assert trip["customer_id"] == customer_id
    assert trip["summary"]["route"] == ["FRA", "JFK"]


async def test_invitation_is_keyed_by_customer_and_caused_by_the_booking_event(
    env: TestEnv, feedback: Feedback
) -> None:
    customer_id, booking_id = new_id("cus"), new_id("BK")
    completed = resolved_booking("trip_completed", customer_id=customer_id, booking_id=booking_id)
    await env.publish("profile.bookings.v1", completed)
    records = await env.read_topic(
        "feedback.surveys.v1", until=lambda rs: any(booking_id.encode() in (v or b"") for _, v, _ in rs)
    )
    key, _, headers = next(r for r in records if booking_id.encode() in (r[1] or b""))
    assert key == customer_id.encode()
    assert headers["event_type"] == b"survey.invited"
    assert headers["correlation_id"] == str(completed.correlation_id).encode()


async def test_a_cancelled_booking_gets_no_survey(env: TestEnv, feedback: Feedback) -> None:
    customer_id, booking_id, sentinel = new_id("cus"), new_id("BK"), new_id("BK")
    for kind in ("created", "cancelled", "trip_completed"):
        await env.publish("profile.bookings.v1", resolved_booking(kind, customer_id=customer_id, booking_id=booking_id))
    await env.publish(
        "profile.bookings.v1", resolved_booking("trip_completed", customer_id=customer_id, booking_id=sentinel)
    )

    invites = await invitations(env, until_booking=sentinel)

    assert not [i for i in invites if i.booking_id == booking_id]
    async with connection(feedback.runtime.pool) as conn:
        status = await conn.fetchval("SELECT status FROM trips WHERE booking_id = $1", booking_id)
        surveys = await conn.fetchval("SELECT count(*) FROM surveys WHERE booking_id = $1", booking_id)
    assert status == "cancelled"
    assert surveys == 0


async def test_a_merged_customer_is_surveyed_under_the_surviving_id(env: TestEnv, feedback: Feedback) -> None:
    survivor, absorbed = new_id("cus"), new_id("cus")
    now = datetime.now(UTC)
    snapshot = CustomerSnapshotV1(customer_id=survivor, version=3, display_name="Ann Lee", updated_at=now)
    redirect = CustomerRedirectV1(customer_id=absorbed, merged_into=survivor, merged_at=now)
    await env.publish("profile.customers.v1", Envelope.new(snapshot, producer="profile", subject_id=survivor))
    await env.publish("profile.customers.v1", Envelope.new(redirect, producer="profile", subject_id=absorbed))

    async def merged() -> bool:
        async with connection(feedback.runtime.pool) as conn:
            entry = await lookup(conn, "customer", absorbed)
        return entry is not None and entry.customer_id == survivor

    await wait_until(merged)

    survey = await a_completed_trip(env, customer_id=absorbed)

    assert survey.customer_id == survivor
    listed = await feedback.http.get(f"/v1/customers/{absorbed}/surveys", headers=AGENT)
    assert listed.status_code == 200, listed.text
    assert listed.json()["customer_id"] == survivor
    assert [s["survey_id"] for s in listed.json()["items"]] == [survey.survey_id]


# --- answering -----------------------------------------------------------------------------------


async def test_a_low_score_is_published_and_opens_a_complaint_case(env: TestEnv, feedback: Feedback) -> None:
    survey = await a_completed_trip(env)

    answered = await feedback.http.post(
        f"/v1/surveys/{survey.token}/answers", json={"csat": 1, "nps": 3, "comment": "Flight cancelled, no help"}
    )

    assert answered.status_code == 201, answered.text
    assert answered.json()["survey_id"] == survey.survey_id
    events = await env.events(
        "feedback.surveys.v1",
        until=lambda evs: any(
            isinstance(e.payload, SurveyAnsweredV1) and e.payload.survey_id == survey.survey_id for e in evs
        ),
    )
    answer = next(
        e for e in events if isinstance(e.payload, SurveyAnsweredV1) and e.payload.survey_id == survey.survey_id
    )
    assert (answer.payload.csat, answer.payload.nps) == (1, 3)
    assert answer.payload.comment == "Flight cancelled, no help"
    assert answer.subject_id == survey.customer_id

    cases = await feedback.http.get("/v1/cases", params={"customer_id": survey.customer_id}, headers=AGENT)
    assert cases.status_code == 200, cases.text
    [case] = cases.json()["items"]
    assert case["survey_id"] == survey.survey_id
    assert case["kind"] == "complaint"
    assert case["source"] == "survey"
    assert case["status"] == "open"
    assert case["priority"] == "high"
    assert case["booking_id"] == survey.booking_id
    assert case["description"] == "Flight cancelled, no help"
    opened = datetime.fromisoformat(case["opened_at"])
    assert datetime.fromisoformat(case["first_response_due"]) - opened == timedelta(hours=4)
    assert datetime.fromisoformat(case["resolution_due"]) - opened == timedelta(days=5)

    again = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json={"csat": 5})
    assert_problem(again, 409)

    shown = await feedback.http.get(f"/v1/surveys/{survey.survey_id}", headers=AGENT)
    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "answered"
    assert shown.json()["csat"] == 1
    assert shown.json()["case_id"] == case["case_id"]

    published = await env.events(
        "feedback.cases.v1", until=lambda evs: any(e.payload.case_id == case["case_id"] for e in evs)
    )
    opened = next(e.payload for e in published if e.payload.case_id == case["case_id"])
    assert isinstance(opened, CaseOpenedV1)
    assert (opened.source, opened.priority, opened.status) == ("survey", "high", "open")
    assert opened.survey_id == survey.survey_id


async def test_a_good_score_opens_no_case(env: TestEnv, feedback: Feedback) -> None:
    survey = await a_completed_trip(env)

    answered = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json={"csat": 5, "nps": 10})

    assert answered.status_code == 201, answered.text
    cases = await feedback.http.get("/v1/cases", params={"customer_id": survey.customer_id}, headers=AGENT)
    assert cases.json()["items"] == []


async def test_invalid_answers_are_refused_with_the_field_named(env: TestEnv, feedback: Feedback) -> None:
    survey = await a_completed_trip(env)

    too_high = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json={"csat": 6})
    nothing = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json={"comment": "hi"})

    assert "csat" in assert_problem(too_high, 422)["detail"]
    assert_problem(nothing, 422)
    shown = await feedback.http.get(f"/v1/surveys/{survey.survey_id}", headers=AGENT)
    assert shown.json()["state"] == "pending"


async def test_unknown_and_expired_survey_links(env: TestEnv, feedback: Feedback) -> None:
    assert_problem(await feedback.http.get("/surveys/not-a-real-token"), 404)
    assert_problem(await feedback.http.post("/v1/surveys/not-a-real-token/answers", json={"csat": 3}), 404)

    survey = await a_completed_trip(env)
    async with connection(feedback.runtime.pool) as conn:
        await conn.execute(
            "UPDATE surveys SET expires_at = now() - interval '1 day' WHERE survey_id = $1", survey.survey_id
        )

    assert_problem(await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json={"csat": 3}), 410)
    assert_problem(await feedback.http.get(f"/surveys/{survey.token}"), 410)
    page = await feedback.http.get(f"/surveys/{survey.token}", headers={"Accept": "text/html"})
    assert page.status_code == 410
    assert page.headers["content-type"].startswith("text/html")
    assert "expired" in page.text


async def test_the_html_form_round_trip(env: TestEnv, feedback: Feedback) -> None:
    customer_id = new_id("cus")
    booking_id = f"BK-<script>alert(1)</script>-{uuid.uuid4().hex[:6]}"
    await env.publish(
        "profile.bookings.v1", resolved_booking("created", customer_id=customer_id, booking_id=booking_id)
    )
    await env.publish(
        "profile.bookings.v1", resolved_booking("trip_completed", customer_id=customer_id, booking_id=booking_id)
    )
    invite = next(i for i in await invitations(env, until_booking=booking_id) if i.booking_id == booking_id)
    token = builders.survey_link(invite).rsplit("/", 1)[1]
    html = {"Accept": "text/html"}

    form = await feedback.http.get(f"/surveys/{token}", headers=html)

    assert form.status_code == 200
    assert form.headers["content-type"].startswith("text/html")
    assert form.headers["referrer-policy"] == "no-referrer"
    assert form.headers["cache-control"] == "no-store"
    assert "<script>alert(1)</script>" not in form.text  # autoescaped
    assert "BK-&lt;script&gt;alert(1)&lt;/script&gt;" in form.text
    assert "FRA → JFK" in form.text
    assert 'name="csat"' in form.text
    assert 'name="nps"' in form.text
    assert 'name="comment"' in form.text

    bad = await feedback.http.post(f"/surveys/{token}", data={"csat": "9", "comment": "<b>hi</b>"}, headers=html)
    assert bad.status_code == 422
    assert "csat must be between 1 and 5" in bad.text
    assert "&lt;b&gt;hi&lt;/b&gt;" in bad.text

    sent = await feedback.http.post(f"/surveys/{token}", data={"csat": "4", "nps": "8", "comment": "ok"}, headers=html)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{BASE_URL}/surveys/{token}"

    thanks = await feedback.http.get(f"/surveys/{token}", headers=html)
    assert thanks.status_code == 200
    assert "Thank you" in thanks.text

    twice_html = await feedback.http.post(f"/surveys/{token}", data={"csat": "1"}, headers=html)
    assert twice_html.status_code == 409
    assert twice_html.headers["content-type"].startswith("text/html")
    assert_problem(await feedback.http.post(f"/surveys/{token}", data={"csat": "1"}), 409)

    shown = await feedback.http.get(f"/v1/surveys/{invite.survey_id}", headers=AGENT)
    assert (shown.json()["csat"], shown.json()["nps"], shown.json()["comment"]) == (4, 8, "ok")


# --- cases through the API -----------------------------------------------------------------------


async def test_api_keys_and_roles(feedback: Feedback) -> None:
    assert_problem(await feedback.http.get("/v1/cases"), 401)
    assert_problem(await feedback.http.get("/v1/cases", headers={"X-API-Key": "wrong"}), 401)
    assert_problem(await feedback.http.get("/v1/cases", headers=BOOKING_SYSTEM), 403)
    assert_problem(await feedback.http.post("/v1/cases", json={}, headers=BOOKING_SYSTEM), 403)
    assert_problem(await feedback.http.get("/v1/scores", headers=AGENT), 403)
    assert_problem(await feedback.http.get("/v1/surveys/srv_x", headers=OPS), 403)
    assert (await feedback.http.get("/v1/cases", headers=AGENT)).status_code == 200
    assert (await feedback.http.get("/v1/scores", headers=OPS)).status_code == 200
    assert (await feedback.http.get("/v1/scores", headers=SUPERVISOR)).status_code == 200


async def test_invalid_case_bodies_name_the_field(feedback: Feedback) -> None:
    missing = await feedback.http.post("/v1/cases", json={"subject": "Refund"}, headers=AGENT)
    body = assert_problem(missing, 422)
    assert "customer_id" in body["detail"]
    assert [e["field"] for e in body["errors"]] == ["customer_id"]

    bad_priority = await feedback.http.post(
        "/v1/cases", json={"customer_id": "cus-1", "subject": "Refund", "priority": "asap"}, headers=AGENT
    )
    assert "priority" in assert_problem(bad_priority, 422)["detail"]

    unknown_field = await feedback.http.post(
        "/v1/cases", json={"customer_id": "cus-1", "subject": "Refund", "colour": "red"}, headers=AGENT
    )
    assert "colour" in assert_problem(unknown_field, 422)["detail"]


async def test_unknown_case_and_survey_are_404(feedback: Feedback) -> None:
    assert_problem(await feedback.http.get("/v1/cases/case_nope", headers=AGENT), 404)
    assert_problem(await feedback.http.patch("/v1/cases/case_nope", json={"note": "x"}, headers=AGENT), 404)
    assert_problem(await feedback.http.get("/v1/surveys/srv_nope", headers=AGENT), 404)


async def a_known_customer(env: TestEnv, feedback: Feedback) -> str:
    """A customer whose snapshot reached feedback's copy of the customer view."""
    customer_id = new_id("cus")
    snapshot = CustomerSnapshotV1(
        customer_id=customer_id, version=1, display_name="Ann Lee", updated_at=datetime.now(UTC)
    )
    await env.publish("profile.customers.v1", Envelope.new(snapshot, producer="profile", subject_id=customer_id))

    async def in_view() -> bool:
        async with connection(feedback.runtime.pool) as conn:
            return await lookup(conn, "customer", customer_id) is not None

    await wait_until(in_view)
    return customer_id


async def test_an_agent_works_a_case_and_a_supervisor_closes_it(env: TestEnv, feedback: Feedback) -> None:
    customer_id = await a_known_customer(env, feedback)
    created = await feedback.http.post(
        "/v1/cases",
        json={"customer_id": customer_id, "subject": "Refund for the missed connection", "kind": "request"},
        headers=AGENT,
    )
    assert created.status_code == 201, created.text
    case = created.json()
    case_id = case["case_id"]
    assert (case["status"], case["priority"], case["kind"], case["source"]) == ("open", "normal", "request", "agent")
    assert case["opened_by"] == "dev-agent"
    opened = datetime.fromisoformat(case["opened_at"])
    assert datetime.fromisoformat(case["first_response_due"]) - opened == timedelta(hours=24)

    worked = await feedback.http.patch(
        f"/v1/cases/{case_id}",
        json={"status": "in_progress", "assignee": "anna", "note": "Called the airline"},
        headers=AGENT,
    )
    assert worked.status_code == 200, worked.text
    assert worked.json()["assignee"] == "anna"
    assert worked.json()["first_response_at"] is not None
    assert [h["action"] for h in worked.json()["history"]] == ["opened", "note", "assigned", "status_changed"]

    assert_problem(await feedback.http.patch(f"/v1/cases/{case_id}", json={"status": "open"}, headers=AGENT), 409)
    assert_problem(await feedback.http.patch(f"/v1/cases/{case_id}", json={}, headers=AGENT), 422)
    resolved = await feedback.http.patch(f"/v1/cases/{case_id}", json={"status": "resolved"}, headers=AGENT)
    assert resolved.json()["status"] == "resolved"
    forbidden = await feedback.http.patch(f"/v1/cases/{case_id}", json={"status": "closed"}, headers=AGENT)
    assert_problem(forbidden, 403)
    unassigned = await feedback.http.patch(f"/v1/cases/{case_id}", json={"assignee": None}, headers=AGENT)
    assert unassigned.json()["assignee"] is None

    closed = await feedback.http.patch(f"/v1/cases/{case_id}", json={"status": "closed"}, headers=SUPERVISOR)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["next_statuses"] == []
    assert closed.json()["history"][-1]["actor"] == "dev-supervisor"

    listed = await feedback.http.get(
        "/v1/cases", params={"customer_id": customer_id, "status": "closed"}, headers=AGENT
    )
    assert [c["case_id"] for c in listed.json()["items"]] == [case_id]
    none_open = await feedback.http.get(
        "/v1/cases", params={"customer_id": customer_id, "status": "open"}, headers=AGENT
    )
    assert none_open.json()["items"] == []

    # Who opened, changed and read the traveller's cases is audited (the note's text is not copied there).
    async with feedback.runtime.pool.acquire() as conn:
        audited = await conn.fetch(
            "SELECT principal, action, detail FROM audit_log WHERE subject_id = $1 ORDER BY id", customer_id
        )
    actions = [(r["principal"], r["action"]) for r in audited]
    assert actions[:2] == [("dev-agent", "case.open"), ("dev-agent", "case.change")]
    assert ("dev-supervisor", "case.change") in actions
    assert ("dev-agent", "cases.read") in actions
    assert "Called the airline" not in str([r["detail"] for r in audited])


async def test_overdue_cases_are_escalated_once_and_show_as_breached(env: TestEnv, feedback: Feedback) -> None:
    customer_id = new_id("cus")
    long_ago = datetime.now(UTC) - timedelta(days=2)
    command = handlers.OpenCase(
        customer_id=customer_id,
        subject="Hotel overbooked",
        description="",
        kind=CaseKind.COMPLAINT,
        priority=Priority.NORMAL,
        assignee=None,
        source_system=None,
        booking_id=None,
    )
    async with connection(feedback.runtime.pool, transaction=True) as conn:
        case = await handlers.open_case(
            conn, command, actor="dev-agent", now=long_ago, policy=feedback.settings.sla_policy()
        )
    fresh = await feedback.http.post("/v1/cases", json={"customer_id": customer_id, "subject": "New"}, headers=AGENT)
    fresh_id = fresh.json()["case_id"]

    breached = await feedback.http.get(
        "/v1/cases", params={"customer_id": customer_id, "breached": "true"}, headers=AGENT
    )
    kept = await feedback.http.get("/v1/cases", params={"customer_id": customer_id, "breached": "false"}, headers=AGENT)
    assert [c["case_id"] for c in breached.json()["items"]] == [case.case_id]
    assert breached.json()["items"][0]["breaches"] == ["first_response"]
    assert [c["case_id"] for c in kept.json()["items"]] == [fresh_id]

    now = datetime.now(UTC)
    first = await handlers.escalate_due_cases(feedback.runtime.pool, now=now, batch_size=2)
    second = await handlers.escalate_due_cases(feedback.runtime.pool, now=now, batch_size=2)

    assert case.case_id in first
    assert fresh_id not in first
    assert case.case_id not in second
    shown = (await feedback.http.get(f"/v1/cases/{case.case_id}", headers=AGENT)).json()
    assert shown["escalated"] is True
    assert shown["priority"] == "high"
    assert shown["escalations"] == ["first_response"]
    escalation = shown["history"][-1]
    assert (escalation["action"], escalation["actor"]) == ("escalated", "sla-monitor")
    assert escalation["detail"]["targets"] == "first_response"

    published = await env.events(
        "feedback.cases.v1",
        until=lambda evs: any(
            isinstance(e.payload, CaseEscalatedV1) and e.payload.case_id == case.case_id for e in evs
        ),
    )
    kinds = [type(e.payload).__name__ for e in published if e.payload.case_id == case.case_id]
    assert kinds == ["CaseOpenedV1", "CaseEscalatedV1"]
    escalated = next(e.payload for e in published if isinstance(e.payload, CaseEscalatedV1))
    assert escalated.missed_targets == ("first_response",)
    assert escalated.priority == "high"


# --- scores --------------------------------------------------------------------------------------


async def test_scores_for_a_company(env: TestEnv, feedback: Feedback) -> None:
    company_id = new_id("com")
    happy = await a_completed_trip(env, company_id=company_id)
    unhappy = await a_completed_trip(env, company_id=company_id)
    other = await a_completed_trip(env, company_id=new_id("com"))
    for survey, answer in (
        (happy, {"csat": 5, "nps": 10}),
        (unhappy, {"csat": 2, "nps": 4, "comment": "Late pickup"}),
        (other, {"csat": 1, "nps": 0}),
    ):
        response = await feedback.http.post(f"/v1/surveys/{survey.token}/answers", json=answer)
        assert response.status_code == 201, response.text

    scores = await feedback.http.get("/v1/scores", params={"company_id": company_id}, headers=OPS)

    assert scores.status_code == 200, scores.text
    body = scores.json()
    assert body["csat"]["responses"] == 2
    assert body["csat"]["average"] == 3.5
    assert body["csat"]["satisfied_share"] == 0.5
    assert body["nps"] == {"responses": 2, "score": 0.0, "promoters": 1, "passives": 0, "detractors": 1}

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = await feedback.http.get("/v1/scores", params={"company_id": company_id, "from": later}, headers=OPS)
    assert_problem(empty, 422)  # `from` after the default `to` (now)
