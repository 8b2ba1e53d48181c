"""SQL for journey messages: a critical one is released from quiet hours when it is planned."""

from __future__ import annotations

import asyncpg


async def release_from_quiet_hours(conn: asyncpg.Connection, delivery_id: str, *, by: str) -> None:
    """As an agent's send-now does: quiet hours no longer hold the message (consent still applies)."""
    await conn.execute(
        "UPDATE deliveries SET send_now_by = $2, send_now_at = now() WHERE delivery_id = $1", delivery_id, by
    )
