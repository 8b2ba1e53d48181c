"""Feedback use cases: trips to surveys, answers to scores and cases, cases through their SLA.

Each handler runs inside the caller's transaction (the consumer's savepoint or an API
request's transaction) and writes its events to the outbox in that same transaction.
Handlers take `now` from the caller, so the rules are the same in tests and in life.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.feedback.adapters import cases as cases_repo
from services.feedback.adapters import repository as repo
from services.feedback.adapters import trips
from services.feedback.domain.cases import SYSTEM_ACTOR, Case, CaseKind, CaseSource, CaseStatus, Priority, SlaPolicy
from services.feedback.domain.surveys import Answer, Survey
from services.feedback.domain.trips import apply_booking_event
from services.feedback.service_layer import comment_reading
from services.feedback.service_layer.common import current_customer, customer_value, new_id, token_digest
from services.feedback.service_layer.trip_surveys import booking_span, settle_trip
from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1, Segment
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import (
    CaseChangedV1,
    CaseEscalatedV1,
    CaseOpenedV1,
    SurveyAnsweredV1,
)
from services.kit.db import connection
from services.kit.outbox import enqueue

log = logging.getLogger(__name__)

PRODUCER = "feedback"
SURVEYS_TOPIC = "feedback.surveys.v1"
CASES_TOPIC = "feedback.cases.v1"


@dataclass(frozen=True)
class SurveyConfig:
    public_base_url: str
    ttl: timedelta

    def survey_url(self, token: str) -> str:
        return f"{self.public_base_url}/surveys/{token}"


class UnknownSurveyError(LookupError):
    """No survey has this token or id."""


class UnknownCaseError(LookupError):
    """No case has this id."""


def trip_summary(segments: tuple[Segment, ...]) -> dict[str, Any]:
    """Route and dates of a trip, for the survey page; no personal data."""
    stops: list[str] = []
    dates: list[str] = []
    for s in segments:
        if isinstance(s, FlightSegmentV1 | RailSegmentV1):
            for place in (s.origin, s.destination):
                if not stops or stops[-1] != place:
                    stops.append(place)
            dates += [s.departure_at.date().isoformat(), s.arrival_at.date().isoformat()]
        elif isinstance(s, HotelSegmentV1):
            dates += [s.check_in.isoformat(), s.check_out.isoformat()]
            if not stops:
                stops.append(s.city)
        elif isinstance(s, CarSegmentV1):
            dates += [s.pickup_at.date().isoformat(), s.dropoff_at.date().isoformat()]
    summary: dict[str, Any] = {}
    if stops:
        summary["route"] = stops
    if dates:
        summary["start"], summary["end"] = min(dates), max(dates)
    return summary


def combined_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One route and one period for a trip of several bookings (in order of travel)."""
    route: list[str] = []
    for summary in summaries:
        for place in summary.get("route") or ():
            if not route or route[-1] != place:
                route.append(place)
    starts = [s["start"] for s in summaries if s.get("start")]
    ends = [s["end"] for s in summaries if s.get("end")]
    out: dict[str, Any] = {}
    if route:
        out["route"] = route
    if starts and ends:
        out["start"], out["end"] = min(starts), max(ends)
    return out


# --- trips and survey invitations -----------------------------------------------------------


async def handle_resolved_booking(
    conn: asyncpg.Connection,
    event: Envelope[Any],
    *,
    config: SurveyConfig,
    now: datetime,
    settle: timedelta = timedelta(days=2),
) -> None:
    """Track the booking; when its trip is over, invite the traveller to the trip's one survey."""
    p = event.payload
    if not isinstance(p, ResolvedBookingV1):
        return
    customer_id, _ = await current_customer(conn, p.customer_id)
    existing = await repo.get_trip_for_update(conn, p.source_system, p.booking_id)
    update = apply_booking_event(
        existing,
        source_system=p.source_system,
        booking_id=p.booking_id,
        customer_id=customer_id,
        company_id=p.company_id,
        kind=p.kind,
        occurred_at=p.occurred_at,
    )
    await repo.save_trip(conn, update.trip, summary=trip_summary(p.segments), span=booking_span(p.segments))
    if update.trip_may_be_over:
        await settle_trip(
            conn, customer_id=customer_id, source_system=p.source_system, booking_id=p.booking_id,
            public_base_url=config.public_base_url, ttl=config.ttl, settle=settle, now=now, caused_by=event,
        )  # fmt: skip


# --- answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyPage:
    """What the traveller's survey page shows."""

    survey: Survey
    trip: dict[str, Any]


async def survey_page(conn: asyncpg.Connection, token: str) -> SurveyPage:
    survey = await repo.survey_by_token(conn, token_digest(token))
    if survey is None:
        raise UnknownSurveyError("no survey behind this link")
    summaries = await trips.survey_trip_summaries(conn, survey.survey_id)
    if not summaries:  # a survey from before trips were grouped asks about its own booking
        summaries = [await repo.trip_summary(conn, survey.source_system, survey.booking_id)]
    return SurveyPage(survey, combined_summary(summaries))


@dataclass(frozen=True)
class AnswerRecorded:
    survey: Survey
    case_id: str | None


async def answer_survey(
    conn: asyncpg.Connection, *, token: str, answer: Answer, now: datetime, policy: SlaPolicy
) -> AnswerRecorded:
    """Store the traveller's answer once and read its comment; a low score or a negative comment opens a
    complaint case, or enriches the one being worked for the booking."""
    await comment_reading.prepare(answer)
    survey = await repo.survey_by_token(conn, token_digest(token), for_update=True)
    if survey is None:
        raise UnknownSurveyError("no survey behind this link")
    survey.record_answer(answer, now=now)
    await repo.save_answer(conn, survey)
    customer_id, _ = await current_customer(conn, survey.customer_id)
    reading = await comment_reading.read_answer_comment(conn, survey, answer, customer_id=customer_id, now=now)
    answered = SurveyAnsweredV1(
        survey_id=survey.survey_id,
        customer_id=customer_id,
        booking_id=survey.booking_id,
        csat=answer.csat,
        nps=answer.nps,
        comment=answer.comment,
        answered_at=now,
        reading=comment_reading.wire(reading),
    )
    await enqueue(conn, topic=SURVEYS_TOPIC, envelope=Envelope.new(answered, producer=PRODUCER, subject_id=customer_id))
    case_id = None
    if comment_reading.wants_case(answer, reading):
        # A comment about a booking whose case is still being worked goes to that case.
        if reading is not None:
            aliases = await repo.customer_aliases(conn, customer_id)
            enriched = await comment_reading.enrich_open_case(
                conn, survey=survey, reading=reading, customer_ids=aliases, answer=answer, now=now, policy=policy
            )
            if enriched is not None:
                await _publish_changed(conn, enriched, actor=PRODUCER, now=now)
                return AnswerRecorded(survey, enriched.case_id)
        # Gold travellers get tighter deadlines; a customer with an account manager has the case routed to them.
        tier, manager = await customer_value(conn, customer_id)
        case = Case.open(
            case_id=new_id("case"),
            customer_id=customer_id,
            kind=CaseKind.COMPLAINT,
            source=CaseSource.SURVEY,
            subject=comment_reading.complaint_subject(answer, survey, reading),
            description=answer.comment or "",
            priority=comment_reading.case_priority(answer, reading),
            opened_by=PRODUCER,
            now=now,
            policy=policy.for_tier(tier),
            assignee=manager,
            survey_id=survey.survey_id,
            source_system=survey.source_system,
            booking_id=survey.booking_id,
        )
        if await cases_repo.insert_case(conn, case):
            case_id = case.case_id
            await comment_reading.attach_reading(conn, case, survey=survey, reading=reading, now=now)
            await publish_opened(conn, case)
            log.info("answer to survey %s opened case %s", survey.survey_id, case.case_id)
    return AnswerRecorded(survey, case_id)


# --- cases ------------------------------------------------------------------------------------


def _case_state(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "customer_id": case.customer_id,
        "kind": case.kind.value,
        "status": case.status.value,
        "priority": case.priority.value,
        "assignee": case.assignee,
        "first_response_due": case.first_response_due,
        "resolution_due": case.resolution_due,
        "escalated": case.escalated,
        "booking_id": case.booking_id,
        "source_system": case.source_system,
    }


async def _publish_changed(conn: asyncpg.Connection, case: Case, *, actor: str, now: datetime) -> None:
    changed = CaseChangedV1(**_case_state(case), changed_by=actor, changed_at=now)
    await enqueue(
        conn, topic=CASES_TOPIC, envelope=Envelope.new(changed, producer=PRODUCER, subject_id=case.customer_id)
    )


async def publish_opened(conn: asyncpg.Connection, case: Case) -> None:
    """Publish `case.opened` for a new case (from a survey, an agent or a journey)."""
    opened = CaseOpenedV1(
        **_case_state(case),
        source=case.source.value,
        subject=case.subject,
        survey_id=case.survey_id,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
    )
    await enqueue(
        conn, topic=CASES_TOPIC, envelope=Envelope.new(opened, producer=PRODUCER, subject_id=case.customer_id)
    )


@dataclass(frozen=True)
class OpenCase:
    """An agent's order to open a case."""

    customer_id: str
    subject: str
    description: str
    kind: CaseKind
    priority: Priority
    assignee: str | None
    source_system: str | None
    booking_id: str | None


async def open_case(
    conn: asyncpg.Connection, command: OpenCase, *, actor: str, now: datetime, policy: SlaPolicy
) -> Case:
    """Open a case on an agent's behalf, for the customer's current id."""
    customer_id, _ = await current_customer(conn, command.customer_id)
    tier, manager = await customer_value(conn, customer_id)
    case = Case.open(
        case_id=new_id("case"),
        customer_id=customer_id,
        kind=command.kind,
        source=CaseSource.AGENT,
        subject=command.subject,
        description=command.description,
        priority=command.priority,
        opened_by=actor,
        now=now,
        policy=policy.for_tier(tier),
        assignee=command.assignee or manager,
        source_system=command.source_system,
        booking_id=command.booking_id,
    )
    if await cases_repo.insert_case(conn, case):
        await comment_reading.read_case_text(conn, case, now=now)
        await publish_opened(conn, case)
    return case


@dataclass(frozen=True)
class ChangeCase:
    """An agent's order to change a case; None fields stay as they are (except an explicit unassign)."""

    case_id: str
    status: CaseStatus | None = None
    priority: Priority | None = None
    assignee: str | None = None
    unassign: bool = False
    note: str | None = None


async def change_case(
    conn: asyncpg.Connection, command: ChangeCase, *, actor: str, may_close: bool, now: datetime, policy: SlaPolicy
) -> Case:
    """Apply an agent's changes in one go: all of them, or none when a rule refuses one."""
    case = await cases_repo.get_case(conn, command.case_id, for_update=True)
    if case is None:
        raise UnknownCaseError(f"no case {command.case_id!r}")
    if command.note is not None:
        case.add_note(command.note, actor=actor, now=now)
    if command.assignee is not None or command.unassign:
        case.assign(command.assignee, actor=actor, now=now)
    if command.priority is not None:
        case.reprioritise(command.priority, actor=actor, now=now, policy=policy)
    if command.status is not None:
        case.change_status(command.status, actor=actor, may_close=may_close, now=now)
    await cases_repo.update_case(conn, case)
    if command.status is not None or command.priority is not None or command.assignee is not None or command.unassign:
        changed = CaseChangedV1(**_case_state(case), changed_by=actor, changed_at=now)
        await enqueue(
            conn, topic=CASES_TOPIC, envelope=Envelope.new(changed, producer=PRODUCER, subject_id=case.customer_id)
        )
    return case


async def escalate_due_cases(pool: asyncpg.Pool, *, now: datetime, batch_size: int) -> list[str]:
    """Escalate every case past an SLA target, one committed batch at a time; returns their ids."""
    escalated: list[str] = []
    while True:
        progressed = False
        async with connection(pool, transaction=True) as conn:
            cases = await cases_repo.cases_to_escalate(conn, now=now, limit=batch_size)
            for case in cases:
                targets = case.escalate(now)
                if targets and case.assignee is None:  # an escalation goes to the account manager, if any
                    _, manager = await customer_value(conn, case.customer_id)
                    if manager is not None:
                        case.assign(manager, actor=SYSTEM_ACTOR, now=now)
                if targets:
                    await cases_repo.update_case(conn, case)
                    escalation = CaseEscalatedV1(
                        **_case_state(case), missed_targets=tuple(str(t) for t in targets), escalated_at=now
                    )
                    await enqueue(
                        conn,
                        topic=CASES_TOPIC,
                        envelope=Envelope.new(escalation, producer=PRODUCER, subject_id=case.customer_id),
                    )
                    escalated.append(case.case_id)
                    progressed = True
                    log.info("case %s escalated (%s) to %s", case.case_id, ",".join(targets), case.priority.value)
        # A full batch may hide more; an unproductive one means the query and the rules disagree: stop.
        if len(cases) < batch_size or not progressed:
            return escalated
