"""Post-trip surveys: one per trip, answered once before it expires.

The survey link carries an unguessable token, which is the traveller's only
credential; the service keeps only its digest. What counts as a complaint lives here
too, because a low score is what turns an answer into a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.feedback.domain.cases import Priority

CSAT_RANGE = range(1, 6)
NPS_RANGE = range(0, 11)
COMMENT_MAX = 5000
COMPLAINT_CSAT_MAX = 2  # CSAT 1-2: dissatisfied
COMPLAINT_NPS_MAX = 6  # NPS 0-6: a detractor; a complaint only when they also tell us why


class SurveyError(Exception):
    """An answer the survey rules refuse."""


class InvalidAnswerError(SurveyError, ValueError):
    """Scores out of range, or nothing answered."""


class SurveyExpiredError(SurveyError):
    """The survey can no longer be answered."""


class SurveyAlreadyAnsweredError(SurveyError):
    """The survey was answered before; answers are final."""


class SurveyState(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Answer:
    """A traveller's answer: at least one score, and an optional comment."""

    csat: int | None
    nps: int | None
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.csat is None and self.nps is None:
            raise InvalidAnswerError("give a satisfaction score (1-5) or a recommendation score (0-10)")
        if self.csat is not None and self.csat not in CSAT_RANGE:
            raise InvalidAnswerError("csat must be between 1 and 5")
        if self.nps is not None and self.nps not in NPS_RANGE:
            raise InvalidAnswerError("nps must be between 0 and 10")
        comment = (self.comment or "").strip()
        if len(comment) > COMMENT_MAX:
            raise InvalidAnswerError(f"the comment may have at most {COMMENT_MAX} characters")
        object.__setattr__(self, "comment", comment or None)


def is_complaint(answer: Answer) -> bool:
    """A low CSAT, or a detractor NPS that comes with a comment, opens a complaint case."""
    if answer.csat is not None and answer.csat <= COMPLAINT_CSAT_MAX:
        return True
    return answer.nps is not None and answer.nps <= COMPLAINT_NPS_MAX and answer.comment is not None


def complaint_priority(answer: Answer) -> Priority:
    """The very lowest scores get a fast first response."""
    if answer.csat == 1 or (answer.nps is not None and answer.nps <= 2):
        return Priority.HIGH
    return Priority.NORMAL


def expiry(created_at: datetime, ttl: timedelta) -> datetime:
    return created_at + ttl


class InvitationStatus(StrEnum):
    """What became of the survey's invitation message, as the notifications service reported it."""

    UNKNOWN = "unknown"  # surveys from before delivery reports were followed
    PLANNED = "planned"  # handed to notifications, no report yet
    HELD = "held"  # waiting for the traveller's quiet hours to end
    SENT = "sent"
    SUPPRESSED = "suppressed"  # the traveller does not want such messages (no consent)
    FAILED = "failed"


_FINAL = frozenset({InvitationStatus.SENT, InvitationStatus.SUPPRESSED, InvitationStatus.FAILED})


def invitation_changes(
    current: InvitationStatus, current_at: datetime | None, reported: InvitationStatus, reported_at: datetime
) -> bool:
    """Whether a delivery report changes the invitation's status.

    Reports may arrive out of order (a merge moves a customer's messages to another key): an
    outcome (sent, suppressed, failed) is never replaced by a hold, and otherwise the later
    report wins.
    """
    if current in _FINAL and reported not in _FINAL:
        return False
    if reported in _FINAL and current not in _FINAL:
        return True
    return current_at is None or reported_at >= current_at


@dataclass(frozen=True)
class Invitation:
    status: InvitationStatus = InvitationStatus.PLANNED
    at: datetime | None = None
    held_until: datetime | None = None
    detail: str | None = None


@dataclass
class Survey:
    """A survey invitation and, once given, its answer."""

    survey_id: str
    customer_id: str
    source_system: str
    booking_id: str
    company_id: str | None
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None = None
    answer: Answer | None = None
    invitation: Invitation = Invitation()

    def state(self, now: datetime) -> SurveyState:
        if self.answered_at is not None:
            return SurveyState.ANSWERED
        return SurveyState.EXPIRED if now >= self.expires_at else SurveyState.PENDING

    def record_answer(self, answer: Answer, *, now: datetime) -> None:
        """Store the answer; refused once answered or expired."""
        state = self.state(now)
        if state is SurveyState.ANSWERED:
            raise SurveyAlreadyAnsweredError("this survey has already been answered")
        if state is SurveyState.EXPIRED:
            raise SurveyExpiredError("this survey has expired")
        self.answer = answer
        self.answered_at = now
