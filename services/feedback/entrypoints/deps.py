"""What every route needs: the runtime, settings, the clock, roles, and domain refusals as problems."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from services.feedback.adapters.repository import ConcurrentUpdateError
from services.feedback.domain.cases import CaseError, IllegalTransitionError, NotPermittedError
from services.feedback.domain.surveys import InvalidAnswerError, SurveyAlreadyAnsweredError, SurveyExpiredError
from services.feedback.service_layer.handlers import UnknownCaseError, UnknownSurveyError
from services.feedback.settings import FeedbackSettings
from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.entry import runtime_of
from services.kit.http import ProblemError

Agent = Annotated[Principal, Depends(require_roles("agent"))]
ScoreReader = Annotated[Principal, Depends(require_roles("ops", "supervisor"))]
# Reads of a traveller's surveys, cases and scores: the HTTP shell audits each one, and each refusal.
SurveysRead = Annotated[AuditTrail, Depends(PersonalRead("surveys.read"))]
SurveyRead = Annotated[AuditTrail, Depends(PersonalRead("survey.read", subject=None))]
CasesRead = Annotated[AuditTrail, Depends(PersonalRead("cases.read"))]
CaseRead = Annotated[AuditTrail, Depends(PersonalRead("case.read", subject=None))]
ScoresRead = Annotated[AuditTrail, Depends(PersonalRead("scores.read"))]


def settings_of(request: Request) -> FeedbackSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, FeedbackSettings)
    return settings


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Answer refusals by the domain with problem details."""
    try:
        yield
    except UnknownSurveyError as exc:
        raise ProblemError(404, str(exc), type_="/problems/unknown-survey") from exc
    except SurveyExpiredError as exc:
        raise ProblemError(410, str(exc), type_="/problems/survey-expired") from exc
    except SurveyAlreadyAnsweredError as exc:
        raise ProblemError(409, str(exc), type_="/problems/survey-answered") from exc
    except InvalidAnswerError as exc:
        raise ProblemError(422, str(exc), type_="/problems/invalid-answer") from exc
    except UnknownCaseError as exc:
        raise ProblemError(404, str(exc), type_="/problems/unknown-case") from exc
    except NotPermittedError as exc:
        raise ProblemError(403, str(exc), type_="/problems/not-permitted") from exc
    except IllegalTransitionError as exc:
        raise ProblemError(409, str(exc), type_="/problems/illegal-transition") from exc
    except CaseError as exc:
        raise ProblemError(422, str(exc), type_="/problems/invalid-change") from exc
    except ConcurrentUpdateError as exc:
        raise ProblemError(409, str(exc), type_="/problems/concurrent-update") from exc
