"""Feedback HTTP API for staff: surveys, cases and scores (API key and role on every route).

The traveller's survey routes live in `survey_pages`, authorised by the link's token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, FastAPI, Query, Request, status

from services.feedback.adapters import cases as cases_repo
from services.feedback.adapters import exporting, readings, trips
from services.feedback.adapters import repository as repo
from services.feedback.adapters.readings import CaseReading
from services.feedback.domain.cases import TRANSITIONS, Case, CaseStatus, HistoryEntry
from services.feedback.domain.reading import CommentReading
from services.feedback.domain.scores import summarise
from services.feedback.domain.surveys import Survey
from services.feedback.entrypoints import survey_pages, topic_trends
from services.feedback.entrypoints.deps import (
    Agent,
    CaseRead,
    CasesRead,
    ScoreReader,
    ScoresRead,
    SurveyRead,
    SurveysRead,
    domain_errors,
    settings_of,
    utc_now,
)
from services.feedback.entrypoints.reading_schemas import CaseReadingPublic, CommentReadingPublic
from services.feedback.entrypoints.schemas import (
    BookingRef,
    CaseCreate,
    CaseDetail,
    CasePage,
    CasePublic,
    CaseUpdate,
    CsatPublic,
    HistoryPublic,
    NpsPublic,
    ScoresPublic,
    SurveyPage,
    SurveyPublic,
)
from services.feedback.service_layer import comment_reading, handlers
from services.feedback.service_layer.common import current_customer
from services.feedback.service_layer.handlers import ChangeCase, OpenCase
from services.kit.auth import Principal
from services.kit.db import audit, connection
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.exporting import export_router
from services.kit.http import ProblemError, create_app
from services.kit.isotime import IsoInstant
from services.kit.runtime import ServiceRuntime


def _survey_public(
    survey: Survey,
    *,
    now: datetime,
    case_id: str | None,
    bookings: list[tuple[str, str]] | None = None,
    reading: CommentReading | None = None,
) -> SurveyPublic:
    answer = survey.answer
    invitation = survey.invitation
    return SurveyPublic(
        survey_id=survey.survey_id,
        customer_id=survey.customer_id,
        source_system=survey.source_system,
        booking_id=survey.booking_id,
        company_id=survey.company_id,
        state=survey.state(now),
        created_at=survey.created_at,
        expires_at=survey.expires_at,
        answered_at=survey.answered_at,
        csat=answer.csat if answer else None,
        nps=answer.nps if answer else None,
        comment=answer.comment if answer else None,
        case_id=case_id,
        invitation_status=invitation.status,
        invitation_status_at=invitation.at,
        invitation_held_until=invitation.held_until,
        invitation_detail=invitation.detail,
        bookings=[
            BookingRef(source_system=s, booking_id=b)
            for s, b in (bookings or [(survey.source_system, survey.booking_id)])
        ],
        reading=CommentReadingPublic.of(reading),
    )


def _case_public(case: Case, *, now: datetime, reading: CaseReading | None = None) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "customer_id": case.customer_id,
        "kind": case.kind,
        "source": case.source,
        "subject": case.subject,
        "description": case.description,
        "status": case.status,
        "priority": case.priority,
        "assignee": case.assignee,
        "survey_id": case.survey_id,
        "source_system": case.source_system,
        "booking_id": case.booking_id,
        "opened_by": case.opened_by,
        "opened_at": case.opened_at,
        "first_response_due": case.first_response_due,
        "first_response_at": case.first_response_at,
        "resolution_due": case.resolution_due,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "escalated": case.escalated,
        "escalations": list(case.escalations),
        "breaches": list(case.breaches(now)),
        "next_statuses": sorted(TRANSITIONS[case.status]),
        "version": case.version,
        "updated_at": case.updated_at,
        "reading": CaseReadingPublic.of(reading),
    }


def _history_public(entries: list[HistoryEntry]) -> list[HistoryPublic]:
    return [HistoryPublic(at=h.at, actor=h.actor, action=h.action, detail=dict(h.detail)) for h in entries]


async def _case_detail(conn: asyncpg.Connection, case: Case, *, now: datetime) -> CaseDetail:
    _, name = await current_customer(conn, case.customer_id)
    history = await cases_repo.case_history(conn, case.case_id)
    reading = (await readings.case_readings(conn, [case.case_id])).get(case.case_id)
    return CaseDetail(
        **_case_public(case, now=now, reading=reading), customer_name=name, history=_history_public(history)
    )


async def _customer_ids(conn: asyncpg.Connection, customer_id: str) -> tuple[str, list[str]]:
    """The current id of a customer and every id that was merged into it."""
    current, _ = await current_customer(conn, customer_id)
    return current, await repo.customer_aliases(conn, current)


async def _known(conn: asyncpg.Connection, customer_id: str) -> None:
    """404 for a customer this service never heard of (neither in the shared view nor in its records)."""
    if not await trips.customer_known(conn, customer_id):
        raise ProblemError(
            404,
            f"no customer {customer_id!r} is known here. A traveller profile created moments ago is known"
            " as soon as its snapshot reaches this service's customer view (usually within a second):"
            " try again shortly.",
            type_="/problems/unknown-customer",
        )


async def _audit(
    conn: asyncpg.Connection, principal: Principal, action: str, subject_id: str | None, **detail: Any
) -> None:
    await audit(conn, principal, action, subject_id, detail)


router = APIRouter(prefix="/v1")


@router.get("/customers/{customer_id}/surveys", response_model=SurveyPage, tags=["surveys"])
async def customer_surveys(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: SurveysRead,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SurveyPage:
    """A customer's surveys with their answers, including those of customers merged into them."""
    now = utc_now()
    async with connection(runtime_of(request).pool) as conn:
        await _known(conn, customer_id)
        current, ids = await _customer_ids(conn, customer_id)
        surveys = await repo.surveys_of_customers(conn, ids, limit=limit, offset=offset)
        ids = [s.survey_id for s in surveys]
        # A survey's own case, else the case its comment was added to.
        cases = {**await readings.cases_enriched_by(conn, ids), **await repo.case_ids_for_surveys(conn, ids)}
        bookings = await trips.survey_bookings(conn, [s.survey_id for s in surveys])
        comments = await readings.comment_readings(conn, [s.survey_id for s in surveys])
        await trail.record(conn, current, results=len(surveys))
    return SurveyPage(
        items=[
            _survey_public(
                s,
                now=now,
                case_id=cases.get(s.survey_id),
                bookings=bookings.get(s.survey_id),
                reading=comments.get(s.survey_id),
            )
            for s in surveys
        ],
        customer_id=current,
        limit=limit,
        offset=offset,
    )


@router.get("/surveys/{survey_id}", response_model=SurveyPublic, tags=["surveys"])
async def get_survey(survey_id: str, request: Request, principal: Agent, trail: SurveyRead) -> SurveyPublic:
    """One survey and its answer."""
    async with connection(runtime_of(request).pool) as conn:
        survey = await repo.survey_by_id(conn, survey_id)
        if survey is None:
            raise ProblemError(404, f"no survey {survey_id!r}", type_="/problems/unknown-survey")
        cases = {
            **await readings.cases_enriched_by(conn, [survey_id]),
            **await repo.case_ids_for_surveys(conn, [survey_id]),
        }
        bookings = await trips.survey_bookings(conn, [survey_id])
        comment = (await readings.comment_readings(conn, [survey_id])).get(survey_id)
        await trail.record(conn, survey.customer_id, survey_id=survey_id)
    return _survey_public(
        survey, now=utc_now(), case_id=cases.get(survey_id), bookings=bookings.get(survey_id), reading=comment
    )


@router.get("/cases", response_model=CasePage, tags=["cases"])
async def list_cases(
    request: Request,
    principal: Agent,
    trail: CasesRead,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    breached: Annotated[bool | None, Query(description="Cases that missed (true) or kept (false) their SLA")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CasePage:
    """Cases, newest first, by status, customer (merged ids included) and SLA breach."""
    now = utc_now()
    async with connection(runtime_of(request).pool) as conn:
        ids = (await _customer_ids(conn, customer_id))[1] if customer_id else None
        cases = await cases_repo.find_cases(
            conn, now=now, status=status_, customer_ids=ids, breached=breached, limit=limit, offset=offset
        )
        case_readings = await readings.case_readings(conn, [c.case_id for c in cases])
        await trail.record(conn, customer_id, status=status_, results=len(cases))
    return CasePage(
        items=[CasePublic(**_case_public(c, now=now, reading=case_readings.get(c.case_id))) for c in cases],
        limit=limit,
        offset=offset,
    )


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseDetail,
    tags=["cases"],
    responses={404: {"description": "customer_id names no customer known here"}},
)
async def create_case(body: CaseCreate, request: Request, principal: Agent) -> CaseDetail:
    """Open a case for a customer; its SLA deadlines follow from the priority."""
    now = utc_now()
    command = OpenCase(
        customer_id=body.customer_id,
        subject=body.subject,
        description=body.description,
        kind=body.kind,
        priority=body.priority,
        assignee=body.assignee,
        source_system=body.source_system,
        booking_id=body.booking_id,
    )
    async with connection(runtime_of(request).pool, transaction=True) as conn:
        await _known(conn, body.customer_id)
        policy = settings_of(request).sla_policy()
        case = await handlers.open_case(conn, command, actor=principal.name, now=now, policy=policy)
        await _audit(conn, principal, "case.open", case.customer_id, case_id=case.case_id, priority=case.priority)
        return await _case_detail(conn, case, now=now)


@router.get("/cases/{case_id}", response_model=CaseDetail, tags=["cases"])
async def get_case(case_id: str, request: Request, principal: Agent, trail: CaseRead) -> CaseDetail:
    """A case with its SLA state and full history."""
    async with connection(runtime_of(request).pool) as conn:
        case = await cases_repo.get_case(conn, case_id)
        if case is None:
            raise ProblemError(404, f"no case {case_id!r}", type_="/problems/unknown-case")
        await trail.record(conn, case.customer_id, case_id=case_id)
        return await _case_detail(conn, case, now=utc_now())


@router.patch("/cases/{case_id}", response_model=CaseDetail, tags=["cases"])
async def update_case(case_id: str, body: CaseUpdate, request: Request, principal: Agent) -> CaseDetail:
    """Change status, priority or assignee, or add a note; all or nothing. Closing needs a supervisor."""
    now = utc_now()
    command = ChangeCase(
        case_id=case_id,
        status=body.status,
        priority=body.priority,
        assignee=body.assignee,
        unassign="assignee" in body.model_fields_set and body.assignee is None,
        note=body.note,
    )
    with domain_errors():
        async with connection(runtime_of(request).pool, transaction=True) as conn:
            case = await handlers.change_case(
                conn,
                command,
                actor=principal.name,
                may_close=principal.can_act_as("supervisor"),
                now=now,
                policy=settings_of(request).sla_policy(),
            )
            # The note's text stays in the case history; the audit row says who changed what.
            await _audit(
                conn, principal, "case.change", case.customer_id, case_id=case_id,
                changed=sorted(body.model_fields_set), status=case.status,
            )  # fmt: skip
            return await _case_detail(conn, case, now=now)


@router.get(
    "/scores",
    response_model=ScoresPublic,
    tags=["scores"],
    responses={422: {"description": "An invalid parameter, or a period whose `from` is not before its `to`"}},
)
async def scores(
    request: Request,
    principal: ScoreReader,
    trail: ScoresRead,
    company_id: Annotated[str | None, Query(max_length=100)] = None,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[IsoInstant | None, Query(alias="from", description="Period start; default 30 days ago")] = None,
    until: Annotated[IsoInstant | None, Query(alias="to", description="Period end, exclusive; default now")] = None,
) -> ScoresPublic:
    """CSAT average and NPS of the answers given in a period, for a company, a customer or everyone."""
    end = until or utc_now()
    start = since or end - timedelta(days=30)
    if start >= end:
        raise ProblemError(422, "`from` must be before `to`", title="Unprocessable Content")
    async with connection(runtime_of(request).pool) as conn:
        current, ids = await _customer_ids(conn, customer_id) if customer_id else (None, None)
        counts = await repo.score_counts(conn, since=start, until=end, company_id=company_id, customer_ids=ids)
        await trail.record(conn, current, company_id=company_id, since=start.isoformat(), until=end.isoformat())
    summary = summarise(csat_counts=counts.csat, nps_counts=counts.nps)
    return ScoresPublic(
        company_id=company_id,
        customer_id=customer_id,
        since=start,
        until=end,
        csat=CsatPublic(
            responses=summary.csat.responses,
            average=summary.csat.average,
            satisfied_share=summary.csat.satisfied_share,
            distribution=dict(summary.csat.distribution),
        ),
        nps=NpsPublic(
            responses=summary.nps.responses,
            score=summary.nps.score,
            promoters=summary.nps.promoters,
            passives=summary.nps.passives,
            detractors=summary.nps.detractors,
        ),
    )


def _lifespan(runtime: ServiceRuntime, *, workers: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The kit's lifespan, plus loading the comment reader's models in the background (seconds)."""
    base = runtime_lifespan(runtime, workers=workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with base(app):
            warming = asyncio.create_task(comment_reading.warm_up())
            try:
                yield
            finally:
                warming.cancel()

    return lifespan


def create_feedback_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera feedback",
        description="Post-trip surveys, CSAT/NPS scores and complaint cases with SLAs and escalation.",
        settings=runtime.settings,
        lifespan=_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.state.templates = survey_pages.templates()
    app.include_router(survey_pages.router)
    app.include_router(router)
    # Imported here: the queue routes reuse this module's case and customer helpers.
    from services.feedback.entrypoints import queues

    app.include_router(queues.router)
    app.include_router(export_router("feedback", exporting.collect))
    app.include_router(topic_trends.router)
    return app
