"""What trips holds about a traveller, for the export (GDPR art. 15/20): trips, bookings, timeline, surveys,
journey runs."""

from __future__ import annotations

import asyncpg

from services.kit.exporting import Section, section
from services.trips.adapters.erasure import trips_of


async def collect(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """Every section trips exports for the traveller's ids."""
    trip_ids = await trips_of(conn, ids)
    trips = await conn.fetch(
        "SELECT trip_id, customer_id, company_id, trip_reference, status, starts_at, ends_at, merged_into, version,"
        " created_at, updated_at FROM trips WHERE trip_id = ANY($1::text[]) ORDER BY created_at, trip_id",
        trip_ids,
    )
    bookings = await conn.fetch(
        "SELECT source_system, booking_id, customer_id, trip_id, status, trip_reference, segments, starts_at,"
        " ends_at, occurred_at FROM bookings WHERE trip_id = ANY($1::text[]) OR customer_id = ANY($2::text[])"
        " ORDER BY occurred_at, source_system, booking_id",
        trip_ids, ids,
    )  # fmt: skip
    timeline = await conn.fetch(
        "SELECT entry_id, trip_id, at, kind, summary, detail, event_id FROM timeline"
        " WHERE trip_id = ANY($1::text[]) ORDER BY trip_id, at, entry_id",
        trip_ids,
    )
    surveys = await conn.fetch(
        "SELECT survey_id, source_system, booking_id, trip_id, invited_at, answer FROM surveys"
        " WHERE trip_id = ANY($1::text[]) ORDER BY invited_at, survey_id",
        trip_ids,
    )
    runs = await conn.fetch(
        "SELECT run_id, journey, journey_version, trigger_key, trip_id, customer_id, facts, step, status, due_at,"
        " note, started_at, updated_at FROM journey_runs"
        " WHERE customer_id = ANY($1::text[]) OR trip_id = ANY($2::text[]) ORDER BY started_at, run_id",
        ids, trip_ids,
    )  # fmt: skip
    return [
        section("trips", trips, table="trips", times=("created_at", "updated_at"), topic="trips.trips.v1",
                source_field=None, source_systems=sorted({str(b["source_system"]) for b in bookings}),
                note="the traveller's bookings grouped into trips (by trip reference or travel dates)"),
        section("bookings", bookings, table="bookings", times=("occurred_at",), topic="profile.bookings.v1",
                note="each booking of a trip as last received, with its segments"),
        section("timeline", timeline, table="timeline", times=("at",), source_field=None,
                note="what happened to each trip: bookings, changes, messages, surveys, cases"),
        section("surveys", surveys, table="surveys", times=("invited_at",), topic="feedback.surveys.v1",
                note="the trips' surveys as feedback reported them, with the answer's scores"),
        section("journey_runs", runs, table="journey_runs", times=("started_at", "updated_at"),
                topic="trips.journeys.v1", source_field=None,
                note="the declared journeys run for the traveller's trips: the facts they decided on, step and status"),
    ]  # fmt: skip
