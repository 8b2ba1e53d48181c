"""What the feedback service publishes: survey invitations and answers."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from services.kit.contracts.envelope import Payload


class SurveyInvitedV1(Payload):
    """A post-trip survey was created for a customer and should reach them."""

    event_type = "survey.invited"
    schema_version = 1

    survey_id: str
    customer_id: str
    booking_id: str
    source_system: str
    survey_url: str
    expires_at: AwareDatetime


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
