"""The customer-view reader: a service's own copy of the compacted snapshot topics.

Any service can hold the whole customer view locally by consuming
`profile.customers.v1` and `preferences.snapshots.v1` (and, if it asks, the value service's
`value.customers.v1` and `value.companies.v1`) into its `customer_view` table
(`customer_view_consumer()`), and read it with `lookup()` (`lookup_company()` for companies).

The view is a pure function of the *latest record per key per topic*, which is exactly
what log compaction keeps. That is what makes a view rebuilt from the start of the
compacted topics (`rebuild()`) equal to the live one, whatever order the two topics
interleave in:

- each row comes from one topic only: `customer` rows from the profile topic (a
  snapshot, or a redirect when the customer was merged away), `preferences` rows from
  the preferences topic;
- a snapshot replaces an older or equal version (records of one key stay in order
  on their partition; the version check only guards against a re-published older
  record); a redirect replaces whatever the customer row held and has version 0, so
  the snapshot an unmerge publishes restores the customer;
- a tombstone deletes the row of its topic's kind;
- `lookup()` follows redirects through the `customer` rows whatever the kind asked
  for, so the preferences of a merged-away id are found under the survivor.

Freshness is reported as Prometheus metrics (seconds from an event's publication,
and from the input it reflects, to its application) and by `freshness()`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from aiokafka import AIOKafkaConsumer
from prometheus_client import Gauge, Histogram

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope, EnvelopeError, decode_envelope
from services.kit.contracts.preferences import PreferenceSnapshotV1
from services.kit.contracts.value import CompanyValueSnapshotV1, CustomerValueSnapshotV1
from services.kit.db import connection
from services.kit.redirects import MAX_REDIRECTS, follow_one
from services.kit.sealed import RecordSealer

# `value` rows are keyed by customer id; `company-value` rows by company id (in the customer_id
# column: the table is a key-value store per kind, and company ids never redirect).
ViewKind = Literal["customer", "preferences", "value", "company-value"]
CUSTOMERS_TOPIC = "profile.customers.v1"
PREFERENCES_TOPIC = "preferences.snapshots.v1"
VALUE_TOPIC = "value.customers.v1"
COMPANY_VALUE_TOPIC = "value.companies.v1"
_KIND_BY_TOPIC: dict[str, ViewKind] = {
    CUSTOMERS_TOPIC: "customer",
    PREFERENCES_TOPIC: "preferences",
    VALUE_TOPIC: "value",
    COMPANY_VALUE_TOPIC: "company-value",
}


def _snapshot_row(p: object) -> tuple[ViewKind, str] | None:
    """The view row a snapshot payload goes to, or None for anything else (a redirect, say).

    The two original kinds are tested first, so the profile and preferences path pays nothing more.
    """
    if isinstance(p, PreferenceSnapshotV1):
        return "preferences", p.customer_id
    if isinstance(p, CustomerSnapshotV1):
        return "customer", p.customer_id
    if isinstance(p, CustomerValueSnapshotV1):
        return "value", p.customer_id
    if isinstance(p, CompanyValueSnapshotV1):
        return "company-value", p.company_id
    return None


VIEW_LAG = Gauge(
    "itinera_customer_view_lag_seconds",
    "Seconds between the publication of the last applied view event and its application, by kind.",
    ["kind"],
)
VIEW_APPLY_LAG = Histogram(
    "itinera_customer_view_apply_lag_seconds",
    "Seconds from a view event's publication to its application in this service's view.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
VIEW_SOURCE_LAG = Histogram(
    "itinera_customer_view_source_lag_seconds",
    "Seconds from the input a snapshot reflects (e.g. a booking event) to the snapshot's application.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
VIEW_LAST_APPLIED = Gauge(
    "itinera_customer_view_last_applied_timestamp", "Unix time of the last applied view event, by kind.", ["kind"]
)


@dataclass(frozen=True)
class ViewEntry:
    customer_id: str
    version: int
    snapshot: dict[str, Any]
    occurred_at: datetime
    applied_at: datetime


def _observe(kind: ViewKind, event: Envelope[Any]) -> None:
    now = time.time()
    lag = max(0.0, now - event.occurred_at.timestamp())
    VIEW_LAG.labels(kind).set(lag)
    VIEW_APPLY_LAG.labels(kind).observe(lag)
    VIEW_LAST_APPLIED.labels(kind).set(now)
    source_at = getattr(event.payload, "last_event_at", None)
    if isinstance(source_at, datetime):
        VIEW_SOURCE_LAG.labels(kind).observe(max(0.0, now - source_at.timestamp()))


async def apply_view_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Upsert a snapshot (keeping the newest version) or a redirect; other events are ignored."""
    p = event.payload
    row = _snapshot_row(p)
    if row is not None:
        kind, key = row
        await conn.execute(
            """
            INSERT INTO customer_view AS v (kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at,
                                            applied_at)
            VALUES ($1, $2, $3, $4, NULL, $5, $6, clock_timestamp())
            ON CONFLICT (kind, customer_id) DO UPDATE
               SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, redirect_to = NULL,
                   event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, applied_at = clock_timestamp()
             WHERE v.version <= EXCLUDED.version
            """,
            kind,
            key,
            p.version,
            p.model_dump(mode="json"),
            event.event_id,
            event.occurred_at,
        )
        _observe(kind, event)
    elif isinstance(p, CustomerRedirectV1):
        await conn.execute(
            """
            INSERT INTO customer_view (kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at,
                                       applied_at)
            VALUES ('customer', $1, 0, NULL, $2, $3, $4, clock_timestamp())
            ON CONFLICT (kind, customer_id) DO UPDATE
               SET version = 0, snapshot = NULL, redirect_to = EXCLUDED.redirect_to,
                   event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, applied_at = clock_timestamp()
            """,
            p.customer_id,
            p.merged_into,
            event.event_id,
            event.occurred_at,
        )
        _observe("customer", event)


_UPSERT_SNAPSHOTS = """
INSERT INTO customer_view AS v (kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at, applied_at)
SELECT u.kind, u.customer_id, u.version, u.snapshot::json, NULL, u.event_id, u.occurred_at, clock_timestamp()
  FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::uuid[], $6::timestamptz[])
       AS u(kind, customer_id, version, snapshot, event_id, occurred_at)
ON CONFLICT (kind, customer_id) DO UPDATE
   SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, redirect_to = NULL,
       event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, applied_at = clock_timestamp()
 WHERE v.version <= EXCLUDED.version
"""


async def apply_view_events(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    """A run of view events (no tombstones: they end runs) with the effect of `apply_view_event` on each in turn.

    When the run holds only snapshots, each key's snapshots come down to one upsert: applied
    in turn, the last one carrying the highest version wins (a lower version never replaces
    a higher one), which is what a single conditional upsert of that snapshot does. All keys
    go in one statement. A run with a redirect (or anything else) is applied event by event.
    """
    latest: dict[tuple[ViewKind, str], Envelope[Any]] = {}
    kinds: list[ViewKind] = []
    for event in events:
        p = event.payload
        key = _snapshot_row(p)
        if key is None:
            for e in events:
                await apply_view_event(conn, e)
            return
        kinds.append(key[0])
        seen = latest.get(key)
        if seen is None or seen.payload.version <= p.version:
            latest[key] = event
    if not latest:
        return
    winners = list(latest.items())
    await conn.execute(
        _UPSERT_SNAPSHOTS,
        [kind for (kind, _), _ in winners],
        [cid for (_, cid), _ in winners],
        [e.payload.version for _, e in winners],
        [e.payload.model_dump_json() for _, e in winners],
        [e.event_id for _, e in winners],
        [e.occurred_at for _, e in winners],
    )
    for kind, event in zip(kinds, events, strict=True):
        _observe(kind, event)


async def apply_view_tombstone(conn: asyncpg.Connection, topic: str, key: str) -> None:
    """An erased customer (or a merged-away preferences snapshot) leaves the view."""
    kind = _KIND_BY_TOPIC.get(topic)
    if kind is not None:
        await conn.execute("DELETE FROM customer_view WHERE kind = $1 AND customer_id = $2", kind, key)


def view_topics(*, include_preferences: bool = True, include_value: bool = False) -> tuple[str, ...]:
    """The compacted topics a view reads."""
    topics = [CUSTOMERS_TOPIC]
    if include_preferences:
        topics.append(PREFERENCES_TOPIC)
    if include_value:
        topics += [VALUE_TOPIC, COMPANY_VALUE_TOPIC]
    return tuple(topics)


def customer_view_consumer(*, include_preferences: bool = True, include_value: bool = False) -> ConsumerSpec:
    """The consumer that keeps a service's customer view current.

    Runs of events between tombstones are applied together (`apply_view_events`; the kit
    ends a run at every tombstone, so deletions apply in their place in the stream). A service
    that replaces `handler` with its own must also replace `batch_handler` (with None, or a
    batch version of its handler), or its handler is only used for records retried one by one.

    Every service's view reads every snapshot, so it is a high-volume consumer: it runs on the
    kit's batch consumer (whole fetched batches), not as a faust agent. With `include_value` it
    also reads the value service's snapshots (kinds `value`, by customer, and `company-value`,
    by company).
    """
    return ConsumerSpec(
        name="customer-view",
        topics=view_topics(include_preferences=include_preferences, include_value=include_value),
        handler=apply_view_event,
        tombstone_handler=apply_view_tombstone,
        batch_handler=apply_view_events,
        batch_fetch=True,
    )


async def lookup(conn: asyncpg.Connection, kind: ViewKind, customer_id: str) -> ViewEntry | None:
    """The current entry for a customer, following merge redirects."""
    return (await lookup_kinds(conn, customer_id, (kind,)))[kind]


async def lookup_kinds(
    conn: asyncpg.Connection, customer_id: str, kinds: Sequence[ViewKind]
) -> dict[ViewKind, ViewEntry | None]:
    """The current entries of several kinds for a customer, following merge redirects once for all.

    One query per hop reads every wanted kind (redirects live on customer rows), so a caller
    that needs both the golden record and the preferences walks the redirect chain once.
    """
    wanted: list[str] = list(dict.fromkeys(["customer", *kinds]))
    read_rows: dict[str, list[asyncpg.Record]] = {}

    async def read(ids: list[str]) -> dict[str, str | None]:
        [current] = ids
        rows = await conn.fetch(
            "SELECT kind, customer_id, version, snapshot, redirect_to, occurred_at, applied_at"
            " FROM customer_view WHERE customer_id = $1 AND kind = ANY($2::text[])",
            current,
            wanted,
        )
        read_rows[current] = rows
        # Redirects live on customer rows; a preferences row with one is from before this rule.
        return {current: next((r["redirect_to"] for r in rows if r["redirect_to"] is not None), None)}

    followed = await follow_one(customer_id, read, max_hops=MAX_REDIRECTS)
    if followed.end == "too-long":
        return dict.fromkeys(kinds)
    by_kind = {r["kind"]: r for r in read_rows[followed.current]}
    found: dict[ViewKind, ViewEntry | None] = {}
    for kind in kinds:
        r = by_kind.get(kind)
        found[kind] = (
            None
            if r is None
            else ViewEntry(r["customer_id"], r["version"], r["snapshot"], r["occurred_at"], r["applied_at"])
        )
    return found


async def lookup_company(conn: asyncpg.Connection, company_id: str) -> ViewEntry | None:
    """A company's value snapshot (company ids are never merged: no redirects to follow)."""
    r = await conn.fetchrow(
        "SELECT customer_id, version, snapshot, occurred_at, applied_at FROM customer_view"
        " WHERE kind = 'company-value' AND customer_id = $1",
        company_id,
    )
    if r is None or r["snapshot"] is None:
        return None
    return ViewEntry(r["customer_id"], r["version"], r["snapshot"], r["occurred_at"], r["applied_at"])


async def freshness(conn: asyncpg.Connection) -> dict[str, Any]:
    """How current the view is, per kind: entries, newest event time, last application and lags in seconds."""
    rows = await conn.fetch(
        """
        SELECT kind, count(*) AS entries, max(occurred_at) AS newest, max(applied_at) AS last_applied,
               extract(epoch FROM clock_timestamp() - max(applied_at))::float8 AS idle_seconds,
               (SELECT extract(epoch FROM l.applied_at - l.occurred_at)::float8 FROM customer_view l
                 WHERE l.kind = v.kind ORDER BY l.applied_at DESC LIMIT 1) AS lag_seconds
          FROM customer_view v GROUP BY kind
        """
    )
    return {
        r["kind"]: {
            "entries": r["entries"],
            "newest": r["newest"],
            "last_applied": r["last_applied"],
            "lag_seconds": r["lag_seconds"],
            "idle_seconds": r["idle_seconds"],
        }
        for r in rows
    }


async def view_rows(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    """The whole view in a canonical order, without local bookkeeping (applied_at): for comparisons."""
    rows = await conn.fetch(
        "SELECT kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at FROM customer_view"
        " ORDER BY kind, customer_id"
    )
    return [tuple(r.values()) for r in rows]


async def rebuild(
    pool: asyncpg.Pool,
    *,
    bootstrap_servers: str,
    topic_prefix: str = "",
    include_preferences: bool = True,
    include_value: bool = False,
    batch_size: int = 2000,
    sealer: RecordSealer | None,
) -> int:
    """Replace a view with one read from the start of the compacted topics up to their current end.

    Runs in one transaction: readers see the old view until the new one is complete.
    Returns how many records were applied. The live consumer keeps its own offsets and
    simply continues (its upserts are idempotent) after a rebuild. Sealed snapshots are opened
    with `sealer` (the runtime's producer has one; required, so that no caller forgets it and
    builds a view without them); those of erased travellers are left out.
    """
    topics = [
        f"{topic_prefix}{t}" for t in view_topics(include_preferences=include_preferences, include_value=include_value)
    ]
    # Subscribed without a group: every partition is assigned, from the beginning.
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    applied = 0
    try:
        partitions = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with connection(pool, transaction=True) as conn:
            await conn.execute("DELETE FROM customer_view")
            while True:
                pending = [tp for tp in partitions if await consumer.position(tp) < end[tp]]
                if not pending:
                    break
                batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch_size)
                for tp, messages in batch.items():
                    logical = tp.topic[len(topic_prefix) :]
                    wanted = [m for m in messages if m.offset < end[tp]]
                    values: list[tuple[bytes | None, str | None]] = [(m.value, None) for m in wanted]
                    if sealer is not None:
                        values = await sealer.open_values([(m.topic, m.key, m.value, m.headers) for m in wanted])
                    for m, (value, _) in zip(wanted, values, strict=True):
                        applied += 1
                        if m.value is None:
                            if m.key is not None:
                                await apply_view_tombstone(conn, logical, m.key.decode())
                            continue
                        if value is None:
                            continue  # erased, or dead-lettered by the live consumer: not part of the view
                        try:
                            event = decode_envelope(value)
                        except EnvelopeError:
                            continue  # the live consumer dead-lettered it; it is not part of the view
                        await apply_view_event(conn, event)
    finally:
        await consumer.stop()
    return applied


__all__: Sequence[str] = (
    "ViewEntry",
    "ViewKind",
    "apply_view_event",
    "apply_view_events",
    "apply_view_tombstone",
    "customer_view_consumer",
    "freshness",
    "lookup",
    "lookup_company",
    "rebuild",
    "view_rows",
    "view_topics",
)
