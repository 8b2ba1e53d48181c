"""What feedback holds about a traveller, for the export (GDPR art. 15/20): trips, surveys, answers, cases."""

from __future__ import annotations

import asyncpg

from services.kit.exporting import Section, section


async def collect(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """Every section feedback exports for the traveller's ids."""
    trips = await conn.fetch(
        "SELECT source_system, booking_id, customer_id, company_id, status, summary, span_start, span_end, survey_id,"
        " last_event_at, created_at, updated_at FROM trips WHERE customer_id = ANY($1::text[])"
        " ORDER BY created_at, source_system, booking_id",
        ids,
    )
    surveys = await conn.fetch(
        "SELECT survey_id, kind, customer_id, company_id, source_system, booking_id, created_at, expires_at,"
        " answered_at, csat, nps, comment, invitation_status, invitation_status_at, invitation_held_until,"
        " invitation_detail, token_hash, followed_up_at, followed_up_by, follow_up_note"
        " FROM surveys WHERE customer_id = ANY($1::text[]) ORDER BY created_at",
        ids,
    )
    cases = await conn.fetch(
        "SELECT case_id, customer_id, kind, source, subject, description, status, priority, assignee, survey_id,"
        " source_system, booking_id, opened_by, opened_at, first_response_due, first_response_at, resolution_due,"
        " resolved_at, closed_at, escalated, escalations, version, updated_at"
        " FROM cases WHERE customer_id = ANY($1::text[]) ORDER BY opened_at",
        ids,
    )
    history = await conn.fetch(
        "SELECT h.id, h.case_id, h.at, h.actor, h.action, h.detail FROM case_history h"
        " JOIN cases c USING (case_id) WHERE c.customer_id = ANY($1::text[]) ORDER BY h.case_id, h.id",
        ids,
    )
    readings = await conn.fetch(
        "SELECT r.survey_id, r.language, r.language_source, r.sentiment, r.score, r.topics, r.reader, r.read_at"
        " FROM comment_readings r JOIN surveys s USING (survey_id) WHERE s.customer_id = ANY($1::text[])"
        " ORDER BY r.read_at, r.survey_id",
        ids,
    )
    case_readings = await conn.fetch(
        "SELECT r.case_id, r.survey_id, r.sentiment, r.score, r.topics, r.updated_at FROM case_readings r"
        " JOIN cases c USING (case_id) WHERE c.customer_id = ANY($1::text[]) ORDER BY r.updated_at, r.case_id",
        ids,
    )
    return [
        section("trips", trips, table="trips", times=("created_at", "updated_at"), topic="profile.bookings.v1"),
        section("surveys", surveys, table="surveys", times=("created_at", "answered_at", "invitation_status_at"),
                note="answers (csat, nps, comment) are the traveller's own; token_hash is the SHA-256 digest (hex) "
                     "of the survey link's token, the token is not kept"),
        section("cases", cases, table="cases", times=("opened_at", "updated_at"), topic="feedback.cases.v1"),
        section("case_history", history, table="case_history", times=("at",), source_field=None,
                note="every step of the traveller's cases: who did what, when"),
        section("comment_readings", readings, table="comment_readings", times=("read_at",), source_field=None,
                note="what the service read from each comment: language, sentiment (-1 to 1), topics; inferred by "
                     "software (reader names its version), not said by the traveller"),
        section("case_readings", case_readings, table="case_readings", times=("updated_at",), source_field=None,
                note="the topics and comment sentiment of each case, as read from its comments"),
    ]  # fmt: skip
