"""Profile's work queues (data-quality tasks, suspected duplicates) and next best actions.

Lists are paged and capped like the other lists, filterable by tier and company, and audited
as bulk reads of personal data with the ids they returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.kit.actions import NextActionsPublic, ordered, public
from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.db import connection
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.profile.adapters import customers as customers_db
from services.profile.adapters import queues as q
from services.profile.domain import actions

Agent = Annotated[Principal, Depends(require_roles("agent"))]
QueueRead = Annotated[AuditTrail, Depends(PersonalRead("queue.read", subject=None))]
ActionsRead = Annotated[AuditTrail, Depends(PersonalRead("next_actions.read"))]
CompanyActionsRead = Annotated[AuditTrail, Depends(PersonalRead("company.next_actions.read", subject="company_id"))]
Tier = Annotated[Literal["gold", "silver", "regular"] | None, Query(description="Today's value tier")]
Company = Annotated[str | None, Query(max_length=100, description="The traveller's company id")]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]

router = APIRouter(prefix="/v1")


class QualityQueueItem(BaseModel):
    task_id: int
    customer_id: str
    customer_name: str | None
    company_id: str | None
    company_name: str | None
    tier: str = Field(description="Today's tier; `regular` while the value service has none")
    account_manager: str | None = Field(
        default=None, description="The traveller's account manager: an agent's name or `team:<name>`"
    )
    kind: str
    detail: dict[str, Any]
    status: str
    created_at: datetime


class ReviewQueueItem(BaseModel):
    review_id: str
    customer_id: str
    customer_name: str | None
    company_id: str | None
    company_name: str | None
    tier: str
    candidate_id: str
    candidate_name: str | None
    candidate_company_id: str | None
    candidate_company_name: str | None
    candidate_tier: str
    score: float
    created_at: datetime


class QualityQueuePage(BaseModel):
    items: list[QualityQueueItem]
    total: int = Field(description="Items in the queue with these filters, on every page")
    limit: int
    offset: int
    next_offset: int | None


class ReviewQueuePage(BaseModel):
    items: list[ReviewQueueItem]
    total: int
    limit: int
    offset: int
    next_offset: int | None


def _next(offset: int, limit: int, returned: int, total: int) -> int | None:
    return offset + limit if returned == limit and offset + limit < total else None


@router.get("/queues/quality-tasks", response_model=QualityQueuePage, tags=["queues"])
async def quality_queue(
    request: Request,
    principal: Agent,
    trail: QueueRead,
    kind: Annotated[str | None, Query(max_length=60, description="e.g. conflict:date_of_birth")] = None,
    tier: Tier = None,
    company_id: Company = None,
    account_manager: Annotated[
        str | None, Query(max_length=120, description="Tasks of the travellers this agent (or `team:<name>`) manages")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> QualityQueuePage:
    """Open data-quality tasks, oldest first, by kind, tier, company and account manager."""
    async with connection(runtime_of(request).pool) as conn:
        rows, total = await q.quality_tasks(
            conn,
            kind=kind,
            tier=tier,
            company_id=company_id,
            account_manager=account_manager,
            limit=limit,
            offset=offset,
        )
        await trail.record(
            conn,
            queue="quality-tasks",
            tier=tier,
            company_id=company_id,
            account_manager=account_manager,
            results=len(rows),
            ids=[r["customer_id"] for r in rows],
        )
    items = [QualityQueueItem(**dict(r)) for r in rows]
    return QualityQueuePage(
        items=items, total=total, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items), total)
    )


@router.get("/queues/reviews", response_model=ReviewQueuePage, tags=["queues"])
async def review_queue(
    request: Request,
    principal: Agent,
    trail: QueueRead,
    tier: Tier = None,
    company_id: Company = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ReviewQueuePage:
    """Open suspected duplicates, highest score first; a pair matches a filter when either traveller does."""
    async with connection(runtime_of(request).pool) as conn:
        rows, total = await q.reviews(conn, tier=tier, company_id=company_id, limit=limit, offset=offset)
        await trail.record(
            conn,
            queue="reviews",
            tier=tier,
            company_id=company_id,
            results=len(rows),
            ids=sorted({i for r in rows for i in (r["customer_id"], r["candidate_id"])}),
        )
    items = [ReviewQueueItem(**{k: r[k] for k in ReviewQueueItem.model_fields}) for r in rows]
    return ReviewQueuePage(
        items=items, total=total, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items), total)
    )


@router.get("/customers/{customer_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def customer_next_actions(
    customer_id: str, request: Request, principal: Agent, trail: ActionsRead
) -> NextActionsPublic:
    """What an agent should do next for a traveller, from the profile: missing data, conflicts, duplicates."""
    async with connection(runtime_of(request).pool) as conn:
        current = await customers_db.follow_redirects(conn, customer_id)
        row = await customers_db.get_customer(conn, current) if current else None
        if current is None or row is None:
            raise ProblemError(404, f"no customer {customer_id!r}", type_="/problems/unknown-customer")
        tasks = await q.open_tasks_of(conn, current)
        reviews = await q.open_reviews_of(conn, current)
        await trail.record(conn, current)
    golden = dict(row["golden"] or {})
    if row["company_name"]:
        golden.setdefault("company_name", row["company_name"])
    completeness = (row["quality"] or {}).get("completeness")
    found = actions.customer_actions(
        golden,
        completeness if isinstance(completeness, (int, float)) else None,
        [(t["kind"], t["detail"] or {}) for t in tasks],
        [
            (r["review_id"], r["candidate_id"] if r["customer_id"] == current else r["customer_id"], r["score"])
            for r in reviews
        ],
        current,
    )
    return NextActionsPublic(
        subject="customer",
        subject_id=current,
        items=ordered([public(a, service="profile", customer_id=current) for a in found]),
    )


@router.get("/companies/{company_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def company_next_actions(
    company_id: str, request: Request, principal: Agent, trail: CompanyActionsRead
) -> NextActionsPublic:
    """What an agent should do next for a company, from its travellers' profiles."""
    async with connection(runtime_of(request).pool) as conn:
        work = await q.company_work(conn, company_id)
        if work is None:
            raise ProblemError(404, f"no company {company_id!r}", type_="/problems/not-found")
        await trail.record(conn, company_id)
    found = actions.company_actions(
        work["name"], work["travellers"], work["with_tasks"], work["reviews"], work["without_email"]
    )
    return NextActionsPublic(
        subject="company", subject_id=company_id, items=ordered([public(a, service="profile") for a in found])
    )
