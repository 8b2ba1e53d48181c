"""A traveller erased (profile's `CustomerErasedV1`): trips' step of the erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.consumer import PermanentError
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import CustomerErasedV1
from services.kit.erasure import erase_here
from services.kit.outbox import enqueue_tombstone
from services.trips.adapters import erasure
from services.trips.service_layer.trips import PRODUCER, TRIPS_TOPIC


async def handle_customer_erased(
    conn: asyncpg.Connection, event: Envelope[Any], *, digest_key: bytes, now: datetime
) -> None:
    """Delete the traveller's trips, bookings, timeline, surveys and journey runs, tombstone each trip on
    `trips.trips.v1` (keyed by trip), then the kit's part: view, outbox, audit details, log and report."""
    p = event.payload
    if not isinstance(p, CustomerErasedV1):
        raise PermanentError(f"expected CustomerErasedV1, got {type(p).__name__}")

    async def erase_rows(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
        trip_ids = await erasure.trips_of(conn, ids)
        rows = await erasure.erase_rows(conn, ids, trip_ids=trip_ids, record_keys=p.record_keys)
        # Written after any update of these trips still in the outbox: the relay keeps a key's rows in order.
        for trip_id in trip_ids:
            await enqueue_tombstone(conn, topic=TRIPS_TOPIC, key=trip_id)
        return rows

    await erase_here(
        conn, event, service=PRODUCER, erase_rows=erase_rows, compacted_topics=(), digest_key=digest_key, now=now
    )
