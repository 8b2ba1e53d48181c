"""PostgreSQL persistence of the feedback service (asyncpg, inside the caller's transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.feedback.domain.surveys import Answer, Invitation, InvitationStatus, Survey
from services.feedback.domain.trips import Trip, TripStatus
from services.kit.db import fetch_locked_or_lock_key

POST_TRIP = "post_trip"


class ConcurrentUpdateError(Exception):
    """The row changed since it was read (optimistic lock lost)."""


# --- trips -------------------------------------------------------------------------------


async def get_trip_for_update(conn: asyncpg.Connection, source_system: str, booking_id: str) -> Trip | None:
    """The booking's trip, locked; a booking not stored yet is locked by its key (its advisory lock): two
    events of a new booking on two partitions (resolved to two travellers) would otherwise each start from
    nothing, the later commit replacing the other's state."""
    select = "SELECT * FROM trips WHERE source_system = $1 AND booking_id = $2 FOR UPDATE"
    row = await fetch_locked_or_lock_key(conn, select, source_system, booking_id, space="feedback.booking")
    if row is None:
        return None
    return Trip(
        source_system=row["source_system"],
        booking_id=row["booking_id"],
        customer_id=row["customer_id"],
        company_id=row["company_id"],
        status=TripStatus(row["status"]),
        last_event_at=row["last_event_at"],
    )


async def save_trip(
    conn: asyncpg.Connection,
    trip: Trip,
    *,
    summary: dict[str, Any],
    span: tuple[datetime, datetime] | None = None,
) -> None:
    """Insert or update a trip; an empty summary or no span keeps the one stored (completions and
    cancellations carry no segments)."""
    await conn.execute(
        """
        INSERT INTO trips (source_system, booking_id, customer_id, company_id, status, summary, last_event_at,
                           span_start, span_end)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, company_id = EXCLUDED.company_id, status = EXCLUDED.status,
               summary = CASE WHEN EXCLUDED.summary = '{}'::jsonb THEN trips.summary ELSE EXCLUDED.summary END,
               span_start = COALESCE(EXCLUDED.span_start, trips.span_start),
               span_end = COALESCE(EXCLUDED.span_end, trips.span_end),
               last_event_at = EXCLUDED.last_event_at, updated_at = now()
        """,
        trip.source_system,
        trip.booking_id,
        trip.customer_id,
        trip.company_id,
        trip.status.value,
        summary,
        trip.last_event_at,
        span[0] if span else None,
        span[1] if span else None,
    )


async def trip_summary(conn: asyncpg.Connection, source_system: str, booking_id: str) -> dict[str, Any]:
    summary = await conn.fetchval(
        "SELECT summary FROM trips WHERE source_system = $1 AND booking_id = $2", source_system, booking_id
    )
    return dict(summary or {})


# --- surveys -----------------------------------------------------------------------------


async def insert_survey(
    conn: asyncpg.Connection, survey: Survey, *, token_hash: bytes, invitation_event_id: uuid.UUID
) -> bool:
    """Store a new survey (its invitation planned); False when the booking already has one (nothing written)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO surveys (survey_id, kind, token_hash, customer_id, company_id, source_system, booking_id,
                             created_at, expires_at, invitation_event_id, invitation_status, invitation_status_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'planned', $8)
        ON CONFLICT (kind, source_system, booking_id) DO NOTHING
        RETURNING true
        """,
        survey.survey_id,
        POST_TRIP,
        token_hash,
        survey.customer_id,
        survey.company_id,
        survey.source_system,
        survey.booking_id,
        survey.created_at,
        survey.expires_at,
        invitation_event_id,
    )
    return bool(inserted)


def _survey(row: asyncpg.Record) -> Survey:
    answer = None
    if row["answered_at"] is not None:
        answer = Answer(csat=row["csat"], nps=row["nps"], comment=row["comment"])
    return Survey(
        survey_id=row["survey_id"],
        customer_id=row["customer_id"],
        source_system=row["source_system"],
        booking_id=row["booking_id"],
        company_id=row["company_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        answered_at=row["answered_at"],
        answer=answer,
        invitation=Invitation(
            InvitationStatus(row["invitation_status"]),
            row["invitation_status_at"],
            row["invitation_held_until"],
            row["invitation_detail"],
        ),
    )


async def survey_by_token(conn: asyncpg.Connection, token_hash: bytes, *, for_update: bool = False) -> Survey | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM surveys WHERE token_hash = $1{lock}", token_hash)
    return None if row is None else _survey(row)


async def survey_by_id(conn: asyncpg.Connection, survey_id: str) -> Survey | None:
    row = await conn.fetchrow("SELECT * FROM surveys WHERE survey_id = $1", survey_id)
    return None if row is None else _survey(row)


async def surveys_of_customers(
    conn: asyncpg.Connection, customer_ids: Sequence[str], *, limit: int, offset: int
) -> list[Survey]:
    rows = await conn.fetch(
        "SELECT * FROM surveys WHERE customer_id = ANY($1::text[])"
        " ORDER BY created_at DESC, survey_id LIMIT $2 OFFSET $3",
        list(customer_ids),
        limit,
        offset,
    )
    return [_survey(r) for r in rows]


async def save_answer(conn: asyncpg.Connection, survey: Survey) -> None:
    assert survey.answer is not None
    assert survey.answered_at is not None
    await conn.execute(
        "UPDATE surveys SET answered_at = $2, csat = $3, nps = $4, comment = $5"
        " WHERE survey_id = $1 AND answered_at IS NULL",
        survey.survey_id,
        survey.answered_at,
        survey.answer.csat,
        survey.answer.nps,
        survey.answer.comment,
    )


async def case_ids_for_surveys(conn: asyncpg.Connection, survey_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT survey_id, case_id FROM cases WHERE survey_id = ANY($1::text[])", list(survey_ids))
    return {r["survey_id"]: r["case_id"] for r in rows}


@dataclass(frozen=True)
class ScoreCounts:
    csat: dict[int, int]
    nps: dict[int, int]


async def score_counts(
    conn: asyncpg.Connection,
    *,
    since: datetime,
    until: datetime,
    company_id: str | None,
    customer_ids: Sequence[str] | None,
) -> ScoreCounts:
    """How many answers in [since, until) gave each CSAT and each NPS score."""
    rows = await conn.fetch(
        """
        SELECT 'csat' AS metric, csat AS score, count(*) AS n FROM surveys
         WHERE answered_at >= $1 AND answered_at < $2 AND csat IS NOT NULL
           AND ($3::text IS NULL OR company_id = $3) AND ($4::text[] IS NULL OR customer_id = ANY($4::text[]))
         GROUP BY csat
        UNION ALL
        SELECT 'nps', nps, count(*) FROM surveys
         WHERE answered_at >= $1 AND answered_at < $2 AND nps IS NOT NULL
           AND ($3::text IS NULL OR company_id = $3) AND ($4::text[] IS NULL OR customer_id = ANY($4::text[]))
         GROUP BY nps
        """,
        since,
        until,
        company_id,
        None if customer_ids is None else list(customer_ids),
    )
    out = ScoreCounts(csat={}, nps={})
    for r in rows:
        (out.csat if r["metric"] == "csat" else out.nps)[int(r["score"])] = int(r["n"])
    return out


async def customer_aliases(conn: asyncpg.Connection, customer_id: str) -> list[str]:
    """The customer's id and every id merged into it (following redirect chains in the view)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE aliases(id, depth) AS (
            SELECT $1::text, 0
            UNION
            SELECT v.customer_id, a.depth + 1
              FROM customer_view v JOIN aliases a ON v.redirect_to = a.id
             WHERE v.kind = 'customer' AND a.depth < 10
        )
        SELECT DISTINCT id FROM aliases
        """,
        customer_id,
    )
    return sorted(r["id"] for r in rows)
