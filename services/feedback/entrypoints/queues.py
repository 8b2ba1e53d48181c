"""Work queues (cases by queue, low scores to follow up), the dashboard's figures and next best actions.

Lists are paged and capped like the other lists, filterable by tier and company (from this
service's customer view), and audited as bulk reads of personal data with the ids they returned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from services.feedback.adapters import queues as q
from services.feedback.adapters.cases import case_from_row
from services.feedback.domain import actions
from services.feedback.domain.cases import Case
from services.feedback.domain.scores import summarise
from services.feedback.entrypoints.api import _case_public, _customer_ids, _known
from services.feedback.entrypoints.deps import Agent, ScoreReader, utc_now
from services.feedback.entrypoints.queue_schemas import (
    BreachesPublic,
    BreachGroupPublic,
    CaseQueueItem,
    CaseQueuePage,
    FollowUpIn,
    FollowUpPublic,
    LowScoreItem,
    LowScorePage,
    ScoreBreakdownPublic,
    ScoreGroupPublic,
)
from services.feedback.entrypoints.schemas import CsatPublic, NpsPublic
from services.kit.actions import NextActionsPublic, ordered, public
from services.kit.auditing import NOT_PERSONAL, AuditTrail, PersonalRead
from services.kit.db import audit, connection
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.kit.isotime import IsoInstant

Tier = Annotated[Literal["gold", "silver", "regular"] | None, Query(description="Today's value tier")]
Company = Annotated[str | None, Query(max_length=100, description="The traveller's company id")]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
# ISO 8601 with an offset, as the schema's date-time says (a bare number is not epoch seconds here).
Since = Annotated[IsoInstant | None, Query(alias="from", description="Period start; default 90 days before `to`")]
Until = Annotated[IsoInstant | None, Query(alias="to", description="Period end, exclusive; default now")]
QueueRead = Annotated[AuditTrail, Depends(PersonalRead("queue.read", subject=None))]
ActionsRead = Annotated[AuditTrail, Depends(PersonalRead("next_actions.read"))]
CompanyActionsRead = Annotated[AuditTrail, Depends(PersonalRead("company.next_actions.read", subject="company_id"))]
# A company page shows at most this many of its travellers' low scores one by one.
COMPANY_LOW_SCORES_SHOWN = 5

router = APIRouter(prefix="/v1")


def _next(offset: int, limit: int, returned: int, total: int) -> int | None:
    return offset + limit if returned == limit and offset + limit < total else None


def _who(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "current_customer_id": r["current_id"],
        "customer_name": r["customer_name"],
        "company_id": r["company_now"],
        "company_name": r["company_name"],
        "tier": r["tier"],
    }


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    for name, value in (("from", since), ("to", until)):
        if value is not None and value.tzinfo is None:
            raise ProblemError(
                422, f"`{name}` needs a time zone (e.g. 2026-01-01T00:00:00Z)", title="Unprocessable Content"
            )
    end = until or utc_now()
    start = since or end - timedelta(days=90)
    if start >= end:
        raise ProblemError(422, "`from` must be before `to`", title="Unprocessable Content")
    return start, end


@router.get("/queues/cases", response_model=CaseQueuePage, tags=["queues"])
async def case_queue(
    request: Request,
    principal: Agent,
    trail: QueueRead,
    queue: Annotated[
        q.CaseQueue,
        Query(
            description="mine (assigned to you, or to `assignee`), unassigned, late (overdue or escalated),"
            " overdue, escalated, or all active"
        ),
    ] = "mine",
    assignee: Annotated[
        str | None, Query(max_length=100, description="For `mine`: whose cases (default: yours)")
    ] = None,
    tier: Tier = None,
    company_id: Company = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CaseQueuePage:
    """Active cases of a work queue, the nearest deadline first, by tier and company."""
    now = utc_now()
    whose = assignee or principal.name
    async with connection(runtime_of(request).pool) as conn:
        rows, total = await q.case_queue(
            conn, queue, now=now, assignee=whose, tier=tier, company_id=company_id, limit=limit, offset=offset
        )
        await trail.record(
            conn, queue=queue, tier=tier, company_id=company_id, results=len(rows), ids=[r["case_id"] for r in rows]
        )
    items = [CaseQueueItem(**_case_public(case_from_row(r), now=now), **_who(r)) for r in rows]
    return CaseQueuePage(
        queue=queue,
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        next_offset=_next(offset, limit, len(items), total),
    )


@router.get("/queues/low-scores", response_model=LowScorePage, tags=["queues"])
async def low_score_queue(
    request: Request,
    principal: Agent,
    trail: QueueRead,
    tier: Tier = None,
    company_id: Company = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LowScorePage:
    """Low scores (CSAT 1-2 or NPS 0-6) nobody followed up yet, oldest first."""
    async with connection(runtime_of(request).pool) as conn:
        rows, total = await q.low_scores(
            conn, tier=tier, company_id=company_id, customer_ids=None, limit=limit, offset=offset
        )
        await trail.record(
            conn,
            queue="low-scores",
            tier=tier,
            company_id=company_id,
            results=len(rows),
            ids=[r["survey_id"] for r in rows],
        )
    items = [LowScoreItem(**{**{k: r[k] for k in LowScoreItem.model_fields if k in r}, **_who(r)}) for r in rows]
    return LowScorePage(
        items=items, total=total, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items), total)
    )


@router.post("/surveys/{survey_id}/follow-up", response_model=FollowUpPublic, tags=["queues"])
async def follow_up(
    survey_id: str, request: Request, principal: Agent, body: FollowUpIn | None = None
) -> FollowUpPublic:
    """Record that a low score was followed up: it leaves the queue."""
    note = body.note.strip() or None if body and body.note else None
    async with connection(runtime_of(request).pool, transaction=True) as conn:
        row = await q.mark_followed_up(conn, survey_id, actor=principal.name, note=note, now=utc_now())
        if row is None:
            exists = await conn.fetchval("SELECT 1 FROM surveys WHERE survey_id = $1", survey_id)
            if not exists:
                raise ProblemError(404, f"no survey {survey_id!r}", type_="/problems/unknown-survey")
            raise ProblemError(
                409,
                "this survey has no low score waiting for a follow-up (not answered, not low, or followed up already)",
                type_="/problems/nothing-to-follow-up",
            )
        await audit(conn, principal, "survey.follow_up", row["customer_id"], {"survey_id": survey_id})
    return FollowUpPublic(**dict(row))


# Aggregates over many travellers: no traveller's data in the answer.
@router.get("/scores/breakdown", response_model=ScoreBreakdownPublic, tags=["scores"], dependencies=[NOT_PERSONAL])
async def score_breakdown(
    request: Request,
    principal: ScoreReader,
    by: Annotated[q.Breakdown, Query(description="tier (today's), company, or month (UTC)")] = "tier",
    tier: Tier = None,
    company_id: Company = None,
    since: Since = None,
    until: Until = None,
) -> ScoreBreakdownPublic:
    """CSAT and NPS of the answers in a period, per tier, company or month (for the ops dashboard)."""
    start, end = _period(since, until)
    async with connection(runtime_of(request).pool) as conn:
        groups = await q.score_groups(conn, by, since=start, until=end, tier=tier, company_id=company_id)
    out = []
    for g in groups:
        s = summarise(csat_counts=g.csat, nps_counts=g.nps)
        out.append(
            ScoreGroupPublic(
                key=g.key,
                label=g.label,
                csat=CsatPublic(
                    responses=s.csat.responses,
                    average=s.csat.average,
                    satisfied_share=s.csat.satisfied_share,
                    distribution=dict(s.csat.distribution),
                ),
                nps=NpsPublic(
                    responses=s.nps.responses,
                    score=s.nps.score,
                    promoters=s.nps.promoters,
                    passives=s.nps.passives,
                    detractors=s.nps.detractors,
                ),
            )
        )
    return ScoreBreakdownPublic(by=by, since=start, until=end, groups=out)


@router.get("/sla/breaches", response_model=BreachesPublic, tags=["cases"], dependencies=[NOT_PERSONAL])
async def sla_breaches(
    request: Request, principal: ScoreReader, since: Since = None, until: Until = None
) -> BreachesPublic:
    """Cases opened in a period and how many missed their SLA, per tier and per company."""
    start, end = _period(since, until)
    now = utc_now()
    async with connection(runtime_of(request).pool) as conn:
        tiers = await q.breach_groups(conn, "tier", now=now, since=start, until=end)
        companies = await q.breach_groups(conn, "company", now=now, since=start, until=end)
    return BreachesPublic(
        since=start,
        until=end,
        by_tier=[BreachGroupPublic(**dict(r)) for r in tiers],
        by_company=[BreachGroupPublic(**dict(r)) for r in companies],
    )


def _low(r: asyncpg.Record) -> actions.LowScore:
    return actions.LowScore(
        survey_id=r["survey_id"],
        customer_id=r["current_id"],
        answered_at=r["answered_at"],
        csat=r["csat"],
        nps=r["nps"],
        comment=r["comment"],
        case_id=r["case_id"],
        customer_name=r["customer_name"],
    )


def _late(c: Case, now: datetime) -> actions.LateCase:
    return actions.LateCase(c.case_id, c.customer_id, c.subject, c.overdue(now), c.escalated, c.assignee)


@router.get("/customers/{customer_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def customer_next_actions(
    customer_id: str, request: Request, principal: Agent, trail: ActionsRead
) -> NextActionsPublic:
    """What an agent should do next for a traveller, from feedback: late cases, low scores to follow up."""
    now = utc_now()
    async with connection(runtime_of(request).pool) as conn:
        await _known(conn, customer_id)
        current, ids = await _customer_ids(conn, customer_id)
        low, _ = await q.low_scores(conn, tier=None, company_id=None, customer_ids=ids, limit=20, offset=0)
        late = [_late(case_from_row(r), now) for r in await q.customer_cases_due(conn, ids, now=now)]
        await trail.record(conn, current)
    found = actions.customer_actions([_low(r) for r in low], late)
    return NextActionsPublic(
        subject="customer", subject_id=current, items=ordered([public(a, service="feedback") for a in found])
    )


@router.get("/companies/{company_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def company_next_actions(
    company_id: str, request: Request, principal: Agent, trail: CompanyActionsRead
) -> NextActionsPublic:
    """What an agent should do next for a company, from feedback: its travellers' low scores and late cases."""
    now = utc_now()
    async with connection(runtime_of(request).pool) as conn:
        ids = await q.company_customer_ids(conn, company_id)
        low, low_total = await q.low_scores(
            conn, tier=None, company_id=company_id, customer_ids=None, limit=COMPANY_LOW_SCORES_SHOWN, offset=0
        )
        _, late_total = await q.case_queue(
            conn, "overdue", now=now, assignee=None, tier=None, company_id=company_id, limit=1, offset=0
        )
        name = low[0]["company_name"] if low else None
        await trail.record(conn, company_id, travellers=len(ids), low_scores=low_total)
    found = actions.company_actions(name, [_low(r) for r in low], low_total, late_total)
    return NextActionsPublic(
        subject="company", subject_id=company_id, items=ordered([public(a, service="feedback") for a in found])
    )
