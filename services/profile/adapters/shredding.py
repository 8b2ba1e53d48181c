"""The one place an erasure asks for event keys to be destroyed (crypto-shredding).

Events on the topics are sealed under a key per subject (a record key: a customer id, or
`<source_system>:<booking_id>` on the landing topic); destroying the key makes every copy of those
events unreadable, dead letters included. Until the kit's keyring is wired here, the subjects are
recorded in `shred_requests`, in the erasure's transaction, so none is lost: wiring the keyring's
`shred(conn, subjects)` (and the landing topic's trim of consumed records) into `shred_subjects`
destroys them at once and marks the rows shredded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import asyncpg


async def shred_subjects(conn: asyncpg.Connection, subjects: Iterable[str], *, erasure_id: str, now: datetime) -> int:
    """Ask for the keys of these subjects to be destroyed; returns how many were newly asked for."""
    rows = await conn.fetch(
        "INSERT INTO shred_requests (subject, erasure_id, requested_at) SELECT s, $2, $3 FROM unnest($1::text[]) AS s"
        " ON CONFLICT (subject) DO NOTHING RETURNING 1",
        sorted(set(subjects)),
        erasure_id,
        now,
    )
    return len(rows)
