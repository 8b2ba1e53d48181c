"""Keep the hotel stays of resolved bookings (for the hotel suggestions of next best actions)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.kit.contracts.bookings import HotelSegmentV1
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.preferences.adapters import stays

# The events that state a booking's segments; trip started/completed carry none and change nothing.
STATING = ("created", "changed", "cancelled")


async def handle_stays(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """A booking's stays as its newest stating event has them (a cancellation leaves none)."""
    p = event.payload
    if not isinstance(p, ResolvedBookingV1) or p.kind not in STATING:
        return
    if not await stays.claim_booking(conn, p.source_system, p.booking_id, p.occurred_at):
        return
    hotels = [] if p.kind == "cancelled" else [s for s in p.segments if isinstance(s, HotelSegmentV1)]
    await stays.replace_stays(
        conn,
        source_system=p.source_system,
        booking_id=p.booking_id,
        customer_id=p.customer_id,
        company_id=p.company_id,
        hotels=hotels,
    )
