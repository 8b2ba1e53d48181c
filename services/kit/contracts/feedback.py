"""What the feedback service publishes: survey invitations and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.kit.contracts.envelope import Payload


class SurveyInvitedV1(Payload):
    """A post-trip survey was created for a customer and should reach them."""

    event_type = "survey.invited"
    schema_version = 1

    survey_id: str
    customer_id: str
    booking_id: str
    source_system: str
    survey_url: str | None = Field(
        default=None,
        description="Deprecated: the survey link in clear. Its token is a credential, so producers now send"
        " `sealed_survey_url` instead; consumers still accept this from older producers.",
    )
    sealed_survey_url: str | None = Field(
        default=None,
        description="The survey link (whose token is the traveller's credential), sealed with the shared link"
        " keys (AES-256-GCM, bound to purpose `survey-link` and the survey id): `v1.<key id>.<base64url>`.",
    )
    expires_at: AwareDatetime


class CommentReadingV1(BaseModel):
    """What the feedback service read in a survey comment: language, sentiment and topics."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    language: str | None = Field(default=None, description="`en`, `de` or `zh`; null when none of them")
    sentiment: Literal["negative", "neutral", "positive"]
    score: float = Field(ge=-1, le=1, description="-1 (very negative) to 1 (very positive)")
    topics: tuple[str, ...] = Field(
        default=(),
        description="Topics the comment mentions: seat, meal, hotel, delay, agent, price, baggage, cancellation,"
        " refund, checkin, car, wifi, cleanliness (new topics may be added)",
    )
    reader: str = Field(description="Version of the reader that produced this reading")


class SurveyAnsweredV1(Payload):
    """A customer answered a survey."""

    event_type = "survey.answered"
    schema_version = 1

    survey_id: str
    customer_id: str
    booking_id: str
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    comment: str | None = Field(default=None, max_length=5000)
    answered_at: AwareDatetime
    reading: CommentReadingV1 | None = Field(
        default=None, description="The comment's language, sentiment and topics; absent without a comment"
    )


CaseStatusName = Literal["open", "in_progress", "waiting_customer", "resolved", "closed"]
CasePriorityName = Literal["low", "normal", "high", "urgent"]


class _CaseState(Payload):
    case_id: str
    customer_id: str
    kind: Literal["complaint", "request"]
    status: CaseStatusName
    priority: CasePriorityName
    assignee: str | None = None
    first_response_due: AwareDatetime
    resolution_due: AwareDatetime
    escalated: bool = False
    booking_id: str | None = None
    source_system: str | None = None


class CaseOpenedV1(_CaseState):
    """A complaint or request case was opened (from a low survey score or by an agent)."""

    event_type = "case.opened"
    schema_version = 1

    source: Literal["survey", "agent", "journey"]
    subject: str
    survey_id: str | None = None
    opened_by: str
    opened_at: AwareDatetime


class CaseChangedV1(_CaseState):
    """An agent changed a case's status, priority or assignee (the payload is its new state)."""

    event_type = "case.changed"
    schema_version = 1

    changed_by: str
    changed_at: AwareDatetime


class CaseEscalatedV1(_CaseState):
    """A case missed an SLA target and was escalated."""

    event_type = "case.escalated"
    schema_version = 1

    missed_targets: tuple[str, ...]
    escalated_at: AwareDatetime
