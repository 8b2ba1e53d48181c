"""PostgreSQL persistence of comment readings, case readings and topic trends (inside the caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.feedback.domain.reading import CommentReading, Sentiment


async def save_comment_reading(
    conn: asyncpg.Connection, survey_id: str, reading: CommentReading, *, now: datetime
) -> None:
    """Store (or replace, when read again by a newer reader) what a survey's comment says."""
    await conn.execute(
        """
        INSERT INTO comment_readings (survey_id, language, language_source, sentiment, score, topics, reader, read_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (survey_id) DO UPDATE
           SET language = EXCLUDED.language, language_source = EXCLUDED.language_source,
               sentiment = EXCLUDED.sentiment, score = EXCLUDED.score, topics = EXCLUDED.topics,
               reader = EXCLUDED.reader, read_at = EXCLUDED.read_at
        """,
        survey_id,
        reading.language,
        reading.language_source,
        reading.sentiment.value,
        reading.score,
        list(reading.topics),
        reading.reader,
        now,
    )


def _reading(row: asyncpg.Record) -> CommentReading:
    return CommentReading(
        language=row["language"],
        language_source=row["language_source"],
        sentiment=Sentiment(row["sentiment"]),
        score=float(row["score"]),
        topics=tuple(row["topics"]),
        reader=row["reader"],
    )


async def comment_readings(conn: asyncpg.Connection, survey_ids: Sequence[str]) -> dict[str, CommentReading]:
    rows = await conn.fetch("SELECT * FROM comment_readings WHERE survey_id = ANY($1::text[])", list(survey_ids))
    return {r["survey_id"]: _reading(r) for r in rows}


@dataclass(frozen=True)
class CaseReading:
    """The topics of a case and the sentiment of the (latest) comment behind it."""

    sentiment: Sentiment
    score: float
    topics: tuple[str, ...]
    survey_id: str | None


async def save_case_reading(
    conn: asyncpg.Connection, case_id: str, *, survey_id: str | None, reading: CommentReading, now: datetime
) -> None:
    """Attach a comment's reading to a case; a later comment adds its topics and brings its sentiment."""
    await conn.execute(
        """
        INSERT INTO case_readings (case_id, survey_id, sentiment, score, topics, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (case_id) DO UPDATE
           SET survey_id = COALESCE(EXCLUDED.survey_id, case_readings.survey_id),
               sentiment = EXCLUDED.sentiment, score = EXCLUDED.score,
               topics = ARRAY(SELECT DISTINCT t FROM unnest(case_readings.topics || EXCLUDED.topics) AS t ORDER BY t),
               updated_at = EXCLUDED.updated_at
        """,
        case_id,
        survey_id,
        reading.sentiment.value,
        reading.score,
        list(reading.topics),
        now,
    )


async def case_readings(conn: asyncpg.Connection, case_ids: Sequence[str]) -> dict[str, CaseReading]:
    rows = await conn.fetch("SELECT * FROM case_readings WHERE case_id = ANY($1::text[])", list(case_ids))
    return {
        r["case_id"]: CaseReading(Sentiment(r["sentiment"]), float(r["score"]), tuple(r["topics"]), r["survey_id"])
        for r in rows
    }


async def open_case_for_booking(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str], source_system: str, booking_id: str
) -> str | None:
    """The newest case still being worked for this booking (any of the customer's ids), locked."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """
        SELECT case_id FROM cases
         WHERE customer_id = ANY($1::text[]) AND source_system = $2 AND booking_id = $3
           AND status NOT IN ('resolved', 'closed')
         ORDER BY opened_at DESC
         LIMIT 1
         FOR UPDATE
        """,
        list(customer_ids),
        source_system,
        booking_id,
    )


@dataclass(frozen=True)
class TopicCount:
    month: str  # YYYY-MM (UTC)
    topic: str
    comments: int
    negative: int


async def topic_counts(
    conn: asyncpg.Connection,
    *,
    since: datetime,
    until: datetime,
    company_id: str | None,
    tier: str | None,
) -> tuple[list[TopicCount], dict[str, int]]:
    """Per month and topic, how many answered comments mention it and how many of them are negative;
    and per month how many comments were read at all (the denominator of a topic's share)."""
    filters = """
         s.answered_at >= $1 AND s.answered_at < $2
     AND ($3::text IS NULL OR s.company_id = $3)
     AND ($4::text IS NULL OR EXISTS (
            SELECT 1 FROM customer_view v
             WHERE v.kind = 'value' AND v.customer_id = s.customer_id AND v.snapshot->>'tier' = $4))
    """
    rows = await conn.fetch(
        f"""
        SELECT to_char(date_trunc('month', s.answered_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, t.topic,
               count(*) AS comments, count(*) FILTER (WHERE r.sentiment = 'negative') AS negative
          FROM comment_readings r
          JOIN surveys s ON s.survey_id = r.survey_id
          CROSS JOIN LATERAL unnest(r.topics) AS t(topic)
         WHERE {filters}
         GROUP BY 1, 2
         ORDER BY 1, 2
        """,
        since,
        until,
        company_id,
        tier,
    )
    totals = await conn.fetch(
        f"""
        SELECT to_char(date_trunc('month', s.answered_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, count(*) AS n
          FROM comment_readings r JOIN surveys s ON s.survey_id = r.survey_id
         WHERE {filters}
         GROUP BY 1
        """,
        since,
        until,
        company_id,
        tier,
    )
    counts = [TopicCount(r["month"], r["topic"], int(r["comments"]), int(r["negative"])) for r in rows]
    return counts, {r["month"]: int(r["n"]) for r in totals}


async def comments_to_read(
    conn: asyncpg.Connection, *, reader: str, reread: bool, after: str, limit: int
) -> list[tuple[str, str, str]]:
    """(survey_id, customer_id, comment) of answered comments without a reading (or, with `reread`, read by
    another reader), in survey id order after `after`."""
    rows = await conn.fetch(
        """
        SELECT s.survey_id, s.customer_id, s.comment FROM surveys s
          LEFT JOIN comment_readings r ON r.survey_id = s.survey_id
         WHERE s.comment IS NOT NULL AND s.answered_at IS NOT NULL AND s.survey_id > $3
           AND (r.survey_id IS NULL OR ($2 AND r.reader <> $1))
         ORDER BY s.survey_id
         LIMIT $4
        """,
        reader,
        reread,
        after,
        limit,
    )
    return [(r["survey_id"], r["customer_id"], r["comment"]) for r in rows]


async def cases_enriched_by(conn: asyncpg.Connection, survey_ids: Sequence[str]) -> dict[str, str]:
    """The case each survey's comment was added to, for surveys that did not open a case of their own."""
    rows = await conn.fetch(
        "SELECT survey_id, case_id FROM case_readings WHERE survey_id = ANY($1::text[])", list(survey_ids)
    )
    return {r["survey_id"]: r["case_id"] for r in rows}
