"""PostgreSQL persistence of the notifications service (asyncpg, inside the caller's transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg

from services.kit.db import connection
from services.notifications.domain.digest import IN_DIGEST
from services.notifications.domain.model import (
    WAITING_FOR_CONTACT,
    Channel,
    DeliveryPlan,
    PendingDelivery,
    Purpose,
    TemplateName,
)

connect = connection  # pooled connections typed as asyncpg.Connection, from the kit


# Planning


async def insert_delivery(conn: asyncpg.Connection, plan: DeliveryPlan) -> bool:
    """Plan a delivery; False when its cause already planned one for this template and channel."""
    inserted = await conn.fetchval(
        """
        INSERT INTO deliveries (delivery_id, customer_id, channel, template, purpose, cause_id, cause_event_id,
                                cause_event_type, correlation_id, context, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT ON CONSTRAINT deliveries_dedupe DO NOTHING
        RETURNING true
        """,
        plan.delivery_id,
        plan.customer_id,
        plan.channel,
        plan.template,
        plan.purpose,
        plan.cause_id,
        uuid.UUID(plan.cause_event_id),
        plan.cause_event_type,
        uuid.UUID(plan.correlation_id),
        dict(plan.context),
        plan.expires_at,
    )
    return bool(inserted)


async def wake_waiting(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> int:
    """Make deliveries that wait for these customers' contact data due now; returns how many."""
    if not customer_ids:
        return 0
    woken: int = await conn.fetchval(
        """
        WITH woken AS (
            UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
             WHERE customer_id = ANY($1::text[]) AND status = 'pending' AND hold_reason = $2
               AND next_attempt_at > now()
            RETURNING 1
        )
        SELECT count(*) FROM woken
        """,
        list(customer_ids),
        WAITING_FOR_CONTACT,
    )
    if woken:
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return woken


# Dispatching


@dataclass(frozen=True)
class ClaimedDelivery:
    """A due delivery this dispatcher pass holds (status `sending`) until it records an outcome."""

    delivery: PendingDelivery
    token: uuid.UUID
    context: dict[str, Any]
    cause_event_id: uuid.UUID
    correlation_id: uuid.UUID
    created_at: datetime


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
    """Take up to `limit` due deliveries (and ones whose holder's lease ran out) for this pass."""
    token = uuid.uuid4()
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT delivery_id FROM deliveries
             WHERE (status = 'pending' AND next_attempt_at <= now() AND hold_reason IS DISTINCT FROM $4)
                OR (status = 'sending' AND lease_expires_at <= now())
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
        )
        UPDATE deliveries d
           SET status = 'sending', claim_token = $2,
               lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
          FROM due
         WHERE d.delivery_id = due.delivery_id
        RETURNING d.delivery_id, d.customer_id, d.channel, d.template, d.purpose, d.created_at, d.attempts,
                  d.lookups, d.expires_at, d.context, d.cause_event_id, d.correlation_id, d.send_now_at, d.leg,
                  d.digest_id
        """,
        limit,
        token,
        lease_seconds,
        IN_DIGEST,  # an item in a digest goes with it, never on its own
    )
    return [
        ClaimedDelivery(
            delivery=PendingDelivery(
                delivery_id=r["delivery_id"],
                customer_id=r["customer_id"],
                channel=cast(Channel, r["channel"]),
                template=cast(TemplateName, r["template"]),
                purpose=cast(Purpose, r["purpose"]),
                created_at=r["created_at"],
                attempts=r["attempts"],
                lookups=r["lookups"],
                expires_at=r["expires_at"],
                send_now=r["send_now_at"] is not None,
                leg=r["leg"],
                digest_id=r["digest_id"],
            ),
            token=token,
            context=r["context"],
            cause_event_id=r["cause_event_id"],
            correlation_id=r["correlation_id"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


async def seconds_until_due(conn: asyncpg.Connection) -> float | None:
    """Seconds until the earliest pending delivery comes due (or a lease runs out); None when none."""
    seconds: float | None = await conn.fetchval(
        """
        SELECT extract(epoch FROM least(
            (SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND hold_reason IS DISTINCT FROM $1),
            (SELECT min(lease_expires_at) FROM deliveries WHERE status = 'sending')) - now())::float8
        """,
        IN_DIGEST,
    )
    return seconds


async def release_claims(conn: asyncpg.Connection, token: uuid.UUID) -> int:
    """Give back deliveries a stopping pass still holds, so another worker picks them up at once."""
    status = await conn.execute(
        "UPDATE deliveries SET status = 'pending', claim_token = NULL, lease_expires_at = NULL, updated_at = now()"
        " WHERE claim_token = $1 AND status = 'sending'",
        token,
    )
    return int(status.rsplit(" ", 1)[-1])


async def mark_sent(
    conn: asyncpg.Connection,
    *,
    claimed: ClaimedDelivery,
    resolved_customer_id: str,
    recipient: str,
    language: str,
    subject: str,
    sent_at: datetime,
    language_note: str | None = None,
) -> bool:
    """Record a message the server accepted; False when this pass no longer holds the delivery."""
    status = await conn.execute(
        """
        UPDATE deliveries
           SET status = 'sent', attempts = attempts + 1, sent_at = $3, resolved_customer_id = $4, recipient = $5,
               language = $6, subject = $7, language_note = $8, hold_reason = NULL, last_error = NULL,
               claim_token = NULL, lease_expires_at = NULL, updated_at = now()
         WHERE delivery_id = $1 AND claim_token = $2
        """,
        claimed.delivery.delivery_id,
        claimed.token,
        sent_at,
        resolved_customer_id,
        recipient,
        language,
        subject,
        language_note,
    )
    return status.endswith(" 1")


async def mark_deferred(
    conn: asyncpg.Connection,
    *,
    claimed: ClaimedDelivery,
    until: datetime,
    reason: str,
    attempted: bool,
    error: str | None = None,
    resolved_customer_id: str | None = None,
    recipient: str | None = None,
) -> bool:
    """Put a delivery back to wait until `until`; `attempted` when a send was tried and failed."""
    status = await conn.execute(
        """
        UPDATE deliveries
           SET status = 'pending', next_attempt_at = $3, hold_reason = $4,
               attempts = attempts + CASE WHEN $5 THEN 1 ELSE 0 END,
               lookups = lookups + CASE WHEN $4 = $9 THEN 1 ELSE 0 END,
               last_error = COALESCE($6, last_error),
               resolved_customer_id = COALESCE($7, resolved_customer_id), recipient = COALESCE($8, recipient),
               claim_token = NULL, lease_expires_at = NULL, updated_at = now()
         WHERE delivery_id = $1 AND claim_token = $2
        """,
        claimed.delivery.delivery_id,
        claimed.token,
        until,
        reason,
        attempted,
        error,
        resolved_customer_id,
        recipient,
        WAITING_FOR_CONTACT,
    )
    return status.endswith(" 1")


async def mark_dropped(
    conn: asyncpg.Connection,
    *,
    claimed: ClaimedDelivery,
    status: str,
    reason: str,
    attempted: bool,
    failed_at: datetime,
    resolved_customer_id: str | None = None,
    recipient: str | None = None,
) -> bool:
    """Record that a delivery ends without a message (`failed` or `suppressed`)."""
    result = await conn.execute(
        """
        UPDATE deliveries
           SET status = $3, last_error = $4, attempts = attempts + CASE WHEN $5 THEN 1 ELSE 0 END,
               failed_at = $6, resolved_customer_id = COALESCE($7, resolved_customer_id),
               recipient = COALESCE($8, recipient), hold_reason = NULL, claim_token = NULL,
               lease_expires_at = NULL, updated_at = now()
         WHERE delivery_id = $1 AND claim_token = $2
        """,
        claimed.delivery.delivery_id,
        claimed.token,
        status,
        reason,
        attempted,
        failed_at,
        resolved_customer_id,
        recipient,
    )
    return result.endswith(" 1")


# Reads for agents

DELIVERY_COLUMNS = """
    delivery_id, customer_id, resolved_customer_id, channel, template, purpose, status, hold_reason, attempts,
    next_attempt_at, expires_at, recipient, language, subject, last_error, cause_id, cause_event_id,
    cause_event_type, correlation_id, created_at, updated_at, sent_at, failed_at, send_now_by, send_now_at,
    leg, channel_note, digest_id, language_note
"""


async def list_deliveries(
    conn: asyncpg.Connection, *, customer_id: str | None, status: str | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE ($1::text IS NULL OR customer_id = $1 OR resolved_customer_id = $1)
           AND ($2::text IS NULL OR status = $2)
         ORDER BY created_at DESC, delivery_id
         LIMIT $3 OFFSET $4
        """,  # only the constant column list is interpolated
        customer_id,
        status,
        limit,
        offset,
    )


async def get_delivery(conn: asyncpg.Connection, delivery_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = $1",  # constant column list
        delivery_id,
    )


async def suppress_pending_for_booking(
    conn: asyncpg.Connection, *, source_system: str, booking_id: str, templates: tuple[str, ...], reason: str
) -> list[str]:
    """Stop messages about a booking that have not left yet (e.g. its confirmation after a cancellation)."""
    rows = await conn.fetch(
        """
        UPDATE deliveries SET status = 'suppressed', hold_reason = NULL, last_error = $4, updated_at = now()
         WHERE status = 'pending' AND template = ANY($3::text[])
           AND context->>'source_system' = $1 AND context->>'booking_id' = $2
        RETURNING delivery_id
        """,
        source_system,
        booking_id,
        list(templates),
        reason,
    )
    return [r["delivery_id"] for r in rows]


async def planned_since(conn: asyncpg.Connection, *, customer_id: str, template: str, since: datetime) -> bool:
    """Whether a message of `template` (not suppressed) was planned for the customer since `since`."""
    found: bool = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM deliveries
                        WHERE customer_id = $1 AND template = $2 AND created_at >= $3 AND status <> 'suppressed')
        """,
        customer_id,
        template,
        since,
    )
    return found


# Known customers


async def customer_known(conn: asyncpg.Connection, customer_id: str) -> bool:
    """Whether this service has heard of the customer: in the shared view, or from its own records.

    The view (profile's snapshots) is the usual way; a booking, a planned message or a
    recorded consent count too, so a customer whose snapshot is still on its way is known
    as soon as anything about them arrived here.
    """
    known: bool = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM customer_view WHERE kind = 'customer' AND customer_id = $1)
            OR EXISTS (SELECT 1 FROM bookings WHERE customer_id = $1)
            OR EXISTS (SELECT 1 FROM deliveries WHERE customer_id = $1 OR resolved_customer_id = $1)
            OR EXISTS (SELECT 1 FROM consents WHERE customer_id = $1)
            OR EXISTS (SELECT 1 FROM quiet_hours WHERE customer_id = $1)
        """,
        customer_id,
    )
    return known
