"""Survey comments read as they arrive: stored, published with the answer, and acted on.

A negative comment opens a complaint case when the booking has none being worked, or enriches the
one that is (its topics join the case's, the history records the comment's sentiment, and the
priority rises when the comment calls for it). Runs inside the answer's transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from services.feedback.adapters import cases as cases_repo
from services.feedback.adapters import reading_models, readings
from services.feedback.adapters.metrics import COMMENT_TOPICS, COMMENTS_READ
from services.feedback.domain.cases import Case, Priority, SlaPolicy
from services.feedback.domain.reading import (
    READER_VERSION,
    CommentReading,
    comment_priority,
    higher,
    opens_case,
    read_comment,
)
from services.feedback.domain.surveys import Answer, Survey, complaint_priority, is_complaint
from services.kit.contracts.feedback import CommentReadingV1
from services.kit.db import connection
from services.kit.view import lookup

log = logging.getLogger(__name__)

PRODUCER = "feedback"


async def traveller_language(conn: asyncpg.Connection, customer_id: str) -> str | None:
    """The language the traveller's profile gives (a hint when a short comment's language is unclear)."""
    entry = await lookup(conn, "customer", customer_id)
    language = entry.snapshot.get("language") if entry is not None else None
    return language if isinstance(language, str) else None


async def prepare(answer: Answer) -> None:
    """Load the reading models before the survey is locked (the first load takes seconds)."""
    if answer.comment:
        await reading_models.get()


async def read_answer_comment(
    conn: asyncpg.Connection, survey: Survey, answer: Answer, *, customer_id: str, now: datetime
) -> CommentReading | None:
    """Read the answer's comment (None without one) and store the reading."""
    if not answer.comment:
        return None
    models = await reading_models.get()
    reading = read_comment(answer.comment, models, traveller_language=await traveller_language(conn, customer_id))
    await readings.save_comment_reading(conn, survey.survey_id, reading, now=now)
    COMMENTS_READ.labels(reading.language or "none", reading.sentiment.value).inc()
    for topic in reading.topics:
        COMMENT_TOPICS.labels(topic, reading.sentiment.value).inc()
    return reading


def wire(reading: CommentReading | None) -> CommentReadingV1 | None:
    if reading is None:
        return None
    return CommentReadingV1(
        language=reading.language,
        sentiment=reading.sentiment.value,
        score=reading.score,
        topics=reading.topics,
        reader=reading.reader,
    )


def wants_case(answer: Answer, reading: CommentReading | None) -> bool:
    """A low score (as before) or a negative comment makes the answer a complaint."""
    return is_complaint(answer) or (reading is not None and opens_case(reading))


def case_priority(answer: Answer, reading: CommentReading | None) -> Priority:
    """The more urgent of what the scores and what the comment call for."""
    by_score = complaint_priority(answer) if is_complaint(answer) else Priority.NORMAL
    if reading is None or not opens_case(reading):
        return by_score
    return higher(by_score, comment_priority(reading))


def complaint_subject(answer: Answer, survey: Survey, reading: CommentReading | None) -> str:
    scores = ", ".join(
        f"{name} {value}" for name, value in (("CSAT", answer.csat), ("NPS", answer.nps)) if value is not None
    )
    about = f" about {', '.join(reading.topics)}" if reading is not None and reading.topics else ""
    if is_complaint(answer):
        return f"Low post-trip score ({scores}){about} for booking {survey.booking_id}"[:200]
    return f"Negative post-trip comment{about} for booking {survey.booking_id}"[:200]


async def enrich_open_case(
    conn: asyncpg.Connection,
    *,
    survey: Survey,
    reading: CommentReading,
    customer_ids: list[str],
    answer: Answer,
    now: datetime,
    policy: SlaPolicy,
) -> Case | None:
    """Add the comment to the case already being worked for this booking; None when there is none."""
    case_id = await readings.open_case_for_booking(
        conn, customer_ids=customer_ids, source_system=survey.source_system, booking_id=survey.booking_id
    )
    if case_id is None:
        return None
    case = await cases_repo.get_case(conn, case_id, for_update=True)
    if case is None:
        return None
    case.note_comment(
        survey_id=survey.survey_id, sentiment=reading.sentiment.value, score=reading.score,
        topics=reading.topics, actor=PRODUCER, now=now,
    )  # fmt: skip
    wanted = case_priority(answer, reading)
    if wanted.rank > case.priority.rank:
        case.reprioritise(wanted, actor=PRODUCER, now=now, policy=policy)
    await cases_repo.update_case(conn, case)
    await readings.save_case_reading(conn, case.case_id, survey_id=survey.survey_id, reading=reading, now=now)
    log.info("comment on survey %s enriched case %s (%s)", survey.survey_id, case.case_id, reading.sentiment)
    return case


async def attach_reading(
    conn: asyncpg.Connection, case: Case, *, survey: Survey, reading: CommentReading | None, now: datetime
) -> None:
    """Give a case opened from an answer the comment's topics and sentiment."""
    if reading is not None:
        await readings.save_case_reading(conn, case.case_id, survey_id=survey.survey_id, reading=reading, now=now)


async def read_stored_comments(pool: asyncpg.Pool, *, reread: bool, now: datetime, batch_size: int = 200) -> int:
    """Read the comments answered before comment reading existed (or, with `reread`, those read by an older
    reader); returns how many were read. Cases are left alone: those answers were acted on when given."""
    models = await reading_models.get()
    done, after = 0, ""
    while True:
        async with connection(pool, transaction=True) as conn:
            batch = await readings.comments_to_read(
                conn, reader=READER_VERSION, reread=reread, after=after, limit=batch_size
            )
            for survey_id, customer_id, comment in batch:
                hint = await traveller_language(conn, customer_id)
                reading = read_comment(comment, models, traveller_language=hint)
                await readings.save_comment_reading(conn, survey_id, reading, now=now)
        done += len(batch)
        if len(batch) < batch_size:
            return done
        after = batch[-1][0]


async def read_case_text(conn: asyncpg.Connection, case: Case, *, now: datetime) -> None:
    """Read the subject and description of a case an agent opened, so it has topics like the cases that
    comments open (and counts in nothing else: the trends are the travellers' own words)."""
    text = f"{case.subject}. {case.description}".strip()
    models = await reading_models.get()
    language = await traveller_language(conn, case.customer_id)
    reading = read_comment(text, models, traveller_language=language)
    await readings.save_case_reading(conn, case.case_id, survey_id=None, reading=reading, now=now)


async def warm_up() -> None:
    """Load the reading models in the background at start, so the first answer does not wait for them."""
    try:
        await reading_models.get()
    except Exception:  # a broken install shows on the first comment too; the API serves meanwhile
        log.exception("comment reading models failed to load")
