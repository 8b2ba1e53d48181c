"""SQL of an erasure in the trips schema: a traveller's trips with their bookings, timeline, surveys and runs."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

# The trips to erase: the travellers' own, those holding one of their bookings, and every trip merged into
# one of those (a merged trip names its survivor; both go, or the survivor could not be deleted).
_TRIPS = """
WITH RECURSIVE erased(trip_id) AS (
    SELECT trip_id FROM trips WHERE customer_id = ANY($1::text[])
    UNION
    SELECT trip_id FROM bookings WHERE customer_id = ANY($1::text[])
    UNION
    SELECT t.trip_id FROM trips t JOIN erased e ON t.merged_into = e.trip_id
)
SELECT trip_id FROM erased ORDER BY trip_id
"""


async def trips_of(conn: asyncpg.Connection, ids: Sequence[str]) -> list[str]:
    """The ids of every trip the travellers' erasure removes."""
    return [r["trip_id"] for r in await conn.fetch(_TRIPS, list(ids))]


async def erase_rows(
    conn: asyncpg.Connection, ids: Sequence[str], *, trip_ids: Sequence[str], record_keys: Sequence[str]
) -> dict[str, int]:
    """Remove the travellers' journey runs, timeline, surveys, bookings and trips; returns rows per table.

    Surveys parked before their booking came (no trip yet) are found by the erased booking keys
    (`<source_system>:<booking_id>`)."""
    ids, trips, keys = list(ids), list(trip_ids), list(record_keys)
    runs = await conn.fetch(
        "DELETE FROM journey_runs WHERE customer_id = ANY($1::text[]) OR trip_id = ANY($2::text[]) RETURNING 1",
        ids, trips,
    )  # fmt: skip
    timeline = await conn.fetch("DELETE FROM timeline WHERE trip_id = ANY($1::text[]) RETURNING 1", trips)
    surveys = await conn.fetch(
        "DELETE FROM surveys WHERE trip_id = ANY($1::text[]) OR (source_system || ':' || booking_id) = ANY($2::text[])"
        " RETURNING 1",
        trips, keys,
    )  # fmt: skip
    bookings = await conn.fetch(
        "DELETE FROM bookings WHERE customer_id = ANY($1::text[]) OR trip_id = ANY($2::text[]) RETURNING 1", ids, trips
    )
    # One statement: a trip and the trips merged into it go together (the foreign key is checked at its end).
    removed = await conn.fetch("DELETE FROM trips WHERE trip_id = ANY($1::text[]) RETURNING 1", trips)
    return {
        "journey_runs": len(runs), "timeline": len(timeline), "surveys": len(surveys), "bookings": len(bookings),
        "trips": len(removed),
    }  # fmt: skip
