"""The feedback domain without I/O: case state machine, SLAs, escalation, scores, complaints, trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.feedback.domain.cases import (
    DEFAULT_SLA,
    TRANSITIONS,
    Case,
    CaseError,
    CaseKind,
    CaseSource,
    CaseStatus,
    IllegalTransitionError,
    NotPermittedError,
    Priority,
    SlaPolicy,
)
from services.feedback.domain.scores import NpsCategory, net_promoter_score, nps_category, summarise
from services.feedback.domain.surveys import (
    Answer,
    InvalidAnswerError,
    Survey,
    SurveyAlreadyAnsweredError,
    SurveyExpiredError,
    SurveyState,
    complaint_priority,
    is_complaint,
)
from services.feedback.domain.trips import BookingKind, Trip, TripStatus, apply_booking_event, next_status

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_case(*, priority: Priority = Priority.NORMAL, policy: SlaPolicy = DEFAULT_SLA, now: datetime = T0) -> Case:
    return Case.open(
        case_id="case_1",
        customer_id="cus_1",
        kind=CaseKind.COMPLAINT,
        source=CaseSource.AGENT,
        subject="Lost luggage",
        description="Bag did not arrive in JFK",
        priority=priority,
        opened_by="dev-agent",
        now=now,
        policy=policy,
    )


def move(case: Case, *statuses: CaseStatus, at: datetime = T0, supervisor: bool = False) -> None:
    for status in statuses:
        case.change_status(status, actor="dev-agent", may_close=supervisor, now=at)


# --- state machine -------------------------------------------------------------------------


def test_a_new_case_is_open_with_an_opening_history_entry() -> None:
    case = a_case()
    assert case.status is CaseStatus.OPEN
    assert [h.action for h in case.new_history] == ["opened"]
    assert case.new_history[0].detail["priority"] == "normal"


@pytest.mark.parametrize(
    ("path", "end"),
    [
        ((CaseStatus.IN_PROGRESS, CaseStatus.WAITING_CUSTOMER, CaseStatus.IN_PROGRESS), CaseStatus.IN_PROGRESS),
        ((CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED), CaseStatus.RESOLVED),
        ((CaseStatus.WAITING_CUSTOMER, CaseStatus.RESOLVED, CaseStatus.IN_PROGRESS), CaseStatus.IN_PROGRESS),
        ((CaseStatus.RESOLVED,), CaseStatus.RESOLVED),
    ],
)
def test_legal_paths_through_the_state_machine(path: tuple[CaseStatus, ...], end: CaseStatus) -> None:
    case = a_case()
    move(case, *path)
    assert case.status is end
    assert [h.action for h in case.new_history].count("status_changed") == len(path)


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((CaseStatus.IN_PROGRESS,), CaseStatus.OPEN),
        ((CaseStatus.RESOLVED,), CaseStatus.WAITING_CUSTOMER),
        ((CaseStatus.RESOLVED,), CaseStatus.OPEN),
        ((CaseStatus.WAITING_CUSTOMER,), CaseStatus.OPEN),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(path: tuple[CaseStatus, ...], illegal: CaseStatus) -> None:
    case = a_case()
    move(case, *path)
    before = (case.status, len(case.new_history))
    with pytest.raises(IllegalTransitionError):
        case.change_status(illegal, actor="dev-agent", may_close=True, now=T0)
    assert (case.status, len(case.new_history)) == before


def test_a_closed_case_is_terminal() -> None:
    case = a_case()
    move(case, CaseStatus.RESOLVED)
    move(case, CaseStatus.CLOSED, supervisor=True)
    assert TRANSITIONS[CaseStatus.CLOSED] == frozenset()
    for status in CaseStatus:
        if status is not CaseStatus.CLOSED:
            with pytest.raises(IllegalTransitionError):
                case.change_status(status, actor="dev-supervisor", may_close=True, now=T0)
    with pytest.raises(IllegalTransitionError):
        case.assign("someone", actor="dev-supervisor", now=T0)
    with pytest.raises(IllegalTransitionError):
        case.add_note("too late", actor="dev-supervisor", now=T0)


def test_only_a_supervisor_may_close() -> None:
    case = a_case()
    move(case, CaseStatus.RESOLVED)
    with pytest.raises(NotPermittedError):
        case.change_status(CaseStatus.CLOSED, actor="dev-agent", may_close=False, now=T0)
    assert case.status is CaseStatus.RESOLVED
    case.change_status(CaseStatus.CLOSED, actor="dev-supervisor", may_close=True, now=T0)
    assert case.status is CaseStatus.CLOSED
    assert case.closed_at == T0


def test_moving_to_the_current_status_is_a_no_op() -> None:
    case = a_case()
    assert case.change_status(CaseStatus.OPEN, actor="dev-agent", may_close=False, now=T0) is False
    assert len(case.new_history) == 1


def test_assign_note_and_reprioritise_record_history() -> None:
    case = a_case()
    later = T0 + timedelta(minutes=5)
    assert case.assign("anna", actor="dev-agent", now=later)
    assert not case.assign("anna", actor="dev-agent", now=later)
    case.add_note("  called the airline  ", actor="dev-agent", now=later)
    assert case.reprioritise(Priority.HIGH, actor="dev-agent", now=later, policy=DEFAULT_SLA)
    assert [h.action for h in case.new_history] == ["opened", "assigned", "note", "priority_changed"]
    assert case.new_history[2].detail == {"text": "called the airline"}
    assert case.updated_at == later
    with pytest.raises(CaseError):
        case.add_note("   ", actor="dev-agent", now=later)


# --- SLA ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "hours"), [(Priority.LOW, 48), (Priority.NORMAL, 24), (Priority.HIGH, 4), (Priority.URGENT, 1)]
)
def test_first_response_due_depends_on_priority(priority: Priority, hours: int) -> None:
    case = a_case(priority=priority)
    assert case.first_response_due == T0 + timedelta(hours=hours)
    assert case.resolution_due == T0 + timedelta(days=5)


def test_sla_follows_a_custom_policy() -> None:
    policy = SlaPolicy(first_response=dict.fromkeys(Priority, timedelta(hours=2)), resolution=timedelta(days=1))
    case = a_case(policy=policy)
    assert case.first_response_due == T0 + timedelta(hours=2)
    assert case.resolution_due == T0 + timedelta(days=1)


def test_reprioritising_an_unanswered_case_moves_its_first_response_deadline() -> None:
    case = a_case()
    case.reprioritise(Priority.HIGH, actor="dev-agent", now=T0, policy=DEFAULT_SLA)
    assert case.first_response_due == T0 + timedelta(hours=4)
    move(case, CaseStatus.IN_PROGRESS, at=T0 + timedelta(hours=1))
    case.reprioritise(Priority.LOW, actor="dev-agent", now=T0, policy=DEFAULT_SLA)
    assert case.first_response_due == T0 + timedelta(hours=4)


def test_leaving_open_is_the_first_response_and_resolving_meets_the_resolution() -> None:
    case = a_case()
    responded, resolved = T0 + timedelta(hours=2), T0 + timedelta(days=1)
    move(case, CaseStatus.IN_PROGRESS, at=responded)
    move(case, CaseStatus.RESOLVED, at=resolved)
    assert case.first_response_at == responded
    assert case.resolved_at == resolved
    assert case.overdue(T0 + timedelta(days=30)) == ()
    assert case.breaches(T0 + timedelta(days=30)) == ()


def test_reopening_restarts_the_resolution_clock() -> None:
    case = a_case()
    move(case, CaseStatus.RESOLVED, CaseStatus.IN_PROGRESS)
    assert case.resolved_at is None
    assert case.overdue(T0 + timedelta(days=6)) == ("resolution",)


def test_overdue_and_breaches() -> None:
    case = a_case()
    assert case.overdue(T0 + timedelta(hours=23)) == ()
    assert case.overdue(T0 + timedelta(hours=25)) == ("first_response",)
    assert case.overdue(T0 + timedelta(days=6)) == ("first_response", "resolution")
    late = T0 + timedelta(hours=30)
    move(case, CaseStatus.IN_PROGRESS, at=late)
    assert case.overdue(late) == ()
    assert case.breaches(late) == ("first_response",)  # answered, but late


# --- escalation -----------------------------------------------------------------------------


def test_escalation_raises_priority_flags_and_records_once_per_target() -> None:
    case = a_case()
    assert case.escalate(T0 + timedelta(hours=1)) == ()
    assert not case.escalated

    first = T0 + timedelta(hours=25)
    assert case.escalate(first) == ("first_response",)
    assert case.priority is Priority.HIGH
    assert case.escalated
    entry = case.new_history[-1]
    assert entry.action == "escalated"
    assert entry.detail == {"targets": "first_response", "priority_from": "normal", "priority_to": "high"}

    assert case.escalate(first + timedelta(hours=1)) == ()  # already escalated for that target
    assert case.priority is Priority.HIGH

    assert case.escalate(T0 + timedelta(days=6)) == ("resolution",)
    assert case.priority is Priority.URGENT
    assert case.escalations == ("first_response", "resolution")


def test_escalation_caps_at_urgent_and_skips_done_cases() -> None:
    urgent = a_case(priority=Priority.URGENT)
    assert urgent.escalate(T0 + timedelta(hours=2)) == ("first_response",)
    assert urgent.priority is Priority.URGENT

    done = a_case()
    move(done, CaseStatus.RESOLVED, at=T0 + timedelta(hours=1))
    assert done.escalate(T0 + timedelta(days=30)) == ()
    assert not done.escalated


def test_priority_order() -> None:
    assert [p.raised() for p in Priority] == [Priority.NORMAL, Priority.HIGH, Priority.URGENT, Priority.URGENT]


# --- complaints and answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("csat", "nps", "comment", "complaint"),
    [
        (1, None, None, True),
        (2, 9, None, True),
        (3, None, None, False),
        (5, 10, "great", False),
        (None, 6, "the hotel was dirty", True),
        (None, 6, None, False),  # a detractor without a word is a score, not a complaint
        (None, 6, "   ", False),
        (4, 0, "never again", True),
        (None, 7, "meh", False),
    ],
)
def test_what_counts_as_a_complaint(csat: int | None, nps: int | None, comment: str | None, complaint: bool) -> None:
    assert is_complaint(Answer(csat=csat, nps=nps, comment=comment)) is complaint


def test_the_lowest_scores_get_high_priority() -> None:
    assert complaint_priority(Answer(csat=1, nps=None)) is Priority.HIGH
    assert complaint_priority(Answer(csat=4, nps=2, comment="bad")) is Priority.HIGH
    assert complaint_priority(Answer(csat=2, nps=5)) is Priority.NORMAL


@pytest.mark.parametrize(
    "kwargs",
    [
        {"csat": None, "nps": None},
        {"csat": 0, "nps": None},
        {"csat": 6, "nps": None},
        {"csat": None, "nps": 11},
        {"csat": None, "nps": -1},
        {"csat": 3, "nps": None, "comment": "x" * 5001},
    ],
)
def test_invalid_answers_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidAnswerError):
        Answer(**kwargs)


def test_blank_comments_become_none() -> None:
    assert Answer(csat=3, nps=None, comment="  \n ").comment is None
    assert Answer(csat=3, nps=None, comment=" fine ").comment == "fine"


def a_survey() -> Survey:
    return Survey(
        survey_id="srv_1",
        customer_id="cus_1",
        source_system="acme",
        booking_id="BK-1",
        company_id=None,
        created_at=T0,
        expires_at=T0 + timedelta(days=14),
    )


def test_a_survey_is_answered_once() -> None:
    survey = a_survey()
    assert survey.state(T0) is SurveyState.PENDING
    survey.record_answer(Answer(csat=4, nps=8), now=T0 + timedelta(days=1))
    assert survey.state(T0 + timedelta(days=1)) is SurveyState.ANSWERED
    with pytest.raises(SurveyAlreadyAnsweredError):
        survey.record_answer(Answer(csat=1, nps=None), now=T0 + timedelta(days=2))
    assert survey.answer == Answer(csat=4, nps=8)


def test_an_expired_survey_refuses_answers() -> None:
    survey = a_survey()
    assert survey.state(T0 + timedelta(days=14)) is SurveyState.EXPIRED
    with pytest.raises(SurveyExpiredError):
        survey.record_answer(Answer(csat=4, nps=None), now=T0 + timedelta(days=15))
    assert survey.answered_at is None


# --- scores ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (0, NpsCategory.DETRACTOR),
        (6, NpsCategory.DETRACTOR),
        (7, NpsCategory.PASSIVE),
        (8, NpsCategory.PASSIVE),
        (9, NpsCategory.PROMOTER),
        (10, NpsCategory.PROMOTER),
    ],
)
def test_nps_categories(score: int, category: NpsCategory) -> None:
    assert nps_category(score) is category


def test_net_promoter_score() -> None:
    assert net_promoter_score(0, 0, 0) is None
    assert net_promoter_score(5, 3, 2) == 30.0
    assert net_promoter_score(0, 0, 4) == -100.0
    assert net_promoter_score(1, 1, 1) == 0.0
    with pytest.raises(ValueError, match="between 0 and 10"):
        nps_category(11)


def test_summary_from_score_counts() -> None:
    summary = summarise(csat_counts={5: 2, 4: 1, 1: 1}, nps_counts={10: 2, 9: 1, 8: 1, 3: 1, 0: 1})
    assert summary.csat.responses == 4
    assert summary.csat.average == 3.75
    assert summary.csat.satisfied_share == 0.75
    assert summary.csat.distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 2}
    assert (summary.nps.promoters, summary.nps.passives, summary.nps.detractors) == (3, 1, 2)
    assert summary.nps.responses == 6
    assert summary.nps.score == round(100 * (3 - 2) / 6, 1)


def test_summary_without_answers() -> None:
    summary = summarise(csat_counts={}, nps_counts={})
    assert summary.csat.average is None
    assert summary.nps.score is None
    assert summary.nps.responses == 0


# --- trips ----------------------------------------------------------------------------------


def fold(*events: tuple[BookingKind, datetime]) -> tuple[TripStatus, list[bool]]:
    trip: Trip | None = None
    due: list[bool] = []
    for kind, at in events:
        update = apply_booking_event(
            trip,
            source_system="acme",
            booking_id="BK-1",
            customer_id="cus_1",
            company_id="com_1",
            kind=kind,
            occurred_at=at,
        )
        trip, due = update.trip, [*due, update.survey_due]
    assert trip is not None
    return trip.status, due


def h(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def test_a_completed_trip_is_due_a_survey() -> None:
    status, due = fold(("created", h(0)), ("trip_started", h(10)), ("trip_completed", h(20)))
    assert status is TripStatus.COMPLETED
    assert due == [False, False, True]


def test_a_cancelled_booking_never_gets_a_survey() -> None:
    status, due = fold(("created", h(0)), ("cancelled", h(1)), ("trip_completed", h(20)))
    assert status is TripStatus.CANCELLED
    assert due == [False, False, False]


def test_a_reinstated_booking_can_complete() -> None:
    status, due = fold(("created", h(0)), ("cancelled", h(1)), ("changed", h(2)), ("trip_completed", h(20)))
    assert status is TripStatus.COMPLETED
    assert due[-1]


def test_trips_never_move_backwards_whatever_the_order() -> None:
    status, _ = fold(("trip_completed", h(20)), ("changed", h(21)), ("trip_started", h(10)), ("created", h(0)))
    assert status is TripStatus.COMPLETED


def test_a_late_cancellation_or_reinstatement_does_not_win() -> None:
    assert next_status(TripStatus.BOOKED, "cancelled", stale=True) is TripStatus.BOOKED
    assert next_status(TripStatus.CANCELLED, "changed", stale=True) is TripStatus.CANCELLED
    assert next_status(TripStatus.COMPLETED, "cancelled", stale=False) is TripStatus.COMPLETED


def test_completion_reported_twice_is_due_twice_but_stays_one_trip() -> None:
    status, due = fold(("trip_completed", h(20)), ("trip_completed", h(21)))
    assert status is TripStatus.COMPLETED
    assert due == [True, True]  # the survey table's unique key keeps it to one survey


def test_a_gold_travellers_sla_is_tighter_and_others_keep_theirs() -> None:
    from services.feedback.domain.cases import DEFAULT_SLA, Priority, SlaPolicy

    policy = SlaPolicy(first_response=DEFAULT_SLA.first_response, resolution=DEFAULT_SLA.resolution, gold_factor=0.5)
    gold = policy.for_tier("gold")
    assert gold.first_response[Priority.NORMAL] == DEFAULT_SLA.first_response[Priority.NORMAL] / 2
    assert gold.resolution == DEFAULT_SLA.resolution / 2
    assert policy.for_tier("silver") is policy
    assert policy.for_tier(None) is policy
