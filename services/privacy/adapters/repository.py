"""SQL of the privacy service: erasure requests and their steps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

from services.privacy.domain.erasures import Step

_COLUMNS = "erasure_id, reason, note, requested_by, requested_role, requested_at, completed_at"


async def insert_erasure(
    conn: asyncpg.Connection, *, erasure_id: str, subject_digest: str, reason: str, note: str | None,
    requested_by: str, requested_role: str, requested_at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO erasures (erasure_id, subject_digest, reason, note, requested_by, requested_role, requested_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        erasure_id, subject_digest, reason, note, requested_by, requested_role, requested_at,
    )  # fmt: skip


async def get_erasure(conn: asyncpg.Connection, erasure_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM erasures WHERE erasure_id = $1{lock}", erasure_id)


async def list_erasures(
    conn: asyncpg.Connection, *, subject_digest: str | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM erasures WHERE ($1::text IS NULL OR subject_digest = $1)"
        " ORDER BY requested_at DESC, erasure_id LIMIT $2 OFFSET $3",
        subject_digest,
        limit,
        offset,
    )


async def steps_of(conn: asyncpg.Connection, erasure_ids: list[str]) -> dict[str, list[Step]]:
    rows = await conn.fetch(
        "SELECT erasure_id, service, customer_ids, rows_erased, completed_at FROM erasure_steps"
        " WHERE erasure_id = ANY($1::text[]) ORDER BY completed_at, service",
        erasure_ids,
    )
    out: dict[str, list[Step]] = {i: [] for i in erasure_ids}
    for r in rows:
        out[r["erasure_id"]].append(Step(r["service"], r["customer_ids"], r["rows_erased"], r["completed_at"]))
    return out


async def record_step(
    conn: asyncpg.Connection, *, erasure_id: str, service: str, customer_ids: int, rows: Mapping[str, int],
    completed_at: datetime,
) -> bool:  # fmt: skip
    """Store a step's report; False when it was known already (a report sent again)."""
    status = await conn.execute(
        "INSERT INTO erasure_steps (erasure_id, service, customer_ids, rows_erased, completed_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (erasure_id, service) DO NOTHING",
        erasure_id, service, customer_ids, dict(rows), completed_at,
    )  # fmt: skip
    return bool(status.endswith(" 1"))


async def set_completed(conn: asyncpg.Connection, erasure_id: str, completed_at: datetime) -> None:
    await conn.execute(
        "UPDATE erasures SET completed_at = $2 WHERE erasure_id = $1 AND completed_at IS NULL", erasure_id, completed_at
    )
