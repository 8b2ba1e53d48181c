"""The traveller's answer page for a confirmation question, authorised by the link's token alone.

The notifications service sends the traveller a link, `/confirmations/{token}`, when the
preferences service asks to confirm a low-confidence inference. The link is a capability URL:
whoever holds it may see that one question and answer it once, until it expires. Only the
token's digest is stored. Pages are sent so that the URL does not leak (no Referer, no caching,
no framing); browsers get HTML pages, error pages included, other clients problem details.
Tools can use the JSON twins under `/v1/confirmations/{token}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from services.kit.dates import long_date
from services.kit.db import connection, record_audit
from services.kit.entry import runtime_of
from services.kit.http import CAPABILITY_PAGE_HEADERS, ProblemError
from services.preferences.domain import catalogue
from services.preferences.service_layer import commands
from services.preferences.service_layer.commands import LinkedQuestion

PAGE_HEADERS = CAPABILITY_PAGE_HEADERS
FORM_TYPE = "application/x-www-form-urlencoded"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,200}")

router = APIRouter(tags=["confirmation page"])


class QuestionPublic(BaseModel):
    """A confirmation question as its link shows it."""

    key: str
    value: Any
    question: str
    questions: dict[str, str] = Field(description="The question by language (ISO 639-1); `question` is the English one")
    status: Literal["pending", "accepted", "declined", "superseded", "expired"]
    expires_at: datetime | None


# The page's words in each language it is written in; the language is the browser's
# (Accept-Language), English unless it prefers German.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "A quick question",
        "heading": "A quick question about your travel preferences",
        "intro": "From your recent bookings we think we have noticed something. Is it right?",
        "yes": "Yes, that's right",
        "no": "No, it isn't",
        "note": "Your answer is used for your future bookings. You can change your preferences at any time "
        "through your travel agent.",
        "until": "This link works until {date}.",
        "thanks": "Thank you",
        "answered": "We have your answer ({said}) and will use it for your next bookings.",
        "said_yes": "yes",
        "said_no": "no",
        "closed": "Question closed",
        "expired": "This link has expired.",
        "superseded": "This question is no longer open: we asked a newer one.",
        "no_longer": "This question can no longer be answered: its link has expired, or we asked a newer one.",
        "not_found": "Link not found",
        "unknown": "This link does not belong to any question.",
    },
    "de": {
        "title": "Eine kurze Frage",
        "heading": "Eine kurze Frage zu Ihren Reisevorlieben",
        "intro": "Bei Ihren letzten Buchungen ist uns etwas aufgefallen. Stimmt es?",
        "yes": "Ja, das stimmt",
        "no": "Nein, das stimmt nicht",
        "note": "Ihre Antwort gilt für Ihre nächsten Buchungen. Ihre Vorlieben können Sie jederzeit über Ihr "
        "Reisebüro ändern.",
        "until": "Dieser Link funktioniert bis zum {date}.",
        "thanks": "Vielen Dank",
        "answered": "Wir haben Ihre Antwort ({said}) und berücksichtigen sie bei Ihren nächsten Buchungen.",
        "said_yes": "ja",
        "said_no": "nein",
        "closed": "Frage geschlossen",
        "expired": "Dieser Link ist abgelaufen.",
        "superseded": "Diese Frage ist nicht mehr offen: Wir haben inzwischen eine neuere gestellt.",
        "no_longer": "Diese Frage kann nicht mehr beantwortet werden: Der Link ist abgelaufen, oder wir haben "
        "inzwischen eine neuere gestellt.",
        "not_found": "Link nicht gefunden",
        "unknown": "Dieser Link gehört zu keiner Frage.",
    },
}


def page_language(accept_language: str | None) -> str:
    """The page's language from an Accept-Language header: the first of ours the browser prefers."""
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, n, tag.strip().split("-")[0].lower()))
    for negative_quality, _, lang in sorted(ranked):
        if negative_quality < 0 and lang in TEXTS:
            return lang
    return "en"


def _language(request: Request) -> str:
    return page_language(request.headers.get("accept-language"))


class AnswerIn(BaseModel):
    accepted: bool = Field(description="True: yes, that is right (it becomes a stated preference); false: it is not")


def templates() -> jinja2.Environment:
    """The page templates, autoescaped (the question quotes values that came from bookings)."""
    loader = jinja2.PackageLoader("services.preferences.entrypoints", "templates")
    return jinja2.Environment(loader=loader, autoescape=True)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.answer_templates
    lang = _language(request)
    q: LinkedQuestion | None = context.get("question")
    page = env.get_template(template).render(
        lang=lang, t=TEXTS[lang], asked=None if q is None else catalogue.question(q.key, q.value, lang),
        until=None if q is None or q.expires_at is None else long_date(q.expires_at, lang), **context,
    )  # fmt: skip
    headers = {**PAGE_HEADERS, "Content-Language": lang, "Vary": "Accept-Language"}
    return HTMLResponse(page, status_code=status_code, headers=headers)


def _public(q: LinkedQuestion, now: datetime) -> QuestionPublic:
    shown = "expired" if q.expired(now) else q.status
    return QuestionPublic(
        key=q.key, value=q.value, question=q.question, questions=catalogue.questions(q.key, q.value), status=shown,
        expires_at=q.expires_at,
    )  # fmt: skip


@contextmanager
def _question_errors() -> Iterator[None]:
    """Refusals as problem details: an unknown link is 404, a question no longer open 409 or 410."""
    try:
        yield
    except commands.UnknownQuestionError as exc:
        raise ProblemError(404, str(exc), type_="/problems/unknown-question") from exc
    except commands.QuestionClosedError as exc:
        if exc.question.status in ("accepted", "declined"):
            raise ProblemError(409, str(exc), type_="/problems/question-answered") from exc
        raise ProblemError(410, str(exc), type_="/problems/question-closed") from exc


def _check_token(token: str) -> None:
    if not _TOKEN.fullmatch(token):
        raise commands.UnknownQuestionError("this link does not belong to any question")


async def _question(request: Request, token: str) -> LinkedQuestion:
    with _question_errors():
        _check_token(token)
        async with connection(runtime_of(request).pool) as conn:
            return await commands.question_by_token(conn, token)


async def _answer(request: Request, token: str, *, accepted: bool) -> LinkedQuestion:
    with _question_errors():
        _check_token(token)
        async with connection(runtime_of(request).pool, transaction=True) as conn:
            q = await commands.answer_by_token(conn, token, accepted=accepted)
            await record_audit(
                conn, principal=commands.TRAVELLER_LINK, role="traveller", action="preferences.confirmation",
                subject_id=q.customer_id, detail={"request_id": q.request_id, "accepted": accepted, "value": q.value},
            )  # fmt: skip
            return q


def _closed_page(request: Request, q: LinkedQuestion, now: datetime) -> HTMLResponse:
    t = TEXTS[_language(request)]
    if q.status in ("accepted", "declined"):
        said = t["said_yes"] if q.status == "accepted" else t["said_no"]
        return _render(
            request, "message.html", title=t["thanks"], message=t["answered"].format(said=said), question=q
        )  # fmt: skip
    message = t["expired"] if q.expired(now) else t["superseded"]
    return _render(request, "message.html", status_code=410, title=t["closed"], message=message, question=None)


def _error_page(request: Request, exc: ProblemError) -> Response:
    """A browser gets a readable page; any other client the problem details."""
    if not _wants_html(request):
        raise exc
    t = TEXTS[_language(request)]
    title, message = (t["not_found"], t["unknown"]) if exc.status == 404 else (t["closed"], t["no_longer"])
    return _render(request, "message.html", status_code=exc.status, title=title, message=message, question=None)


@router.get("/confirmations/{token}", response_class=HTMLResponse)
async def question_page(token: str, request: Request) -> Response:
    """The question behind the link a traveller received, with a yes and a no button."""
    try:
        q = await _question(request, token)
    except ProblemError as exc:
        return _error_page(request, exc)
    now = datetime.now(UTC)
    if q.status != "pending" or q.expired(now):
        return _closed_page(request, q, now)
    return _render(request, "question.html", question=q)


@router.post(
    "/confirmations/{token}",
    response_class=HTMLResponse,
    # The page reads its form itself; the document says what it reads and answers.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM_TYPE: {
                    "schema": {
                        "type": "object",
                        "required": ["answer"],
                        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
                    }
                }
            },
        }
    },
    responses={
        303: {"description": "Answered: back to the page"},
        410: {"description": "The link expired"},
        415: {"description": "Not a form"},
    },
)
async def answer_page(token: str, request: Request) -> Response:
    """The answer from the page's form (`answer=yes` or `answer=no`); redirects back to the page."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        raise ProblemError(415, f"send the form as {FORM_TYPE}")
    values = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    answer = (values.get("answer") or [""])[0]
    if answer not in ("yes", "no"):
        raise ProblemError(422, "answer must be yes or no", errors=[{"field": "answer", "message": "yes or no"}])
    try:
        await _answer(request, token, accepted=answer == "yes")
    except ProblemError as exc:
        if exc.status != 409:  # answered already (the button pressed twice): the page shows what was said
            return _error_page(request, exc)
    return RedirectResponse(request.url.path, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/v1/confirmations/{token}", response_model=QuestionPublic, tags=["preferences"])
async def get_question(token: str, request: Request) -> QuestionPublic:
    """The question behind an answer link, as JSON; the token is the credential."""
    return _public(await _question(request, token), datetime.now(UTC))


@router.post("/v1/confirmations/{token}", response_model=QuestionPublic, tags=["preferences"])
async def post_answer(token: str, body: AnswerIn, request: Request) -> QuestionPublic:
    """Answer the question behind an answer link, once; the token is the credential."""
    return _public(await _answer(request, token, accepted=body.accepted), datetime.now(UTC))
