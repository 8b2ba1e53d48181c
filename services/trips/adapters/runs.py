"""SQL of journey runs: started once per journey and trigger, waits fired once by the job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def start_run(
    conn: asyncpg.Connection, *, run_id: str, journey: str, version: int, trigger_key: str, trip_id: str,
    customer_id: str, facts: dict[str, Any], started_at: datetime,
) -> bool:  # fmt: skip
    """A new run; False when this journey already ran for this trigger."""
    done = await conn.fetchval(
        """
        INSERT INTO journey_runs (run_id, journey, journey_version, trigger_key, trip_id, customer_id, facts,
                                  status, started_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8)
        ON CONFLICT (journey, trigger_key) DO NOTHING RETURNING true
        """,
        run_id, journey, version, trigger_key, trip_id, customer_id, facts, started_at,
    )  # fmt: skip
    return bool(done)


async def save_progress(
    conn: asyncpg.Connection, *, run_id: str, step: int, status: str, due_at: datetime | None, note: str
) -> None:
    await conn.execute(
        "UPDATE journey_runs SET step = $2, status = $3, due_at = $4, note = $5, updated_at = now()"
        " WHERE run_id = $1",
        run_id, step, status, due_at, note,
    )  # fmt: skip


async def run(conn: asyncpg.Connection, run_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM journey_runs WHERE run_id = $1 FOR UPDATE", run_id)


async def take_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Waiting runs whose time has come, locked for this transaction (others skip them)."""
    return list(
        await conn.fetch(
            "SELECT * FROM journey_runs WHERE status = 'waiting' AND due_at <= $1 ORDER BY due_at"
            " LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, limit,
        )
    )  # fmt: skip


async def waiting_of_trip(conn: asyncpg.Connection, trip_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch("SELECT * FROM journey_runs WHERE trip_id = $1 AND status = 'waiting' FOR UPDATE", trip_id)
    )


async def end_merged(conn: asyncpg.Connection, *, from_trip: str, to_trip: str) -> None:
    """A merged trip's runs: those the surviving trip also runs end, the others follow it."""
    await conn.execute(
        """
        UPDATE journey_runs r SET status = 'merged', due_at = NULL, note = 'trip merged into ' || $2,
                                  updated_at = now()
         WHERE r.trip_id = $1 AND r.status = 'waiting'
           AND EXISTS (SELECT 1 FROM journey_runs o WHERE o.trip_id = $2 AND o.journey = r.journey)
        """,
        from_trip, to_trip,
    )  # fmt: skip
    await conn.execute("UPDATE journey_runs SET trip_id = $2 WHERE trip_id = $1", from_trip, to_trip)


async def runs_of_trip(conn: asyncpg.Connection, trip_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT run_id, journey, journey_version, status, step, due_at, note, started_at FROM journey_runs"
            " WHERE trip_id = $1 ORDER BY started_at, run_id",
            trip_id,
        )
    )


async def continue_on(conn: asyncpg.Connection, *, run_id: str, version: int) -> None:
    """A waiting run goes on with a newer version of its definition (the note says from which)."""
    await conn.execute(
        "UPDATE journey_runs SET note = 'continued on v' || $2 || ' (started on v' || journey_version || ')',"
        " journey_version = $2 WHERE run_id = $1",
        run_id, version,
    )  # fmt: skip
