"""The one place an erasure destroys event keys (crypto-shredding) and trims the landing topic.

Events on the topics are sealed under a key per subject (a record key: a customer id, or
`<source_system>:<booking_id>` of a booking event); destroying the key makes every copy of those
events unreadable, dead letters included. The subjects are recorded in `shred_requests` and their
keys destroyed in the erasure's own transaction (`services.kit.keyring.shred`): if the erasure
rolls back, so does the shred.

The landing topic `booking.events.v1` is written in clear by booking systems and cannot be
sealed. Once profile has resolved a booking, what it needs is in its database (which the erasure
cleans), so after an erasure the records profile has consumed leave the topic
(`trim_landing_topic`, run by a job after the erasure commits: a broker call has no place in a
database transaction). A booking of the erased traveller that profile had not consumed yet is
dropped by the erased-id guard when it comes, and leaves the topic with the next trim or its
retention.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import asyncpg

from services.kit import keyring


async def shred_subjects(conn: asyncpg.Connection, subjects: Iterable[str], *, erasure_id: str, now: datetime) -> int:
    """Destroy the keys of these subjects (in the caller's transaction); returns how many were newly asked for."""
    wanted = sorted(set(subjects))
    rows = await conn.fetch(
        "INSERT INTO shred_requests (subject, erasure_id, requested_at) SELECT s, $2, $3 FROM unnest($1::text[]) AS s"
        " ON CONFLICT (subject) DO NOTHING RETURNING 1",
        wanted,
        erasure_id,
        now,
    )
    await keyring.shred(conn, wanted)
    await conn.execute(
        "UPDATE shred_requests SET shredded_at = $2 WHERE subject = ANY($1::text[]) AND shredded_at IS NULL",
        wanted,
        now,
    )
    return len(rows)


async def untrimmed(conn: asyncpg.Connection) -> datetime | None:
    """When the oldest erasure whose landing-topic trim has not run yet was recorded; None if none."""
    value: datetime | None = await conn.fetchval(
        "SELECT min(requested_at) FROM shred_requests WHERE trimmed_at IS NULL"
    )
    return value


async def mark_trimmed(conn: asyncpg.Connection, *, up_to: datetime, at: datetime) -> None:
    """The trim that started after `up_to` covered every request recorded until then."""
    await conn.execute(
        "UPDATE shred_requests SET trimmed_at = $2 WHERE trimmed_at IS NULL AND requested_at <= $1", up_to, at
    )


async def trim_again(conn: asyncpg.Connection, subjects: Iterable[str], *, now: datetime) -> None:
    """Late booking events of erased travellers reached the landing topic (and were dropped): the
    landing topic is to be trimmed again, past them."""
    await conn.execute(
        "UPDATE shred_requests SET trimmed_at = NULL, requested_at = $2 WHERE subject = ANY($1::text[])",
        sorted(set(subjects)),
        now,
    )
