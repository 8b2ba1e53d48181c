"""SQL for digests: items joining a traveller's open window, and a closing window's items (caller's transaction).

The window is a delivery of its own (template `digest`, held as `digest_window` until it closes),
so the dispatcher takes it when it is due like any message, and a restart loses nothing. Items
wait under it (`digest_id`, held as `digest`) where the dispatcher never claims them; they take
the digest's outcome in the transaction that records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import asyncpg

from services.notifications.domain.digest import DIGEST, DIGEST_WINDOW, IN_DIGEST, DigestItem
from services.notifications.domain.model import DeliveryPlan, Purpose, TemplateName


async def open_window(conn: asyncpg.Connection, plan: DeliveryPlan, *, window_seconds: float) -> tuple[str, datetime]:
    """The traveller's open digest for the plan's purpose (locked), opened now when there is none: id and close."""
    while True:
        row = await conn.fetchrow(
            """
            UPDATE deliveries SET updated_at = now()
             WHERE customer_id = $1 AND purpose = $2 AND template = $3 AND status = 'pending' AND hold_reason = $4
            RETURNING delivery_id, next_attempt_at
            """,
            plan.customer_id,
            plan.purpose,
            DIGEST,
            DIGEST_WINDOW,
        )
        if row is not None:
            return row["delivery_id"], row["next_attempt_at"]
        digest_id = f"dlv_{uuid.uuid4().hex}"
        row = await conn.fetchrow(
            """
            INSERT INTO deliveries (delivery_id, customer_id, channel, template, purpose, cause_id, cause_event_id,
                                    cause_event_type, correlation_id, context, hold_reason, next_attempt_at)
            VALUES ($1, $2, 'email', $3, $4, $1, $5, 'digest', $6, '{}'::jsonb, $7,
                    now() + make_interval(secs => $8))
            ON CONFLICT DO NOTHING
            RETURNING delivery_id, next_attempt_at
            """,
            digest_id,
            plan.customer_id,
            DIGEST,
            plan.purpose,
            uuid.uuid4(),
            uuid.UUID(plan.correlation_id),
            DIGEST_WINDOW,
            window_seconds,
        )
        if row is not None:
            return row["delivery_id"], row["next_attempt_at"]
        # Another planner opened it in between: join theirs.


async def items_of(conn: asyncpg.Connection, digest_id: str) -> list[DigestItem]:
    """The items waiting in a digest, oldest first."""
    rows = await conn.fetch(
        """
        SELECT delivery_id, template, purpose, context, created_at, cause_event_id, expires_at FROM deliveries
         WHERE digest_id = $1 AND status = 'pending' AND hold_reason = $2
         ORDER BY created_at, delivery_id
        """,
        digest_id,
        IN_DIGEST,
    )
    return [
        DigestItem(
            delivery_id=r["delivery_id"],
            template=cast(TemplateName, r["template"]),
            purpose=cast(Purpose, r["purpose"]),
            context=r["context"],
            created_at=r["created_at"],
            cause_event_id=str(r["cause_event_id"]),
            expires_at=r["expires_at"],
        )
        for r in rows
    ]


async def release(conn: asyncpg.Connection, digest_id: str, item_ids: Sequence[str]) -> int:
    """Let items out of a digest, due now, to be decided as messages of their own (never to wait in one again)."""
    if not item_ids:
        return 0
    status = await conn.execute(
        """
        UPDATE deliveries SET hold_reason = NULL, next_attempt_at = now(), updated_at = now()
         WHERE digest_id = $1 AND delivery_id = ANY($2::text[]) AND status = 'pending' AND hold_reason = $3
        """,
        digest_id,
        list(item_ids),
        IN_DIGEST,
    )
    await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return int(status.rsplit(" ", 1)[-1])


async def items_sent(
    conn: asyncpg.Connection,
    *,
    digest_id: str,
    item_ids: Sequence[str],
    channel: str,
    recipient: str,
    language: str,
    language_note: str,
    sent_at: datetime,
    resolved_customer_id: str,
) -> list[str]:
    """Record the items a sent digest carried as sent with it; returns those recorded (each once)."""
    rows = await conn.fetch(
        """
        UPDATE deliveries
           SET status = 'sent', sent_at = $3, channel = $4, recipient = $5, language = $6, language_note = $7,
               resolved_customer_id = $8, hold_reason = NULL, channel_note = 'in digest ' || $1, updated_at = now()
         WHERE digest_id = $1 AND delivery_id = ANY($2::text[]) AND status = 'pending' AND hold_reason = $9
        RETURNING delivery_id
        """,
        digest_id,
        list(item_ids),
        sent_at,
        channel,
        recipient,
        language,
        language_note,
        resolved_customer_id,
        IN_DIGEST,
    )
    return [r["delivery_id"] for r in rows]


async def items_dropped(
    conn: asyncpg.Connection, *, digest_id: str, item_ids: Sequence[str], status: str, reason: str, at: datetime
) -> list[str]:
    """Items of a digest that ended without a message end with it (failed or suppressed)."""
    rows = await conn.fetch(
        """
        UPDATE deliveries
           SET status = $3, last_error = $4, failed_at = $5, hold_reason = NULL, updated_at = now()
         WHERE digest_id = $1 AND delivery_id = ANY($2::text[]) AND status = 'pending' AND hold_reason = $6
        RETURNING delivery_id
        """,
        digest_id,
        list(item_ids),
        status,
        reason,
        at,
        IN_DIGEST,
    )
    return [r["delivery_id"] for r in rows]


async def items_wait_until(conn: asyncpg.Connection, *, digest_id: str, until: datetime) -> None:
    """Items show when their digest is due next (it was held for quiet hours)."""
    await conn.execute(
        "UPDATE deliveries SET next_attempt_at = $2, updated_at = now()"
        " WHERE digest_id = $1 AND status = 'pending' AND hold_reason = $3",
        digest_id,
        until,
        IN_DIGEST,
    )


async def join(
    conn: asyncpg.Connection, *, delivery_id: str, token: uuid.UUID, digest_id: str, until: datetime
) -> bool:
    """Put a claimed delivery into a digest, to wait for it (`until`: when the window closes); False when not held."""
    status = await conn.execute(
        """
        UPDATE deliveries
           SET status = 'pending', hold_reason = $3, digest_id = $4, next_attempt_at = $5, claim_token = NULL,
               lease_expires_at = NULL, updated_at = now()
         WHERE delivery_id = $1 AND claim_token = $2
        """,
        delivery_id,
        token,
        IN_DIGEST,
        digest_id,
        until,
    )
    return status.endswith(" 1")
