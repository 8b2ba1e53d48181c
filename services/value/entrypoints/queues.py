"""Value's part of the dashboard (tier movement) and of next best actions (re-engage drifting accounts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.kit.actions import NextActionsPublic, ordered, public
from services.kit.auditing import NOT_PERSONAL, AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.db import connection
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.kit.isotime import IsoDateTime
from services.kit.view import lookup
from services.value.adapters import movements
from services.value.adapters import repository as repo
from services.value.domain import actions

Agent = Annotated[Principal, Depends(require_roles("agent"))]
Dashboard = Annotated[Principal, Depends(require_roles("ops", "supervisor"))]

router = APIRouter(prefix="/v1")


class MovementPublic(BaseModel):
    from_tier: str | None = Field(description="None: the customer's first tier")
    to_tier: str
    count: int


class MonthMovementPublic(BaseModel):
    month: str = Field(description="YYYY-MM (UTC)")
    up: int = Field(description="Moves to a higher tier (first tiers above regular included)")
    down: int


class MovementsPublic(BaseModel):
    subject: str
    since: datetime
    until: datetime
    movements: list[MovementPublic]
    by_month: list[MonthMovementPublic]


@router.get("/tier-movements", response_model=MovementsPublic, tags=["queues"], dependencies=[NOT_PERSONAL])
async def tier_movements(
    request: Request,
    _: Dashboard,
    subject: Annotated[Literal["customer", "company"], Query()] = "customer",
    since: Annotated[IsoDateTime | None, Query(alias="from", description="Default: 180 days before `to`")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to", description="Exclusive; default now")] = None,
) -> MovementsPublic:
    """How many travellers (or companies) moved between tiers in a period, and per month up or down."""
    end = until or datetime.now(UTC)
    start = since or end - timedelta(days=180)
    if start.tzinfo is None or end.tzinfo is None:
        raise ProblemError(422, "`from` and `to` need a time zone", title="Unprocessable Content")
    if start >= end:
        raise ProblemError(422, "`from` must be before `to`", title="Unprocessable Content")
    async with connection(runtime_of(request).pool) as conn:
        moves = await movements.tier_moves(conn, subject, since=start, until=end)
        months = await movements.moves_by_month(conn, subject, since=start, until=end)
    return MovementsPublic(
        subject=subject,
        since=start,
        until=end,
        movements=[MovementPublic(**dict(r)) for r in moves],
        by_month=[MonthMovementPublic(**dict(r)) for r in months],
    )


async def _snapshot(conn: asyncpg.Connection, subject: Literal["customer", "company"], key: str) -> dict[str, Any]:
    row = await repo.current_value(conn, subject, key)
    return dict(row["snapshot"]) if row is not None else {}


@router.get("/customers/{customer_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def customer_next_actions(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("next_actions.read"))],
) -> NextActionsPublic:
    """What an agent should do next for a traveller, from value: re-engage them if they drift away.

    A traveller without bookings here has no value yet, and so no action (not a 404: the console
    asks every service)."""
    async with connection(runtime_of(request).pool) as conn:
        entry = await lookup(conn, "customer", customer_id)
        current = customer_id if entry is None else entry.customer_id
        snapshot = await _snapshot(conn, "customer", current)
        await trail.record(conn, current)
    found = actions.re_engage(snapshot, subject="customer") if snapshot else []
    return NextActionsPublic(
        subject="customer",
        subject_id=current,
        items=ordered([public(a, service="value", customer_id=current) for a in found]),
    )


@router.get("/companies/{company_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def company_next_actions(
    company_id: str,
    request: Request,
    principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("company.next_actions.read", subject="company_id"))],
) -> NextActionsPublic:
    """What an agent should do next for a company, from value: re-engage the account if it drifts away."""
    async with connection(runtime_of(request).pool) as conn:
        snapshot = await _snapshot(conn, "company", company_id)
        await trail.record(conn, company_id)
    found = actions.re_engage(snapshot, subject="company") if snapshot else []
    return NextActionsPublic(
        subject="company", subject_id=company_id, items=ordered([public(a, service="value") for a in found])
    )
