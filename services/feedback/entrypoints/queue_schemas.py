"""HTTP shapes of the work queues and the dashboard's figures."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.feedback.entrypoints.schemas import CasePublic, CsatPublic, NpsPublic


class Who(BaseModel):
    """Who an item is about, now (from this service's customer view)."""

    current_customer_id: str = Field(description="The customer id today (after merges)")
    customer_name: str | None
    company_id: str | None
    company_name: str | None
    tier: str = Field(description="Today's tier; `regular` while the value service has none")


class CaseQueueItem(CasePublic, Who):
    pass


class CaseQueuePage(BaseModel):
    queue: str
    items: list[CaseQueueItem]
    total: int = Field(description="Items in the queue with these filters, on every page")
    limit: int
    offset: int
    next_offset: int | None


class LowScoreItem(Who):
    survey_id: str
    customer_id: str
    source_system: str
    booking_id: str
    answered_at: datetime
    csat: int | None
    nps: int | None
    comment: str | None
    case_id: str | None
    case_status: str | None
    case_assignee: str | None


class LowScorePage(BaseModel):
    items: list[LowScoreItem]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000, description="What was done, for the record")


class FollowUpPublic(BaseModel):
    survey_id: str
    customer_id: str
    followed_up_at: datetime
    followed_up_by: str
    follow_up_note: str | None


class ScoreGroupPublic(BaseModel):
    key: str = Field(description="The tier, the company id (empty: no company) or the month (YYYY-MM)")
    label: str | None = Field(description="The company's name, when known")
    csat: CsatPublic
    nps: NpsPublic


class ScoreBreakdownPublic(BaseModel):
    by: str
    since: datetime
    until: datetime
    groups: list[ScoreGroupPublic]


class BreachGroupPublic(BaseModel):
    key: str
    label: str | None
    cases: int = Field(description="Cases opened in the period")
    breached: int = Field(description="Of those, cases that missed a deadline (met late, or overdue)")
    first_response: int = Field(description="Missed the first-response deadline")
    resolution: int = Field(description="Missed the resolution deadline")
    overdue_now: int = Field(description="Active and past a deadline now")


class BreachesPublic(BaseModel):
    since: datetime
    until: datetime
    by_tier: list[BreachGroupPublic]
    by_company: list[BreachGroupPublic]
