"""The traveller's survey page and answer endpoint, authorised by the link's token alone.

A survey link is a capability URL: whoever holds it may read the form and answer once.
The pages are sent so that the URL does not leak (no Referer, no caching, no framing).
Browsers get HTML pages, error pages included; other clients get problem details.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from services.feedback.domain.surveys import (
    COMMENT_MAX,
    Answer,
    InvalidAnswerError,
    SurveyAlreadyAnsweredError,
    SurveyExpiredError,
    SurveyState,
)
from services.feedback.entrypoints.deps import domain_errors, settings_of, utc_now
from services.feedback.entrypoints.schemas import AnswerIn, AnswerReceipt
from services.feedback.service_layer import handlers
from services.kit.db import connection
from services.kit.entry import runtime_of
from services.kit.http import CAPABILITY_PAGE_HEADERS, ProblemError

PAGE_HEADERS = CAPABILITY_PAGE_HEADERS
FORM_TYPE = "application/x-www-form-urlencoded"


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: jinja2.Environment = request.app.state.templates
    html = templates.get_template(template).render(comment_max=COMMENT_MAX, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _page_error(request: Request, exc: ProblemError) -> Response:
    """A browser gets a readable page; any other client the problem details."""
    if not _wants_html(request):
        raise exc
    return _render(request, "message.html", status_code=exc.status, title="Survey unavailable", message=exc.detail)


router = APIRouter(tags=["survey page"])


@router.get("/surveys/{token}", response_class=HTMLResponse, name="survey_form")
async def survey_form(token: str, request: Request) -> Response:
    """The survey form behind the link a traveller received (or a thank-you once answered)."""
    now = utc_now()
    try:
        with domain_errors():
            async with connection(runtime_of(request).pool) as conn:
                page = await handlers.survey_page(conn, token)
            state = page.survey.state(now)
            if state is SurveyState.EXPIRED:
                raise SurveyExpiredError("this survey has expired")
    except ProblemError as exc:
        return _page_error(request, exc)
    if state is SurveyState.ANSWERED:
        return _render(request, "message.html", title="Thank you", message="Your answer has been received.")
    return _render(request, "survey.html", survey=page.survey, trip=page.trip, errors=[], values={})


def _form_int(values: dict[str, list[str]], name: str, errors: list[str]) -> int | None:
    raw = (values.get(name) or [""])[0].strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors.append(f"{name} must be a whole number")
        return None


@router.post(
    "/surveys/{token}",
    response_class=HTMLResponse,
    # The page reads its form itself; the document says what it reads and answers.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM_TYPE: {
                    "schema": {
                        "type": "object",
                        "required": [],
                        "properties": {
                            "csat": {"type": "string", "pattern": "^[1-5]$"},
                            "nps": {"type": "string", "pattern": "^([0-9]|10)$"},
                            "comment": {"type": "string", "maxLength": 2000},
                        },
                    }
                }
            },
        }
    },
    responses={
        303: {"description": "Answered: to the thank-you page"},
        410: {"description": "The survey is closed"},
        415: {"description": "Not a form"},
    },
)
async def submit_survey_form(token: str, request: Request) -> Response:
    """Answer the survey from its HTML form; redirects to the thank-you page."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        raise ProblemError(415, f"send the form as {FORM_TYPE}")
    values = parse_qs((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    errors: list[str] = []
    csat, nps = _form_int(values, "csat", errors), _form_int(values, "nps", errors)
    comment = (values.get("comment") or [""])[0]
    answer: Answer | None = None
    if not errors:
        try:
            answer = Answer(csat=csat, nps=nps, comment=comment)
        except InvalidAnswerError as exc:
            errors.append(str(exc))
    try:
        with domain_errors():
            if answer is None:
                async with connection(runtime_of(request).pool) as conn:
                    page = await handlers.survey_page(conn, token)
                state = page.survey.state(utc_now())
                if state is SurveyState.ANSWERED:
                    raise SurveyAlreadyAnsweredError("this survey has already been answered")
                if state is SurveyState.EXPIRED:
                    raise SurveyExpiredError("this survey has expired")
                shown = {"csat": csat, "nps": nps, "comment": comment}
                return _render(
                    request,
                    "survey.html",
                    status_code=422,
                    survey=page.survey,
                    trip=page.trip,
                    errors=errors,
                    values=shown,
                )
            await _answer(request, token, answer)
    except ProblemError as exc:
        return _page_error(request, exc)
    thanks = f"{settings_of(request).public_base_url}/surveys/{token}"
    return RedirectResponse(thanks, status_code=status.HTTP_303_SEE_OTHER)


async def _answer(request: Request, token: str, answer: Answer) -> handlers.AnswerRecorded:
    with domain_errors():
        async with connection(runtime_of(request).pool, transaction=True) as conn:
            return await handlers.answer_survey(
                conn, token=token, answer=answer, now=utc_now(), policy=settings_of(request).sla_policy()
            )


@router.post(
    "/v1/surveys/{token}/answers", status_code=status.HTTP_201_CREATED, response_model=AnswerReceipt, tags=["surveys"]
)
async def post_answer(token: str, body: AnswerIn, request: Request) -> AnswerReceipt:
    """Answer a survey as JSON; the token from the survey link is the credential."""
    with domain_errors():
        answer = Answer(csat=body.csat, nps=body.nps, comment=body.comment)
    recorded = await _answer(request, token, answer)
    assert recorded.survey.answered_at is not None
    return AnswerReceipt(survey_id=recorded.survey.survey_id, answered_at=recorded.survey.answered_at)


def templates() -> jinja2.Environment:
    """The survey page templates, autoescaped (answers and booking references are untrusted)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("services.feedback.entrypoints", "templates"),
        autoescape=True,
    )
