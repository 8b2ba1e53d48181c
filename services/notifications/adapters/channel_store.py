"""SQL for channel decisions: which channel a delivery went on and why, and the extra legs of a disruption."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notifications.domain.model import Channel


async def record_channel(
    conn: asyncpg.Connection,
    *,
    delivery_id: str,
    channel: Channel,
    note: str,
    provider_message_id: str | None = None,
) -> None:
    """Keep the channel a delivery was decided for, the decision in words and the provider's id of it."""
    await conn.execute(
        """
        UPDATE deliveries SET channel = $2, channel_note = $3,
               provider_message_id = COALESCE($4, provider_message_id)
         WHERE delivery_id = $1
        """,
        delivery_id,
        channel,
        note,
        provider_message_id or None,
    )


async def record_note(conn: asyncpg.Connection, *, delivery_id: str, note: str) -> None:
    """Keep why no channel could carry a delivery."""
    await conn.execute("UPDATE deliveries SET channel_note = $2 WHERE delivery_id = $1", delivery_id, note)


async def plan_legs(conn: asyncpg.Connection, *, delivery_id: str, channels: Sequence[Channel]) -> list[str]:
    """Plan the further channels a message goes on, as deliveries of their own (once per cause and channel)."""
    rows = await conn.fetch(
        """
        INSERT INTO deliveries (delivery_id, customer_id, resolved_customer_id, channel, leg, template, purpose,
                                cause_id, cause_event_id, cause_event_type, correlation_id, context, expires_at,
                                send_now_by, send_now_at)
        SELECT 'dlv_' || md5(d.delivery_id || ':' || c), d.customer_id, d.resolved_customer_id, c, c, d.template,
               d.purpose, d.cause_id, d.cause_event_id, d.cause_event_type, d.correlation_id, d.context,
               d.expires_at, d.send_now_by, d.send_now_at
          FROM deliveries d, unnest($2::text[]) AS c
         WHERE d.delivery_id = $1
        ON CONFLICT DO NOTHING
        RETURNING delivery_id
        """,
        delivery_id,
        list(channels),
    )
    return [r["delivery_id"] for r in rows]
