"""The customer-view reader: a service's own copy of the compacted snapshot topics.

Any service can hold the whole customer view locally by consuming
`profile.customers.v1` and `preferences.snapshots.v1` into its `customer_view` table.
Snapshots carry a version, so an older snapshot arriving late never overwrites a
newer one; a redirect (merge) points the absorbed id at the survivor; a tombstone
(erasure) deletes the entry. Lookups follow redirects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.preferences import PreferenceSnapshotV1

ViewKind = Literal["customer", "preferences"]
_KIND_BY_TOPIC: dict[str, ViewKind] = {"profile.customers.v1": "customer", "preferences.snapshots.v1": "preferences"}
MAX_REDIRECTS = 10


@dataclass(frozen=True)
class ViewEntry:
    customer_id: str
    version: int
    snapshot: dict[str, Any]
    occurred_at: datetime
    applied_at: datetime


async def apply_view_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Upsert a snapshot or redirect, keeping the newest version.

    A redirect keeps the absorbed customer's last version, so the snapshot an unmerge
    publishes (with a higher version) restores the entry.
    """
    p = event.payload
    if isinstance(p, CustomerSnapshotV1 | PreferenceSnapshotV1):
        kind: ViewKind = "customer" if isinstance(p, CustomerSnapshotV1) else "preferences"
        await conn.execute(
            """
            INSERT INTO customer_view (kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at)
            VALUES ($1, $2, $3, $4, NULL, $5, $6)
            ON CONFLICT (kind, customer_id) DO UPDATE
               SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, redirect_to = NULL,
                   event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, applied_at = now()
             WHERE customer_view.version <= EXCLUDED.version
            """,
            kind,
            p.customer_id,
            p.version,
            p.model_dump(mode="json"),
            event.event_id,
            event.occurred_at,
        )
    elif isinstance(p, CustomerRedirectV1):
        for kind in ("customer", "preferences"):
            await conn.execute(
                """
                INSERT INTO customer_view (kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at)
                VALUES ($1, $2, 0, NULL, $3, $4, $5)
                ON CONFLICT (kind, customer_id) DO UPDATE
                   SET snapshot = NULL, redirect_to = EXCLUDED.redirect_to,
                       event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, applied_at = now()
                """,
                kind,
                p.customer_id,
                p.merged_into,
                event.event_id,
                event.occurred_at,
            )


async def apply_view_tombstone(conn: asyncpg.Connection, topic: str, key: str) -> None:
    """An erased customer leaves the view."""
    kind = _KIND_BY_TOPIC.get(topic)
    if kind is not None:
        await conn.execute("DELETE FROM customer_view WHERE kind = $1 AND customer_id = $2", kind, key)


def customer_view_consumer(*, include_preferences: bool = True) -> ConsumerSpec:
    """The consumer that keeps a service's customer view current."""
    topics = ("profile.customers.v1", "preferences.snapshots.v1") if include_preferences else ("profile.customers.v1",)
    return ConsumerSpec(
        name="customer-view",
        topics=topics,
        handler=apply_view_event,
        tombstone_handler=apply_view_tombstone,
    )


async def lookup(conn: asyncpg.Connection, kind: ViewKind, customer_id: str) -> ViewEntry | None:
    """The current entry for a customer, following merge redirects."""
    current = customer_id
    for _ in range(MAX_REDIRECTS):
        row = await conn.fetchrow(
            "SELECT customer_id, version, snapshot, redirect_to, occurred_at, applied_at"
            " FROM customer_view WHERE kind = $1 AND customer_id = $2",
            kind,
            current,
        )
        if row is None:
            return None
        if row["redirect_to"] is None:
            return ViewEntry(row["customer_id"], row["version"], row["snapshot"], row["occurred_at"], row["applied_at"])
        current = row["redirect_to"]
    return None


async def freshness(conn: asyncpg.Connection) -> dict[str, Any]:
    """How current the view is: entries and the newest snapshot time per kind."""
    rows = await conn.fetch(
        "SELECT kind, count(*) AS entries, max(occurred_at) AS newest, max(applied_at) AS last_applied"
        " FROM customer_view GROUP BY kind"
    )
    return {
        r["kind"]: {"entries": r["entries"], "newest": r["newest"], "last_applied": r["last_applied"]} for r in rows
    }
