"""HTTP shapes of the feedback API, apart from domain objects and wire contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.feedback.domain.cases import CaseKind, CaseSource, CaseStatus, Priority, SlaTarget
from services.feedback.domain.surveys import COMMENT_MAX, InvitationStatus, SurveyState
from services.feedback.entrypoints.reading_schemas import CaseReadingPublic, CommentReadingPublic


class AnswerIn(BaseModel):
    """A traveller's answer: at least one of the two scores."""

    # The rule "csat or nps" in the schema too, so that clients can check it before sending.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["csat"], "properties": {"csat": {"type": "integer"}}},
                {"required": ["nps"], "properties": {"nps": {"type": "integer"}}},
            ]
        },
    )

    csat: int | None = Field(default=None, ge=1, le=5, description="Satisfaction, 1 (very dissatisfied) to 5")
    nps: int | None = Field(default=None, ge=0, le=10, description="Likelihood to recommend, 0 to 10")
    comment: str | None = Field(default=None, max_length=COMMENT_MAX)

    @model_validator(mode="after")
    def _some_score(self) -> AnswerIn:
        if self.csat is None and self.nps is None:
            raise ValueError("give csat or nps")
        return self


class AnswerReceipt(BaseModel):
    survey_id: str
    answered_at: datetime


class BookingRef(BaseModel):
    source_system: str
    booking_id: str


class SurveyPublic(BaseModel):
    survey_id: str
    customer_id: str
    source_system: str
    booking_id: str
    company_id: str | None
    state: SurveyState
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    csat: int | None
    nps: int | None
    comment: str | None
    case_id: str | None = Field(description="The case the answer opened, or the open case its comment was added to")
    invitation_status: InvitationStatus = Field(
        description="What became of the invitation email: planned (not reported yet), held (quiet hours,"
        " until invitation_held_until), sent, suppressed (no consent), failed; unknown for surveys from"
        " before delivery reports were followed"
    )
    invitation_status_at: datetime | None
    invitation_held_until: datetime | None
    invitation_detail: str | None = Field(description="Why it was held, suppressed or failed")
    bookings: list[BookingRef] = Field(description="The bookings of the trip the survey asks about")
    reading: CommentReadingPublic | None = Field(
        default=None, description="The comment's language, sentiment and topics; null without a comment"
    )


class SurveyPage(BaseModel):
    items: list[SurveyPublic]
    customer_id: str
    limit: int
    offset: int


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    kind: CaseKind = CaseKind.COMPLAINT
    priority: Priority = Priority.NORMAL
    assignee: str | None = Field(default=None, min_length=1, max_length=100)
    source_system: str | None = Field(default=None, min_length=1, max_length=50)
    booking_id: str | None = Field(default=None, min_length=1, max_length=100)


class CaseUpdate(BaseModel):
    """Fields to change; `assignee: null` unassigns; closing needs a supervisor."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    status: CaseStatus | None = None
    priority: Priority | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _something(self) -> CaseUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of status, priority, assignee, note")
        return self


class HistoryPublic(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class CasePublic(BaseModel):
    case_id: str
    customer_id: str
    kind: CaseKind
    source: CaseSource
    subject: str
    description: str
    status: CaseStatus
    priority: Priority
    assignee: str | None
    survey_id: str | None
    source_system: str | None
    booking_id: str | None
    opened_by: str
    opened_at: datetime
    first_response_due: datetime
    first_response_at: datetime | None
    resolution_due: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    escalated: bool
    escalations: list[SlaTarget]
    breaches: list[SlaTarget] = Field(description="SLA targets missed so far")
    next_statuses: list[CaseStatus] = Field(description="Statuses the case may move to")
    version: int
    updated_at: datetime | None
    reading: CaseReadingPublic | None = Field(
        default=None,
        description="Topics and sentiment: of the traveller's latest comment about the case, else of its own text",
    )


class CaseDetail(CasePublic):
    customer_name: str | None
    history: list[HistoryPublic]


class CasePage(BaseModel):
    items: list[CasePublic]
    limit: int
    offset: int


class CsatPublic(BaseModel):
    responses: int
    average: float | None
    satisfied_share: float | None = Field(description="Share of answers with CSAT 4 or 5")
    distribution: dict[int, int]


class NpsPublic(BaseModel):
    responses: int
    score: float | None = Field(description="100 x (promoters - detractors) / responses, -100..100")
    promoters: int
    passives: int
    detractors: int


class ScoresPublic(BaseModel):
    company_id: str | None
    customer_id: str | None
    since: datetime
    until: datetime
    csat: CsatPublic
    nps: NpsPublic
