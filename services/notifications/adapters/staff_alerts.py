"""SQL of the staff alerts (`staff_alerts`): record one per escalation, claim due ones, record outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.notifications.domain.staff import StaffMessage


@dataclass(frozen=True)
class ClaimedAlert:
    alert_id: str
    case_id: str
    recipient: str
    email: str
    subject: str
    body: str
    attempts: int  # before this one


async def record(
    conn: asyncpg.Connection, *, alert_id: str, case_id: str, customer_id: str, message: StaffMessage
) -> bool:
    """Keeps an alert to send; False when this escalation already has one."""
    added = await conn.fetchval(
        """
        INSERT INTO staff_alerts (alert_id, case_id, customer_id, recipient, email, subject, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (alert_id) DO NOTHING
        RETURNING true
        """,
        alert_id, case_id, customer_id, message.recipient, message.email, message.subject, message.text,
    )  # fmt: skip
    return bool(added)


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int, lease_seconds: float) -> list[ClaimedAlert]:
    """Due alerts, leased: a worker that dies mid-send leaves them due again when the lease ends."""
    rows = await conn.fetch(
        """
        UPDATE staff_alerts a
           SET next_attempt_at = $1 + make_interval(secs => $3)
          FROM (SELECT alert_id FROM staff_alerts
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED) due
         WHERE a.alert_id = due.alert_id
        RETURNING a.alert_id, a.case_id, a.recipient, a.email, a.subject, a.body, a.attempts
        """,
        now, limit, lease_seconds,
    )  # fmt: skip
    return [ClaimedAlert(**dict(r)) for r in rows]


async def mark_sent(conn: asyncpg.Connection, alert_id: str, *, now: datetime) -> None:
    await conn.execute(
        "UPDATE staff_alerts SET status = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL"
        " WHERE alert_id = $1",
        alert_id,
        now,
    )


async def mark_retry(conn: asyncpg.Connection, alert_id: str, *, at: datetime, error: str) -> None:
    await conn.execute(
        "UPDATE staff_alerts SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE alert_id = $1",
        alert_id,
        at,
        error[:1000],
    )


async def mark_failed(conn: asyncpg.Connection, alert_id: str, *, error: str) -> None:
    await conn.execute(
        "UPDATE staff_alerts SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE alert_id = $1",
        alert_id,
        error[:1000],
    )


async def seconds_until_due(conn: asyncpg.Connection) -> float | None:
    value = await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now()) FROM staff_alerts WHERE status = 'pending'"
    )
    return None if value is None else max(0.0, float(value))
