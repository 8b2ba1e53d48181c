"""What every service does when it erases a traveller, on the kit's own tables.

A service's erasure handler removes its own rows, then calls `erase_kit_rows` (its copy of the
customer view, outbox rows not yet sent, the personal parts of its audit rows) and
`finish_erasure` (the erased ids' digests, the erasure log row, and the step report on
`<service>.erasures.v1`). `skip_erased` wraps a consumer's handlers so that an event for an erased
id arriving after the erasure (a booking in flight) is dropped instead of bringing data back.

Ids are kept only as keyed digests (HMAC-SHA256 under `ITINERA_ERASURE_KEY`): enough to recognise
an erased id, not to list who was erased.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import CustomerErasedV1, ErasureStepDoneV1
from services.kit.contracts.topics import TOPICS
from services.kit.db import record_audit
from services.kit.outbox import enqueue, enqueue_tombstone

log = logging.getLogger(__name__)

EventHandler = Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]
BatchEventHandler = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]

# Snapshot fields of the customer view that hold personal values (to find them in audit details).
_PERSONAL_FIELDS = (
    "given_name",
    "family_name",
    "display_name",
    "email",
    "secondary_email",
    "phone",
    "date_of_birth",
    "employee_number",
    "other_emails",
    "other_phones",
)
_MIN_VALUE_LENGTH = 4  # shorter values ("Li", "+1") would redact unrelated audit rows
COMPACTED_TOPICS = sorted(spec.name for spec in TOPICS if spec.compacted)


# One lock per service schema between its erasures and the consumers they guard: a consumer holds it
# shared from its look-up of erased ids to its commit, an erasure exclusively. So a batch handled
# while an erasure runs either committed first (its rows are erased with the rest) or waits and then
# sees the id erased; never both miss each other (each under READ COMMITTED, in its own transaction).
# Erasures are rare and short: consumers wait for one only while it runs.
_LOCK = "SELECT pg_advisory_xact_lock{mode}(hashtext(current_schema() || '.erasure'))"


async def exclude_consumers(conn: asyncpg.Connection) -> None:
    """Taken by an erasure, before it reads anything: in-flight guarded batches finish first."""
    await conn.execute(_LOCK.format(mode=""))


async def _hold_erasures_off(conn: asyncpg.Connection) -> None:
    await conn.execute(_LOCK.format(mode="_shared"))


def subject_digest(key: bytes, subject: str) -> str:
    """The keyed digest an erased id is remembered by."""
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def erasure_topic(service: str) -> str:
    return f"{service}.erasures.v1"


def personal_values(snapshots: Iterable[Mapping[str, Any]], extra: Iterable[str | None] = ()) -> list[str]:
    """The traveller's personal values found in view snapshots (and `extra`), long enough to search for."""
    values: set[str] = {v for v in extra if v}
    for snapshot in snapshots:
        for f in _PERSONAL_FIELDS:
            value = snapshot.get(f)
            if isinstance(value, list | tuple):
                values.update(str(v) for v in value if v)
            elif value:
                values.add(str(value))
        for f in ("home_address", "business_address"):  # the parts that identify the person
            address = snapshot.get(f)
            if isinstance(address, dict):
                values.update(str(address[k]) for k in ("line", "street", "postcode") if address.get(k))
    return sorted(v for v in values if len(v) >= _MIN_VALUE_LENGTH)


async def already_erased(conn: asyncpg.Connection, erasure_id: str) -> asyncpg.Record | None:
    """The log row of an erasure done here before (a redelivered or repeated request)."""
    return await conn.fetchrow("SELECT subjects, rows_erased FROM erasure_log WHERE erasure_id = $1", erasure_id)


async def erased_among(conn: asyncpg.Connection, key: bytes, subjects: Iterable[str]) -> set[str]:
    """Those of `subjects` that were erased here."""
    by_digest = {subject_digest(key, s): s for s in subjects}
    if not by_digest:
        return set()
    rows = await conn.fetch("SELECT digest FROM erased_subjects WHERE digest = ANY($1::text[])", list(by_digest))
    return {by_digest[r["digest"]] for r in rows}


async def view_values(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> list[str]:
    """Personal values of these customers in this service's copy of the customer view."""
    rows = await conn.fetch(
        "SELECT snapshot FROM customer_view WHERE kind = 'customer' AND customer_id = ANY($1::text[])"
        " AND snapshot IS NOT NULL",
        list(customer_ids),
    )
    return personal_values(r["snapshot"] for r in rows)


async def erase_kit_rows(
    conn: asyncpg.Connection, customer_ids: Sequence[str], values: Sequence[str]
) -> dict[str, int]:
    """Remove the customers from the kit's tables of this schema; returns rows touched per table.

    Audit rows keep who did what and when (the law asks for it) but lose their detail when it is
    about these customers or holds one of their `values` (a search by name, say)."""
    ids = list(customer_ids)
    view = await conn.fetch("DELETE FROM customer_view WHERE customer_id = ANY($1::text[]) RETURNING 1", ids)
    # Not yet sent: it would carry their data onto a topic after the erasure. Rows for compacted topics
    # stay: the tombstones written after them must reach the topic last (the outbox keeps a key's rows in
    # order only while the older ones are there), and compaction drops what they precede.
    outbox = await conn.fetch(
        "DELETE FROM outbox WHERE key = ANY($1::bytea[]) AND value IS NOT NULL AND NOT (topic = ANY($2::text[]))"
        " RETURNING 1",
        [i.encode() for i in ids],
        COMPACTED_TOPICS,
    )
    audit = await conn.fetch(
        'UPDATE audit_log SET detail = \'{"redacted": "erasure"}\'::jsonb'
        " WHERE NOT (detail ? 'redacted') AND (subject_id = ANY($1::text[])"
        "  OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS v(value)"
        "              WHERE strpos(lower(detail::text), lower(v.value)) > 0))"
        " RETURNING 1",
        ids,
        list(values),
    )
    return {"customer_view": len(view), "outbox": len(outbox), "audit_log": len(audit)}


async def finish_erasure(
    conn: asyncpg.Connection,
    *,
    service: str,
    erasure_id: str,
    subjects: Sequence[str],
    key: bytes,
    rows: Mapping[str, int],
    now: datetime,
    report: bool = True,
) -> ErasureStepDoneV1:
    """Remember the erased ids (digests only), log the erasure, and report the step done."""
    await conn.execute(
        "INSERT INTO erased_subjects (digest, erasure_id, erased_at)"
        " SELECT d, $2, $3 FROM unnest($1::text[]) AS d ON CONFLICT (digest) DO NOTHING",
        sorted({subject_digest(key, s) for s in subjects}),
        erasure_id,
        now,
    )
    await conn.execute(
        "INSERT INTO erasure_log (erasure_id, subjects, rows_erased, completed_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (erasure_id) DO NOTHING",
        erasure_id,
        len(set(subjects)),
        dict(rows),
        now,
    )
    done = ErasureStepDoneV1(
        erasure_id=erasure_id, service=service, customer_ids=len(set(subjects)), rows=dict(rows), completed_at=now
    )
    if report:
        await report_step(conn, done)
    return done


async def report_step(conn: asyncpg.Connection, done: ErasureStepDoneV1) -> None:
    """Tell the privacy service (through the outbox) that this service's step is done."""
    envelope = Envelope.new(done, producer=done.service, subject_id=done.erasure_id)
    await enqueue(conn, topic=erasure_topic(done.service), envelope=envelope)


async def report_again(conn: asyncpg.Connection, *, service: str, erasure_id: str, done_before: asyncpg.Record) -> None:
    """A repeated request for an erasure done here: nothing is erased twice, the step is reported again."""
    log.info("erasure %s was already done here; reporting it again", erasure_id)
    await report_step(
        conn,
        ErasureStepDoneV1(
            erasure_id=erasure_id, service=service, customer_ids=done_before["subjects"],
            rows=dict(done_before["rows_erased"]), completed_at=datetime.now(UTC),
        ),
    )  # fmt: skip


# Told, in the consumer's transaction, of the events a guard dropped (e.g. to clean their topic again).
DroppedHook = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]


def skip_erased(handler: EventHandler, *, key: bytes, on_dropped: DroppedHook | None = None) -> EventHandler:
    """`handler`, except for events about an erased id (the record key): those are dropped."""

    async def guarded(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await _hold_erasures_off(conn)
        if await erased_among(conn, key, [event.subject_id]):
            log.info("dropped %s for an erased id", event.event_type)
            if on_dropped is not None:
                await on_dropped(conn, [event])
            return
        await handler(conn, event)

    return guarded


def skip_erased_batch(
    handler: BatchEventHandler, *, key: bytes, on_dropped: DroppedHook | None = None
) -> BatchEventHandler:
    """A batch handler that drops the events about erased ids (one query per batch)."""

    async def guarded(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        await _hold_erasures_off(conn)
        erased = await erased_among(conn, key, {e.subject_id for e in events})
        if erased:
            dropped = [e for e in events if e.subject_id in erased]
            log.info("dropped %d event(s) for erased ids", len(dropped))
            if on_dropped is not None:
                await on_dropped(conn, dropped)
            events = [e for e in events if e.subject_id not in erased]
        if events:
            await handler(conn, events)

    return guarded


RowEraser = Callable[[asyncpg.Connection, Sequence[str]], Awaitable[dict[str, int]]]


async def erase_here(
    conn: asyncpg.Connection,
    event: Envelope[Any],
    *,
    service: str,
    erase_rows: RowEraser,
    compacted_topics: Sequence[str],
    digest_key: bytes,
    now: datetime,
) -> None:
    """A service's step of an erasure (`CustomerErasedV1`): its own rows (`erase_rows`), the kit's
    tables, tombstones on its compacted topics, an audit row, the log row and the step report.

    Idempotent: an erasure done here before is reported again and nothing else happens."""
    p: CustomerErasedV1 = event.payload
    await exclude_consumers(conn)
    done_before = await already_erased(conn, p.erasure_id)
    if done_before is not None:
        await report_again(conn, service=service, erasure_id=p.erasure_id, done_before=done_before)
        return
    ids = sorted(set(p.customer_ids))
    values = await view_values(conn, ids)  # before the view rows go
    rows = {k: n for k, n in (await erase_rows(conn, ids)).items() if n}
    rows.update({f"kit.{k}": n for k, n in (await erase_kit_rows(conn, ids, values)).items() if n})
    for topic in compacted_topics:
        for customer_id in ids:
            await enqueue_tombstone(conn, topic=topic, key=customer_id)
    await record_audit(
        conn, principal=p.requested_by, role="admin", action="customer.erase", subject_id=p.erasure_id,
        detail={"reason": p.reason, "customer_ids": len(ids), "rows": sum(rows.values())},
        correlation_id=str(event.correlation_id),
    )  # fmt: skip
    await finish_erasure(
        conn, service=service, erasure_id=p.erasure_id, subjects=ids, key=digest_key, rows=rows, now=now
    )
    log.info("erasure %s: %d id(s) erased, %d row(s)", p.erasure_id, len(ids), sum(rows.values()))


def erasure_consumer(
    *, service: str, erase_rows: RowEraser, compacted_topics: Sequence[str] = (), digest_key: bytes
) -> ConsumerSpec:
    """The consumer of profile's `CustomerErasedV1` that carries out a service's step (`erase_here`)."""

    async def on_erased(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await erase_here(
            conn, event, service=service, erase_rows=erase_rows, compacted_topics=compacted_topics,
            digest_key=digest_key, now=datetime.now(UTC),
        )  # fmt: skip

    return ConsumerSpec(
        name="erasures",
        topics=("profile.erasures.v1",),
        handler=on_erased,
        event_types=frozenset({CustomerErasedV1.event_type}),
    )


def guarded(spec: ConsumerSpec, *, key: bytes) -> ConsumerSpec:
    """`spec` with its handlers dropping events about erased ids (tombstones still pass: they erase)."""
    return dataclasses.replace(
        spec,
        handler=skip_erased(spec.handler, key=key),
        batch_handler=None if spec.batch_handler is None else skip_erased_batch(spec.batch_handler, key=key),
    )
